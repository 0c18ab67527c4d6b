package bureau

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tillguard/tillguard/internal/sigbatch"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// ShareGroup is the shared-subscription group bureaus consume through.
const ShareGroup = "tillguard-bureau"

const (
	defaultBatch   = 1024
	publishTimeout = 10 * time.Second // PublishPolicy's wait for the PUBACK
	parallelMin    = 32               // batches at least this long are admitted on every core
	admitAhead     = 4                // batches the admitter may verify ahead of the store; one Put takes them all
	// admitLinger is how long the admitter waits for a batch to fill after
	// its first message: a backlog then comes in batches of many records,
	// which cost less per record (fuller transactions, bigger signature
	// batches), at the price of acks up to this much later.
	admitLinger = 5 * time.Millisecond
	statusQueue = 1024 // retained statuses waiting for the store; more are dropped (the next one repairs it)
)

// Opts tune a Bureau. A nil *Opts means defaults (and no till enrolled).
type Opts struct {
	Enrolled map[string]ed25519.PublicKey // "pharmacy/till" → key
	Shared   bool                         // consume through $share/tillguard-bureau/…
	Batch    int                          // messages parsed and verified together, at most; one Put stores up to admitAhead such batches; default 1024
	// GapGrace is how long a hole in a till's records may stay open before
	// it is a gap alarm; default archive.DefaultGapGrace.
	GapGrace time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// Bureau receives, verifies, stores and acknowledges. Several bureaus may
// share one store and one shared subscription: everything that depends on
// the order of a till's records is the store's (archive.Store.Put).
type Bureau struct {
	st       archive.Store
	enrolled map[string]ed25519.PublicKey
	shared   bool
	batch    int
	grace    time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	stats Stats
}

// Stats counts what this receiver has done since it started.
type Stats struct {
	Received   uint64            `json:"received"`    // tx messages taken in
	Stored     uint64            `json:"stored"`      // records stored by this receiver's Puts, waiting ones promoted included
	Duplicates uint64            `json:"duplicates"`  // records already stored, byte for byte
	Waiting    uint64            `json:"waiting"`     // records left waiting for a predecessor
	Dropped    uint64            `json:"dropped"`     // records the store would not keep waiting
	Acks       uint64            `json:"acks"`        // acks published
	StoreFails uint64            `json:"store_fails"` // Puts that failed: nothing of them stored or acked
	Alarms     map[string]uint64 `json:"alarms"`      // new alarms raised by this receiver, by kind
	Connected  bool              `json:"connected"`   // connected and subscribed: records are flowing in
}

// New returns a bureau storing into st.
func New(st archive.Store, opts *Opts) *Bureau {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Batch <= 0 {
		o.Batch = defaultBatch
	}
	if o.GapGrace <= 0 {
		o.GapGrace = archive.DefaultGapGrace
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Bureau{
		st: st, enrolled: o.Enrolled, shared: o.Shared, batch: o.Batch, grace: o.GapGrace, log: o.Log, now: o.Now,
		stats: Stats{Alarms: map[string]uint64{}},
	}
}

// Stats returns a snapshot of the counters.
func (b *Bureau) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Alarms = make(map[string]uint64, len(b.stats.Alarms))
	for k, v := range b.stats.Alarms {
		s.Alarms[k] = v
	}
	return s
}

func (b *Bureau) count(f func(s *Stats)) {
	b.mu.Lock()
	f(&b.stats)
	b.mu.Unlock()
}

// Filter is the subscription the bureau consumes records through.
func (b *Bureau) Filter() string {
	if b.shared {
		return "$share/" + ShareGroup + "/" + feed.TxFilter
	}
	return feed.TxFilter
}

// StatusFilter matches every till's retained status. Every receiver
// subscribes to it without sharing: a broker sends no retained messages
// to a shared subscription, and statuses are few.
const StatusFilter = feed.Root + "/+/+/" + feed.LeafStatus

// Run connects with mo, consumes every till's tx topic and acknowledges
// what the store holds, until ctx ends; then it returns nil. Messages taken
// from the broker but not yet stored when ctx ends are dropped
// unacknowledged: their tills send them again. It returns an error only
// for options that can never work.
func (b *Bureau) Run(ctx context.Context, mo mqttclient.Options) error {
	// A clean session: the bureau subscribes at QoS 0 and keeps nothing
	// at the broker, and a receiver that has gone must leave its shared
	// group, or the broker goes on handing it a share of every till's
	// records, to be dropped, until it comes back.
	mo.CleanSession = true
	var subscribed bool // guarded by b.mu: the first subscriptions are in place (renewed on reconnects)
	onConnect, onLost := mo.OnConnect, mo.OnLost
	mo.OnConnect = func() {
		b.count(func(s *Stats) { s.Connected = subscribed })
		if onConnect != nil {
			onConnect()
		}
	}
	mo.OnLost = func(err error) {
		b.count(func(s *Stats) { s.Connected = false })
		if onLost != nil {
			onLost(err)
		}
	}
	c, err := mqttclient.Connect(ctx, mo)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("bureau: %w", err)
	}
	defer func() {
		c.Close()
		b.count(func(s *Stats) { subscribed, s.Connected = false, false })
	}()

	in := make(chan mqttclient.Message, b.batch)
	statuses := make(chan mqttclient.Message, statusQueue)
	done := make(chan struct{})
	defer close(done) // before Close: frees a handler blocked on a full queue
	// Two stages, so a Put's commit overlaps the parsing and signature
	// checks (the bureau's main CPU cost) of what comes next: the admitter
	// takes what is waiting and verifies it on every core; the storer puts
	// everything admitted since its last Put in one, and only then acks.
	//
	// Every stage runs before the subscriptions are made: a session's
	// backlog arrives before the SUBACK, and with nobody draining it the
	// handler would block paho's reader, which then never sees the SUBACK.
	admitted := make(chan []candidate, admitAhead)
	var wg sync.WaitGroup
	defer wg.Wait() // every stage ends with ctx
	wg.Go(func() { b.admitter(ctx, in, admitted) })
	wg.Go(func() { b.storer(ctx, c, admitted) })
	wg.Go(func() { b.keepStatuses(ctx, statuses) })
	wg.Go(func() { b.sweeper(ctx) })

	// QoS 0: the bureau's ack, not a PUBACK, is what clears a till's
	// outbox, and a till sends again whatever it has not been acked for
	// (uplink's ack timeout, a repeated ack). A PUBACK per record would
	// cost the broker a packet and a queue entry each, and make it hold,
	// for a bureau that is away, what the tills will send again anyway.
	err = c.Subscribe(b.Filter(), 0, func(m mqttclient.Message) {
		select { // blocking here pushes back on the broker, which is what we want
		case in <- m:
		case <-done:
		}
	})
	if err != nil {
		b.log.Error("bureau: subscribe", "filter", b.Filter(), "err", err) // renewed on reconnect
	}
	if err := c.Subscribe(StatusFilter, 0, func(m mqttclient.Message) {
		select {
		case statuses <- m:
		default: // the store is slow; the till's next status repairs it
		}
	}); err != nil {
		b.log.Error("bureau: subscribe", "filter", StatusFilter, "err", err)
	}
	b.count(func(s *Stats) { subscribed, s.Connected = true, err == nil && c.Connected() })
	b.log.Info("bureau: consuming", "filter", b.Filter())
	<-ctx.Done()
	return nil
}

