package pgarchive

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/loadgen"
	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
)

// benchTills is the backlog's breadth (docs/performance.md: a province's 10 000
// tills coming back at once).
const benchTills = 10_000

// BenchmarkPut stores a backlog of typical sales (about 600 bytes, two
// lines, a card and a traceability code) from 10 000 tills, interleaved
// as tills that come back online together send them, in batches of the
// sizes a receiver makes. One op is one batch; records/s counts Put's time
// only. receivers=3 splits every batch over three pools on one database,
// as a shared subscription would.
func BenchmarkPut(b *testing.B) {
	for _, c := range []struct{ batch, receivers int }{{500, 1}, {2000, 1}, {4000, 1}, {2000, 3}} {
		b.Run(fmt.Sprintf("batch=%d/receivers=%d", c.batch, c.receivers), func(b *testing.B) {
			dsn := pgtest.NewDB(b)
			var stores []*Store
			for range c.receivers {
				stores = append(stores, openDSN(b, dsn, nil))
			}
			pr := loadgen.NewProvince(benchTills)
			var backlog []archive.Incoming
			var elapsed time.Duration
			total := 0
			for b.Loop() {
				for len(backlog) < c.batch {
					b.StopTimer()
					backlog = append(backlog, pr.Sales(1)...)
					b.StartTimer()
				}
				batch := backlog[:c.batch]
				backlog = backlog[c.batch:]
				start := time.Now()
				var wg sync.WaitGroup
				for i, st := range stores {
					part := batch[i*len(batch)/len(stores) : (i+1)*len(batch)/len(stores)]
					wg.Go(func() {
						if _, err := st.Put(ctx, part); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				elapsed += time.Since(start)
				total += len(batch)
			}
			b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
		})
	}
}
