package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

func TestAppend_gaplessAcrossReopen(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 5)
	l = reopen(t, l, nil)
	if l.Head() != 5 {
		t.Fatalf("Head after reopen = %d, want 5", l.Head())
	}
	mustAppend(t, l, 5)
	l = reopen(t, l, nil)
	mustAppend(t, l, 1)
	var seqs []uint64
	if err := l.Scan(0, func(e Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return err
		}
		if r.Seq != e.Seq {
			t.Errorf("entry %d holds record seq %d", e.Seq, r.Seq)
		}
		seqs = append(seqs, e.Seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 11 {
		t.Fatalf("scanned %d records, want 11", len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs = %v, want 1..11", seqs)
		}
	}
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestAppend_completesRecordAndChains(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("a"), &Opts{Now: clk.Now})
	prev := ""
	ids := map[string]bool{}
	for i := 1; i <= 4; i++ {
		r := newRec(feed.KindSale)
		e, err := l.Append(r)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != uint64(i) || e.Seq != uint64(i) {
			t.Errorf("append %d: r.Seq %d, e.Seq %d", i, r.Seq, e.Seq)
		}
		if r.Prev != prev {
			t.Errorf("append %d: prev %q, want %q", i, r.Prev, prev)
		}
		// Version 7: the clock's milliseconds first, so ids sort in time.
		ms := fmt.Sprintf("%012x", clk.Now().UnixMilli())
		if !uuidV7.MatchString(r.ID) || ids[r.ID] || strings.ReplaceAll(r.ID, "-", "")[:12] != ms {
			t.Errorf("append %d: id %q not a fresh UUIDv7 of %s", i, r.ID, ms)
		}
		ids[r.ID] = true
		at, err := time.Parse(time.RFC3339, r.At)
		if err != nil || !at.Equal(clk.Now()) || !strings.HasSuffix(r.At, "+08:00") {
			t.Errorf("append %d: at %q (%v), want %v with offset", i, r.At, err, clk.Now())
		}
		if !e.At.Equal(clk.Now()) {
			t.Errorf("append %d: entry at %v, want %v", i, e.At, clk.Now())
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Rec, want) {
			t.Errorf("append %d: stored bytes %s, want the record %s", i, e.Rec, want)
		}
		prev = feed.Hash(e.Rec)
		clk.Advance(time.Second)
	}
}

func TestAppend_keepsGivenIDAndAt(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	r := newRec(feed.KindDevice)
	r.ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	r.At = "2025-01-02T03:04:05+08:00"
	if _, err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	e, err := l.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	var got feed.Record
	if err := json.Unmarshal(e.Rec, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.At != r.At {
		t.Errorf("stored id %q at %q, want the given ones", got.ID, got.At)
	}
}

func TestAppend_signaturesVerify(t *testing.T) {
	key := testKey("a")
	l := openTest(t, "", key, nil)
	entries := mustAppend(t, l, 3)
	if !l.PublicKey().Equal(key.Public()) {
		t.Fatal("PublicKey is not the signing key's")
	}
	for _, e := range entries {
		if !ed25519.Verify(l.PublicKey(), e.Rec, e.Sig) {
			t.Errorf("record %d: signature does not verify", e.Seq)
		}
		// What the uplink seals is what the bureau opens.
		payload, err := feed.Seal(e.Rec, e.Sig)
		if err != nil {
			t.Fatal(err)
		}
		rec, r, sig, err := feed.Open(payload)
		if err != nil || r.Seq != e.Seq || !ed25519.Verify(l.PublicKey(), rec, sig) {
			t.Errorf("record %d: feed round trip: seq %d, %v", e.Seq, r.Seq, err)
		}
	}
}

func TestAppend_rejectsIncompleteRecord(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 1)
	tests := []struct {
		name string
		r    *feed.Record
	}{
		{"nil", nil},
		{"no pharmacy", &feed.Record{Till: "T1", Kind: feed.KindSale}},
		{"no till", &feed.Record{Pharmacy: "P1", Kind: feed.KindSale}},
		{"no kind", &feed.Record{Pharmacy: "P1", Till: "T1"}},
		{"till with slash", &feed.Record{Pharmacy: "P1", Till: "T/1", Kind: feed.KindSale}},
		{"pharmacy with wildcard", &feed.Record{Pharmacy: "P+", Till: "T1", Kind: feed.KindSale}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(tt.r); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("err = %v, want ErrInvalidRecord", err)
			}
			if l.Head() != 1 {
				t.Errorf("Head = %d, want 1", l.Head())
			}
		})
	}
}

