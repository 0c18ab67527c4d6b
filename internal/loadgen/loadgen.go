// Package loadgen plays many tills at once against a bureau: each till with
// its own key and chain, their records published over one MQTT connection
// on each till's own tx topic, as a province's tills would send them after
// an outage or at a steady rate. It measures how long the bureau takes to
// acknowledge what was sent. The ingest benchmark (internal/systembench)
// and the bureau's scale tests use it.
package loadgen

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Province is a set of simulated tills.
type Province struct {
	Tills []*archivetest.Chain
}

// NewProvince makes n tills, one per pharmacy (H000001/T1, …).
func NewProvince(n int) *Province {
	p := &Province{}
	for i := range n {
		p.Tills = append(p.Tills, archivetest.NewChain(fmt.Sprintf("H%06d", i+1), "T1"))
	}
	return p
}

// Enrolled is the bureau's enrolment of every till.
func (p *Province) Enrolled() map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey, len(p.Tills))
	for _, c := range p.Tills {
		m[c.Pharmacy+"/"+c.Till] = c.Pub()
	}
	return m
}

// Sales appends per sales to every till and returns them interleaved, one
// of each till in turn, as tills that all come back online at once send.
func (p *Province) Sales(per int) []archive.Incoming {
	out := make([]archive.Incoming, 0, per*len(p.Tills))
	for range per {
		for _, c := range p.Tills {
			out = append(out, c.Next(sale))
		}
	}
	return out
}

// sale makes a record like a real insurance sale: a card, a covered drug
// with a traceability code and a cash item, about 600 bytes. Cards and
// codes are the till's own: a province's load, not a cross-till fraud.
func sale(r *feed.Record) {
	n := r.Seq
	r.Card = &feed.Card{Type: feed.CardSSC, No: fmt.Sprintf("3301%s%06d", r.Pharmacy[1:], n), Region: "330100", Name: "张*"}
	r.Lines = []feed.Line{
		{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, DaysLimit: 30, PriceFen: 1850,
			DrugTracCodg: []string{fmt.Sprintf("8%s%07d", r.Pharmacy[1:], n)}, Decision: feed.Allow, Pay: "insurance"},
		{Barcode: "6923456789014", Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
	}
	r.Payment = &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990}
}

// Publisher sends records over one connection and notes when each till's
// records are acknowledged.
type Publisher struct {
	c      *mqttclient.Client
	window int

	mu      sync.Mutex
	sent    map[string][]sentAt // till → records sent, not yet acked, in seq order
	acked   map[string]uint64
	want    map[string]uint64 // till → the highest seq sent
	open    int               // tills acknowledged below what was sent to them
	latency []time.Duration
}

type sentAt struct {
	seq uint64
	at  time.Time
}

// Connect connects a publisher to the broker at url, subscribed to every
// till's acks. window bounds the publishes awaiting a PUBACK.
func Connect(ctx context.Context, url, clientID string, window int) (*Publisher, error) {
	c, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: url, ClientID: clientID, CleanSession: true})
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	p := &Publisher{c: c, window: max(window, 1), sent: map[string][]sentAt{}, acked: map[string]uint64{}, want: map[string]uint64{}}
	// QoS 1, as a till subscribes (uplink): mosquitto drops QoS 0
	// messages for a subscriber slower than they come.
	if err := c.Subscribe(feed.Root+"/+/+/"+feed.LeafAck, 1, p.onAck); err != nil {
		c.Close()
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return p, nil
}

// Close disconnects.
func (p *Publisher) Close() { p.c.Close() }

func (p *Publisher) onAck(m mqttclient.Message) {
	ph, t, _, err := feed.ParseTillTopic(m.Topic)
	a, err2 := feed.ParseAck(m.Payload)
	if err != nil || err2 != nil {
		return
	}
	now := time.Now()
	key := ph + "/" + t
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.acked[key]
	p.acked[key] = max(was, a.UptoSeq)
	if w := p.want[key]; was < w && a.UptoSeq >= w {
		p.open--
	}
	s := p.sent[key]
	i := 0
	for i < len(s) && s[i].seq <= a.UptoSeq {
		p.latency = append(p.latency, now.Sub(s[i].at))
		i++
	}
	p.sent[key] = s[i:]
}

// Send publishes in, at most rate records a second (0: as fast as the
// window allows), and returns once the broker has taken them all.
func (p *Publisher) Send(ctx context.Context, in []archive.Incoming, rate int) error {
	var pending []mqttclient.Token
	start := time.Now()
	for i, r := range in {
		if rate > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		topic, payload := archivetest.Message(r)
		key := r.Pharmacy + "/" + r.Till
		p.mu.Lock()
		p.sent[key] = append(p.sent[key], sentAt{r.Seq, time.Now()})
		if r.Seq > p.want[key] {
			if p.acked[key] >= p.want[key] {
				p.open++
			}
			p.want[key] = r.Seq
		}
		p.mu.Unlock()
		pending = append(pending, p.c.Publish(mqttclient.Message{Topic: topic, Payload: payload, QoS: 1}))
		if len(pending) >= p.window {
			if err := pending[0].Wait(30 * time.Second); err != nil {
				return fmt.Errorf("loadgen: publish: %w", err)
			}
			pending = pending[1:]
		}
	}
	for _, tok := range pending {
		if err := tok.Wait(30 * time.Second); err != nil {
			return fmt.Errorf("loadgen: publish: %w", err)
		}
	}
	return nil
}

// Done reports whether every till is acknowledged up to the last record
// sent to it.
func (p *Publisher) Done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open == 0
}

// Latencies returns, and forgets, the time from publish to ack of every
// record acknowledged since the last call, sorted.
func (p *Publisher) Latencies() []time.Duration {
	p.mu.Lock()
	l := p.latency
	p.latency = nil
	p.mu.Unlock()
	slices.Sort(l)
	return l
}

// Quantile returns the q-quantile of sorted durations.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}
