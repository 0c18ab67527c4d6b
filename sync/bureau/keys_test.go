package bureau

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// keyStore counts the store's key look-ups, and fails them while fail is
// set.
type keyStore struct {
	archive.Store
	lookups atomic.Int64
	fail    atomic.Bool
}

func (s *keyStore) Key(ctx context.Context, pharmacy, till string) (ed25519.PublicKey, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return nil, errors.New("connection refused")
	}
	return s.Store.Key(ctx, pharmacy, till)
}

// testClock is a settable time for the bureau.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// keysSetup returns a bureau that holds no key, over a store that counts
// look-ups, and a till.
func keysSetup(t *testing.T) (*Bureau, *keyStore, *testClock, *archivetest.Chain) {
	t.Helper()
	st := &keyStore{Store: openStore(t)}
	clk := &testClock{t: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)}
	return New(st, &Opts{Now: clk.Now}), st, clk, archivetest.NewChain("P1", "T1")
}

func enrollIn(t *testing.T, st archive.Store, c *archivetest.Chain) {
	t.Helper()
	if err := st.Enroll(ctx, []archive.EnrolledKey{{Pharmacy: c.Pharmacy, Till: c.Till, Key: c.Pub()}}); err != nil {
		t.Fatal(err)
	}
}

func lookups(t *testing.T, st *keyStore, want int64) {
	t.Helper()
	if n := st.lookups.Swap(0); n != want {
		t.Fatalf("%d key look-ups, want %d", n, want)
	}
}

// A till enrolled in the store only: its key is looked up once, for its
// first batch, and held from then on.
func TestKeys_fromTheStoreOnce(t *testing.T) {
	b, st, _, c := keysSetup(t)
	enrollIn(t, st, c)
	if got := acksString(b.process(next(c), next(c), next(c))); got != "P1/T1:3" {
		t.Fatalf("acks %q", got)
	}
	lookups(t, st, 1)
	for range 5 {
		b.process(next(c), next(c))
	}
	lookups(t, st, 0) // the hot path: no store round-trip for a known till
	if n := watermark(t, st, "P1", "T1"); n != 13 {
		t.Fatalf("watermark %d, want 13", n)
	}
	if got := alarmKinds(t, st); len(got) != 0 {
		t.Fatalf("alarms %v", got)
	}
}

// LoadKeys takes in what the store holds: no look-up at the first record.
func TestKeys_loadKeys(t *testing.T) {
	b, st, _, c := keysSetup(t)
	other := archivetest.NewChain("P2", "T1")
	enrollIn(t, st, c)
	enrollIn(t, st, other)
	seenOnly := archivetest.NewChain("P3", "T1")
	seenOnly.Add(1)
	if _, err := st.Put(ctx, seenOnly.Records(1, 1)); err != nil {
		t.Fatal(err)
	}
	if n, err := b.LoadKeys(ctx); err != nil || n != 2 {
		t.Fatalf("LoadKeys: %d %v, want the 2 enrolled tills", n, err)
	}
	if got := acksString(b.process(next(c), next(other))); got != "P1/T1:1 P2/T1:1" {
		t.Fatalf("acks %q", got)
	}
	lookups(t, st, 0)
}

// A till the store holds no key for is unenrolled, asked about again only
// after a while: enrolled meanwhile, it is taken in then, without a
// restart.
func TestKeys_enrolledWhileRunning(t *testing.T) {
	b, st, clk, c := keysSetup(t)
	first := next(c)
	if acks := b.process(first, first); len(acks) != 0 {
		t.Fatalf("acked an unenrolled till: %q", acksString(acks))
	}
	lookups(t, st, 1) // once for the batch, not per record
	if got := alarmKinds(t, st); !slices.Equal(got, []string{archive.AlarmUnenrolled}) {
		t.Fatalf("alarms %v", got)
	}
	enrollIn(t, st, c)
	clk.Add(unknownFor / 2)
	if acks := b.process(first); len(acks) != 0 {
		t.Fatalf("acked before asking the store again: %q", acksString(acks))
	}
	lookups(t, st, 0)
	clk.Add(unknownFor / 2)
	if got := acksString(b.process(first, next(c))); got != "P1/T1:2" {
		t.Fatalf("acks %q after the enrolment, want P1/T1:2", got)
	}
	lookups(t, st, 1)
	if got := alarmKinds(t, st); !slices.Equal(got, []string{archive.AlarmUnenrolled}) {
		t.Fatalf("alarms %v: only the one from before the enrolment", got)
	}
}

