package ledger

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillguard/tillguard/sync/feed"
)

// mappedKB is the resident size of this process's mappings of the file at
// path, from /proc/self/smaps: what bbolt's mmap of it holds in memory.
// Unlike the process's RSS it counts nothing else, so it can be asserted.
// A file that is not mapped at all is a failure: the test would prove
// nothing.
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kb, in, found := 0, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			// A mapping's header: range perms offset dev inode [path].
			in = len(fields) == 6 && fields[5] == path
			found = found || in
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no mapping of %s in /proc/self/smaps", path)
	}
	return kb
}

// mappedBound is how much of a ledger's mapping may be resident: what
// readers may read between two releases, and room for the pages every
// read touches again (meta, branch pages, the outbox).
const mappedBoundKB = (releaseStep + 4<<20) >> 10

// peakMapped samples mappedKB of one file and keeps the highest sample.
type peakMapped struct {
	t      *testing.T
	path   string
	kb     int
	when   string
	fileKB int64
}

func (p *peakMapped) sample(when string) {
	if kb := mappedKB(p.t, p.path); kb > p.kb {
		p.kb, p.when = kb, when
	}
}

// check fails the test if the peak passed mappedBoundKB.
func (p *peakMapped) check() {
	p.t.Helper()
	if p.kb > mappedBoundKB {
		p.t.Errorf("%d kB of the %d kB file resident %s, want at most %d kB", p.kb, p.fileKB, p.when, mappedBoundKB)
	}
	p.t.Logf("file %d kB, its mapping peaked at %d kB resident (%s)", p.fileKB, p.kb, p.when)
}

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
		if err := AppendBatch(l, rs); err != nil {
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
	if fi.Size() < 3*mappedBoundKB<<10 {
		t.Fatalf("ledger is %d bytes: too small to tell a bounded mapping from a whole one", fi.Size())
	}
	return fi.Size()
}

// TestLedger_mappedMemoryBounded reads a ledger several times the size of
// releaseStep end to end as a till's start and drain do — Open with the
// index to build, the whole outbox through Pending, a Scan, a Prune of
// everything acknowledged — and checks that the resident part of the
// file's mapping stays near releaseStep (SPEC.md §8: a till's memory must
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
	p := &peakMapped{t: t, path: path, fileKB: size >> 10}
	p.sample("after Open")

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
		p.sample(fmt.Sprintf("after Pending to %d", after))
	}
	if after != records {
		t.Fatalf("Pending read up to %d, want %d", after, records)
	}

	n := 0
	err := l.Scan(1, func(Entry) error {
		if n++; n%500 == 0 {
			p.sample(fmt.Sprintf("in Scan at %d", n))
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
	p.sample("after Prune")
	p.check()
}

// TestCompact_mappedMemoryBounded checks Compact's reads of a large
// ledger: the estimate of what it would gain, the copy, and the
// comparison of the copy with the original.
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
	p := &peakMapped{t: t, path: path, fileKB: size >> 10}
	var used int64
	if err := src.View(func(tx *bolt.Tx) error { used = liveBytes(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if used < size/2 || used > size {
		t.Errorf("liveBytes = %d of a %d-byte file, nothing freed: want most of it", used, size)
	}
	p.sample("after liveBytes")
	dst := filepath.Join(dir, "copy.db")
	if err := copyLive(src, dst); err != nil {
		t.Fatal(err)
	}
	p.sample("after the copy")
	if err := sameLedger(src, dst); err != nil {
		t.Fatal(err)
	}
	p.sample("after comparing the copy")
	p.check()
}