func TestAppend_durableAcrossReopen(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("a"), &Opts{Now: clk.Now})
	want := mustAppend(t, l, 3)
	l = reopen(t, l, nil)
	for _, w := range want {
		got, err := l.Get(w.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Rec, w.Rec) || !bytes.Equal(got.Sig, w.Sig) || !got.At.Equal(w.At) {
			t.Errorf("record %d after reopen: %+v, want %+v", w.Seq, got, w)
		}
	}
	if depth, oldest, err := l.Outbox(); err != nil || depth != 3 || !oldest.Equal(clk.Now()) {
		t.Errorf("Outbox after reopen = %d, %v, %v", depth, oldest, err)
	}
}

func TestAppend_failureStoresNothing(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 2)
	// Plant a value where record 3 will go, so that Append's transaction
	// fails after seq, prev, id and at were filled in.
	planted := []byte("planted")
	plant := func(tx *boltdb.Tx) error { return tx.Bucket(bRecords).Put(boltdb.U64(3), planted) }
	if err := l.db.Update(plant); err != nil {
		t.Fatal(err)
	}
	r := newRec(feed.KindSale)
	if _, err := l.Append(r); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Append over a planted record: err = %v, want ErrCorrupt", err)
	}
	if r.Seq != 0 || r.Prev != "" || r.ID != "" || r.At != "" {
		t.Errorf("record not restored: %+v", r)
	}
	if l.Head() != 2 {
		t.Errorf("Head = %d, want 2", l.Head())
	}
	err := l.db.View(func(tx *boltdb.Tx) error {
		if v := tx.Bucket(bRecords).Get(boltdb.U64(3)); !bytes.Equal(v, planted) {
			return fmt.Errorf("record 3 is %q, want the planted value", v)
		}
		if v := tx.Bucket(bOutbox).Get(boltdb.U64(3)); v != nil {
			return errors.New("outbox entry 3 stored")
		}
		if head, _ := boltdb.GetU64(tx.Bucket(bMeta).Get(kHead)); head != 2 {
			return fmt.Errorf("meta head %d", head)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.db.Update(func(tx *boltdb.Tx) error { return tx.Bucket(bRecords).Delete(boltdb.U64(3)) }); err != nil {
		t.Fatal(err)
	}
	if e := mustAppend(t, l, 1); e[0].Seq != 3 {
		t.Errorf("next append got seq %d, want 3", e[0].Seq)
	}
}

func TestAck(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 5)
	steps := []struct {
		upto    uint64
		wantErr error
		acked   uint64
	}{
		{2, nil, 2},
		{2, nil, 2}, // idempotent
		{1, nil, 2}, // lower: no-op
		{0, nil, 2},
		{6, ErrAckBeyondHead, 2},
		{4, nil, 4},
		{5, nil, 5},
	}
	for _, s := range steps {
		err := l.Ack(s.upto)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("Ack(%d) = %v, want %v", s.upto, err, s.wantErr)
		}
		if l.Acked() != s.acked {
			t.Fatalf("after Ack(%d): Acked = %d, want %d", s.upto, l.Acked(), s.acked)
		}
		p, err := l.Pending(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(len(p)) != 5-s.acked || (len(p) > 0 && p[0].Seq != s.acked+1) {
			t.Fatalf("after Ack(%d): pending %d entries from %v", s.upto, len(p), p)
		}
	}
	l = reopen(t, l, nil)
	if l.Acked() != 5 {
		t.Errorf("Acked after reopen = %d, want 5", l.Acked())
	}
	mustAppend(t, l, 1)
	if p, _ := l.Pending(0, 10); len(p) != 1 || p[0].Seq != 6 {
		t.Errorf("pending after reopen and append: %v", p)
	}
}

func TestPending_paging(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 10)
	var got []uint64
	after := uint64(0)
	for {
		p, err := l.Pending(after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 3 {
			t.Fatalf("page of %d, max 3", len(p))
		}
		if len(p) == 0 {
			break
		}
		for _, e := range p {
			got = append(got, e.Seq)
		}
		after = p[len(p)-1].Seq
	}
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Errorf("paged seqs %v", got)
	}
	if err := l.Ack(4); err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Pending(1, 2); len(p) != 2 || p[0].Seq != 5 || p[1].Seq != 6 {
		t.Errorf("Pending(1, 2) after Ack(4) = %v, want 5, 6", p)
	}
	if p, _ := l.Pending(8, 100); len(p) != 2 || p[0].Seq != 9 {
		t.Errorf("Pending(8, 100) = %v, want 9, 10", p)
	}
	if _, err := l.Pending(0, 0); err == nil {
		t.Error("Pending with max 0: no error")
	}
	if p, err := l.Pending(^uint64(0), 5); err != nil || len(p) != 0 {
		t.Errorf("Pending(max uint64) = %v, %v", p, err)
	}
}