// A till's key replaced in the store (a rotation): the first signature
// failing with the key held asks the store again, and verifies with the
// new key, whether the old one came from the store or from Opts.Enrolled.
func TestKeys_rotated(t *testing.T) {
	for _, fromOpts := range []bool{false, true} {
		st := &keyStore{Store: openStore(t)}
		clk := &testClock{t: time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)}
		c := archivetest.NewChain("P1", "T1")
		opts := &Opts{Now: clk.Now}
		if fromOpts {
			opts.Enrolled = map[string]ed25519.PublicKey{"P1/T1": c.Pub()}
		} else {
			enrollIn(t, st, c)
		}
		b := New(st, opts)
		if got := acksString(b.process(next(c), next(c))); got != "P1/T1:2" {
			t.Fatalf("acks %q", got)
		}
		st.lookups.Store(0)
		_, c.Key, _ = ed25519.GenerateKey(nil)
		enrollIn(t, st, c)
		clk.Add(recheckAfter)
		if got := acksString(b.process(next(c), next(c))); got != "P1/T1:4" {
			t.Fatalf("enrolled from opts %v: acks %q with the new key, want P1/T1:4", fromOpts, got)
		}
		lookups(t, st, 1)
		b.process(next(c))
		lookups(t, st, 0)
		if got := alarmKinds(t, st); len(got) != 0 {
			t.Fatalf("alarms %v", got)
		}
	}
}

// Forged records: failing with a key found lately, they are bad
// signatures without a look-up; later, a batch of them asks the store
// once, finds the same key, and raises bad_signature.
func TestKeys_forgeryAsksOncePerBatch(t *testing.T) {
	b, st, clk, c := keysSetup(t)
	enrollIn(t, st, c)
	b.process(next(c))
	lookups(t, st, 1)
	_, forger, _ := ed25519.GenerateKey(nil)
	forge := func() []mqttclient.Message {
		var msgs []mqttclient.Message
		for i := range 3 {
			r := c.Template()
			r.Cashier = fmt.Sprint("forger ", i)
			in := c.Seal(r)
			in.Sig = ed25519.Sign(forger, in.Rec)
			msgs = append(msgs, msg(in))
		}
		return msgs
	}
	if acks := b.process(forge()...); len(acks) != 0 {
		t.Fatalf("acked forgeries: %q", acksString(acks))
	}
	lookups(t, st, 0) // the key was found just now
	clk.Add(recheckAfter)
	b.process(forge()...)
	lookups(t, st, 1)
	bad := archive.AlarmBadSignature
	if got := alarmKinds(t, st); !slices.Equal(got, []string{bad, bad, bad}) {
		t.Fatalf("alarms %v, want one bad signature per forged record", got)
	}
	if n := watermark(t, st, "P1", "T1"); n != 1 {
		t.Fatalf("watermark %d", n)
	}
}

// A store that cannot say a till's key: its records are dropped, neither
// stored nor refused, and the till's resend is taken once the store
// answers.
func TestKeys_lookupFails(t *testing.T) {
	b, st, _, c := keysSetup(t)
	enrollIn(t, st, c)
	st.fail.Store(true)
	m := next(c)
	if acks := b.process(m); len(acks) != 0 {
		t.Fatalf("acked %q", acksString(acks))
	}
	if got := alarmKinds(t, st); len(got) != 0 {
		t.Fatalf("alarms %v: a store that failed says nothing of the till", got)
	}
	st.fail.Store(false)
	if got := acksString(b.process(m)); got != "P1/T1:1" {
		t.Fatalf("acks %q after the store came back", got)
	}
}
