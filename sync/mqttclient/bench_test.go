package mqttclient

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
)

// benchWindow matches the uplink's default window (uplink.DefaultWindow).
const benchWindow = 4096

// payloads builds n tx envelopes shaped like the ledger's sale records
// (the same record as sync/bureau's BenchmarkDrain), signed and chained.
func payloads(b *testing.B, n int) [][]byte {
	_, key, _ := ed25519.GenerateKey(nil)
	out := make([][]byte, n)
	prev := ""
	for i := range n {
		r := feed.Record{
			Seq: uint64(i + 1), ID: fmt.Sprintf("0194f1c2-7a3b-7c4d-8e5f-%012d", i), Prev: prev,
			Pharmacy: "H33010000001", Till: "T1", Kind: feed.KindSale, At: "2025-03-01T09:00:00+08:00",
			Card:    &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
			Cashier: "c01",
			Lines: []feed.Line{
				{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
				{Barcode: fmt.Sprintf("69%011d", i), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
			},
			Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
		}
		rec, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		if out[i], err = feed.Seal(rec, ed25519.Sign(key, rec)); err != nil {
			b.Fatal(err)
		}
		prev = feed.Hash(rec)
	}
	return out
}

func pahoConnect(b *testing.B, url, id string) paho.Client {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetWriteTimeout(time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

// BenchmarkBarePaho is the baseline for sync/bureau's BenchmarkDrain: bare
// paho publishing the same payloads at QoS 1 with benchWindow in flight to
// loopback mosquitto, until a QoS 1 subscriber has received them all. One
// op is one message.
func BenchmarkBarePaho(b *testing.B) {
	br := brokertest.Start(b)
	msgs := payloads(b, b.N)
	var got atomic.Int64
	all := make(chan struct{})
	sub := pahoConnect(b, br.URL(), "sub")
	if tok := sub.Subscribe(feed.TxFilter, 1, func(paho.Client, paho.Message) {
		if got.Add(1) == int64(b.N) {
			close(all)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := pahoConnect(b, br.URL(), "pub")
	topic := feed.TillTopic("H33010000001", "T1", feed.LeafTx)

	b.SetBytes(int64(len(msgs[0])))
	b.ResetTimer()
	start := time.Now()
	inflight := make([]paho.Token, 0, benchWindow)
	for _, m := range msgs {
		if len(inflight) == benchWindow {
			if !inflight[0].WaitTimeout(10*time.Second) || inflight[0].Error() != nil {
				b.Fatalf("publish: %v", inflight[0].Error())
			}
			inflight = inflight[1:]
		}
		inflight = append(inflight, pub.Publish(topic, 1, false, m))
	}
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