func TestOutbox_depthAndOldest(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	l := openTest(t, "", testKey("a"), &Opts{Now: clk.Now})
	if d, o, err := l.Outbox(); err != nil || d != 0 || !o.IsZero() {
		t.Fatalf("empty Outbox = %d, %v, %v", d, o, err)
	}
	for range 3 {
		mustAppend(t, l, 1)
		clk.Advance(time.Minute)
	}
	tests := []struct {
		ack    uint64
		depth  int
		oldest time.Time
	}{
		{0, 3, t0},
		{1, 2, t0.Add(time.Minute)},
		{2, 1, t0.Add(2 * time.Minute)},
		{3, 0, time.Time{}},
	}
	for _, tt := range tests {
		if err := l.Ack(tt.ack); err != nil {
			t.Fatal(err)
		}
		d, o, err := l.Outbox()
		if err != nil || d != tt.depth || !o.Equal(tt.oldest) {
			t.Errorf("after Ack(%d): Outbox = %d, %v, %v; want %d, %v", tt.ack, d, o, err, tt.depth, tt.oldest)
		}
	}
}

func TestGet_notFound(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 2)
	for _, seq := range []uint64{0, 3, 1 << 40} {
		if _, err := l.Get(seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d) err = %v, want ErrNotFound", seq, err)
		}
	}
}

