package bureau

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/tillguard/tillguard/internal/sigbatch"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Alarm kinds.
const (
	AlarmUnenrolled   = "unenrolled"    // a till whose key the bureau does not hold
	AlarmBadSignature = "bad_signature" // the signature does not verify over the record's bytes
	AlarmBadChain     = "bad_chain"     // prev is not the hash of the stored previous record
	AlarmConflict     = "conflict"      // same till and seq as a stored record, other bytes
	AlarmGap          = "gap"           // a seq beyond contiguous+1: something in between is missing
	AlarmBadPayload   = "bad_payload"   // not an envelope, or a record on another till's topic

	// Cross-pharmacy detection (cross.go): what no single till can see.
	AlarmTraceDupCross   = "trace_dup_cross"   // a traceability code sold again at another till, not returned in between
	AlarmDaysSupplyCross = "days_supply_cross" // a card over the days-supply limit of a drug counting every till
)

// ShareGroup is the shared-subscription group bureaus consume through.
const ShareGroup = "tillguard-bureau"

const (
	defaultBatch   = 1024
	publishTimeout = 10 * time.Second // PublishPolicy's wait for the PUBACK
	maxAlarms      = 1000             // alarms kept for the API; older ones are only counted
	parallelMin    = 32               // batches at least this long are admitted on every core
	admitAhead     = 4                // batches the admitter may verify ahead of the store; one store takes them all
	// admitLinger is how long the admitter waits for a batch to fill after
	// its first message. Acks come at most this much later; a backlog
	// arriving at 10 000 records a second comes in batches of fifty and
	// more rather than what one read brought, and costs less per record:
	// fewer, fuller transactions and bigger signature batches (drain
	// bench: 73 → 66 µs of bureau CPU per record).
	admitLinger = 5 * time.Millisecond
)

// Alarm is something a till or the network did that the bureau refused or
// must report.
type Alarm struct {
	At       time.Time `json:"at"`
	Pharmacy string    `json:"pharmacy"`
	Till     string    `json:"till"`
	Seq      uint64    `json:"seq"`
	Kind     string    `json:"kind"`
	Detail   string    `json:"detail"`
}

// Opts tune a Bureau. A nil *Opts means defaults (and no till enrolled).
type Opts struct {
	Enrolled map[string]ed25519.PublicKey // "pharmacy/till" → key
	Shared   bool                         // consume through $share/tillguard-bureau/…
	Batch    int                          // messages parsed and verified together, at most; one archive transaction stores up to 4 such batches; default 1024
	// DaysLimit is the days-supply limit for days_supply_cross when a line
	// does not say which limit the till applied; default the chronic
	// limit of policy.DefaultLimits, the longest without a long prescription.
	DaysLimit int
	Log       *slog.Logger
	Now       func() time.Time
}

// store is the part of *ledger.Archive the bureau uses.
type store interface {
	PutBatch(in []ledger.Incoming) ([]ledger.Outcome, error)
	Get(pharmacy, till string, seq uint64) (rec, sig []byte, err error)
	Contiguous(pharmacy, till string) (uint64, error)
	Tills() ([]ledger.TillInfo, error)
	Scan(pharmacy, till string, from uint64, fn func(seq uint64, rec, sig []byte) error) error
}

var _ store = (*ledger.Archive)(nil)

// Bureau receives, verifies, stores and acknowledges.
type Bureau struct {
	ar        store
	enrolled  map[string]ed25519.PublicKey
	shared    bool
	batch     int
	daysLimit int
	log       *slog.Logger
	now       func() time.Time

	contig map[string]uint64 // till → contiguous watermark; owned by the receiving goroutine

	mu         sync.Mutex
	subscribed bool    // the first subscription is in place (renewed on reconnects)
	alarms     []Alarm // the last maxAlarms
	counts     map[string]uint64
	stats      Stats
}

