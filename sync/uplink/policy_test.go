package uplink_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

// TestRun_policyDownlinkOverTLS runs the uplink against the production
// broker config: it gets its region's retained bundle on connecting and
// each new one after, never another region's, and still delivers records.
func TestRun_policyDownlinkOverTLS(t *testing.T) {
	pki := brokertest.NewPKI(t)
	b := brokertest.Start(t, brokertest.WithProductionConfig(pki, brokertest.TillRegionACL("P1", "T1", "330100")...))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	bureau, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: b.URL(), ClientID: "bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bureau.Close)
	pub := func(region, payload string) {
		t.Helper()
		if err := bureau.Publish(mqttclient.Message{Topic: feed.PolicyTopic(region), Payload: []byte(payload), QoS: 1, Retained: true}).Wait(wait); err != nil {
			t.Fatal(err)
		}
	}
	pub("330100", "v1")
	pub("110000", "other region")
	var tx sync.Mutex
	var gotTx []string
	if err := bureau.Subscribe(feed.TxFilter, 1, func(m mqttclient.Message) {
		tx.Lock()
		gotTx = append(gotTx, m.Topic)
		tx.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []string
	l := openLedger(t, 1)
	u := uplink.New(l, "P1", "T1", &uplink.Opts{Region: "330100", OnPolicy: func(p []byte) {
		mu.Lock()
		got = append(got, string(p))
		mu.Unlock()
	}})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- u.Run(runCtx, mqttclient.Options{Broker: b.URL(), ClientID: "till", CleanSession: true, TLS: pki.ClientTLS(t, "P1/T1")})
	}()
	defer func() { stop(); <-done }()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return ""
		}
		return got[len(got)-1]
	}
	until(t, "the retained bundle", func() bool { return last() == "v1" })
	pub("330100", "v2")
	until(t, "the new bundle", func() bool { return last() == "v2" })
	until(t, "the till's record at the bureau", func() bool {
		tx.Lock()
		defer tx.Unlock()
		return len(gotTx) > 0
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	mu.Lock()
	defer mu.Unlock()
	for _, p := range got {
		if p == "other region" {
			t.Fatalf("uplink handed over another region's bundle: %q", got)
		}
	}
}
