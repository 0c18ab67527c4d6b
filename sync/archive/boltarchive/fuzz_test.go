package boltarchive_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
)

// FuzzPut plays a till's records, forks of them (the same seq, other
// bytes, signed with the same key) and resends in batches of any order,
// and after every Put checks what the store must keep true: 1..watermark
// are stored and chained, the watermark's hash is its record's, nothing
// beyond it is stored, the ack is the watermark, and every record is
// reported stored exactly once.
func FuzzPut(f *testing.F) {
	f.Add([]byte{0x04, 0x00, 0x08, 0x03, 0x0c, 0x10})
	f.Add([]byte{0x10, 0x0c, 0x08, 0x04, 0x00})
	f.Add([]byte{0x09, 0x00, 0x08, 0x04, 0x03, 0x0c, 0x0d, 0x10})
	f.Add([]byte{0x05, 0x00, 0x03, 0x04, 0x08, 0x03, 0x01})
	const n = 12
	c := archivetest.NewChain("P1", "T1")
	c.Add(n)
	forks := make([]archive.Incoming, n)
	for i := range forks {
		r := *c.Record(uint64(i + 1)).Parsed
		r.Cashier = "fork"
		forks[i] = c.Seal(r)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			return
		}
		a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
		var batch []archive.Incoming
		stored := 0
		flush := func() {
			res, err := a.Put(ctx, batch)
			batch = nil
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			for _, o := range res.Outcomes {
				if o == archive.Stored {
					stored++
				}
			}
			stored += res.Promoted
			w := check(t, a)
			if len(res.Acks) > 0 && res.Acks[0] != w {
				t.Fatalf("ack %+v, watermark %+v", res.Acks[0], w)
			}
			if uint64(stored) != w.Seq {
				t.Fatalf("%d reported stored, watermark %d", stored, w.Seq)
			}
		}
		for _, op := range ops {
			seq := int(op>>2) % n
			switch op & 3 {
			case 0, 1:
				batch = append(batch, c.Record(uint64(seq+1)))
			case 2:
				batch = append(batch, forks[seq])
			case 3:
				flush()
			}
		}
		batch = append(batch, c.Records(1, n)...) // the till sends everything again
		flush()
	})
}

// check verifies the stored chain of P1/T1 and returns its watermark.
func check(t *testing.T, a archive.Store) archive.Watermark {
	t.Helper()
	w, err := a.Watermark(ctx, "P1", "T1")
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	var last []byte
	for seq := uint64(1); seq <= w.Seq; seq++ {
		rec, _, err := a.Get(ctx, "P1", "T1", seq)
		if err != nil {
			t.Fatalf("Get %d under watermark %d: %v", seq, w.Seq, err)
		}
		var r feed.Record
		if err := json.Unmarshal(rec, &r); err != nil || r.Seq != seq || r.Prev != prev {
			t.Fatalf("stored %d: seq %d prev %.12s, want prev %.12s (%v)", seq, r.Seq, r.Prev, prev, err)
		}
		prev, last = feed.Hash(rec), rec
	}
	if w.Seq > 0 && w.Hash != feed.Hash(last) || w.Seq == 0 && w.Hash != "" {
		t.Fatalf("watermark %+v, its record hashes to %.12s", w, feed.Hash(last))
	}
	if _, _, err := a.Get(ctx, "P1", "T1", w.Seq+1); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get beyond the watermark: %v", err)
	}
	return w
}