// storer puts what the admitter hands it, in order, and acks each till up
// to its watermark once the Put is committed, until ctx ends.
func (b *Bureau) storer(ctx context.Context, c *mqttclient.Client, admitted <-chan []candidate) {
	for {
		var cands []candidate
		select {
		case <-ctx.Done():
			return
		case cands = <-admitted:
		}
	group: // one Put, one commit, for every batch admitted meanwhile
		for len(cands) < admitAhead*b.batch {
			select {
			case more := <-admitted:
				cands = append(cands, more...)
			default:
				break group
			}
		}
		for _, w := range b.put(ctx, cands) {
			payload, _ := json.Marshal(feed.Ack{UptoSeq: w.Seq, WaitingFrom: w.WaitingFrom})
			// No wait: a lost ack is repaired by the till sending again.
			c.Publish(mqttclient.Message{Topic: feed.TillTopic(w.Pharmacy, w.Till, feed.LeafAck), Payload: payload, QoS: 1})
			b.count(func(s *Stats) { s.Acks++ })
		}
	}
}

// put stores the verified candidates and raises the alarms of the refused
// ones, and returns the watermarks to ack: none if the store failed.
func (b *Bureau) put(ctx context.Context, cands []candidate) []archive.Watermark {
	var in []archive.Incoming
	var refused []archive.Alarm
	for _, c := range cands {
		if c.refusal != nil {
			refused = append(refused, *c.refusal)
			continue
		}
		in = append(in, c.in)
	}
	b.raise(ctx, refused)
	if len(in) == 0 {
		return nil
	}
	res, err := b.st.Put(ctx, in)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("bureau: store batch", "records", len(in), "err", err)
		}
		b.count(func(s *Stats) { s.StoreFails++ })
		return nil
	}
	b.count(func(s *Stats) {
		s.Stored += uint64(res.Promoted)
		for _, o := range res.Outcomes {
			switch o {
			case archive.Stored:
				s.Stored++
			case archive.Duplicate:
				s.Duplicates++
			case archive.Waiting:
				s.Waiting++
			case archive.Dropped:
				s.Dropped++
			}
		}
	})
	b.noted(res.Alarms)
	return res.Acks
}