// Stats counts what the bureau has done since it started.
type Stats struct {
	Received   uint64 // tx messages taken in
	Stored     uint64 // records stored
	Duplicates uint64 // records already held, byte for byte
	Acks       uint64 // acks published
	Connected  bool   // connected and subscribed: records are flowing in
}

// New returns a bureau storing into ar. It installs ar's cross handler
// (cross.go), so one archive feeds one bureau.
func New(ar *ledger.Archive, opts *Opts) *Bureau {
	b := newBureau(ar, opts)
	ar.SetCrossHandler(b.crossHits)
	return b
}

func newBureau(ar store, opts *Opts) *Bureau {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Batch <= 0 {
		o.Batch = defaultBatch
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DaysLimit <= 0 {
		o.DaysLimit = policy.DefaultLimits().ChronicDays
	}
	return &Bureau{
		ar: ar, enrolled: o.Enrolled, shared: o.Shared, batch: o.Batch, daysLimit: o.DaysLimit, log: o.Log, now: o.Now,
		contig: map[string]uint64{}, counts: map[string]uint64{},
	}
}

// Alarms returns the most recent alarms, oldest first.
func (b *Bureau) Alarms() []Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.alarms)
}

// AlarmCounts returns how many alarms of each kind were raised since start,
// including those no longer listed by Alarms.
func (b *Bureau) AlarmCounts() map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]uint64, len(b.counts))
	for k, v := range b.counts {
		out[k] = v
	}
	return out
}

// Stats returns a snapshot of the counters.
func (b *Bureau) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Filter is the subscription the bureau consumes.
func (b *Bureau) Filter() string {
	if b.shared {
		return "$share/" + ShareGroup + "/" + feed.TxFilter
	}
	return feed.TxFilter
}

// Run connects with mo, consumes every till's tx topic and acknowledges
// what it stores, until ctx ends; then it returns nil. Messages taken from
// the broker but not yet stored when ctx ends are dropped unacknowledged:
// their tills send them again. It returns an error only for options that
// can never work.
func (b *Bureau) Run(ctx context.Context, mo mqttclient.Options) error {
	onConnect, onLost := mo.OnConnect, mo.OnLost
	mo.OnConnect = func() {
		b.mu.Lock()
		b.stats.Connected = b.subscribed // after a reconnect the client has renewed it
		b.mu.Unlock()
		if onConnect != nil {
			onConnect()
		}
	}
	mo.OnLost = func(err error) {
		b.setConnected(false)
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
		b.mu.Lock()
		b.subscribed, b.stats.Connected = false, false
		b.mu.Unlock()
	}()

	in := make(chan mqttclient.Message, b.batch)
	done := make(chan struct{})
	defer close(done) // before Close: frees a handler blocked on a full queue
	handler := func(m mqttclient.Message) {
		select { // blocking here pushes back on the broker, which is what we want
		case in <- m:
		case <-done:
		}
	}
	// Two stages, so a store's fsync overlaps the parsing and signature
	// checks (the bureau's main CPU cost) of what comes next: the admitter
	// takes what is waiting and verifies it on every core; the store
	// checks the chain against the archive, stores everything admitted
	// since its last store in one transaction, and only then acks. Batches
	// keep their order, and only the store reads the archive or b.contig,
	// so the rules are those of one batch at a time.
	//
	// Both run before the subscription is made: a session's backlog
	// (one left at QoS 1, say) arrives before the SUBACK, and with nobody
	// draining it the handler would block paho's reader, which then never
	// sees the SUBACK.
	admitted := make(chan []candidate, admitAhead)
	var wg sync.WaitGroup
	defer wg.Wait() // both end with ctx
	wg.Go(func() { b.admitter(ctx, in, admitted) })
	wg.Go(func() { b.store(ctx, c, admitted) })

	// QoS 0: the bureau's ack, not a PUBACK, is what clears a till's
	// outbox, and a till sends again whatever it has not been acked for
	// (uplink's ack timeout, a repeated ack). A PUBACK per record would
	// cost the broker a packet and a queue entry each, and make it hold,
	// for a bureau that is away, what the tills will send again anyway.
	err = c.Subscribe(b.Filter(), 0, handler)
	if err != nil {
		b.log.Error("bureau: subscribe", "filter", b.Filter(), "err", err) // renewed on reconnect
	}
	b.mu.Lock()
	b.subscribed = true
	b.stats.Connected = err == nil && c.Connected()
	b.mu.Unlock()
	b.log.Info("bureau: consuming", "filter", b.Filter())
	<-ctx.Done()
	return nil
}

