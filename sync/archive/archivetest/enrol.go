package archivetest

import (
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
)

func enroll(t *testing.T, st archive.Store, keys ...archive.EnrolledKey) {
	t.Helper()
	if err := st.Enroll(ctx, keys); err != nil {
		t.Fatalf("Enroll: %v", err)
	}
}

func enrolled(c *Chain) archive.EnrolledKey {
	return archive.EnrolledKey{Pharmacy: c.Pharmacy, Till: c.Till, Key: c.Pub()}
}

func wantKey(t *testing.T, st archive.Store, pharmacy, till string, want ed25519.PublicKey) {
	t.Helper()
	got, err := st.Key(ctx, pharmacy, till)
	if want == nil {
		if !errors.Is(err, archive.ErrNotFound) {
			t.Fatalf("Key %s/%s: %x %v, want ErrNotFound", pharmacy, till, got, err)
		}
		return
	}
	if err != nil || !got.Equal(want) {
		t.Fatalf("Key %s/%s: %x %v, want %x", pharmacy, till, got, err, want)
	}
}

func tillNamed(t *testing.T, st archive.Store, pharmacy, till string) archive.TillInfo {
	t.Helper()
	list, err := st.Tills(ctx, archive.TillQuery{Pharmacy: pharmacy})
	if err != nil {
		t.Fatalf("Tills: %v", err)
	}
	for _, ti := range list {
		if ti.Till == till {
			return ti
		}
	}
	t.Fatalf("Tills lacks %s/%s: %+v", pharmacy, till, list)
	return archive.TillInfo{}
}

// enrol: a till's key is kept, looked up, listed with its till, and
// replaced by a new one; tills enrolled and never seen are listed too.
func (s *suite) enrol(t *testing.T) {
	st, clk := s.open(t)
	a, b, seen := NewChain("P1", "T1"), NewChain("P1", "T2"), NewChain("P2", "T1")
	seen.Add(2)
	put(t, st, seen.Records(1, 2)...)
	wantKey(t, st, "P1", "T1", nil)
	wantKey(t, st, "P2", "T1", nil) // seen, never enrolled
	enroll(t, st)                   // nothing: no error
	enrolledAt := clk.Now()
	enroll(t, st, enrolled(a), enrolled(b))
	wantKey(t, st, "P1", "T1", a.Pub())
	wantKey(t, st, "P1", "T2", b.Pub())
	wantKey(t, st, "P2", "T1", nil)
	wantKey(t, st, "P1", "T3", nil)

	list, err := st.Tills(ctx, archive.TillQuery{})
	if err != nil {
		t.Fatalf("Tills: %v", err)
	}
	var names []string
	for _, ti := range list {
		names = append(names, ti.Pharmacy+"/"+ti.Till)
	}
	if want := []string{"P1/T1", "P1/T2", "P2/T1"}; !slices.Equal(names, want) {
		t.Fatalf("tills %v, want %v: the enrolled ones, never seen, listed too", names, want)
	}
	if ti := list[0]; !ti.Key.Equal(a.Pub()) || !ti.KeyAt.Equal(enrolledAt) || ti.Count != 0 || ti.Contiguous != 0 || ti.Waiting != 0 || !ti.LastSeen.IsZero() || ti.Status != nil {
		t.Fatalf("enrolled, never seen: %+v, want key %x at %v and nothing else", ti, a.Pub(), enrolledAt)
	}
	if ti := list[2]; ti.Key != nil || !ti.KeyAt.IsZero() || ti.Count != 2 {
		t.Fatalf("seen, never enrolled: %+v", ti)
	}
	if behind, err := st.Tills(ctx, archive.TillQuery{Behind: true}); err != nil || len(behind) != 0 {
		t.Fatalf("behind: %+v %v; an enrolled till with nothing announced is not behind", behind, err)
	}

	// Enrolling the same key again (a directory at every start) keeps
	// when it was enrolled.
	clk.Add(time.Hour)
	enroll(t, st, enrolled(a))
	if ti := tillNamed(t, st, "P1", "T1"); !ti.Key.Equal(a.Pub()) || !ti.KeyAt.Equal(enrolledAt) {
		t.Fatalf("re-enrolled: key at %v, want %v", ti.KeyAt, enrolledAt)
	}

	// A rotation: the new key replaces the old; the till's records stay.
	a.Add(3)
	put(t, st, a.Records(1, 3)...)
	old := a.Pub()
	_, a.Key, _ = ed25519.GenerateKey(nil)
	clk.Add(time.Minute)
	enroll(t, st, enrolled(a))
	wantKey(t, st, "P1", "T1", a.Pub())
	if ti := tillNamed(t, st, "P1", "T1"); !ti.Key.Equal(a.Pub()) || ti.Key.Equal(old) || !ti.KeyAt.Equal(clk.Now()) || ti.Count != 3 || ti.Contiguous != 3 {
		t.Fatalf("after a rotation: %+v, want the new key at %v and 3 records", ti, clk.Now())
	}
	watermark(t, st, a, 3)

	// Enrolling a till that has records keeps them.
	enroll(t, st, enrolled(seen))
	wantKey(t, st, "P2", "T1", seen.Pub())
	watermark(t, st, seen, 2)

	// One till twice in a batch: the later key wins.
	c := NewChain("P3", "T1")
	enroll(t, st, archive.EnrolledKey{Pharmacy: "P3", Till: "T1", Key: a.Pub()}, enrolled(b), enrolled(c))
	wantKey(t, st, "P3", "T1", c.Pub())
}

