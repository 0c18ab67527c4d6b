package archivetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// statusAt is the time of the first status these tests announce; each
// test announces later and earlier ones around it.
var statusAt = time.Date(2025, 3, 2, 18, 0, 0, 0, cst)

func announce(t *testing.T, st archive.Store, c *Chain, seq uint64, hash string, at time.Time) []archive.Alarm {
	t.Helper()
	as, err := st.Announce(ctx, c.Pharmacy, c.Till, archive.Announcement{Seq: seq, Hash: hash, At: at})
	if err != nil {
		t.Fatalf("Announce %s/%s head %d: %v", c.Pharmacy, c.Till, seq, err)
	}
	return as
}

// headHash is the hash of c's record seq, as its till announces it.
func headHash(c *Chain, seq uint64) string { return feed.Hash(c.Record(seq).Rec) }

// forged is c's record seq with other bytes, signed all the same: the
// record of another history.
func forged(c *Chain, seq uint64) archive.Incoming {
	r := *c.Record(seq).Parsed
	r.Cashier = "another history"
	return c.Seal(r)
}

func wantAnnounced(t *testing.T, st archive.Store, c *Chain, seq uint64, hash string, at time.Time) {
	t.Helper()
	got := tillNamed(t, st, c.Pharmacy, c.Till).Announced
	if got.Seq != seq || got.Hash != hash || !got.At.Equal(at) {
		t.Fatalf("%s/%s announced %+v, want head %d hash %.12s… at %v", c.Pharmacy, c.Till, got, seq, hash, at)
	}
}

// oneAlarm checks that as is one alarm of kind on c's seq, and returns it.
func oneAlarm(t *testing.T, as []archive.Alarm, kind string, c *Chain, seq uint64) archive.Alarm {
	t.Helper()
	if len(as) != 1 || as[0].Kind != kind || as[0].Pharmacy != c.Pharmacy || as[0].Till != c.Till || as[0].Seq != seq ||
		as[0].ID <= 0 || as[0].Detail == "" || as[0].Count != 1 {
		t.Fatalf("alarms %+v, want one %s on %s/%s seq %d", as, kind, c.Pharmacy, c.Till, seq)
	}
	return as[0]
}

// announceKeepsHighest: the highest head announced is kept, with its
// status's time; a repeat changes nothing; a till announcing before any
// of its records came is listed; all of it survives a restart.
func (s *suite) announceKeepsHighest(t *testing.T) {
	c := newClock()
	opts := &archive.Opts{Now: c.Now}
	st := s.h.Open(t, opts)
	ch := NewChain("P1", "T1")
	ch.Add(5)
	put(t, st, ch.Records(1, 3)...)
	if ti := tillNamed(t, st, "P1", "T1"); ti.Announced != (archive.Announcement{}) {
		t.Fatalf("announced %+v before any status", ti.Announced)
	}
	if as := announce(t, st, ch, 3, headHash(ch, 3), statusAt); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	wantAnnounced(t, st, ch, 3, headHash(ch, 3), statusAt)
	if as := announce(t, st, ch, 5, headHash(ch, 5), statusAt.Add(time.Minute)); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	wantAnnounced(t, st, ch, 5, headHash(ch, 5), statusAt.Add(time.Minute))
	// The same head again (a reconnection, a receiver started): nothing,
	// not even its time.
	if as := announce(t, st, ch, 5, headHash(ch, 5), statusAt.Add(time.Hour)); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	wantAnnounced(t, st, ch, 5, headHash(ch, 5), statusAt.Add(time.Minute))
	// The records announced come, and are what was announced.
	if res := put(t, st, ch.Records(4, 5)...); len(res.Alarms) != 0 {
		t.Fatalf("Put's alarms %+v", res.Alarms)
	}
	early := NewChain("P2", "T1")
	early.Add(2)
	announce(t, st, early, 2, headHash(early, 2), statusAt)
	if ti := tillNamed(t, st, "P2", "T1"); ti.Contiguous != 0 || ti.Announced.Seq != 2 {
		t.Fatalf("a till announcing before its records: %+v", ti)
	}
	// A till's first status with an empty ledger announces nothing.
	empty := NewChain("P3", "T1")
	announce(t, st, empty, 0, "", statusAt)
	if ti := tillNamed(t, st, "P3", "T1"); ti.Announced != (archive.Announcement{}) {
		t.Fatalf("head 0 kept as %+v", ti.Announced)
	}
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
	st = s.h.Reopen(t, st, opts)
	wantAnnounced(t, st, ch, 5, headHash(ch, 5), statusAt.Add(time.Minute))
	wantAnnounced(t, st, early, 2, headHash(early, 2), statusAt)
	put(t, st, early.Records(1, 2)...)
	watermark(t, st, early, 2)
}