// store commits what the admitter hands it, in order, and acks each till
// up to its contiguous seq once the transaction is on disk, until ctx ends.
func (b *Bureau) store(ctx context.Context, c *mqttclient.Client, admitted <-chan []candidate) {
	for {
		var cands []candidate
		select {
		case <-ctx.Done():
			return
		case cands = <-admitted:
		}
	group: // one transaction, one fsync, for every batch admitted meanwhile
		for len(cands) < admitAhead*b.batch {
			select {
			case more := <-admitted:
				cands = append(cands, more...)
			default:
				break group
			}
		}
		for _, a := range b.commit(b.check(cands)) {
			payload, _ := json.Marshal(feed.Ack{UptoSeq: a.upto})
			// No wait: a lost ack is repaired by the till sending again.
			c.Publish(mqttclient.Message{Topic: feed.TillTopic(a.pharmacy, a.till, feed.LeafAck), Payload: payload, QoS: 1})
			b.mu.Lock()
			b.stats.Acks++
			b.mu.Unlock()
		}
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

func (b *Bureau) setConnected(v bool) {
	b.mu.Lock()
	b.stats.Connected = v
	b.mu.Unlock()
}

// ack is one acknowledgement to publish.
type ack struct {
	pharmacy, till string
	upto           uint64
}

// candidate is a well-formed record from an enrolled till.
type candidate struct {
	pharmacy, till string
	rec, sig       []byte
	r              feed.Record
	pub            ed25519.PublicKey
	ok             bool // signature verified
}

// process verifies and stores one batch of tx messages and returns the acks
// to publish: one per enrolled till touched, carrying its contiguous
// watermark, and none at all if the archive could not store the batch.
func (b *Bureau) process(msgs []mqttclient.Message) []ack {
	return b.commit(b.check(b.admitAll(msgs)))
}

// admitAll takes in a batch: topic, shape, enrolment and signature; none
// of it depends on the archive. The work is spread over every core, each
// verifying its share of the signatures as one batch (internal/sigbatch);
// the alarms are raised afterwards, in the batch's order.
func (b *Bureau) admitAll(msgs []mqttclient.Message) []candidate {
	b.mu.Lock()
	b.stats.Received += uint64(len(msgs))
	b.mu.Unlock()
	res := make([]admission, len(msgs))
	parallel(len(msgs), func(lo, hi int) {
		items := make([]sigbatch.Item, 0, hi-lo)
		for i := lo; i < hi; i++ {
			c, ref := b.admit(msgs[i])
			res[i] = admission{c, ref}
			if ref == nil {
				items = append(items, sigbatch.Item{Pub: c.pub, Msg: c.rec, Sig: c.sig})
			}
		}
		ok := sigbatch.Verify(items) // in the order admitted
		for i := lo; i < hi; i++ {
			if res[i].ref == nil {
				res[i].c.ok, ok = ok[0], ok[1:]
			}
		}
	})
	cands := make([]candidate, 0, len(msgs))
	for _, a := range res {
		switch {
		case a.ref != nil:
			b.alarm(a.ref.pharmacy, a.ref.till, a.ref.seq, a.ref.kind, a.ref.detail)
		case !a.c.ok:
			b.alarm(a.c.pharmacy, a.c.till, a.c.r.Seq, AlarmBadSignature, "signature does not verify with the enrolled key")
			cands = append(cands, a.c) // its till still gets an ack of what is stored
		default:
			cands = append(cands, a.c)
		}
	}
	return cands
}

// admission is the outcome of admit for one message: a candidate, or why
// it was refused.
type admission struct {
	c   candidate
	ref *refusal
}

// refusal is an alarm to raise for a message admit refused.
type refusal struct {
	pharmacy, till string
	seq            uint64
	kind, detail   string
}

// job is a checked batch ready to store.
type job struct {
	put    []ledger.Incoming
	tills  []tillRef         // enrolled tills touched, in order of arrival: each gets an ack
	staged map[string]uint64 // till → contiguous once put is stored
}

type tillRef struct{ key, pharmacy, till string }

// check applies the chain, gap, duplicate and conflict rules against the
// archive as it is now.
func (b *Bureau) check(cands []candidate) job {
	byTill := map[string][]*candidate{}
	var tills []tillRef
	for i := range cands {
		c := &cands[i]
		key := c.pharmacy + "/" + c.till
		if _, seen := byTill[key]; !seen {
			tills = append(tills, tillRef{key, c.pharmacy, c.till})
		}
		byTill[key] = append(byTill[key], c)
	}

	var put []ledger.Incoming
	staged := map[string]uint64{} // till → contiguous after this batch
	ok := tills[:0:0]
	for _, tr := range tills {
		key := tr.key
		// In seq order: a batch may hold a till's records out of order
		// (shared subscriptions, resends), which is not a gap.
		cs := byTill[key]
		slices.SortStableFunc(cs, func(x, y *candidate) int { return cmp.Compare(x.r.Seq, y.r.Seq) })
		p, t := tr.pharmacy, tr.till
		contig, err := b.contiguous(p, t)
		if err != nil {
			b.log.Error("bureau: read contiguous watermark", "pharmacy", p, "till", t, "err", err)
			continue // not acked: the till sends again
		}
		ok = append(ok, tr)
		batchRecs := map[uint64][]byte{}
		var gapFrom, gapTo uint64
		for _, c := range cs {
			if !c.ok {
				continue
			}
			seq := c.r.Seq
			switch {
			case seq <= contig:
				have := batchRecs[seq]
				if have == nil {
					if have, _, err = b.ar.Get(p, t, seq); err != nil {
						b.log.Error("bureau: read stored record", "pharmacy", p, "till", t, "seq", seq, "err", err)
						continue
					}
				}
				if bytes.Equal(have, c.rec) {
					b.mu.Lock()
					b.stats.Duplicates++
					b.mu.Unlock()
				} else {
					b.alarm(p, t, seq, AlarmConflict, "other bytes than the stored record with this seq")
				}
			case seq > contig+1:
				if gapFrom == 0 {
					gapFrom = seq
				}
				gapTo = seq
			default: // the next one
				want := ""
				if seq > 1 {
					prev := batchRecs[seq-1]
					if prev == nil {
						if prev, _, err = b.ar.Get(p, t, seq-1); err != nil {
							b.log.Error("bureau: read previous record", "pharmacy", p, "till", t, "seq", seq-1, "err", err)
							continue
						}
					}
					want = feed.Hash(prev)
				}
				if c.r.Prev != want {
					b.alarm(p, t, seq, AlarmBadChain, fmt.Sprintf("prev %.16q, want %.16q", c.r.Prev, want))
					continue
				}
				batchRecs[seq] = c.rec
				put = append(put, ledger.Incoming{Pharmacy: p, Till: t, Seq: seq, Rec: c.rec, Sig: c.sig, Parsed: &c.r})
				contig = seq
			}
		}
		if gapFrom != 0 {
			// One alarm per till and batch: a missing record makes every
			// later one in the window a gap.
			b.alarm(p, t, gapFrom, AlarmGap, fmt.Sprintf("have up to %d, got %d..%d", contig, gapFrom, gapTo))
		}
		staged[key] = contig
	}

	return job{put: put, tills: ok, staged: staged}
}

// commit stores a checked batch and returns the acks to publish, none if
// the archive failed.
func (b *Bureau) commit(j job) []ack {
	put, staged := j.put, j.staged
	if len(put) > 0 {
		outcomes, err := b.ar.PutBatch(put)
		if err != nil {
			b.log.Error("bureau: store batch", "records", len(put), "err", err)
			clear(b.contig) // read again from the archive next time
			return nil
		}
		var stored uint64
		for i, o := range outcomes {
			switch o {
			case ledger.Stored:
				stored++
			case ledger.Duplicate:
			case ledger.Conflict:
				// Only if something else writes the archive: trust it, not us.
				in := put[i]
				b.alarm(in.Pharmacy, in.Till, in.Seq, AlarmConflict, "archive holds other bytes for this seq")
				delete(staged, in.Pharmacy+"/"+in.Till)
				delete(b.contig, in.Pharmacy+"/"+in.Till)
			}
		}
		b.mu.Lock()
		b.stats.Stored += stored
		b.mu.Unlock()
	}

	var acks []ack
	for _, tr := range j.tills {
		p, t := tr.pharmacy, tr.till
		contig, ok := staged[tr.key]
		if !ok {
			var err error
			if contig, err = b.contiguous(p, t); err != nil {
				b.log.Error("bureau: read contiguous watermark", "pharmacy", p, "till", t, "err", err)
				continue
			}
		}
		b.contig[tr.key] = contig
		acks = append(acks, ack{pharmacy: p, till: t, upto: contig})
	}
	return acks
}

// admit checks a message's topic, shape and sender; a refused message
// comes back with the alarm to raise. It has no side effects, so admitAll
// runs it on every core.
func (b *Bureau) admit(m mqttclient.Message) (candidate, *refusal) {
	p, t, leaf, err := feed.ParseTillTopic(m.Topic)
	if err != nil || leaf != feed.LeafTx {
		return candidate{}, &refusal{p, t, 0, AlarmBadPayload, fmt.Sprintf("topic %.80q", m.Topic)}
	}
	rec, r, sig, err := feed.Open(m.Payload)
	if err != nil {
		return candidate{}, &refusal{p, t, 0, AlarmBadPayload, truncate(err.Error(), 200)}
	}
	if r.Pharmacy != p || r.Till != t {
		return candidate{}, &refusal{p, t, r.Seq, AlarmBadPayload, fmt.Sprintf("record of %s/%s on this till's topic", r.Pharmacy, r.Till)}
	}
	pub, ok := b.enrolled[p+"/"+t]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return candidate{}, &refusal{p, t, r.Seq, AlarmUnenrolled, "no enrolled key for this till"}
	}
	return candidate{pharmacy: p, till: t, rec: rec, sig: sig, r: r, pub: pub}, nil
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

// contiguous returns the till's watermark, from memory when known.
func (b *Bureau) contiguous(pharmacy, till string) (uint64, error) {
	key := pharmacy + "/" + till
	if n, ok := b.contig[key]; ok {
		return n, nil
	}
	n, err := b.ar.Contiguous(pharmacy, till)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return 0, err
	}
	return n, nil
}

func (b *Bureau) alarm(pharmacy, till string, seq uint64, kind, detail string) {
	a := Alarm{At: b.now(), Pharmacy: pharmacy, Till: till, Seq: seq, Kind: kind, Detail: detail}
	b.log.Warn("bureau: alarm", "kind", kind, "pharmacy", pharmacy, "till", till, "seq", seq, "detail", detail)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts[kind]++
	if len(b.alarms) == maxAlarms {
		b.alarms = slices.Delete(b.alarms, 0, 1)
	}
	b.alarms = append(b.alarms, a)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
