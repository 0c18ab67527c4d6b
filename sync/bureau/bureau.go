package bureau

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

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
	// maxHeld bounds the bytes of tx messages a receiver holds, from the
	// broker's handing them over to the end of their Put: far above what
	// its queues of typical records reach (a few MB), so it binds only
	// when big messages come in.
	maxHeld = 64 << 20
	// unknownFor is how long a till the store holds no key for is refused
	// as unenrolled before the store is asked again: a till enrolled
	// meanwhile (by any receiver's command) is taken in within it, and an
	// unenrolled till sending fast costs a look-up per period, not one per
	// record.
	unknownFor = 10 * time.Second
	// recheckAfter is how long after a look-up a signature that fails with
	// the key it found asks the store again, in case the key was replaced
	// (a rotation): sooner, the failure is a bad signature, so a till
	// sending forgeries costs a look-up a second at most.
	recheckAfter = time.Second
)

// Opts tune a Bureau. A nil *Opts means defaults: every key from the
// store.
type Opts struct {
	// Enrolled are keys the bureau holds from the start, besides the
	// store's ("pharmacy/till" → key): tests and the demo enroll so. A key
	// here whose signatures fail is looked up in the store like any other.
	Enrolled map[string]ed25519.PublicKey
	Shared   bool // consume through $share/tillguard-bureau/…
	// Key signs the acks (feed.Ack), the private half of the key the
	// tills hold as --bureau-key. Without it acks go unsigned, which only
	// a trial till (one without --bureau-key) takes.
	Key   ed25519.PrivateKey
	Batch int // messages parsed and verified together, at most; one Put stores up to admitAhead such batches; default 1024
	// GapGrace is how long a hole in a till's records may stay open before
	// it is a gap alarm; default archive.DefaultGapGrace.
	GapGrace time.Duration
	// StaleAfter is how long records a till has announced may stay
	// missing before they are an outbox_stale alarm; default
	// archive.DefaultStaleAfter.
	StaleAfter time.Duration
	Log        *slog.Logger
	Now        func() time.Time
}

// Bureau receives, verifies, stores and acknowledges. Several bureaus may
// share one store and one shared subscription: everything that depends on
// the order of a till's records is the store's (archive.Store.Put).
type Bureau struct {
	st         archive.Store
	shared     bool
	batch      int
	grace      time.Duration
	staleAfter time.Duration
	ackKey     ed25519.PrivateKey
	log        *slog.Logger
	now        func() time.Time

	// keys caches the tills' keys ("pharmacy/till"), so a known till's
	// records cost no look-up in the store: the admitter reads it on every
	// core, under one read lock per share of a batch.
	keysMu sync.RWMutex
	keys   map[string]heldKey

	mu    sync.Mutex
	stats Stats
}