// announceInvalid: what no verified status announces is refused, and
// nothing is kept.
func (s *suite) announceInvalid(t *testing.T) {
	st, _ := s.open(t)
	h := feed.Hash([]byte("record"))
	for name, tc := range map[string]struct {
		pharmacy, till string
		a              archive.Announcement
	}{
		"bad pharmacy":      {"P 1", "T1", archive.Announcement{Seq: 1, Hash: h, At: statusAt}},
		"bad till":          {"P1", "", archive.Announcement{Seq: 1, Hash: h, At: statusAt}},
		"no hash":           {"P1", "T1", archive.Announcement{Seq: 1, At: statusAt}},
		"not a hash":        {"P1", "T1", archive.Announcement{Seq: 1, Hash: "ab12", At: statusAt}},
		"a hash for seq 0":  {"P1", "T1", archive.Announcement{Hash: h, At: statusAt}},
		"a seq past bigint": {"P1", "T1", archive.Announcement{Seq: 1 << 63, Hash: h, At: statusAt}},
	} {
		if _, err := st.Announce(ctx, tc.pharmacy, tc.till, tc.a); !errors.Is(err, archive.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if list, err := st.Tills(ctx, archive.TillQuery{}); err != nil || len(list) != 0 {
		t.Fatalf("tills %+v %v, want none", list, err)
	}
}

// announceContradicted: the kept head's seq announced with another hash
// is head_contradicted, raised once however often it comes, and the head
// first announced stays.
func (s *suite) announceContradicted(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(5)
	announce(t, st, c, 5, headHash(c, 5), statusAt)
	other := feed.Hash(forged(c, 5).Rec)
	a := oneAlarm(t, announce(t, st, c, 5, other, statusAt.Add(time.Minute)), archive.AlarmHeadContradicted, c, 5)
	if a.Key != other || len(a.Records) == 0 || a.Records[0].Seq != 5 {
		t.Fatalf("alarm %+v, want keyed by the other hash, on record 5", a)
	}
	if as := announce(t, st, c, 5, other, statusAt.Add(2*time.Minute)); len(as) != 0 {
		t.Fatalf("the same contradiction again raised %+v", as)
	}
	as := alarms(t, st, archive.AlarmQuery{})
	if len(as) != 1 || as[0].Count != 2 {
		t.Fatalf("alarms %+v, want the contradiction counted twice", as)
	}
	wantAnnounced(t, st, c, 5, headHash(c, 5), statusAt)
}

// announceContradictsStored: a head announced whose record is stored with
// other bytes is head_contradicted.
func (s *suite) announceContradictsStored(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	put(t, st, c.Records(1, 3)...)
	other := feed.Hash(forged(c, 2).Rec)
	a := oneAlarm(t, announce(t, st, c, 2, other, statusAt), archive.AlarmHeadContradicted, c, 2)
	if a.Key != other || len(a.Records) == 0 || a.Records[0].Seq != 2 || a.Records[0].ID != c.Record(2).Parsed.ID {
		t.Fatalf("alarm %+v, want keyed by the announced hash, on stored record 2", a)
	}
	// What the till said is kept all the same: the head is its word.
	wantAnnounced(t, st, c, 2, other, statusAt)
	// A higher head whose record is stored as announced raises nothing.
	if as := announce(t, st, c, 3, headHash(c, 3), statusAt.Add(time.Minute)); len(as) != 0 {
		t.Fatalf("alarms %+v", as)
	}
}

// putContradictsAnnounced: a record stored at the announced head's seq
// with another hash is head_contradicted too, whether it comes directly or
// after waiting; it is stored all the same.
func (s *suite) putContradictsAnnounced(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(3)
	announce(t, st, c, 3, feed.Hash(forged(c, 3).Rec), statusAt)
	res := put(t, st, c.Records(1, 3)...)
	outcomes(t, res, archive.Stored, archive.Stored, archive.Stored)
	a := oneAlarm(t, res.Alarms, archive.AlarmHeadContradicted, c, 3)
	if len(a.Records) == 0 || a.Records[0].Seq != 3 || a.Records[0].ID != c.Record(3).Parsed.ID {
		t.Fatalf("alarm evidence %+v, want record 3", a.Records)
	}
	watermark(t, st, c, 3)

	w := NewChain("P1", "T2")
	w.Add(5)
	announce(t, st, w, 5, feed.Hash(forged(w, 5).Rec), statusAt)
	if res := put(t, st, w.Record(5)); len(res.Alarms) != 0 {
		t.Fatalf("a record waiting raised %+v", res.Alarms)
	}
	res = put(t, st, w.Records(1, 4)...)
	if res.Promoted != 1 {
		t.Fatalf("promoted %d, want record 5", res.Promoted)
	}
	oneAlarm(t, res.Alarms, archive.AlarmHeadContradicted, w, 5)
	watermark(t, st, w, 5)
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 2 {
		t.Fatalf("alarms %+v, want the two contradictions", as)
	}
}

// announceRegressed: a lower head in a later status is head_regressed; in
// an earlier one (a will, arriving late) it changes nothing. The highest
// head stays.
func (s *suite) announceRegressed(t *testing.T) {
	st, _ := s.open(t)
	c := NewChain("P1", "T1")
	c.Add(5)
	put(t, st, c.Records(1, 5)...)
	announce(t, st, c, 5, headHash(c, 5), statusAt)
	a := oneAlarm(t, announce(t, st, c, 3, headHash(c, 3), statusAt.Add(time.Minute)), archive.AlarmHeadRegressed, c, 3)
	if len(a.Records) < 2 || a.Records[0].Seq != 3 || a.Records[1].Seq != 5 {
		t.Fatalf("alarm evidence %+v, want records 3 and 5", a.Records)
	}
	if as := announce(t, st, c, 3, headHash(c, 3), statusAt.Add(-time.Minute)); len(as) != 0 {
		t.Fatalf("an older status raised %+v", as)
	}
	if as := announce(t, st, c, 4, headHash(c, 4), statusAt); len(as) != 0 {
		t.Fatalf("a status of the same time raised %+v", as)
	}
	wantAnnounced(t, st, c, 5, headHash(c, 5), statusAt)
	if got := kinds(alarms(t, st, archive.AlarmQuery{})); !slices.Equal(got, []string{archive.AlarmHeadRegressed}) {
		t.Fatalf("alarms %v", got)
	}
}

// sweepStaleOncePerHead: a head announced past the watermark and learned
// before staleSince is outbox_stale, once; the clock runs from when the
// head was first learned; records that arrive clear it; a higher head
// stale again is another alarm.
func (s *suite) sweepStaleOncePerHead(t *testing.T) {
	st, clk := s.open(t)
	sweep := func(staleSince time.Time) []archive.Alarm {
		t.Helper()
		now := clk.Now()
		got, err := st.Sweep(ctx, now, now.Add(-archive.DefaultGapGrace), staleSince)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		return got
	}
	c, done := NewChain("P1", "T1"), NewChain("P1", "T2")
	c.Add(6)
	done.Add(3)
	put(t, st, c.Records(1, 2)...)
	put(t, st, done.Records(1, 3)...)
	learned := clk.Now()
	announce(t, st, c, 4, headHash(c, 4), statusAt)
	announce(t, st, done, 3, headHash(done, 3), statusAt)
	clk.Add(30 * time.Minute)
	if got := sweep(learned); len(got) != 0 {
		t.Fatalf("Sweep before staleSince: %+v", got)
	}
	// The same head again does not restart its clock.
	announce(t, st, c, 4, headHash(c, 4), statusAt.Add(30*time.Minute))
	a := oneAlarm(t, sweep(learned.Add(time.Second)), archive.AlarmOutboxStale, c, 4)
	if len(a.Records) == 0 || a.Records[0].Seq != 3 {
		t.Fatalf("alarm evidence %+v, want the first record missing, 3", a.Records)
	}
	if got := sweep(clk.Now()); len(got) != 0 {
		t.Fatalf("second Sweep: %+v, want nothing new", got)
	}
	if as := alarms(t, st, archive.AlarmQuery{Kind: archive.AlarmOutboxStale}); len(as) != 1 || as[0].Count != 1 {
		t.Fatalf("stale alarms %+v", as)
	}
	// The records come: nothing is stale, however long ago it was
	// announced.
	put(t, st, c.Records(3, 4)...)
	if got := sweep(clk.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Sweep with the records stored: %+v", got)
	}
	// A higher head, stale in its turn.
	clk.Add(time.Minute)
	learned = clk.Now()
	announce(t, st, c, 6, headHash(c, 6), statusAt.Add(time.Hour))
	if got := sweep(learned); len(got) != 0 {
		t.Fatalf("Sweep before staleSince: %+v", got)
	}
	clk.Add(time.Hour)
	oneAlarm(t, sweep(learned.Add(time.Second)), archive.AlarmOutboxStale, c, 6)
	if got := sweep(clk.Now()); len(got) != 0 {
		t.Fatalf("Sweep again: %+v", got)
	}
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 2 {
		t.Fatalf("alarms %+v, want the two stale heads", as)
	}
}
