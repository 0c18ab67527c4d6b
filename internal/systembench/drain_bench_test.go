package systembench_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/uplink"
)

// drainBacklog is docs/performance.md's backlog: 100 000 records.
const drainBacklog = 100_000

// pahoWindow matches the uplink's default window.
const pahoWindow = uplink.DefaultWindow

// BenchmarkBudgetDrain is docs/performance.md's drain budgets, measured in one run
// against one mosquitto (the bureau's): a till's backlog of 100 000 signed
// sale records drained by the real binary (`tillguard run` as a child
// process, as deployed: buildTillguard) to a bureau in this process
// (publish, verify, store, ack, clear the outbox), timed from exec until
// the till's /api/status shows its whole ledger acknowledged; next to two
// baselines carrying the same envelopes until a QoS 1 subscriber at the
// bureau's broker has them all:
//
//   - paho: bare paho publishing at QoS 1 with the uplink's window;
//   - bridge: what a shop would deploy instead, the same publisher into a
//     local mosquitto with persistence, bridged to the bureau's broker
//     (internal/brokertest.StartBridge).
//
// Each runs twice, in the order paho, bridge, drain, drain, bridge, paho
// (the second drain on a backlog of its own), and its times are summed, so
// a change of load on the machine during the run favours none of them and
// one unlucky run weighs half. drain/paho (≥ 0.5) and drain/bridge (> 1)
// are budgets, and so is the till's peak resident memory during the drain
// (VmHWM,
// MB-rss-peak-drain; MB-anon-peak-drain is the highest RssAnon sampled,
// without the ledger file's pages that bbolt's mmap has touched).
// till-cpu-µs/rec and bureau-cpu-µs/rec (this process: the bureau and
// the polling) say where the drain's time goes. Building the backlog is
// not timed. One op is two whole backlogs of each, so run it with
// -benchtime=1x.
func BenchmarkBudgetDrain(b *testing.B) {
	const pharmacy, till = "H33010000001", "T1"
	bin := buildTillguard(b)
	br := brokertest.Start(b)
	topic := feed.TillTopic(pharmacy, till, feed.LeafTx)
	var drain, bare, bridge time.Duration
	var use drainUse
	for b.Loop() {
		b.StopTimer()
		dir1, pub1 := tillBacklog(b, bin, pharmacy, till)
		dir2, pub2 := tillBacklog(b, bin, pharmacy, till)
		payloads := backlogPayloads(b, dir1)
		b.StartTimer()

		bare += barePaho(b, br.URL(), br.URL(), topic, payloads)
		bridge += viaBridge(b, br, topic, payloads)
		drain += drainProcess(b, bin, dir1, br.URL(), pharmacy, till, pub1, &use)
		drain += drainProcess(b, bin, dir2, br.URL(), pharmacy, till, pub2, &use)
		bridge += viaBridge(b, br, topic, payloads)
		bare += barePaho(b, br.URL(), br.URL(), topic, payloads)
	}
	n := float64(2 * b.N * drainBacklog) // each of the three, twice
	b.ReportMetric(n/drain.Seconds(), "drain-rec/s")
	b.ReportMetric(n/bare.Seconds(), "paho-rec/s")
	b.ReportMetric(n/bridge.Seconds(), "bridge-rec/s")
	b.ReportMetric(bare.Seconds()/drain.Seconds(), "drain/paho")
	b.ReportMetric(bridge.Seconds()/drain.Seconds(), "drain/bridge")
	b.ReportMetric(float64(use.peakKB)/1024, "MB-rss-peak-drain")
	b.ReportMetric(float64(use.anonKB)/1024, "MB-anon-peak-drain")
	// Where the drain's time goes on a machine that runs till, bureau and
	// broker on the same cores: CPU per record of each side.
	b.ReportMetric(float64(use.tillCPU.Nanoseconds())/1e3/n, "till-cpu-µs/rec")
	b.ReportMetric(float64(use.benchCPU.Nanoseconds())/1e3/n, "bureau-cpu-µs/rec")
}

// backlogPayloads reads the till ledger in dir and returns its records as
// tx envelopes, as the uplink sends them.
func backlogPayloads(b *testing.B, dir string) [][]byte {
	b.Helper()
	key, err := keys.LoadOrCreate(dir)
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), key, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payloads := make([][]byte, 0, drainBacklog)
	if err := l.Scan(1, func(e ledger.Entry) error {
		p, err := feed.Seal(e.Rec, e.Sig)
		payloads = append(payloads, p)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return payloads
}

// appendBacklog appends n sales to l, 1 000 per transaction.
func appendBacklog(b *testing.B, l *ledger.Ledger, pharmacy, till string, n int) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		rs := make([]*feed.Record, min(1000, n-i))
		for j := range rs {
			rs[j] = drainSale(pharmacy, till, i+j)
		}
		if _, err := l.AppendBatch(rs); err != nil {
			b.Fatal(err)
		}
	}
}

// viaBridge starts a fresh bridge to br, publishes payloads into it as
// barePaho does, and returns the time until a subscriber at br has them
// all. The bridge is stopped afterwards.
func viaBridge(b *testing.B, br *brokertest.Broker, topic string, payloads [][]byte) time.Duration {
	b.StopTimer()
	bridge := brokertest.StartBridge(b, br)
	defer bridge.Stop()
	b.StartTimer()
	return barePaho(b, bridge.URL(), br.URL(), topic, payloads)
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

// barePaho publishes payloads to pubURL with pahoWindow in flight until a
// subscriber at subURL has received them all, and returns the time taken.
func barePaho(b *testing.B, pubURL, subURL, topic string, payloads [][]byte) time.Duration {
	b.StopTimer()
	var got atomic.Int64
	all := make(chan struct{})
	sub := pahoConnect(b, subURL, "bench-sub")
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(topic, 1, func(paho.Client, paho.Message) {
		if got.Add(1) == int64(len(payloads)) {
			close(all)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := pahoConnect(b, pubURL, "bench-pub")
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
