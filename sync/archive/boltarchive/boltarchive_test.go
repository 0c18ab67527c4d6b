package boltarchive_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/internal/boltdb/bolttest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/feed"
)

func put(t *testing.T, st archive.Store, in ...archive.Incoming) archive.Result {
	t.Helper()
	res, err := st.Put(ctx, in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

func alarms(t *testing.T, st archive.Store) []archive.Alarm {
	t.Helper()
	as, err := st.Alarms(ctx, archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// traced makes a sale of trace code at day d of the chain's month.
func traced(code string, d int) func(r *feed.Record) {
	return func(r *feed.Record) {
		r.At = time.Date(2025, 3, d, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
		r.Lines[0].DrugTracCodg = []string{code}
	}
}

// TestReopen_keepsEverything stores a little of everything, closes the
// file and checks what a restarted bureau finds: watermarks and their
// hashes, waiting records (promoted by a Put after the restart), alarms
// and their folding, statuses, last-seen times and the cross-till index.
func TestReopen_keepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	clk := &clock{time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)}
	opts := &archive.Opts{Now: clk.Now}
	a, err := boltarchive.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := archivetest.NewChain("P1", "T1"), archivetest.NewChain("P2", "T2")
	t1.Next(traced("81000000000000000001", 1))
	t1.Add(4)
	t2.Add(1)
	t2.Next(traced("81000000000000000001", 2))
	put(t, a, t1.Records(1, 2)...)
	put(t, a, t1.Records(4, 5)...) // waiting for 3
	forged := *t1.Record(2).Parsed
	forged.Cashier = "forger"
	put(t, a, t1.Seal(forged))
	if err := a.SetStatus(ctx, "P1", "T1", feed.Status{State: feed.StateOnline, HeadSeq: 5, At: "2025-03-02T18:00:00+08:00"}); err != nil {
		t.Fatal(err)
	}
	put(t, a, t2.Record(2)) // waiting for 1, and holding trace …01 once promoted
	seen := clk.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	clk.t = clk.t.Add(time.Hour)
	a = openTest(t, path, opts)
	w, err := a.Watermark(ctx, "P1", "T1")
	if err != nil || w.Seq != 2 || w.Hash != feed.Hash(t1.Record(2).Rec) {
		t.Fatalf("watermark %+v %v, want 2 and record 2's hash", w, err)
	}
	tills, err := a.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 2 {
		t.Fatalf("tills %+v %v", tills, err)
	}
	if ti := tills[0]; ti.Waiting != 2 || ti.Count != 2 || ti.Status == nil || ti.Status.HeadSeq != 5 || !ti.LastSeen.Equal(seen) {
		t.Fatalf("P1/T1 after reopen %+v", ti)
	}
	put(t, a, t1.Seal(forged))
	if as := alarms(t, a); len(as) != 1 || as[0].Kind != archive.AlarmConflict || as[0].Count != 2 {
		t.Fatalf("alarms %+v, want the conflict counted twice", as)
	}
	res := put(t, a, t1.Record(3), t2.Record(1))
	if res.Promoted != 3 || !slices.Equal(res.Outcomes, []archive.Outcome{archive.Stored, archive.Stored}) {
		t.Fatalf("outcomes %v promoted %d, want both stored and 3 promoted", res.Outcomes, res.Promoted)
	}
	// The promoted record, decoded from the file, goes through the
	// cross-till rules like any other.
	if got := res.Alarms; len(got) != 1 || got[0].Kind != archive.AlarmTraceDupCross || got[0].Pharmacy != "P2" {
		t.Fatalf("Put's alarms %+v, want trace_dup_cross on P2", got)
	}
	hits, err := a.Search(ctx, archive.SearchQuery{Trace: "81000000000000000001"})
	if err != nil || len(hits) != 2 || hits[0].Pharmacy != "P2" || hits[1].Pharmacy != "P1" {
		t.Fatalf("search %+v %v, want P2's sale then P1's", hits, err)
	}
	tills, _ = a.Tills(ctx, archive.TillQuery{})
	if tills[0].Waiting != 0 || tills[0].Contiguous != 5 || !tills[0].LastSeen.Equal(clk.Now()) {
		t.Fatalf("P1/T1 %+v", tills[0])
	}
}

func TestOpen_refusedFileLeftInPlace(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	a, err := boltarchive.Open(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := archivetest.NewChain("P1", "T1")
	c.Add(5)
	put(t, a, c.Records(1, 3)...)
	put(t, a, c.Record(5))
	a.Close()
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p1t1 := []byte("P1\x00T1")
	format := func(f string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			bolttest.Edit(t, path, func(tx *boltdb.Tx) error {
				meta, err := tx.CreateBucket(boltdb.BucketMeta)
				if err != nil {
					return err
				}
				_, err = tx.CreateBucket([]byte("tills"))
				if err != nil {
					return err
				}
				return meta.Put(boltdb.KeyFormat, []byte(f))
			})
		}
	}
	damage := func(fn func(tx *boltdb.Tx) error) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, goodBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			bolttest.Edit(t, path, fn)
		}
	}
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
		says string
	}{
		{"empty", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }, boltarchive.ErrCorrupt, ""},
		{"garbage", func(t *testing.T, path string) { os.WriteFile(path, bytes.Repeat([]byte{0xde, 0xad}, 10000), 0o600) }, boltarchive.ErrCorrupt, ""},
		{"truncated", func(t *testing.T, path string) { os.WriteFile(path, goodBytes[:len(goodBytes)/3], 0o600) }, boltarchive.ErrCorrupt, ""},
		{"the old format", format("tillguard-archive/1"), archive.ErrSchema, "remove the file"},
		{"a newer format", format("tillguard-archive/9"), archive.ErrSchema, "newer tillguard"},
		{"a ledger", format("tillguard-ledger/1"), archive.ErrSchema, "not an archive"},
		{"another bbolt file", func(t *testing.T, path string) {
			bolttest.Edit(t, path, func(tx *boltdb.Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
		}, archive.ErrSchema, "not an archive"},
		{"watermark ahead of the records", damage(func(tx *boltdb.Tx) error {
			return tx.Bucket([]byte("tills")).Bucket(p1t1).Bucket([]byte("recs")).Delete(boltdb.U64(3))
		}), boltarchive.ErrCorrupt, "watermark"},
		{"record changed under its hash", damage(func(tx *boltdb.Tx) error {
			return tx.Bucket([]byte("tills")).Bucket(p1t1).Bucket([]byte("recs")).Put(boltdb.U64(3), []byte("\x00{}"))
		}), boltarchive.ErrCorrupt, "hash"},
		{"waiting index lost", damage(func(tx *boltdb.Tx) error {
			return tx.Bucket([]byte("waiting")).Delete(p1t1)
		}), boltarchive.ErrCorrupt, "waiting"},
		{"state cut", damage(func(tx *boltdb.Tx) error {
			return tx.Bucket([]byte("tills")).Bucket(p1t1).Put([]byte("state"), []byte{1})
		}), boltarchive.ErrCorrupt, "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "archive.db")
			tt.make(t, path)
			before, _ := os.ReadFile(path)
			a, err := boltarchive.Open(path, nil)
			if err == nil {
				a.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tt.want, tt.says)
			}
			t.Log(err)
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the file was changed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("files beside the archive: %v", entries)
			}
		})
	}
}

