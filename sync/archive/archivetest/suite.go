package archivetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// Harness opens the store under test.
type Harness struct {
	// Open returns a new, empty store using opts; the harness closes it
	// when the test ends.
	Open func(t *testing.T, opts *archive.Opts) archive.Store
	// Reopen closes s and opens the same store again with opts, as a
	// restarted receiver would.
	Reopen func(t *testing.T, s archive.Store, opts *archive.Opts) archive.Store
	// Another returns a second handle on the same store, as another
	// receiver's process would have; a store for one process returns s.
	Another func(t *testing.T, s archive.Store, opts *archive.Opts) archive.Store
}

// Run runs the conformance suite: every store must pass it.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"StoresInOrder", s.storesInOrder},
		{"FirstRecordHasNoPrev", s.firstRecordHasNoPrev},
		{"Duplicate", s.duplicate},
		{"ConflictAlarmsOnce", s.conflictAlarmsOnce},
		{"BadChain", s.badChain},
		{"OutOfOrderInBatch", s.outOfOrderInBatch},
		{"WaitsForPredecessor", s.waitsForPredecessor},
		{"WaitingWithBadChain", s.waitingWithBadChain},
		{"WaitingOtherBytesDropped", s.waitingOtherBytesDropped},
		{"WaitingBounded", s.waitingBounded},
		{"SweepRaisesGapOnce", s.sweepRaisesGapOnce},
		{"AnnounceKeepsHighest", s.announceKeepsHighest},
		{"AnnounceInvalid", s.announceInvalid},
		{"AnnounceContradicted", s.announceContradicted},
		{"AnnounceContradictsStored", s.announceContradictsStored},
		{"PutContradictsAnnounced", s.putContradictsAnnounced},
		{"AnnounceRegressed", s.announceRegressed},
		{"SweepStaleOncePerHead", s.sweepStaleOncePerHead},
		{"RaiseFoldsRepeats", s.raiseFoldsRepeats},
		{"AlarmQueries", s.alarmQueries},
		{"Invalid", s.invalid},
		{"Scan", s.scan},
		{"Tills", s.tills},
		{"Reopen", s.reopen},
		{"Enroll", s.enrol},
		{"EnrollInvalid", s.enrolInvalid},
		{"EnrollShared", s.enrolShared},
		{"Cross", s.cross},
		{"CrossSameBatch", s.crossSameBatch},
		{"BlockedAndSearch", s.blockedAndSearch},
		{"ConcurrentReceivers", s.concurrentReceivers},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

type suite struct{ h Harness }

// clock is a settable time for the store's Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (s *suite) open(t *testing.T) (archive.Store, *clock) {
	c := newClock()
	return s.h.Open(t, &archive.Opts{Now: c.Now}), c
}

var ctx = context.Background()

