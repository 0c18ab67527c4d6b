package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// openTestArchive opens an archive in a temp dir, closed on cleanup.
func openTestArchive(t *testing.T, path string) *Archive {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "archive.db")
	}
	a, err := OpenArchive(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Error(err)
		}
	})
	return a
}

func in(pharmacy, till string, seq uint64, body string) Incoming {
	return Incoming{
		Pharmacy: pharmacy, Till: till, Seq: seq,
		Rec: fmt.Appendf(nil, `{"seq":%d,"body":%q}`, seq, body),
		Sig: fmt.Appendf(nil, "sig-%d-%s", seq, body),
	}
}

func put(t *testing.T, a *Archive, items ...Incoming) []Outcome {
	t.Helper()
	out, err := a.PutBatch(items)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(items) {
		t.Fatalf("%d outcomes for %d items", len(out), len(items))
	}
	return out
}

func contiguous(t *testing.T, a *Archive, pharmacy, till string) uint64 {
	t.Helper()
	n, err := a.Contiguous(pharmacy, till)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestArchive_contiguousOutOfOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	a, err := OpenArchive(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		seqs []uint64
		want uint64
	}{
		{[]uint64{3, 5}, 0},
		{[]uint64{2}, 0},
		{[]uint64{1}, 3},
		{[]uint64{7, 4}, 5},
		{[]uint64{6}, 7},
		{[]uint64{10, 9, 8}, 10},
	}
	for _, s := range steps {
		var items []Incoming
		for _, seq := range s.seqs {
			items = append(items, in("P1", "T1", seq, "x"))
		}
		for i, o := range put(t, a, items...) {
			if o != Stored {
				t.Errorf("seq %d: %v, want stored", s.seqs[i], o)
			}
		}
		if got := contiguous(t, a, "P1", "T1"); got != s.want {
			t.Fatalf("after %v: Contiguous = %d, want %d", s.seqs, got, s.want)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = openTestArchive(t, path)
	if got := contiguous(t, a, "P1", "T1"); got != 10 {
		t.Errorf("Contiguous after reopen = %d, want 10", got)
	}
	if got := contiguous(t, a, "P1", "never"); got != 0 {
		t.Errorf("Contiguous of an unknown till = %d", got)
	}
}

func TestArchive_duplicateAndConflict(t *testing.T) {
	a := openTestArchive(t, "")
	put(t, a, in("P1", "T1", 1, "a"), in("P1", "T1", 2, "b"))
	got := put(t, a,
		in("P1", "T1", 1, "a"),      // same bytes
		in("P1", "T1", 2, "forged"), // other bytes
		in("P1", "T1", 3, "c"),
		in("P1", "T1", 3, "c"),       // duplicate within the batch
		in("P1", "T1", 3, "c-again"), // conflict within the batch
		in("P1", "T2", 1, "forged"),  // another till: no conflict
	)
	want := []Outcome{Duplicate, Conflict, Stored, Duplicate, Conflict, Stored}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	rec, sig, err := a.Get("P1", "T1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if w := in("P1", "T1", 2, "b"); !bytes.Equal(rec, w.Rec) || !bytes.Equal(sig, w.Sig) {
		t.Errorf("record 2 after a conflict: %s %s, want the original", rec, sig)
	}
	tills, err := a.Tills()
	if err != nil {
		t.Fatal(err)
	}
	wantTills := []TillInfo{{"P1", "T1", 3, 3}, {"P1", "T2", 1, 1}}
	if !slices.Equal(tills, wantTills) {
		t.Errorf("Tills = %+v, want %+v", tills, wantTills)
	}
}

func TestOutcome_String(t *testing.T) {
	for o, want := range map[Outcome]string{Stored: "stored", Duplicate: "duplicate", Conflict: "conflict", 7: "Outcome(7)"} {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
}

func TestArchive_manyTillsOneBatch(t *testing.T) {
	a := openTestArchive(t, "")
	var items []Incoming
	for seq := uint64(1); seq <= 50; seq++ {
		for _, till := range []string{"A", "B", "C"} {
			if till == "B" && seq == 20 {
				continue // a gap
			}
			items = append(items, in("P1", till, seq, till))
		}
	}
	slices.Reverse(items)
	put(t, a, items...)
	tills, err := a.Tills()
	if err != nil {
		t.Fatal(err)
	}
	want := []TillInfo{{"P1", "A", 50, 50}, {"P1", "B", 19, 49}, {"P1", "C", 50, 50}}
	if !slices.Equal(tills, want) {
		t.Errorf("Tills = %+v, want %+v", tills, want)
	}
	put(t, a, in("P1", "B", 20, "B"))
	if got := contiguous(t, a, "P1", "B"); got != 50 {
		t.Errorf("B after filling the gap: %d, want 50", got)
	}
}

func TestArchive_invalidBatchStoresNothing(t *testing.T) {
	tests := []struct {
		name string
		bad  Incoming
	}{
		{"seq 0", in("P1", "T1", 0, "x")},
		{"slash in till", in("P1", "T/1", 2, "x")},
		{"empty pharmacy", in("", "T1", 2, "x")},
		{"no record", Incoming{Pharmacy: "P1", Till: "T1", Seq: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := openTestArchive(t, "")
			out, err := a.PutBatch([]Incoming{in("P1", "T1", 1, "ok"), tt.bad})
			if !errors.Is(err, ErrInvalidIncoming) || out != nil {
				t.Fatalf("PutBatch = %v, %v; want ErrInvalidIncoming", out, err)
			}
			if _, _, err := a.Get("P1", "T1", 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("good item of a bad batch: err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestArchive_getAndScan(t *testing.T) {
	a := openTestArchive(t, "")
	var items []Incoming
	n := uint64(scanChunk + 10)
	for seq := uint64(1); seq <= n; seq++ {
		if seq == 5 {
			continue
		}
		items = append(items, in("P1", "T1", seq, "r"))
	}
	put(t, a, items...)
	put(t, a, in("P1", "T2", 1, "other"))
	var seen []uint64
	err := a.Scan("P1", "T1", 3, func(seq uint64, rec, sig []byte) error {
		w := in("P1", "T1", seq, "r")
		if !bytes.Equal(rec, w.Rec) || !bytes.Equal(sig, w.Sig) {
			return fmt.Errorf("seq %d: %s %s", seq, rec, sig)
		}
		seen = append(seen, seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != int(n)-3 || seen[0] != 3 || seen[1] != 4 || seen[2] != 6 || seen[len(seen)-1] != n {
		t.Errorf("scanned %d seqs from %v to %v", len(seen), seen[:3], seen[len(seen)-1])
	}
	stop := errors.New("stop")
	if err := a.Scan("P1", "T1", 1, func(uint64, []byte, []byte) error { return stop }); err != stop {
		t.Errorf("Scan err = %v, want the callback's", err)
	}
	if err := a.Scan("P9", "T9", 1, func(uint64, []byte, []byte) error { return stop }); err != nil {
		t.Errorf("Scan of an unknown till = %v", err)
	}
	for _, c := range []struct {
		p, t string
		seq  uint64
	}{{"P1", "T1", 5}, {"P1", "T1", n + 1}, {"P9", "T1", 1}} {
		if _, _, err := a.Get(c.p, c.t, c.seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s, %s, %d) err = %v, want ErrNotFound", c.p, c.t, c.seq, err)
		}
	}
}

func TestArchive_emptySig(t *testing.T) {
	a := openTestArchive(t, "")
	put(t, a, Incoming{Pharmacy: "P1", Till: "T1", Seq: 1, Rec: []byte("{}")})
	rec, sig, err := a.Get("P1", "T1", 1)
	if err != nil || string(rec) != "{}" || len(sig) != 0 {
		t.Errorf("Get = %q, %q, %v", rec, sig, err)
	}
}

func TestArchive_closed(t *testing.T) {
	a := openTestArchive(t, "")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutBatch([]Incoming{in("P1", "T1", 1, "x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("PutBatch err = %v", err)
	}
	if _, err := a.Contiguous("P1", "T1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Contiguous err = %v", err)
	}
}

func TestOpenArchive_corruptFileLeftInPlace(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) { write(t, path, bytes.Repeat([]byte{0xde, 0xad}, 10000)) }},
		{"a ledger", func(t *testing.T, path string) {
			l, err := Open(path, testKey("a"), nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
		}},
		{"watermark behind", func(t *testing.T, path string) {
			a, err := OpenArchive(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			put(t, a, in("P1", "T1", 1, "x"), in("P1", "T1", 2, "x"))
			a.Close()
			editBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bTills).Bucket([]byte("P1/T1")).Put(kContig, u64(1))
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "archive.db")
			tt.make(t, path)
			before, _ := os.ReadFile(path)
			a, err := OpenArchive(path, nil)
			if err == nil {
				a.Close()
				t.Fatal("OpenArchive succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the file was changed")
			}
		})
	}
}
