package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/internal/boltdb/bolttest"
	"github.com/tillguard/tillguard/sync/feed"
)

// bigLedger writes a ledger of n records of about 1.7 kB each at path,
// without the history index (AppendBatch leaves it for Open to build), and
// returns the file's size.
func bigLedger(t *testing.T, path string, n int, opts *Opts) int64 {
	t.Helper()
	l, err := Open(path, testKey("mapped"), opts)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1500)
	for i := 0; i < n; i += 1000 {
		rs := make([]*feed.Record, min(1000, n-i))
		for j := range rs {
			rs[j] = newRec(feed.KindSale)
			rs[j].Reason = fmt.Sprintf("%d %s", i+j, pad)
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 3*bolttest.BoundKB<<10 {
		t.Fatalf("ledger is %d bytes: too small to tell a bounded mapping from a whole one", fi.Size())
	}
	return fi.Size()
}

// TestLedger_mappedMemoryBounded reads a ledger several times the size of
// boltdb.ReleaseStep end to end as a till's start and drain do — Open with the
// index to build, the whole outbox through Pending, a Scan, a Prune of
// everything acknowledged — and checks that the resident part of the
// file's mapping stays near boltdb.ReleaseStep (docs/performance.md: a till's memory must
// not grow with its ledger).
func TestLedger_mappedMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB ledger")
	}
	const records = 16000
	clk := newClock()
	path := filepath.Join(t.TempDir(), "ledger.db")
	size := bigLedger(t, path, records, &Opts{Now: clk.Now})

	l := openTest(t, path, testKey("mapped"), &Opts{Now: clk.Now})
	p := &bolttest.Peak{T: t, Path: path, FileKB: size >> 10}
	p.Sample("after Open")

	var after uint64
	for {
		batch, err := l.Pending(after, 256) // the uplink's chunk
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].Seq
		p.Sample(fmt.Sprintf("after Pending to %d", after))
	}
	if after != records {
		t.Fatalf("Pending read up to %d, want %d", after, records)
	}

	n := 0
	err := l.Scan(1, func(Entry) error {
		if n++; n%500 == 0 {
			p.Sample(fmt.Sprintf("in Scan at %d", n))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	if err := l.Ack(records); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if n, err := l.Prune(clk.Now()); err != nil || n != records-1 {
		t.Fatalf("Prune = %d, %v; want %d", n, err, records-1)
	}
	p.Sample("after Prune")
	p.Check()
}

// TestCompact_mappedMemoryBounded checks Compact's reads of a large
// ledger: the estimate of what it would gain, the copy, and the
// comparison of the copy with the original (sameLedger).
func TestCompact_mappedMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB ledger")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	size := bigLedger(t, path, 16000, nil)
	var st state
	src, err := openStore(path, ledgerSchema(&st))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := &bolttest.Peak{T: t, Path: path, FileKB: size >> 10}
	dst := filepath.Join(dir, "copy.db")
	if err := boltdb.CopyLive(src, dst); err != nil {
		t.Fatal(err)
	}
	p.Sample("after the copy")
	cp, err := boltdb.OpenFile(dst, &boltdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := sameLedger(src, cp); err != nil {
		t.Fatal(err)
	}
	p.Sample("after comparing the copy")
	p.Check()
}
