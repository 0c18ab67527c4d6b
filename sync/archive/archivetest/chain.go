package archivetest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// Chain makes a till's records as its ledger would: seq 1, 2, 3…, each
// chained to the one before and signed with the till's key.
type Chain struct {
	Pharmacy, Till string
	Key            ed25519.PrivateKey
	Start          time.Time // the first record's time; each next one is a second later

	recs []archive.Incoming
}

// NewChain returns an empty chain with a fresh key.
func NewChain(pharmacy, till string) *Chain {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return &Chain{Pharmacy: pharmacy, Till: till, Key: key, Start: time.Date(2025, 3, 1, 9, 0, 0, 0, cst)}
}

// cst is China Standard Time, the offset tills record in.
var cst = time.FixedZone("CST", 8*3600)

// Pub is the till's public key, as the bureau enrols it.
func (c *Chain) Pub() ed25519.PublicKey { return c.Key.Public().(ed25519.PublicKey) }

// Len is how many records the chain has.
func (c *Chain) Len() int { return len(c.recs) }

// Record returns record seq (1-based) as an Incoming.
func (c *Chain) Record(seq uint64) archive.Incoming { return c.recs[seq-1] }

// Records returns records from..to, inclusive.
func (c *Chain) Records(from, to uint64) []archive.Incoming {
	return append([]archive.Incoming(nil), c.recs[from-1:to]...)
}

// Next appends a sale record, first passed through edit (which may be nil),
// and returns it. edit may change anything but seq, prev, pharmacy and
// till.
func (c *Chain) Next(edit func(r *feed.Record)) archive.Incoming {
	r := c.Template()
	if edit != nil {
		edit(&r)
	}
	in := c.Seal(r)
	c.recs = append(c.recs, in)
	return in
}

// Add appends n plain sale records.
func (c *Chain) Add(n int) {
	for range n {
		c.Next(nil)
	}
}

// Template is the next record as Next makes it before edit: a sale of one
// line at the chain's next time.
func (c *Chain) Template() feed.Record {
	seq := uint64(len(c.recs) + 1)
	prev := ""
	if seq > 1 {
		prev = feed.Hash(c.recs[seq-2].Rec)
	}
	return feed.Record{
		Seq: seq, ID: fmt.Sprintf("%s-%s-%d", c.Pharmacy, c.Till, seq), Prev: prev,
		Pharmacy: c.Pharmacy, Till: c.Till, Kind: feed.KindSale,
		At:      c.Start.Add(time.Duration(seq) * time.Second).Format(time.RFC3339),
		Cashier: "c01",
		Lines: []feed.Line{{
			Barcode: "6901234567892", Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash",
		}},
		Payment: &feed.Payment{Method: "cash", CashFen: 990},
	}
}

// Seal encodes and signs r as the till would, without adding it to the
// chain: a forged or conflicting record.
func (c *Chain) Seal(r feed.Record) archive.Incoming {
	rec, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return archive.Incoming{
		Pharmacy: r.Pharmacy, Till: r.Till, Seq: r.Seq,
		Rec: rec, Sig: ed25519.Sign(c.Key, rec), Parsed: &r,
	}
}

// Message is in as the till publishes it: its tx topic and sealed payload.
func Message(in archive.Incoming) (topic string, payload []byte) {
	p, err := feed.Seal(in.Rec, in.Sig)
	if err != nil {
		panic(err)
	}
	return feed.TillTopic(in.Pharmacy, in.Till, feed.LeafTx), p
}