func put(t *testing.T, st archive.Store, in ...archive.Incoming) archive.Result {
	t.Helper()
	res, err := st.Put(ctx, in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(res.Outcomes) != len(in) {
		t.Fatalf("Put: %d outcomes for %d records", len(res.Outcomes), len(in))
	}
	return res
}

func outcomes(t *testing.T, res archive.Result, want ...archive.Outcome) {
	t.Helper()
	if !slices.Equal(res.Outcomes, want) {
		t.Fatalf("outcomes %v, want %v", res.Outcomes, want)
	}
}

func watermark(t *testing.T, st archive.Store, c *Chain, want uint64) {
	t.Helper()
	w, err := st.Watermark(ctx, c.Pharmacy, c.Till)
	if err != nil {
		t.Fatalf("Watermark: %v", err)
	}
	wantHash := ""
	if want > 0 {
		wantHash = feed.Hash(c.Record(want).Rec)
	}
	if w.Seq != want || w.Hash != wantHash || w.Pharmacy != c.Pharmacy || w.Till != c.Till {
		t.Fatalf("watermark %+v, want seq %d hash %.12s…", w, want, wantHash)
	}
}

func ackOf(t *testing.T, res archive.Result, c *Chain) uint64 {
	t.Helper()
	for _, a := range res.Acks {
		if a.Pharmacy == c.Pharmacy && a.Till == c.Till {
			return a.Seq
		}
	}
	t.Fatalf("no ack for %s/%s in %+v", c.Pharmacy, c.Till, res.Acks)
	return 0
}

func alarms(t *testing.T, st archive.Store, q archive.AlarmQuery) []archive.Alarm {
	t.Helper()
	as, err := st.Alarms(ctx, q)
	if err != nil {
		t.Fatalf("Alarms: %v", err)
	}
	return as
}

func kinds(as []archive.Alarm) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func (s *suite) storesInOrder(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("H33010200001", "T01")
	c.Add(5)
	res := put(t, st, c.Records(1, 5)...)
	outcomes(t, res, archive.Stored, archive.Stored, archive.Stored, archive.Stored, archive.Stored)
	if ackOf(t, res, c) != 5 {
		t.Fatalf("ack %+v, want 5", res.Acks)
	}
	watermark(t, st, c, 5)
	for seq := uint64(1); seq <= 5; seq++ {
		rec, sig, err := st.Get(ctx, c.Pharmacy, c.Till, seq)
		if err != nil || !bytes.Equal(rec, c.Record(seq).Rec) || !bytes.Equal(sig, c.Record(seq).Sig) {
			t.Fatalf("Get %d: %q %x %v", seq, rec, sig, err)
		}
	}
	if _, _, err := st.Get(ctx, c.Pharmacy, c.Till, 6); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get 6: %v, want ErrNotFound", err)
	}
	if _, _, err := st.Get(ctx, "P9", "T9", 1); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get of an unknown till: %v, want ErrNotFound", err)
	}
	if w, err := st.Watermark(ctx, "P9", "T9"); err != nil || w.Seq != 0 || w.Hash != "" {
		t.Fatalf("Watermark of an unknown till: %+v %v", w, err)
	}
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
}

func (s *suite) firstRecordHasNoPrev(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	r := c.Template()
	r.Prev = feed.Hash([]byte("something before"))
	outcomes(t, put(t, st, c.Seal(r)), archive.BadChain)
	watermark(t, st, c, 0)
	if got := kinds(alarms(t, st, archive.AlarmQuery{})); !slices.Equal(got, []string{archive.AlarmBadChain}) {
		t.Fatalf("alarms %v", got)
	}
}

func (s *suite) duplicate(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	put(t, st, c.Records(1, 3)...)
	res := put(t, st, c.Record(2), c.Record(3))
	outcomes(t, res, archive.Duplicate, archive.Duplicate)
	// A till whose ack was lost sends again: it must be acked again.
	if ackOf(t, res, c) != 3 {
		t.Fatalf("acks %+v, want 3", res.Acks)
	}
	if len(res.Alarms) != 0 || len(alarms(t, st, archive.AlarmQuery{})) != 0 {
		t.Fatal("a duplicate raised an alarm")
	}
	watermark(t, st, c, 3)
}

func (s *suite) conflictAlarmsOnce(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	put(t, st, c.Records(1, 3)...)
	r := *c.Record(2).Parsed
	r.Cashier = "someone else"
	other := c.Seal(r)
	res := put(t, st, other)
	outcomes(t, res, archive.Conflict)
	if got := kinds(res.Alarms); !slices.Equal(got, []string{archive.AlarmConflict}) {
		t.Fatalf("Put's alarms %v", got)
	}
	outcomes(t, put(t, st, other), archive.Conflict)
	as := alarms(t, st, archive.AlarmQuery{})
	if len(as) != 1 || as[0].Kind != archive.AlarmConflict || as[0].Seq != 2 || as[0].Count != 2 || as[0].Till != "T1" {
		t.Fatalf("alarms %+v, want one conflict on seq 2 raised twice", as)
	}
	if len(as[0].Records) == 0 || as[0].Records[0].Seq != 2 {
		t.Fatalf("conflict evidence %+v", as[0].Records)
	}
	rec, _, _ := st.Get(ctx, c.Pharmacy, c.Till, 2)
	if !bytes.Equal(rec, c.Record(2).Rec) {
		t.Fatal("a conflicting record replaced the stored one")
	}
	watermark(t, st, c, 3)
}