// heldKey is a till's key as the bureau holds it.
type heldKey struct {
	pub ed25519.PublicKey // nil: the store had none at
	at  time.Time         // when the store was asked; zero for Opts.Enrolled and LoadKeys
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
	HeldBytes  int64             `json:"held_bytes"`  // tx payloads taken from the broker and not yet through their Put (at most maxHeld)
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
	if o.StaleAfter <= 0 {
		o.StaleAfter = archive.DefaultStaleAfter
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Bureau{
		st: st, shared: o.Shared, batch: o.Batch, grace: o.GapGrace, staleAfter: o.StaleAfter, ackKey: o.Key, log: o.Log, now: o.Now,
		keys: make(map[string]heldKey, len(o.Enrolled)), stats: Stats{Alarms: map[string]uint64{}},
	}
	for id, pub := range o.Enrolled {
		if len(pub) == ed25519.PublicKeySize {
			b.keys[id] = heldKey{pub: pub}
		}
	}
	return b
}

// LoadKeys takes in every key the store holds, so that the tills enrolled
// before the start cost no look-up when they first send, and returns how
// many there are. Without it the bureau looks each till's key up as its
// first record comes; either way, a till enrolled later is looked up then.
func (b *Bureau) LoadKeys(ctx context.Context) (int, error) {
	tills, err := allTills(ctx, b.st)
	if err != nil {
		return 0, fmt.Errorf("bureau: load keys: %w", err)
	}
	n := 0
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	for _, t := range tills {
		if len(t.Key) == ed25519.PublicKeySize {
			b.keys[t.Pharmacy+"/"+t.Till] = heldKey{pub: t.Key}
			n++
		}
	}
	return n, nil
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
	// A clean session: the broker keeps nothing for the bureau while it is
	// away, and a receiver that has gone must leave its shared
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
	held := semaphore.NewWeighted(maxHeld)
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
	wg.Go(func() { b.storer(ctx, c, admitted, held) })
	wg.Go(func() { b.keepStatuses(ctx, statuses) })
	wg.Go(func() { b.sweeper(ctx) })

	// QoS 1: mosquitto drops QoS 0 messages for a subscriber that reads
	// slower than they come, whatever its queue limits, and a backlog of
	// many tills comes faster than any bureau stores it
	// (docs/field-notes.md). At QoS 1 the broker queues them while this
	// handler pushes back; with a clean session it keeps nothing for a
	// bureau that is away, whose records the tills send again.
	doneCtx, cancelDone := context.WithCancel(ctx)
	defer cancelDone()
	err = c.Subscribe(b.Filter(), 1, func(m mqttclient.Message) {
		if len(m.Payload) > feed.MaxEnvelope {
			// Only the head goes on, copied, for feed.Open to refuse
			// (bad_payload): the rest is not held a moment longer.
			m.Payload = bytes.Clone(m.Payload[:feed.MaxEnvelope+1])
		}
		// Blocking here pushes back on the broker, which is what we want:
		// on a full queue, or while maxHeld bytes are between here and
		// the end of their Put.
		n := int64(len(m.Payload))
		if held.Acquire(doneCtx, n) != nil {
			return
		}
		b.count(func(s *Stats) { s.HeldBytes += n })
		select {
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
func (b *Bureau) storer(ctx context.Context, c *mqttclient.Client, admitted <-chan []candidate, held *semaphore.Weighted) {
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
			// QoS 0, no wait: a lost ack is repaired by the till sending
			// again, and the next ack covers this one. At QoS 1 every ack
			// would hold one of paho's 65 535 message ids until its PUBACK,
			// which paho reads only while the handler above is not pushing
			// back, and paho fails a publish it cannot number.
			c.Publish(mqttclient.Message{Topic: feed.TillTopic(w.Pharmacy, w.Till, feed.LeafAck), Payload: b.ack(w), QoS: 0})
			b.count(func(s *Stats) { s.Acks++ })
		}
		var n int64
		for _, c := range cands {
			n += c.size
		}
		held.Release(n)
		b.count(func(s *Stats) { s.HeldBytes -= n })
	}
}

// ack is the payload acknowledging w: the till, its watermark and the
// hash of the record there as stored, signed when the bureau has a key.
func (b *Bureau) ack(w archive.Watermark) []byte {
	a := feed.Ack{Pharmacy: w.Pharmacy, Till: w.Till, UptoSeq: w.Seq, Hash: w.Hash, WaitingFrom: w.WaitingFrom,
		At: b.now().UTC().Format(time.RFC3339Nano)}
	if b.ackKey != nil {
		a = feed.SignAck(a, b.ackKey)
	}
	payload, _ := json.Marshal(a)
	return payload
}

// put stores the verified candidates and raises the alarms of the refused
// ones, and returns the watermarks to ack: none if the store failed.
func (b *Bureau) put(ctx context.Context, cands []candidate) []archive.Watermark {
	var in []archive.Incoming
	var refused []archive.Alarm
	for _, c := range cands {
		switch {
		case c.refusal != nil:
			refused = append(refused, *c.refusal)
		case !c.dropped:
			in = append(in, c.in)
		}
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
			if !b.announce(ctx, p, t, st, m.Payload) {
				continue
			}
			if err := b.st.SetStatus(ctx, p, t, st); err != nil && ctx.Err() == nil {
				b.log.Error("bureau: store status", "pharmacy", p, "till", t, "err", err)
			}
		}
	}
}

// announce takes the head a signed status announces to the store, which
// keeps the highest and raises what contradicts it. It reports whether
// the status is to be kept: an unsigned one is (older and trial tills
// send them; it announces nothing), one whose signature fails is not
// (bad_status).
func (b *Bureau) announce(ctx context.Context, pharmacy, till string, st feed.Status, payload []byte) bool {
	if st.Sig == "" {
		return true
	}
	pub, err := b.key(ctx, pharmacy, till)
	if err != nil {
		if !errors.Is(err, archive.ErrNotFound) && ctx.Err() == nil {
			b.log.Error("bureau: look up a till's key for its status", "pharmacy", pharmacy, "till", till, "err", err)
		}
		return false // unenrolled, or unknown for now: its next status repairs it
	}
	now := b.now()
	if !st.Verify(pharmacy, till, pub) {
		b.raise(ctx, []archive.Alarm{*refuse(now, pharmacy, till, st.HeadSeq, archive.AlarmBadStatus,
			fmt.Sprintf("status (head %d) whose signature does not verify with the enrolled key", st.HeadSeq), feed.Hash(payload), "")})
		return false
	}
	if st.HeadSeq > 0 && st.HeadHash == "" {
		return true // signed, but the till could not read its head: it announces nothing
	}
	at, _ := time.Parse(time.RFC3339, st.At) // ParseStatus has checked it
	alarms, err := b.st.Announce(ctx, pharmacy, till, archive.Announcement{Seq: st.HeadSeq, Hash: st.HeadHash, At: at})
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("bureau: store an announced head", "pharmacy", pharmacy, "till", till, "err", err)
		}
		return true
	}
	b.noted(alarms)
	return true
}

