package ledger

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

// appendHourly appends n records, the clock one hour later for each.
func appendHourly(t *testing.T, l *Ledger, clk *clock, n int) {
	t.Helper()
	for range n {
		mustAppend(t, l, 1)
		clk.Advance(time.Hour)
	}
}

func TestPrune_limits(t *testing.T) {
	tests := []struct {
		name      string
		acked     uint64
		beforeH   int // prune records appended before start + beforeH hours
		wantFirst uint64
	}{
		{"nothing acked", 0, 100, 1},
		{"stops at the unacknowledged", 6, 100, 7},
		{"stops at the young", 10, 4, 5},
		{"keeps the head", 10, 100, 10},
		{"nothing old", 10, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			start := clk.Now()
			l := openTest(t, "", testKey("p"), &Opts{Now: clk.Now})
			appendHourly(t, l, clk, 10)
			if err := l.Ack(tc.acked); err != nil {
				t.Fatal(err)
			}
			n, err := l.Prune(start.Add(time.Duration(tc.beforeH) * time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if want := int(tc.wantFirst - 1); n != want {
				t.Errorf("Prune dropped %d, want %d", n, want)
			}
			if got := l.First(); got != tc.wantFirst {
				t.Errorf("First = %d, want %d", got, tc.wantFirst)
			}
			if tc.wantFirst > 1 {
				if _, err := l.Get(tc.wantFirst - 1); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%d) after prune: %v, want ErrNotFound", tc.wantFirst-1, err)
				}
			}
			if err := l.Verify(); err != nil {
				t.Errorf("Verify after prune: %v", err)
			}
		})
	}
}

func TestPrune_chainContinuesAcrossReopen(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("p"), &Opts{Now: clk.Now})
	appendHourly(t, l, clk, 5)
	last, err := l.Get(5)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Ack(5); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Prune(clk.Now()); err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4", n, err)
	}
	// Only the head is left: reopening must link the next record to it.
	l = reopen(t, l, &Opts{Now: clk.Now})
	r := newRec(feed.KindSale)
	if _, err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	if r.Prev != feed.Hash(last.Rec) {
		t.Errorf("record 6 prev = %q, want the hash of record 5", r.Prev)
	}
	if err := l.Ack(6); err != nil {
		t.Fatal(err)
	}
	// Now the anchor is the head's predecessor: Open's O(1) check uses it.
	if n, err := l.Prune(clk.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("second Prune = %d, %v; want 1", n, err)
	}
	l = reopen(t, l, &Opts{Now: clk.Now})
	mustAppend(t, l, 3)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if l.First() != 6 || l.Head() != 9 {
		t.Errorf("First..Head = %d..%d, want 6..9", l.First(), l.Head())
	}
}