// enrolInvalid: a batch with one bad key stores none of it.
func (s *suite) enrolInvalid(t *testing.T) {
	st, _ := s.open(t)
	good := NewChain("P1", "T1")
	for name, bad := range map[string]archive.EnrolledKey{
		"short key":    {Pharmacy: "P1", Till: "T2", Key: good.Pub()[:31]},
		"no key":       {Pharmacy: "P1", Till: "T2"},
		"bad pharmacy": {Pharmacy: "P/1", Till: "T2", Key: good.Pub()},
		"no till":      {Pharmacy: "P1", Key: good.Pub()},
	} {
		if err := st.Enroll(ctx, []archive.EnrolledKey{enrolled(good), bad}); !errors.Is(err, archive.ErrInvalid) {
			t.Fatalf("%s: Enroll: %v, want ErrInvalid", name, err)
		}
	}
	wantKey(t, st, "P1", "T1", nil)
	if list, err := st.Tills(ctx, archive.TillQuery{}); err != nil || len(list) != 0 {
		t.Fatalf("tills after refused enrolments: %+v %v", list, err)
	}
}

// enrolShared: a key enrolled survives a restart, and a key enrolled
// through one receiver is the other receivers' at once.
func (s *suite) enrolShared(t *testing.T) {
	c := newClock()
	opts := &archive.Opts{Now: c.Now}
	st := s.h.Open(t, opts)
	a, b := NewChain("P1", "T1"), NewChain("P1", "T2")
	enroll(t, st, enrolled(a))
	st = s.h.Reopen(t, st, opts)
	wantKey(t, st, "P1", "T1", a.Pub())
	if ti := tillNamed(t, st, "P1", "T1"); !ti.Key.Equal(a.Pub()) || !ti.KeyAt.Equal(c.Now()) {
		t.Fatalf("after reopen: %+v", ti)
	}
	other := s.h.Another(t, st, opts)
	wantKey(t, other, "P1", "T1", a.Pub())
	enroll(t, other, enrolled(b))
	wantKey(t, st, "P1", "T2", b.Pub())
	// Records put through either go to the till the key was enrolled for.
	b.Add(2)
	put(t, st, b.Record(1))
	put(t, other, b.Record(2))
	watermark(t, st, b, 2)
}