// TestOpen_lockedByAnotherProcess runs this test binary again as a second
// bureau on the same file (TestHelperSecondBureau).
func TestOpen_lockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	openTest(t, path, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSecondBureau$")
	cmd.Env = append(os.Environ(), "BOLTARCHIVE_SECOND="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "locked out") {
		t.Fatalf("second process: %v\n%s", err, out)
	}
}

// TestHelperSecondBureau is the second process of
// TestOpen_lockedByAnotherProcess; run alone, it does nothing.
func TestHelperSecondBureau(t *testing.T) {
	path := os.Getenv("BOLTARCHIVE_SECOND")
	if path == "" {
		t.Skip("the second process of TestOpen_lockedByAnotherProcess")
	}
	a, err := boltarchive.Open(path, nil)
	if err == nil {
		a.Close()
		t.Fatal("opened a file another process holds")
	}
	if !errors.Is(err, boltarchive.ErrLocked) {
		t.Fatalf("Open: %v, want ErrLocked", err)
	}
	t.Log("locked out:", err)
	os.Stdout.WriteString("locked out\n")
}

func TestArchive_closed(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c := archivetest.NewChain("P1", "T1")
	c.Add(1)
	if _, err := a.Put(ctx, c.Records(1, 1)); !errors.Is(err, archive.ErrClosed) {
		t.Errorf("Put: %v", err)
	}
	if _, err := a.Watermark(ctx, "P1", "T1"); !errors.Is(err, archive.ErrClosed) {
		t.Errorf("Watermark: %v", err)
	}
	if _, err := a.Alarms(ctx, archive.AlarmQuery{}); !errors.Is(err, archive.ErrClosed) {
		t.Errorf("Alarms: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestPut_manyTillsOneBatch: a batch of three tills' records, newest
// first and one hole, as a receiver that fell behind gets them.
func TestPut_manyTillsOneBatch(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	var chains []*archivetest.Chain
	var in []archive.Incoming
	for _, name := range []string{"A", "B", "C"} {
		c := archivetest.NewChain("P1", name)
		c.Add(50)
		chains = append(chains, c)
		for seq := uint64(1); seq <= 50; seq++ {
			if name != "B" || seq != 20 {
				in = append(in, c.Record(seq))
			}
		}
	}
	slices.Reverse(in)
	res := put(t, a, in...)
	want := map[string]uint64{"A": 50, "B": 19, "C": 50}
	if len(res.Acks) != 3 {
		t.Fatalf("acks %+v", res.Acks)
	}
	for _, ack := range res.Acks {
		if ack.Seq != want[ack.Till] {
			t.Errorf("ack %+v, want %d", ack, want[ack.Till])
		}
	}
	tills, err := a.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 3 || tills[1].Waiting != 30 || tills[1].Count != 19 {
		t.Fatalf("tills %+v %v", tills, err)
	}
	res = put(t, a, chains[1].Record(20))
	if res.Promoted != 30 || res.Acks[0].Seq != 50 {
		t.Fatalf("after the fill: promoted %d, acks %+v", res.Promoted, res.Acks)
	}
}

// TestPut_repeatsAlarmOnce: a bad-chain record sent again and again is
// one alarm, counted, and Put returns it only the first time.
func TestPut_repeatsAlarmOnce(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	c := archivetest.NewChain("P1", "T1")
	c.Add(2)
	put(t, a, c.Record(1))
	r := c.Template()
	r.Seq, r.Prev = 2, feed.Hash([]byte("not record 1"))
	bad := c.Seal(r)
	for i := range 5 {
		res := put(t, a, bad, bad)
		if !slices.Equal(res.Outcomes, []archive.Outcome{archive.BadChain, archive.BadChain}) {
			t.Fatalf("outcomes %v", res.Outcomes)
		}
		if (len(res.Alarms) == 1) != (i == 0) {
			t.Fatalf("send %d: Put's alarms %+v", i, res.Alarms)
		}
	}
	as := alarms(t, a)
	if len(as) != 1 || as[0].Count != 10 || as[0].Key != feed.Hash(bad.Rec) || as[0].Seq != 2 {
		t.Fatalf("alarms %+v, want one bad_chain keyed by the bytes' hash, counted 10 times", as)
	}
}

// TestPut_hostileValuesDoNotFailTheBatch: values a till signed that are
// too long to be index keys are stored, not indexed.
func TestPut_hostileValuesDoNotFailTheBatch(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	c := archivetest.NewChain("P1", "T1")
	long := strings.Repeat("8", 40000)
	c.Next(func(r *feed.Record) {
		r.ID = long
		r.Card = &feed.Card{Type: feed.CardSSC, No: long}
		r.Lines[0].DrugTracCodg = []string{long}
		r.Lines[0].Rule = long
	})
	res := put(t, a, c.Record(1))
	if res.Outcomes[0] != archive.Stored {
		t.Fatalf("outcome %v", res.Outcomes[0])
	}
	if hits, err := a.Search(ctx, archive.SearchQuery{Trace: long}); err != nil || len(hits) != 0 {
		t.Fatalf("search %d hits, %v", len(hits), err)
	}
}

// TestBlocked_rangeEnds counts at the ends of a range that spans whole
// days and parts of two more, where the day counts stop and the per-time
// counts take over.
func TestBlocked_rangeEnds(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	c := archivetest.NewChain("P1", "T1")
	t0 := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{
		-time.Nanosecond, 0, 5 * time.Hour, 23*time.Hour + 59*time.Minute, 24 * time.Hour, 50 * time.Hour,
		72*time.Hour - time.Millisecond, 72 * time.Hour, 80 * time.Hour,
	} {
		at := t0.Add(d)
		times = append(times, at)
		c.Next(func(r *feed.Record) {
			r.Kind, r.Payment = feed.KindBlocked, nil
			r.At = at.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02T15:04:05.000000000Z07:00")
			r.Lines = []feed.Line{
				{Barcode: "6901234567892", Qty: 1, Decision: feed.Block, Rule: "non_drug"},
				{Barcode: "6901234567893", Qty: 1, Decision: feed.Hold, Rule: "rx_required"},
				{Barcode: "6901234567894", Qty: 1, Decision: feed.Allow},
			}
		})
	}
	put(t, a, c.Records(1, uint64(c.Len()))...)
	for _, tc := range []struct {
		from, to time.Time
	}{
		{t0, t0.Add(72 * time.Hour)},
		{t0.Add(time.Hour), t0.Add(73 * time.Hour)},
		{t0.Add(-time.Hour), t0.Add(24 * time.Hour)},
		{t0.Add(5 * time.Hour), t0.Add(5*time.Hour + 1)},
		{t0.Add(6 * time.Hour), t0.Add(7 * time.Hour)},
		{t0.Add(-48 * time.Hour), t0.Add(96 * time.Hour)},
		{t0.Add(time.Hour), t0},
	} {
		want := 0
		for _, at := range times {
			if !at.Before(tc.from) && at.Before(tc.to) {
				want++
			}
		}
		got, err := a.Blocked(ctx, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		var wantCounts []archive.RuleCount
		if want > 0 {
			wantCounts = []archive.RuleCount{{Pharmacy: "P1", Rule: "non_drug", Count: want}, {Pharmacy: "P1", Rule: "rx_required", Count: want}}
		}
		if !slices.Equal(got, wantCounts) && !(len(got) == 0 && len(wantCounts) == 0) {
			t.Errorf("Blocked [%v, %v) = %+v, want %+v", tc.from, tc.to, got, wantCounts)
		}
	}
}

func TestArchive_invalid(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	if err := a.SetStatus(ctx, "P/1", "T1", feed.Status{}); !errors.Is(err, archive.ErrInvalid) {
		t.Errorf("SetStatus with a bad id: %v", err)
	}
	for _, q := range []archive.SearchQuery{{}, {Card: "1", Trace: "2"}} {
		if _, err := a.Search(ctx, q); !errors.Is(err, archive.ErrInvalid) {
			t.Errorf("Search(%+v): %v", q, err)
		}
	}
	if _, err := a.Raise(ctx, []archive.Alarm{{Pharmacy: "P1"}}); !errors.Is(err, archive.ErrInvalid) {
		t.Errorf("Raise without a kind: %v", err)
	}
}

func TestScan_acrossChunks(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	c := archivetest.NewChain("P1", "T1")
	c.Add(700)
	put(t, a, c.Records(1, 700)...)
	for _, tc := range []struct {
		from  uint64
		limit int
		want  int
	}{{1, 0, 700}, {3, 600, 600}, {600, 0, 101}, {701, 0, 0}, {1, 256, 256}, {1, 257, 257}} {
		n, next := 0, tc.from
		err := a.Scan(ctx, "P1", "T1", tc.from, tc.limit, func(seq uint64, rec, _ []byte) error {
			if seq != next || !bytes.Equal(rec, c.Record(seq).Rec) {
				t.Fatalf("Scan from %d: got %d, want %d", tc.from, seq, next)
			}
			n, next = n+1, next+1
			return nil
		})
		if err != nil || n != tc.want {
			t.Errorf("Scan from %d limit %d: %d records, %v; want %d", tc.from, tc.limit, n, err, tc.want)
		}
	}
}

// TestPut_emptySig: a record is its bytes; a signature may be empty (the
// caller verified it, or enrols tills without keys in a test).
func TestPut_emptySig(t *testing.T) {
	a := openTest(t, filepath.Join(t.TempDir(), "archive.db"), nil)
	c := archivetest.NewChain("P1", "T1")
	in := c.Next(nil)
	in.Sig = nil
	put(t, a, in)
	rec, sig, err := a.Get(ctx, "P1", "T1", 1)
	if err != nil || !bytes.Equal(rec, in.Rec) || len(sig) != 0 {
		t.Errorf("Get = %q, %q, %v", rec, sig, err)
	}
}