func TestPrune_manyChunks(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("p"), &Opts{Now: clk.Now})
	const n = 2*pruneChunk + 100
	for i := 0; i < n; i += 500 {
		rs := make([]*feed.Record, min(500, n-i))
		for j := range rs {
			rs[j] = newRec(feed.KindSale)
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Ack(n - 10); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	got, err := l.Prune(clk.Now())
	if err != nil || got != n-10 {
		t.Fatalf("Prune = %d, %v; want %d", got, err, n-10)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// prunedLedger builds a ledger of 10 records, 1..6 acknowledged and 1..4
// pruned, and returns its path, closed.
func prunedLedger(t *testing.T) string {
	t.Helper()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path, testKey("a"), &Opts{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	appendHourly(t, l, clk, 10)
	if err := l.Ack(6); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Prune(newClock().Now().Add(4 * time.Hour)); err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerify_detectsTamperingAfterPrune(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(tx *boltdb.Tx) error
		openErr  bool
		mentions string
	}{
		{
			name: "anchor hash changed",
			edit: func(tx *boltdb.Tx) error {
				v := bytes.Clone(tx.Bucket(bMeta).Get(kAnchor))
				// Another hex digit: a non-hex byte is caught by Open.
				if v[len(v)-1] == '0' {
					v[len(v)-1] = '1'
				} else {
					v[len(v)-1] = '0'
				}
				return tx.Bucket(bMeta).Put(kAnchor, v)
			},
			mentions: "record 5: prev",
		},
		{
			name:     "first retained record deleted",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bRecords).Delete(boltdb.U64(5)) },
			openErr:  true,
			mentions: "first record is 6, want 5",
		},
		{
			name: "first retained record deleted and anchor moved",
			edit: func(tx *boltdb.Tx) error {
				if err := tx.Bucket(bRecords).Delete(boltdb.U64(5)); err != nil {
					return err
				}
				v := bytes.Clone(tx.Bucket(bMeta).Get(kAnchor))
				copy(v, boltdb.U64(5))
				return tx.Bucket(bMeta).Put(kAnchor, v)
			},
			mentions: "record 6: prev",
		},
		{
			name: "anchor beyond acked",
			edit: func(tx *boltdb.Tx) error {
				v := bytes.Clone(tx.Bucket(bMeta).Get(kAnchor))
				copy(v, boltdb.U64(8))
				return tx.Bucket(bMeta).Put(kAnchor, v)
			},
			openErr:  true,
			mentions: "anchor 8",
		},
		{
			name:     "anchor truncated",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bMeta).Put(kAnchor, boltdb.U64(4)) },
			openErr:  true,
			mentions: "meta anchor",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := prunedLedger(t)
			editBolt(t, path, tc.edit)
			l, err := Open(path, testKey("a"), nil)
			if tc.openErr {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.mentions) {
					t.Fatalf("Open = %v, want ErrCorrupt mentioning %q", err, tc.mentions)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			err = l.Verify()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("Verify = %v, want ErrCorrupt mentioning %q", err, tc.mentions)
			}
		})
	}
}

func TestCompact_shrinksPrunedLedger(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path, testKey("c"), &Opts{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := 0; i < n; i += 500 {
		rs := make([]*feed.Record, 500)
		for j := range rs {
			rs[j] = newRec(feed.KindSale)
			rs[j].Reason = strings.Repeat("x", 1000)
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Ack(n - 20); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, err := l.Prune(clk.Now()); err != nil {
		t.Fatal(err)
	}
	head, first := l.Head(), l.First()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Compact(path, 1<<40, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Compact(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || res.After*4 > res.Before {
		t.Fatalf("Compact = %+v, want done and under a quarter of the size", res)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != res.After || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after compaction: %v %v", fi, err)
	}
	l = openTest(t, path, testKey("c"), &Opts{Now: clk.Now})
	if l.Head() != head || l.First() != first || l.Acked() != n-20 {
		t.Errorf("after compaction first %d head %d acked %d, want %d %d %d", l.First(), l.Head(), l.Acked(), first, head, n-20)
	}
	if p, err := l.Pending(0, 100); err != nil || len(p) != 20 {
		t.Errorf("Pending after compaction: %d entries, %v; want 20", len(p), err)
	}
	mustAppend(t, l, 2)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestCompact_leavesFileWhenNothingToGain(t *testing.T) {
	path := closedLedger(t, 50)
	before := readFile(t, path)
	stale := path + ".compact-123"
	write(t, stale, []byte("left by a crash"))
	res, err := Compact(path, 1<<30, nil)
	if err != nil || res.Done {
		t.Fatalf("Compact = %+v, %v; want nothing done", res, err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Error("file changed")
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale copy still there: %v", err)
	}
}

func TestCompact_missingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	if res, err := Compact(filepath.Join(dir, "none.db"), 0, nil); err != nil || res.Done {
		t.Errorf("missing file: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Compact created the missing file: %v", err)
	}
	path := filepath.Join(dir, "bad.db")
	garbage := bytes.Repeat([]byte("tillguard\x00\xff"), 6000)
	write(t, path, garbage)
	if _, err := Compact(path, 0, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Compact of garbage = %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(readFile(t, path), garbage) {
		t.Error("corrupt file changed")
	}
	if m, _ := filepath.Glob(path + ".*"); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

func TestFreeSpace(t *testing.T) {
	free, err := FreeSpace(t.TempDir())
	if err != nil || free == 0 {
		t.Errorf("FreeSpace = %d, %v; want some space", free, err)
	}
	if _, err := FreeSpace(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("FreeSpace of a missing dir: no error")
	}
}
