package bureau_test

import (
	"context"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
)

// TestShared_keysFromTheStore: receivers holding no key of their own
// verify with the keys enrolled in the store they share, those enrolled
// before they started and those enrolled while they run alike.
func TestShared_keysFromTheStore(t *testing.T) {
	p := newProvince(t, 6, 100)
	st := p.openStore(t)
	enroll := func(tills []*till) {
		t.Helper()
		var keys []archive.EnrolledKey
		for _, tl := range tills {
			keys = append(keys, archive.EnrolledKey{Pharmacy: tl.Pharmacy, Till: tl.Name, Key: tl.Pub()})
		}
		if err := st.Enroll(context.Background(), keys); err != nil {
			t.Fatal(err)
		}
	}
	enroll(p.tills[:3])
	p.enrolled = nil // the receivers hold no key: the store's only
	for i := range 2 {
		p.startReceiver(t, i)
	}
	if n, err := p.recv[0].b.LoadKeys(context.Background()); err != nil || n != 3 {
		t.Fatalf("LoadKeys: %d %v, want 3", n, err)
	}
	enroll(p.tills[3:]) // while the receivers run, neither restarted
	p.startTills(t)
	until(t, 2*time.Minute, "every outbox drained", p.drained(t))
	p.check(t)
}
