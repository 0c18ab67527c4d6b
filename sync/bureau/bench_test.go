package bureau_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/uplink"
)

// BenchmarkDrain measures draining a backlog of b.N signed records from a
// till's ledger through loopback mosquitto to the bureau (publish, verify,
// store, ack, clear the outbox). One op is one record, so ns/op compares
// directly with mqttclient's BenchmarkBarePaho (docs/performance.md). Building the
// backlog is not timed.
func BenchmarkDrain(b *testing.B) {
	br := brokertest.Start(b)
	tl := newTill(b, "H33010000001", "T1")
	tl.Backlog(b, b.N)
	e, err := tl.L.Get(1)
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := feed.Seal(e.Rec, e.Sig)
	st, _ := openStore(b)
	bu := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"H33010000001/T1": tl.Pub()}})
	startBureau(b, bu, br.URL(), "bureau")
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, nil)

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	start := time.Now()
	up := startUplink(b, u, br.URL(), "till-1")
	deadline := start.Add(10 * time.Minute)
	for tl.L.Acked() < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("drained %d of %d", tl.L.Acked(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	up.Stop(b)
	if st := u.State(); st.Resends != 0 {
		b.Logf("uplink resent %d times", st.Resends)
	}
}