func (s *suite) badChain(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(2)
	put(t, st, c.Records(1, 2)...)
	r := c.Template()
	r.Prev = feed.Hash([]byte("not record 2"))
	outcomes(t, put(t, st, c.Seal(r)), archive.BadChain)
	watermark(t, st, c, 2)
	c.Add(1)
	outcomes(t, put(t, st, c.Record(3)), archive.Stored)
	watermark(t, st, c, 3)
	if got := kinds(alarms(t, st, archive.AlarmQuery{})); !slices.Equal(got, []string{archive.AlarmBadChain}) {
		t.Fatalf("alarms %v", got)
	}
}

func (s *suite) outOfOrderInBatch(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	res := put(t, st, c.Record(3), c.Record(1), c.Record(2))
	outcomes(t, res, archive.Stored, archive.Stored, archive.Stored)
	if ackOf(t, res, c) != 3 {
		t.Fatalf("acks %+v", res.Acks)
	}
	watermark(t, st, c, 3)
}

func (s *suite) waitsForPredecessor(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(4)
	res := put(t, st, c.Record(4), c.Record(3))
	outcomes(t, res, archive.Waiting, archive.Waiting)
	if ackOf(t, res, c) != 0 || res.Acks[0].WaitingFrom != 3 {
		t.Fatalf("acks %+v, want 0 and records waiting from 3", res.Acks)
	}
	if w, err := st.Watermark(ctx, c.Pharmacy, c.Till); err != nil || w.WaitingFrom != 3 {
		t.Fatalf("Watermark %+v %v, want records waiting from 3", w, err)
	}
	outcomes(t, put(t, st, c.Record(4)), archive.Waiting) // again: still waiting, kept once
	res = put(t, st, c.Record(1))
	outcomes(t, res, archive.Stored)
	if res.Acks[0].Seq != 1 || res.Acks[0].WaitingFrom != 3 {
		t.Fatalf("acks %+v, want 1, waiting from 3", res.Acks)
	}
	res = put(t, st, c.Record(2))
	outcomes(t, res, archive.Stored)
	if res.Promoted != 2 || ackOf(t, res, c) != 4 || res.Acks[0].WaitingFrom != 0 {
		t.Fatalf("promoted %d, acks %+v; want 2 and 4, nothing waiting", res.Promoted, res.Acks)
	}
	watermark(t, st, c, 4)
	outcomes(t, put(t, st, c.Record(3)), archive.Duplicate)
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	tills, err := st.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 1 || tills[0].Count != 4 || tills[0].Waiting != 0 {
		t.Fatalf("tills %+v %v", tills, err)
	}
}

func (s *suite) waitingWithBadChain(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(2)
	r := c.Template()
	r.Prev = feed.Hash([]byte("not record 2"))
	outcomes(t, put(t, st, c.Seal(r)), archive.Waiting)
	res := put(t, st, c.Records(1, 2)...)
	outcomes(t, res, archive.Stored, archive.Stored)
	if res.Promoted != 0 || ackOf(t, res, c) != 2 {
		t.Fatalf("promoted %d, acks %+v", res.Promoted, res.Acks)
	}
	if got := kinds(res.Alarms); !slices.Equal(got, []string{archive.AlarmBadChain}) {
		t.Fatalf("alarms %v, want bad_chain", got)
	}
	c.Add(1)
	outcomes(t, put(t, st, c.Record(3)), archive.Stored)
	watermark(t, st, c, 3)
}

func (s *suite) waitingOtherBytesDropped(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	outcomes(t, put(t, st, c.Record(3)), archive.Waiting)
	r := *c.Record(3).Parsed
	r.Cashier = "fork"
	outcomes(t, put(t, st, c.Seal(r)), archive.Dropped)
	res := put(t, st, c.Records(1, 2)...)
	if res.Promoted != 1 {
		t.Fatalf("promoted %d", res.Promoted)
	}
	watermark(t, st, c, 3)
}