func TestScan_chunksAndStops(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	n := 2*scanChunk + 7
	mustAppend(t, l, n)
	count := 0
	if err := l.Scan(scanChunk, func(e Entry) error {
		if e.Seq != uint64(scanChunk+count) {
			return fmt.Errorf("seq %d at position %d", e.Seq, count)
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n-scanChunk+1 {
		t.Errorf("visited %d, want %d", count, n-scanChunk+1)
	}
	stop := errors.New("stop")
	visited := 0
	if err := l.Scan(1, func(e Entry) error {
		visited++
		if e.Seq == 3 {
			return stop
		}
		return nil
	}); err != stop {
		t.Errorf("Scan err = %v, want the callback's", err)
	}
	if visited != 3 {
		t.Errorf("visited %d after stop, want 3", visited)
	}
}

func TestScan_callbackMayAppend(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 3)
	// Appending from inside Scan would deadlock if Scan held its read
	// transaction while the file grows.
	err := l.Scan(1, func(e Entry) error {
		if e.Seq <= 3 {
			r := newRec(feed.KindReturn)
			r.Lines = []feed.Line{{Name: strings.Repeat("x", 8000)}}
			_, err := l.Append(r)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Head() < 6 {
		t.Errorf("Head = %d, want ≥ 6", l.Head())
	}
}

func TestAppended_signals(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	select {
	case <-l.Appended():
		t.Fatal("signal before any append")
	default:
	}
	mustAppend(t, l, 3) // never blocks although nobody reads
	select {
	case <-l.Appended():
	default:
		t.Fatal("no signal after append")
	}
	select {
	case <-l.Appended():
		t.Fatal("more than one buffered signal")
	default:
	}
}

func TestClose_laterCallsFail(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	mustAppend(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := l.Append(newRec(feed.KindSale)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append err = %v", err)
	}
	if _, err := l.Get(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Get err = %v", err)
	}
	if err := l.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack err = %v", err)
	}
	if _, err := l.Pending(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Pending err = %v", err)
	}
	if err := l.Verify(); !errors.Is(err, ErrClosed) {
		t.Errorf("Verify err = %v", err)
	}
}

func TestOpen_lockedByAnother(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	if _, err := Open(pathOf(l), testKey("a"), nil); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open err = %v, want ErrLocked", err)
	}
}

func TestOpen_badKey(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "l.db"), ed25519.PrivateKey{1, 2}, nil); err == nil {
		t.Error("Open with a short key succeeded")
	}
}

func TestOpen_keyRotationKeepsVerifying(t *testing.T) {
	l := openTest(t, "", testKey("old"), nil)
	old := mustAppend(t, l, 3)
	path := pathOf(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, path, testKey("new"), nil)
	// Opened but nothing signed yet: opening with the old key again must
	// not leave the unused new key in force.
	l = reopen(t, l, nil)
	niu := mustAppend(t, l, 3)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(testKey("old").Public().(ed25519.PublicKey), old[2].Rec, old[2].Sig) ||
		!ed25519.Verify(testKey("new").Public().(ed25519.PublicKey), niu[0].Rec, niu[0].Sig) {
		t.Error("records not signed with the key in force")
	}
	path = pathOf(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, path, testKey("old"), nil)
	mustAppend(t, l, 1)
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

// closedLedger builds a ledger of n records and returns its path, closed.
func closedLedger(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path, testKey("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, n)
	if err := l.Ack(uint64(n / 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerify_detectsTampering(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(tx *boltdb.Tx) error
		openErr  bool   // caught by Open's O(1) check
		mentions string // in the error
	}{
		{
			name: "edited middle record",
			edit: func(tx *boltdb.Tx) error {
				b := tx.Bucket(bRecords)
				v := bytes.Clone(b.Get(boltdb.U64(3)))
				v = bytes.Replace(v, []byte(`"cashier":"c01"`), []byte(`"cashier":"c02"`), 1)
				return b.Put(boltdb.U64(3), v)
			},
			mentions: "record 3: bad signature",
		},
		{
			name: "edited head record",
			edit: func(tx *boltdb.Tx) error {
				b := tx.Bucket(bRecords)
				v := bytes.Clone(b.Get(boltdb.U64(6)))
				v = bytes.Replace(v, []byte(`"kind":"sale"`), []byte(`"kind":"cash"`), 1)
				return b.Put(boltdb.U64(6), v)
			},
			openErr:  true,
			mentions: "record 6: bad signature",
		},
		{
			name:     "deleted middle record",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bRecords).Delete(boltdb.U64(2)) },
			mentions: "record 2 missing",
		},
		{
			name:     "deleted first record",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bRecords).Delete(boltdb.U64(1)) },
			openErr:  true,
			mentions: "first record",
		},
		{
			name: "deleted head record",
			edit: func(tx *boltdb.Tx) error {
				if err := tx.Bucket(bRecords).Delete(boltdb.U64(6)); err != nil {
					return err
				}
				return tx.Bucket(bOutbox).Delete(boltdb.U64(6))
			},
			openErr:  true,
			mentions: "head 6",
		},
		{
			name: "deleted head record and lowered head",
			edit: func(tx *boltdb.Tx) error {
				if err := tx.Bucket(bRecords).Delete(boltdb.U64(6)); err != nil {
					return err
				}
				if err := tx.Bucket(bOutbox).Delete(boltdb.U64(6)); err != nil {
					return err
				}
				return tx.Bucket(bMeta).Put(kHead, boltdb.U64(5))
			},
			// Indistinguishable on the till from never having appended 6:
			// the bureau sees it (it has 6, or a new 6 conflicts).
			mentions: "",
		},
		{
			name: "swapped records",
			edit: func(tx *boltdb.Tx) error {
				b := tx.Bucket(bRecords)
				v2, v3 := bytes.Clone(b.Get(boltdb.U64(2))), bytes.Clone(b.Get(boltdb.U64(3)))
				if err := b.Put(boltdb.U64(2), v3); err != nil {
					return err
				}
				return b.Put(boltdb.U64(3), v2)
			},
			mentions: "stored under seq 2",
		},
		{
			name:     "dropped outbox entry",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bOutbox).Delete(boltdb.U64(5)) },
			mentions: "outbox",
		},
		{
			name:     "acked beyond head",
			edit:     func(tx *boltdb.Tx) error { return tx.Bucket(bMeta).Put(kAcked, boltdb.U64(7)) },
			openErr:  true,
			mentions: "acked 7 beyond head 6",
		},
		{
			name: "signing key replaced",
			edit: func(tx *boltdb.Tx) error {
				return tx.Bucket(bKeys).Put(boltdb.U64(1), testKey("b").Public().(ed25519.PublicKey))
			},
			openErr:  true,
			mentions: "bad signature",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := closedLedger(t, 6)
			editBolt(t, path, tt.edit)
			l, err := Open(path, testKey("a"), nil)
			if tt.openErr {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.mentions) {
					t.Fatalf("Open err = %v, want ErrCorrupt mentioning %q", err, tt.mentions)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			err = l.Verify()
			if tt.mentions == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.mentions) {
				t.Fatalf("Verify = %v, want ErrCorrupt mentioning %q", err, tt.mentions)
			}
		})
	}
}