// raise stores alarms found outside a Put and logs the new ones.
func (b *Bureau) raise(ctx context.Context, alarms []archive.Alarm) {
	if len(alarms) == 0 {
		return
	}
	n, err := b.st.Raise(ctx, alarms)
	if err != nil {
		b.log.Error("bureau: store alarms", "alarms", len(alarms), "err", err)
		for _, a := range alarms {
			b.log.Warn("bureau: alarm not stored", "kind", a.Kind, "pharmacy", a.Pharmacy, "till", a.Till, "seq", a.Seq, "detail", a.Detail)
		}
		return
	}
	if n > 0 {
		b.noted(alarms) // which of them were new the store does not say; log them all
	}
}

// noted counts and logs alarms the store has taken.
func (b *Bureau) noted(alarms []archive.Alarm) {
	for _, a := range alarms {
		b.log.Warn("bureau: alarm", "kind", a.Kind, "pharmacy", a.Pharmacy, "till", a.Till, "seq", a.Seq, "detail", a.Detail)
	}
	b.count(func(s *Stats) {
		for _, a := range alarms {
			s.Alarms[a.Kind]++
		}
	})
}

// keepStatuses stores the tills' retained statuses, until ctx ends.
func (b *Bureau) keepStatuses(ctx context.Context, statuses <-chan mqttclient.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-statuses:
			p, t, st, err := feed.ParseStatus(m.Topic, m.Payload)
			if err != nil {
				b.log.Warn("bureau: bad status", "topic", truncate(m.Topic, 120), "err", err)
				continue
			}
			if err := b.st.SetStatus(ctx, p, t, st); err != nil && ctx.Err() == nil {
				b.log.Error("bureau: store status", "pharmacy", p, "till", t, "err", err)
			}
		}
	}
}