func (s *suite) waitingBounded(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(archive.MaxWaiting + 2)
	res := put(t, st, c.Records(2, archive.MaxWaiting+2)...)
	for i, o := range res.Outcomes {
		want := archive.Waiting
		if i == archive.MaxWaiting {
			want = archive.Dropped
		}
		if o != want {
			t.Fatalf("outcome %d (seq %d) %v, want %v", i, i+2, o, want)
		}
	}
	res = put(t, st, c.Record(1))
	if res.Promoted != archive.MaxWaiting || ackOf(t, res, c) != archive.MaxWaiting+1 {
		t.Fatalf("promoted %d, acks %+v", res.Promoted, res.Acks)
	}
	outcomes(t, put(t, st, c.Record(archive.MaxWaiting+2)), archive.Stored)
	watermark(t, st, c, archive.MaxWaiting+2)
}

func (s *suite) sweepRaisesGapOnce(t *testing.T) {
	st, clk := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(5)
	put(t, st, c.Records(1, 2)...)
	arrived := clk.Now()
	put(t, st, c.Records(4, 5)...)
	clk.Add(time.Minute)
	if got, err := st.Sweep(ctx, clk.Now(), arrived.Add(-time.Second), clk.Now()); err != nil || len(got) != 0 {
		t.Fatalf("Sweep before the grace: %+v %v", got, err)
	}
	got, err := st.Sweep(ctx, clk.Now(), arrived.Add(time.Second), clk.Now())
	if err != nil || len(got) != 1 || got[0].Kind != archive.AlarmGap || got[0].Seq != 3 || got[0].Till != "T1" {
		t.Fatalf("Sweep: %+v %v, want one gap at seq 3", got, err)
	}
	if got, err := st.Sweep(ctx, clk.Now(), clk.Now(), clk.Now()); err != nil || len(got) != 0 {
		t.Fatalf("second Sweep: %+v %v, want nothing new", got, err)
	}
	if as := alarms(t, st, archive.AlarmQuery{Kind: archive.AlarmGap}); len(as) != 1 {
		t.Fatalf("gap alarms %+v", as)
	}
	// Filled, the hole is no gap any more.
	res := put(t, st, c.Record(3))
	if res.Promoted != 2 {
		t.Fatalf("promoted %d", res.Promoted)
	}
	if got, err := st.Sweep(ctx, clk.Now(), clk.Now(), clk.Now()); err != nil || len(got) != 0 {
		t.Fatalf("Sweep after the fill: %+v %v", got, err)
	}
}

func (s *suite) raiseFoldsRepeats(t *testing.T) {
	st, clk := s.open(t)
	a := archive.Alarm{At: clk.Now(), Pharmacy: "P1", Till: "T1", Seq: 7, Kind: archive.AlarmBadSignature, Key: "k1", Detail: "signature does not verify",
		Records: []archive.RecordRef{{Pharmacy: "P1", Till: "T1", Seq: 7, ID: "x"}}}
	if n, err := st.Raise(ctx, []archive.Alarm{a, a}); err != nil || n != 1 {
		t.Fatalf("Raise: %d new, %v; want 1", n, err)
	}
	clk.Add(time.Hour)
	later := a
	later.At = clk.Now()
	if n, err := st.Raise(ctx, []archive.Alarm{later}); err != nil || n != 0 {
		t.Fatalf("Raise again: %d new, %v; want 0", n, err)
	}
	other := a
	other.Key = "k2"
	if n, err := st.Raise(ctx, []archive.Alarm{other}); err != nil || n != 1 {
		t.Fatalf("Raise with another key: %d new, %v", n, err)
	}
	as := alarms(t, st, archive.AlarmQuery{})
	if len(as) != 2 || as[0].Count != 3 || as[1].Count != 1 {
		t.Fatalf("alarms %+v, want counts 3 and 1", as)
	}
	if !as[0].At.Equal(a.At) || !as[0].LastAt.Equal(later.At) || as[0].Detail != a.Detail || len(as[0].Records) != 1 || as[0].Records[0].ID != "x" {
		t.Fatalf("alarm %+v", as[0])
	}
	if as[0].ID >= as[1].ID || as[0].ID <= 0 {
		t.Fatalf("alarm ids %d, %d: want positive and increasing", as[0].ID, as[1].ID)
	}
}