// key is a till's enrolled key: the one held, or the store's.
func (b *Bureau) key(ctx context.Context, pharmacy, till string) (ed25519.PublicKey, error) {
	b.keysMu.RLock()
	h := b.keys[pharmacy+"/"+till]
	b.keysMu.RUnlock()
	if h.pub != nil {
		return h.pub, nil
	}
	return b.st.Key(ctx, pharmacy, till)
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
		gaps, err := b.st.Sweep(ctx, now, now.Add(-b.grace), now.Add(-b.staleAfter))
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
		case out <- b.admitAll(ctx, msgs):
		}
	}
}

// candidate is a message admitted: a record of an enrolled till whose
// signature verifies, or the alarm that refuses it, or neither when the
// store could not say the till's key (dropped: the till sends it again).
type candidate struct {
	in      archive.Incoming
	pub     ed25519.PublicKey // the key it is verified with
	refusal *archive.Alarm
	lookup  bool // ask the store for the till's key: none is held, or its signature failed with the one held
	dropped bool
	size    int64 // the message's payload, held against maxHeld until its Put is done
}

// ok is whether the candidate goes to the store.
func (c *candidate) ok() bool { return c.refusal == nil && !c.dropped }

// admitAll takes in a batch: topic, shape, enrolment and signature. The
// work is spread over every core, each verifying its share of the
// signatures as one batch (internal/sigbatch) with the keys the bureau
// holds. Only what those cannot decide asks the store, once per till:
// a till whose key is not held, and a signature that fails with the key
// held, in case the key was replaced since.
func (b *Bureau) admitAll(ctx context.Context, msgs []mqttclient.Message) []candidate {
	b.count(func(s *Stats) { s.Received += uint64(len(msgs)) })
	cands := make([]candidate, len(msgs))
	now := b.now()
	parallel(len(msgs), func(lo, hi int) {
		b.keysMu.RLock()
		for i := lo; i < hi; i++ {
			cands[i] = b.admit(now, msgs[i])
		}
		b.keysMu.RUnlock()
		verify(cands[lo:hi])
	})
	for i := range cands {
		cands[i].size = int64(len(msgs[i].Payload))
	}
	for i := range cands {
		if cands[i].lookup {
			b.lookUp(ctx, now, cands)
			break
		}
	}
	return cands
}

// verify checks the signatures of the candidates that have a key, as one
// batch, and marks those that fail for a look-up.
func verify(cands []candidate) {
	items := make([]sigbatch.Item, 0, len(cands))
	for i := range cands {
		if c := &cands[i]; c.ok() && !c.lookup {
			items = append(items, sigbatch.Item{Pub: c.pub, Msg: c.in.Rec, Sig: c.in.Sig})
		}
	}
	ok := sigbatch.Verify(items) // in the order taken
	for i := range cands {
		if c := &cands[i]; c.ok() && !c.lookup {
			c.lookup = !ok[0]
			ok = ok[1:]
		}
	}
}