// sweeper asks the store for holes open longer than the grace period, a
// tenth of the grace apart, until ctx ends. Every receiver sweeps; the
// store raises each gap once.
func (b *Bureau) sweeper(ctx context.Context) {
	tick := time.NewTicker(min(max(b.grace/10, 50*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := b.now()
		gaps, err := b.st.Sweep(ctx, now, now.Add(-b.grace))
		if err != nil {
			if ctx.Err() == nil {
				b.log.Error("bureau: sweep for gaps", "err", err)
			}
			continue
		}
		b.noted(gaps)
	}
}

// admitter takes batches from in (what arrives within admitLinger of the
// first, up to b.batch), admits and verifies them, and hands them to out
// in order, until ctx ends.
func (b *Bureau) admitter(ctx context.Context, in <-chan mqttclient.Message, out chan<- []candidate) {
	msgs := make([]mqttclient.Message, 0, b.batch)
	linger := time.NewTimer(admitLinger)
	for {
		msgs = msgs[:0] // admitAll keeps nothing of the slice itself
		select {
		case <-ctx.Done():
			return
		case m := <-in:
			msgs = append(msgs, m)
		}
		linger.Reset(admitLinger)
	fill: // what arrives meanwhile, so a backlog makes big batches
		for len(msgs) < b.batch {
			select {
			case m := <-in:
				msgs = append(msgs, m)
			case <-linger.C:
				break fill
			}
		}
		select {
		case <-ctx.Done():
			return
		case out <- b.admitAll(msgs):
		}
	}
}

// candidate is a message admitted: a record of an enrolled till whose
// signature verifies, or the alarm that refuses it.
type candidate struct {
	in      archive.Incoming
	pub     ed25519.PublicKey
	refusal *archive.Alarm
}

// admitAll takes in a batch: topic, shape, enrolment and signature; none
// of it depends on the store. The work is spread over every core, each
// verifying its share of the signatures as one batch (internal/sigbatch).
func (b *Bureau) admitAll(msgs []mqttclient.Message) []candidate {
	b.count(func(s *Stats) { s.Received += uint64(len(msgs)) })
	cands := make([]candidate, len(msgs))
	now := b.now()
	parallel(len(msgs), func(lo, hi int) {
		items := make([]sigbatch.Item, 0, hi-lo)
		for i := lo; i < hi; i++ {
			cands[i] = b.admit(now, msgs[i])
			if c := cands[i]; c.refusal == nil {
				items = append(items, sigbatch.Item{Pub: c.pub, Msg: c.in.Rec, Sig: c.in.Sig})
			}
		}
		ok := sigbatch.Verify(items) // in the order admitted
		for i := lo; i < hi; i++ {
			if cands[i].refusal != nil {
				continue
			}
			if !ok[0] {
				in := cands[i].in
				cands[i].refusal = refuse(now, in.Pharmacy, in.Till, in.Seq, archive.AlarmBadSignature,
					"signature does not verify with the enrolled key", feed.Hash(in.Rec), in.Parsed.ID)
			}
			ok = ok[1:]
		}
	})
	return cands
}

// admit checks a message's topic, shape and sender. It has no side
// effects, so admitAll runs it on every core.
func (b *Bureau) admit(now time.Time, m mqttclient.Message) candidate {
	p, t, leaf, err := feed.ParseTillTopic(m.Topic)
	if err != nil || leaf != feed.LeafTx || !feed.ValidID(p) || !feed.ValidID(t) {
		return candidate{refusal: refuse(now, "", "", 0, archive.AlarmBadPayload, fmt.Sprintf("topic %.80q", m.Topic), feed.Hash([]byte(m.Topic)), "")}
	}
	rec, r, sig, err := feed.Open(m.Payload)
	if err != nil {
		return candidate{refusal: refuse(now, p, t, 0, archive.AlarmBadPayload, truncate(err.Error(), 200), feed.Hash(m.Payload), "")}
	}
	if r.Pharmacy != p || r.Till != t {
		return candidate{refusal: refuse(now, p, t, r.Seq, archive.AlarmBadPayload,
			fmt.Sprintf("record of %s/%s on this till's topic", r.Pharmacy, r.Till), feed.Hash(rec), r.ID)}
	}
	pub, ok := b.enrolled[p+"/"+t]
	if !ok || len(pub) != ed25519.PublicKeySize {
		// One alarm per till, however many records it sends.
		a := refuse(now, p, t, 0, archive.AlarmUnenrolled, fmt.Sprintf("no enrolled key for this till (seq %d)", r.Seq), "", "")
		a.Records = []archive.RecordRef{{Pharmacy: p, Till: t, Seq: r.Seq, ID: truncate(r.ID, 64)}}
		return candidate{refusal: a}
	}
	return candidate{in: archive.Incoming{Pharmacy: p, Till: t, Seq: r.Seq, Rec: rec, Sig: sig, Parsed: &r}, pub: pub}
}

// refuse is the alarm for a message the bureau will not store. key tells
// apart different offending messages at one seq; the same message sent
// again is the same alarm.
func refuse(now time.Time, pharmacy, till string, seq uint64, kind, detail, key, id string) *archive.Alarm {
	a := &archive.Alarm{At: now, Pharmacy: pharmacy, Till: till, Seq: seq, Kind: kind, Detail: detail, Key: key}
	if pharmacy != "" && seq > 0 {
		a.Records = []archive.RecordRef{{Pharmacy: pharmacy, Till: till, Seq: seq, ID: truncate(id, 64)}}
	}
	return a
}

// parallel splits [0, n) into one range per core and calls fn on each,
// when n is big enough to be worth it: parsing and verifying are the
// bureau's main cost.
func parallel(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < parallelMin || workers == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += per {
		wg.Go(func() { fn(lo, min(lo+per, n)) })
	}
	wg.Wait()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