func TestOpen_corruptFileLeftInPlace(t *testing.T) {
	garbage := bytes.Repeat([]byte("tillguard\x00\xff"), 6000)
	good := readFile(t, closedLedger(t, 1000))
	tests := []struct {
		name string
		make func(t *testing.T, path string)
	}{
		{"empty", func(t *testing.T, path string) { write(t, path, nil) }},
		{"garbage", func(t *testing.T, path string) { write(t, path, garbage) }},
		{"tiny", func(t *testing.T, path string) { write(t, path, []byte("x")) }},
		{"truncated to half", func(t *testing.T, path string) {
			write(t, path, good[:len(good)/2])
		}},
		{"truncated to one page", func(t *testing.T, path string) {
			write(t, path, good[:4096])
		}},
		{"meta pages zeroed", func(t *testing.T, path string) {
			b := bytes.Clone(good)
			clear(b[:2*4096])
			write(t, path, b)
		}},
		{"other bbolt file", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *boltdb.Tx) error {
				_, err := tx.CreateBucket([]byte("widgets"))
				return err
			})
		}},
		{"another store's format", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *boltdb.Tx) error {
				meta, err := tx.CreateBucket(bMeta)
				if err != nil {
					return err
				}
				return meta.Put([]byte("format"), []byte("tillguard-archive/2"))
			})
		}},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			tt.make(t, path)
			before, _ := os.ReadFile(path)
			l, err := Open(path, testKey("a"), nil)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			t.Log(err)
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the file was changed")
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("files beside the ledger: %v", entries)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_createsPrivateFile(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, filepath.Join(dir, "ledger.db"), testKey("a"), nil)
	if l.Head() != 0 || l.Acked() != 0 {
		t.Errorf("new ledger head %d acked %d", l.Head(), l.Acked())
	}
	fi, err := os.Stat(filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left beside the ledger: %v", entries)
	}
}

func TestLedger_concurrentUse(t *testing.T) {
	l := openTest(t, "", testKey("a"), nil)
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if _, err := l.Append(newRec(feed.KindSale)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-l.Appended():
			}
			p, err := l.Pending(l.Acked(), 10)
			if err != nil {
				t.Error(err)
				return
			}
			if len(p) > 0 {
				if err := l.Ack(p[len(p)-1].Seq); err != nil {
					t.Error(err)
					return
				}
			}
			if _, _, err := l.Outbox(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	if l.Head() != writers*each {
		t.Errorf("Head = %d, want %d", l.Head(), writers*each)
	}
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestVerify_garbagePagesAreCorruptNotPanic(t *testing.T) {
	src := closedLedger(t, 1000)
	live := livePages(t, src)
	good := readFile(t, src)
	for _, pages := range [][2]int{{4, 6}, {10, 30}, {40, 41}, {60, 200}} {
		// Garbage on a free page is no damage: start each range at a page
		// in use, so every case must be found.
		for pages[0] < len(good)/4096 && !live[pages[0]] {
			pages[0]++
			pages[1] = max(pages[1], pages[0]+1)
		}
		t.Run(fmt.Sprint(pages), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			b := bytes.Clone(good)
			lo, hi := pages[0]*4096, min(pages[1]*4096, len(b))
			if lo >= hi {
				t.Fatalf("no page in use from %d: the file has %d pages", pages[0], len(b)/4096)
			}
			for i := lo; i < hi; i++ {
				b[i] = byte(i*7) ^ 0xa5
			}
			write(t, path, b)
			l, err := Open(path, testKey("a"), nil)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open err = %v, want ErrCorrupt", err)
				}
				t.Log(err)
				return
			}
			defer l.Close()
			err = l.Verify()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify = %v, want ErrCorrupt", err)
			}
			t.Log(err)
		})
	}
}

// livePages reports which pages of the bbolt file at path hold data
// (branch, leaf, freelist): not free and not beyond the high-water mark.
func livePages(t *testing.T, path string) map[int]bool {
	t.Helper()
	// Read-write on a copy: bbolt loads the free list (tx.Page needs it)
	// only for writable handles.
	cp := filepath.Join(t.TempDir(), "pages.db")
	write(t, cp, readFile(t, path))
	db, err := boltdb.OpenFile(cp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	live := map[int]bool{}
	err = db.View(func(tx *boltdb.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			switch p.Type {
			case "branch", "leaf", "freelist":
				for i := 0; i <= p.OverflowCount; i++ {
					live[id+i] = true
				}
			}
			id += p.OverflowCount
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return live
}
