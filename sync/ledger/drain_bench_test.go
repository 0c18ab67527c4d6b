package ledger_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

// drainBacklog is SPEC.md §8's backlog: 100 000 records.
const drainBacklog = 100_000

// pahoWindow matches the uplink's default window.
const pahoWindow = uplink.DefaultWindow

// BenchmarkBudgetDrain is SPEC.md §8's drain budget, measured as a ratio in
// one run against one mosquitto: a till's backlog of 100 000 signed sale
// records drained through the uplink to the bureau (publish, verify,
// store, ack, clear the outbox), and the same envelopes published by bare
// paho at QoS 1 with the same window until a QoS 1 subscriber has them
// all. drain/paho is the budget (≥ 0.5). Building the backlog is not
// timed. One op is one whole backlog of each, so run it with -benchtime=1x.
func BenchmarkBudgetDrain(b *testing.B) {
	br := brokertest.Start(b)
	const pharmacy, till = "H33010000001", "T1"
	var drain, bare time.Duration
	for b.Loop() {
		b.StopTimer()
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		l, err := ledger.Open(filepath.Join(dir, "ledger.db"), key, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < drainBacklog; i += 1000 {
			rs := make([]*feed.Record, 1000)
			for j := range rs {
				rs[j] = drainSale(pharmacy, till, i+j)
			}
			if err := ledger.AppendBatch(l, rs); err != nil {
				b.Fatal(err)
			}
		}
		payloads := make([][]byte, 0, drainBacklog)
		if err := l.Scan(1, func(e ledger.Entry) error {
			p, err := feed.Seal(e.Rec, e.Sig)
			payloads = append(payloads, p)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		bare += barePaho(b, br.URL(), feed.TillTopic(pharmacy, till, feed.LeafTx), payloads)
		payloads = nil
		drain += drainLedger(b, br.URL(), l, pharmacy, till, key.Public().(ed25519.PublicKey), dir)
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N * drainBacklog)
	b.ReportMetric(n/drain.Seconds(), "drain-rec/s")
	b.ReportMetric(n/bare.Seconds(), "paho-rec/s")
	b.ReportMetric(bare.Seconds()/drain.Seconds(), "drain/paho")
}

// drainSale is a typical sale, about 500 bytes on the wire (the record of
// sync/bureau's and sync/mqttclient's benchmarks).
func drainSale(pharmacy, till string, i int) *feed.Record {
	return &feed.Record{
		Pharmacy: pharmacy, Till: till, Kind: feed.KindSale,
		Card:    &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
		Cashier: "c01",
		Lines: []feed.Line{
			{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
			{Barcode: fmt.Sprintf("69%011d", i), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
		},
		Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
	}
}

// drainLedger runs a bureau and the till's uplink until the bureau has
// acknowledged the whole outbox, and returns the time from the uplink's
// start.
func drainLedger(b *testing.B, url string, l *ledger.Ledger, pharmacy, till string, pub ed25519.PublicKey, dir string) time.Duration {
	b.StopTimer()
	ar, err := ledger.OpenArchive(filepath.Join(dir, "bureau.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	bu := bureau.New(ar, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{pharmacy + "/" + till: pub}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bdone := make(chan struct{})
	go func() {
		defer close(bdone)
		bu.Run(ctx, mqttclient.Options{Broker: url, ClientID: "bench-bureau", MaxBackoff: 500 * time.Millisecond})
	}()
	defer func() { cancel(); <-bdone }()
	waitFor(b, "the bureau subscribed", func() bool { return bu.Stats().Connected })
	b.StartTimer()

	start := time.Now()
	u := uplink.New(l, pharmacy, till, nil)
	udone := make(chan struct{})
	uctx, ucancel := context.WithCancel(context.Background())
	go func() {
		defer close(udone)
		u.Run(uctx, mqttclient.Options{Broker: url, ClientID: "bench-till", CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	}()
	head := l.Head()
	waitFor(b, "the backlog drained", func() bool { return l.Acked() == head })
	took := time.Since(start)
	b.StopTimer()
	ucancel()
	<-udone
	if st := u.State(); st.Resends != 0 {
		b.Logf("uplink resent %d times", st.Resends)
	}
	b.StartTimer()
	return took
}

// barePaho publishes payloads with pahoWindow in flight until a subscriber
// has received them all, and returns the time taken.
func barePaho(b *testing.B, url, topic string, payloads [][]byte) time.Duration {
	b.StopTimer()
	var got atomic.Int64
	all := make(chan struct{})
	sub := pahoConnect(b, url, "bench-sub")
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(topic, 1, func(paho.Client, paho.Message) {
		if got.Add(1) == int64(len(payloads)) {
			close(all)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := pahoConnect(b, url, "bench-pub")
	defer pub.Disconnect(100)
	b.StartTimer()

	start := time.Now()
	inflight := make([]paho.Token, 0, pahoWindow)
	for _, m := range payloads {
		if len(inflight) == pahoWindow {
			if !inflight[0].WaitTimeout(10*time.Second) || inflight[0].Error() != nil {
				b.Fatalf("publish: %v", inflight[0].Error())
			}
			inflight = inflight[1:]
		}
		inflight = append(inflight, pub.Publish(topic, 1, false, m))
	}
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("received %d of %d", got.Load(), len(payloads))
	}
	return time.Since(start)
}

func pahoConnect(b *testing.B, url, id string) paho.Client {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetWriteTimeout(time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	return c
}

func waitFor(b *testing.B, what string, cond func() bool) {
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a wait for an event
	}
}
