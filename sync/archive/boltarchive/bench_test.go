package boltarchive_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
)

// BenchmarkPut stores batches of 256 records from 64 tills, in order per
// till, as a receiver draining a backlog does: each batch one fsynced
// transaction with its chain checks and indexes.
func BenchmarkPut(b *testing.B) {
	const tills, batch = 64, 256
	chains := make([]*archivetest.Chain, tills)
	for i := range chains {
		chains[i] = archivetest.NewChain("P1", fmt.Sprintf("T%d", i))
	}
	a := openTest(b, filepath.Join(b.TempDir(), "archive.db"), nil)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		in := make([]archive.Incoming, 0, batch)
		for i := range batch {
			c := chains[(n*batch+i)%tills]
			in = append(in, c.Next(func(r *feed.Record) {
				r.Card = &feed.Card{Type: feed.CardSSC, No: fmt.Sprintf("3301%014d", i)}
				r.Lines[0].DrugTracCodg = []string{fmt.Sprintf("8%019d", n*batch+i)}
			}))
		}
		b.StartTimer()
		res, err := a.Put(ctx, in)
		if err != nil || res.Outcomes[batch-1] != archive.Stored {
			b.Fatalf("Put: %v %v", err, res.Outcomes[batch-1])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch)/1e3, "µs/record")
}