func (s *suite) alarmQueries(t *testing.T) {
	st, _ := s.open(t)
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var in []archive.Alarm
	for i := range 30 {
		in = append(in, archive.Alarm{
			At: t0.Add(time.Duration(i) * time.Hour), Pharmacy: fmt.Sprintf("P%d", i%3), Till: "T1", Seq: uint64(i + 1),
			Kind: []string{archive.AlarmUnenrolled, archive.AlarmBadPayload}[i%2], Detail: "d",
		})
	}
	if n, err := st.Raise(ctx, in); err != nil || n != 30 {
		t.Fatalf("Raise: %d %v", n, err)
	}
	if as := alarms(t, st, archive.AlarmQuery{Kind: archive.AlarmBadPayload}); len(as) != 15 {
		t.Fatalf("by kind: %d", len(as))
	}
	if as := alarms(t, st, archive.AlarmQuery{Pharmacy: "P1"}); len(as) != 10 || as[0].Seq != 2 {
		t.Fatalf("by pharmacy: %+v", as)
	}
	if as := alarms(t, st, archive.AlarmQuery{Pharmacy: "P1", Till: "T2"}); len(as) != 0 {
		t.Fatalf("by till: %+v", as)
	}
	if as := alarms(t, st, archive.AlarmQuery{Since: t0.Add(25 * time.Hour)}); len(as) != 5 || as[0].Seq != 26 {
		t.Fatalf("since: %+v", as)
	}
	var all []archive.Alarm
	q := archive.AlarmQuery{Limit: 7}
	for {
		page := alarms(t, st, q)
		all = append(all, page...)
		if len(page) < q.Limit {
			break
		}
		q.AfterID = page[len(page)-1].ID
	}
	if len(all) != 30 {
		t.Fatalf("paged %d alarms, want 30", len(all))
	}
	for i, a := range all {
		if a.Seq != uint64(i+1) {
			t.Fatalf("page order: alarm %d has seq %d", i, a.Seq)
		}
	}
}

func (s *suite) invalid(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(2)
	bad := c.Record(2)
	bad.Seq = 0
	for name, in := range map[string]archive.Incoming{
		"seq 0":        bad,
		"bad till":     {Pharmacy: "P1", Till: "T/1", Seq: 2, Rec: c.Record(2).Rec, Parsed: c.Record(2).Parsed},
		"no bytes":     {Pharmacy: "P1", Till: "T1", Seq: 2, Parsed: c.Record(2).Parsed},
		"not parsed":   {Pharmacy: "P1", Till: "T1", Seq: 2, Rec: c.Record(2).Rec},
		"other record": {Pharmacy: "P1", Till: "T1", Seq: 1, Rec: c.Record(2).Rec, Parsed: c.Record(2).Parsed},
	} {
		if _, err := st.Put(ctx, []archive.Incoming{c.Record(1), in}); !errors.Is(err, archive.ErrInvalid) {
			t.Errorf("%s: Put: %v, want ErrInvalid", name, err)
		}
	}
	watermark(t, st, c, 0)
	if res, err := st.Put(ctx, nil); err != nil || len(res.Outcomes) != 0 {
		t.Fatalf("empty Put: %+v %v", res, err)
	}
}