// lookUp decides the candidates marked for a look-up: it asks the store
// for each of their tills' keys once, holds what it finds, and verifies
// them with it. A signature that fails with the key the store has is a
// bad signature, a till without a key unenrolled; a till whose key the
// store could not say is dropped, to be sent again.
func (b *Bureau) lookUp(ctx context.Context, now time.Time, cands []candidate) {
	type till struct{ pharmacy, till string }
	ask := map[string]till{}
	b.keysMu.RLock()
	for i := range cands {
		c := &cands[i]
		if !c.lookup {
			continue
		}
		id := c.in.Pharmacy + "/" + c.in.Till
		// A failed signature asks again only if the key was found a while
		// ago; a till not held is always asked about (admit refused those
		// found unenrolled lately).
		if h := b.keys[id]; c.pub == nil || now.Sub(h.at) >= recheckAfter || now.Before(h.at) {
			ask[id] = till{c.in.Pharmacy, c.in.Till}
		}
	}
	b.keysMu.RUnlock()

	failed := map[string]bool{}
	for id, t := range ask {
		pub, err := b.st.Key(ctx, t.pharmacy, t.till)
		switch {
		case err == nil && len(pub) == ed25519.PublicKeySize:
		case err == nil || errors.Is(err, archive.ErrNotFound):
			pub = nil
		default:
			if ctx.Err() == nil {
				b.log.Error("bureau: look up a till's key: its records are dropped, to be sent again", "pharmacy", t.pharmacy, "till", t.till, "err", err)
			}
			failed[id] = true
			continue
		}
		b.keysMu.Lock()
		if pub == nil && b.keys[id].pub != nil {
			pub = b.keys[id].pub // a key of Opts.Enrolled the store does not hold: still the one
		}
		b.keys[id] = heldKey{pub: pub, at: now}
		b.keysMu.Unlock()
	}

	again := make([]candidate, 0, len(cands))
	var where []int
	b.keysMu.RLock()
	for i := range cands {
		c := &cands[i]
		if !c.lookup {
			continue
		}
		c.lookup = false
		id := c.in.Pharmacy + "/" + c.in.Till
		h := b.keys[id]
		switch {
		case failed[id]:
			c.dropped = true
		case h.pub == nil:
			c.refusal = unenrolled(now, c.in.Pharmacy, c.in.Till, c.in.Seq, c.in.Parsed.ID)
		case c.pub != nil && c.pub.Equal(h.pub):
			c.refusal = badSignature(now, c.in)
		default: // a key at last, or another one than it failed with
			c.pub = h.pub
			again = append(again, *c)
			where = append(where, i)
		}
	}
	b.keysMu.RUnlock()
	if len(again) == 0 {
		return
	}
	verify(again)
	for j, i := range where {
		cands[i] = again[j]
		if cands[i].lookup { // failed with the store's key too
			cands[i].lookup = false
			cands[i].refusal = badSignature(now, cands[i].in)
		}
	}
}

func badSignature(now time.Time, in archive.Incoming) *archive.Alarm {
	return refuse(now, in.Pharmacy, in.Till, in.Seq, archive.AlarmBadSignature,
		"signature does not verify with the enrolled key", feed.Hash(in.Rec), in.Parsed.ID)
}

// unenrolled is the alarm for a record of a till without a key: one per
// till, however many records it sends.
func unenrolled(now time.Time, pharmacy, till string, seq uint64, id string) *archive.Alarm {
	a := refuse(now, pharmacy, till, 0, archive.AlarmUnenrolled, fmt.Sprintf("no enrolled key for this till (seq %d)", seq), "", "")
	a.Records = []archive.RecordRef{{Pharmacy: pharmacy, Till: till, Seq: seq, ID: truncate(id, 64)}}
	return a
}

// admit checks a message's topic and shape, and finds its till's key in
// those held (the caller holds b.keysMu for reading). It has no side
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
	c := candidate{in: archive.Incoming{Pharmacy: p, Till: t, Seq: r.Seq, Rec: rec, Sig: sig, Parsed: &r}}
	h, held := b.keys[p+"/"+t]
	switch {
	case h.pub != nil:
		c.pub = h.pub
	case held && now.Sub(h.at) < unknownFor && !now.Before(h.at):
		c.refusal = unenrolled(now, p, t, r.Seq, r.ID)
	default:
		c.lookup = true
	}
	return c
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