func (s *suite) scan(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(25)
	put(t, st, c.Records(1, 20)...)
	put(t, st, c.Records(22, 25)...) // waiting: not stored, not scanned
	var got []uint64
	from := uint64(1)
	for {
		n := 0
		err := st.Scan(ctx, c.Pharmacy, c.Till, from, 6, func(seq uint64, rec, sig []byte) error {
			if !bytes.Equal(rec, c.Record(seq).Rec) || !bytes.Equal(sig, c.Record(seq).Sig) {
				t.Fatalf("Scan: record %d differs", seq)
			}
			got = append(got, seq)
			from = seq + 1
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("Scan: %v", err)
		}
		if n < 6 {
			break
		}
	}
	if len(got) != 20 || got[0] != 1 || got[19] != 20 {
		t.Fatalf("scanned %v", got)
	}
	stop := errors.New("stop")
	n := 0
	err := st.Scan(ctx, c.Pharmacy, c.Till, 5, 0, func(uint64, []byte, []byte) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("Scan stopped with %v after %d, want fn's error after 1", err, n)
	}
	if err := st.Scan(ctx, "P9", "T9", 1, 0, func(uint64, []byte, []byte) error { return stop }); err != nil {
		t.Fatalf("Scan of an unknown till: %v", err)
	}
}

func (s *suite) tills(t *testing.T) {
	st, clk := s.open(t)
	var chains []*Chain
	for _, p := range []string{"P2", "P1", "P3"} {
		for _, tl := range []string{"T2", "T1"} {
			c := NewChain(p, tl)
			c.Add(3)
			chains = append(chains, c)
			put(t, st, c.Records(1, 2)...)
		}
	}
	seen := clk.Now()
	clk.Add(time.Minute)
	put(t, st, chains[0].Record(3)) // P2/T2 complete
	if err := st.SetStatus(ctx, "P1", "T1", feed.Status{State: "online", HeadSeq: 9, AckedSeq: 2, At: "2025-03-02T18:00:00+08:00"}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	// A will carries the time its till connected, older than its online
	// status: the latest message wins.
	if err := st.SetStatus(ctx, "P1", "T2", feed.Status{State: "online", HeadSeq: 3, At: "2025-03-02T18:00:00+08:00"}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	if err := st.SetStatus(ctx, "P1", "T2", feed.Status{State: "offline", HeadSeq: 2, At: "2025-03-02T17:00:00+08:00"}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	list, err := st.Tills(ctx, archive.TillQuery{})
	if err != nil || len(list) != 6 {
		t.Fatalf("Tills: %d %v", len(list), err)
	}
	var names []string
	for _, ti := range list {
		names = append(names, ti.Pharmacy+"/"+ti.Till)
	}
	if want := []string{"P1/T1", "P1/T2", "P2/T1", "P2/T2", "P3/T1", "P3/T2"}; !slices.Equal(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
	p1t1 := list[0]
	if p1t1.Status == nil || p1t1.Status.State != "online" || p1t1.Status.HeadSeq != 9 || p1t1.Behind() != 7 || p1t1.Contiguous != 2 || p1t1.Count != 2 {
		t.Fatalf("P1/T1 %+v (status %+v)", p1t1, p1t1.Status)
	}
	if st := list[1].Status; st == nil || st.State != "offline" || st.HeadSeq != 2 {
		t.Fatalf("P1/T2 status %+v, want the will", st)
	}
	if !p1t1.LastSeen.Equal(seen) || !list[3].LastSeen.Equal(clk.Now()) || list[3].Contiguous != 3 {
		t.Fatalf("last seen %v and %v, want %v and %v", p1t1.LastSeen, list[3].LastSeen, seen, clk.Now())
	}
	page, err := st.Tills(ctx, archive.TillQuery{AfterPharmacy: "P1", AfterTill: "T2", Limit: 2})
	if err != nil || len(page) != 2 || page[0].Pharmacy != "P2" || page[0].Till != "T1" || page[1].Till != "T2" {
		t.Fatalf("page after P1/T2: %+v %v", page, err)
	}
	if only, err := st.Tills(ctx, archive.TillQuery{Pharmacy: "P3"}); err != nil || len(only) != 2 || only[0].Pharmacy != "P3" {
		t.Fatalf("P3: %+v %v", only, err)
	}
	w := NewChain("P4", "T1")
	w.Add(3)
	put(t, st, w.Record(3)) // waiting
	behind, err := st.Tills(ctx, archive.TillQuery{Behind: true})
	if err != nil || len(behind) != 2 || behind[0].Pharmacy != "P1" || behind[1].Pharmacy != "P4" || behind[1].Waiting != 1 {
		t.Fatalf("behind: %+v %v", behind, err)
	}
}

func (s *suite) reopen(t *testing.T) {
	c := newClock()
	opts := &archive.Opts{Now: c.Now}
	st := s.h.Open(t, opts)
	ch := NewChain("P1", "T1")
	ch.Add(6)
	put(t, st, ch.Records(1, 3)...)
	put(t, st, ch.Record(5))
	r := *ch.Record(2).Parsed
	r.Cashier = "other"
	put(t, st, ch.Seal(r))
	if err := st.SetStatus(ctx, "P1", "T1", feed.Status{State: "online", HeadSeq: 6, At: "2025-03-02T18:00:00+08:00"}); err != nil {
		t.Fatal(err)
	}
	st = s.h.Reopen(t, st, opts)
	watermark(t, st, ch, 3)
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 1 || as[0].Kind != archive.AlarmConflict {
		t.Fatalf("alarms after reopen %+v", as)
	}
	// The conflict again after a restart is the same alarm.
	put(t, st, ch.Seal(r))
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 1 || as[0].Count != 2 {
		t.Fatalf("alarms after a repeat %+v", as)
	}
	res := put(t, st, ch.Record(4))
	if res.Promoted != 1 || ackOf(t, res, ch) != 5 {
		t.Fatalf("the waiting record did not survive: promoted %d, acks %+v", res.Promoted, res.Acks)
	}
	list, err := st.Tills(ctx, archive.TillQuery{})
	if err != nil || len(list) != 1 || list[0].Status == nil || list[0].Status.HeadSeq != 6 {
		t.Fatalf("tills after reopen %+v %v", list, err)
	}
}

// concurrentReceivers: receivers on one store, each handed an arbitrary
// share of every till's records in any order, as a shared subscription
// does, with resends. Every record is stored once, every watermark
// reaches its till's head, and nothing raises an alarm.
func (s *suite) concurrentReceivers(t *testing.T) {
	const tills, perTill, receivers = 8, 200, 3
	c := newClock()
	opts := &archive.Opts{Now: c.Now}
	first := s.h.Open(t, opts)
	stores := []archive.Store{first}
	for range receivers - 1 {
		stores = append(stores, s.h.Another(t, first, opts))
	}
	var chains []*Chain
	var all []archive.Incoming
	for i := range tills {
		ch := NewChain("P1", fmt.Sprintf("T%d", i))
		ch.Add(perTill)
		chains = append(chains, ch)
		all = append(all, ch.Records(1, perTill)...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	share := make([][]archive.Incoming, receivers)
	for _, in := range all {
		j := rng.IntN(receivers)
		share[j] = append(share[j], in)
		if rng.IntN(10) == 0 { // a resend, to anyone
			j = rng.IntN(receivers)
			share[j] = append(share[j], in)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, receivers)
	stored := make([]int, receivers)
	for i := range receivers {
		msgs := share[i]
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		wg.Go(func() {
			// Roughly in order, as a broker delivers, but batches mixed.
			for len(msgs) > 0 {
				n := min(len(msgs), 1+rng.IntN(60))
				batch := slices.Clone(msgs[:n])
				rng.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
				res, err := stores[i].Put(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				for _, o := range res.Outcomes {
					if o == archive.Stored {
						stored[i]++
					}
				}
				stored[i] += res.Promoted
				msgs = msgs[n:]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	// What was still waiting when its receiver's share ran out: the tills
	// send it again.
	for _, ch := range chains {
		for seq := uint64(1); seq <= perTill; seq++ {
			res := put(t, first, ch.Record(seq))
			if res.Outcomes[0] == archive.Stored {
				stored[0]++
			}
			stored[0] += res.Promoted
		}
	}
	total := 0
	for _, n := range stored {
		total += n
	}
	if total != tills*perTill {
		t.Errorf("%d records reported stored, want %d (each exactly once)", total, tills*perTill)
	}
	for _, ch := range chains {
		watermark(t, first, ch, perTill)
	}
	if as := alarms(t, first, archive.AlarmQuery{}); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	list, err := first.Tills(ctx, archive.TillQuery{})
	if err != nil || len(list) != tills {
		t.Fatalf("tills %d %v", len(list), err)
	}
	for _, ti := range list {
		if ti.Count != perTill || ti.Waiting != 0 {
			t.Errorf("%s/%s count %d waiting %d", ti.Pharmacy, ti.Till, ti.Count, ti.Waiting)
		}
	}
}
