package uplink

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Outbox is the part of the ledger the uplink drains. *ledger.Ledger
// implements it.
type Outbox interface {
	Pending(after uint64, max int) ([]ledger.Entry, error)
	Get(seq uint64) (ledger.Entry, error) // an ack's record, to check its hash
	Ack(upto uint64) error
	Head() uint64
	Acked() uint64
	Appended() <-chan struct{}
}

var _ Outbox = (*ledger.Ledger)(nil)

// Defaults for Opts. The window is what keeps the bureau's two stages
// busy: while it stores one group of records (an fsync), the next must
// already be arriving and being verified; 256 left it idle half the time.
// A drain at full speed has about 700 records between the till and the
// bureau's ack (its admission wait, signature checks and fsync), so 1024
// left the till waiting at times; 4096 does not, for about 6 MB more of
// the till's memory while it drains (drain bench).
const (
	DefaultWindow     = 4096
	DefaultAckTimeout = 5 * time.Second
)

const (
	chunk          = 256             // records read from the ledger per Pending call (one read transaction)
	maxBackoff     = 8               // cap of the ack-timeout multiplier while the bureau is silent
	statusTimeout  = time.Second     // how long a clean shutdown waits for the offline status
	retryOnFailure = 2 * time.Second // pause after the ledger fails to read
)

// Opts tune an Uplink. A nil *Opts means defaults.
type Opts struct {
	Window     int           // records in flight (sent, not acked); default DefaultWindow
	AckTimeout time.Duration // no ack progress this long while records are out → send acked+1 again, alone until the bureau acks; default 5 s
	Log        *slog.Logger
	Now        func() time.Time // timestamps in State and status messages

	// Region and OnPolicy take the policy downlink: with both set, Run
	// subscribes to tillguard/v1/policy/{Region} and hands every bundle
	// message (the retained one on each connection, then each new one) to
	// OnPolicy, which verifies and applies it (sync/bundle). OnPolicy runs
	// on a goroutine of its own, one call at a time; if bundles arrive
	// while it runs, it is called once more with the latest.
	Region   string
	OnPolicy func(payload []byte)

	// SendLimit, if set, is the highest seq that may be sent, read on
	// every turn of the loop: the till holds back records from one that
	// fails its chain check on, and all of them until the first check
	// has passed. Call Recheck when its answer may have grown. nil = up
	// to the head.
	SendLimit func() uint64

	// BureauKey is the key the bureau signs its acks with (the till's
	// --bureau-key). With it, an ack clears the outbox only if it
	// verifies, names this till, and carries the hash of the till's own
	// record at upto_seq; without it (a trial) acks are taken unsigned,
	// their hash checked when they carry one.
	BureauKey ed25519.PublicKey

	// OnAckRefused, if set, is told of every ack refused, on the MQTT
	// client's goroutine: it must not block.
	OnAckRefused func(AckRefusal)

	// OnAckProgress, if set, is told when an ack moves the outbox
	// forward again after a refusal of kind AckRegressed.
	OnAckProgress func()

	// StatusKey, if set, signs the retained status (the till's key): the
	// bureau keeps the heads a till has announced so, and a till cannot
	// take one back unseen. nil: statuses go unsigned.
	StatusKey ed25519.PrivateKey
}

// Kinds of AckRefusal.
const (
	AckForged    = "ack_forged"    // not the bureau's: no or a bad signature, another till's, or not an ack at all
	AckMismatch  = "ack_mismatch"  // the bureau's, naming a record the till does not have: beyond its head, or other bytes than its own
	AckRegressed = "ack_regressed" // the bureau's, lower than what it acked before: the bureau lost records, or the till was rolled back
)

// AckRefusal is an ack the uplink did not take, and why.
type AckRefusal struct {
	Kind    string // AckForged, AckMismatch or AckRegressed
	UptoSeq uint64
	Detail  string
}

// regressSkew is how much later than the highest ack's time a lower ack
// must be to count as the bureau going back: receivers sharing one store
// publish acks in any order, and their clocks differ a little.
const regressSkew = time.Minute

// State is a snapshot of the uplink.
type State struct {
	Connected bool
	LastAck   time.Time // when an ack last moved the outbox forward
	AckedSeq  uint64    // every record ≤ AckedSeq is stored by the bureau
	SentSeq   uint64    // highest seq published in the current round
	// Acks refused, by kind (AckRefusal).
	ForgedAcks, MismatchedAcks, RegressedAcks uint64
	Signed                                    bool   // acks must carry the bureau's signature (Opts.BureauKey)
	Resends                                   uint64 // rounds restarted from AckedSeq+1
	// HoleResends counts holes sent again alone: the bureau held what
	// followed them (feed.Ack's WaitingFrom).
	HoleResends uint64
}

// Uplink drains one till's outbox.
type Uplink struct {
	ob                   Outbox
	pharmacy, till       string
	window               int
	ackTimeout           time.Duration
	log                  *slog.Logger
	now                  func() time.Time
	txTopic, statusTopic string
	ackTopic             string
	policyTopic          string
	onPolicy             func([]byte)
	sendLimit            func() uint64
	bureauKey            ed25519.PublicKey
	onRefused            func(AckRefusal)
	onProgress           func()
	statusKey            ed25519.PrivateKey

	ackSig   chan struct{} // loop: an ack arrived (progress or not)
	applySig chan struct{} // applier: an ack to write to the ledger
	connSig  chan struct{} // loop: a connection came up, subscriptions renewed
	limitSig chan struct{} // loop: SendLimit may have changed (Recheck)

	mu        sync.Mutex
	st        State
	bureauAck uint64 // highest valid ack from the bureau; the ledger catches up in the applier
	// ackAt is the bureau's time on the highest ack taken (on start: the
	// till's start): a lower ack from well after it is a regression.
	ackAt     time.Time
	regressed bool   // the last refusal was AckRegressed, and no ack has moved the outbox since
	staleUpto uint64 // the last ack that did not move the outbox, +1 (0: none since the loop looked)
	// hole is what the latest ack says the bureau lacks while holding what
	// follows: seqs hole.from..hole.to (zero: none said since the loop looked).
	hole struct{ from, to uint64 }
}

// New returns an uplink for the till pharmacy/till reading ob.
func New(ob Outbox, pharmacy, till string, opts *Opts) *Uplink {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &Uplink{
		ob: ob, pharmacy: pharmacy, till: till,
		window: o.Window, ackTimeout: o.AckTimeout, sendLimit: o.SendLimit,
		bureauKey: o.BureauKey, onRefused: o.OnAckRefused, onProgress: o.OnAckProgress, statusKey: o.StatusKey,
		log: o.Log.With("pharmacy", pharmacy, "till", till), now: o.Now,
		txTopic:     feed.TillTopic(pharmacy, till, feed.LeafTx),
		ackTopic:    feed.TillTopic(pharmacy, till, feed.LeafAck),
		statusTopic: feed.TillTopic(pharmacy, till, feed.LeafStatus),
		ackSig:      make(chan struct{}, 1),
		applySig:    make(chan struct{}, 1),
		connSig:     make(chan struct{}, 1),
		limitSig:    make(chan struct{}, 1),
	}
	if o.Region != "" && o.OnPolicy != nil {
		u.policyTopic, u.onPolicy = feed.PolicyTopic(o.Region), o.OnPolicy
	}
	u.st.AckedSeq = ob.Acked()
	u.st.Signed = o.BureauKey != nil
	u.ackAt = o.Now()
	return u
}

// State returns a snapshot.
func (u *Uplink) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

// Run connects to the broker described by mo and delivers the outbox until
// ctx ends, then publishes the offline status and returns nil. mo's Will,
// OnConnect and OnLost are set by Run (a caller's OnConnect and OnLost are
// still called). It returns an error only for options that can never work.
func (u *Uplink) Run(ctx context.Context, mo mqttclient.Options) error {
	mo.Will = &mqttclient.Message{Topic: u.statusTopic, Payload: u.status(feed.StateOffline), QoS: 1, Retained: true}
	onConnect, onLost := mo.OnConnect, mo.OnLost
	mo.OnConnect = func() {
		u.setConnected(true)
		signal(u.connSig)
		if onConnect != nil {
			onConnect()
		}
	}
	mo.OnLost = func(err error) {
		u.setConnected(false)
		if onLost != nil {
			onLost(err)
		}
	}
	c, err := mqttclient.Connect(ctx, mo)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("uplink: %w", err)
	}
	defer func() {
		err := c.Publish(mqttclient.Message{Topic: u.statusTopic, Payload: u.status(feed.StateOffline), QoS: 1, Retained: true}).Wait(statusTimeout)
		if err != nil {
			u.log.Warn("uplink: publish offline status", "err", err)
		}
		c.Close()
		u.setConnected(false)
	}()
	if err := c.Subscribe(u.ackTopic, 1, func(m mqttclient.Message) { u.handleAck(m.Payload) }); err != nil {
		// Registered anyway: renewed on the next reconnect.
		u.log.Error("uplink: subscribe to acks", "err", err)
	}
	if u.onPolicy != nil {
		policies, done := u.runPolicy(ctx)
		defer func() { <-done }() // ctx has ended: no call to OnPolicy after Run returns
		if err := c.Subscribe(u.policyTopic, 1, func(m mqttclient.Message) { policies.put(m.Payload) }); err != nil {
			u.log.Error("uplink: subscribe to policy", "topic", u.policyTopic, "err", err)
		}
	}
	u.loop(ctx, c)
	return nil
}

// latest holds the newest policy payload not yet handed over.
type latest struct {
	mu      sync.Mutex
	payload []byte
	sig     chan struct{}
}

func (l *latest) put(p []byte) {
	l.mu.Lock()
	l.payload = p
	l.mu.Unlock()
	signal(l.sig)
}

// runPolicy hands policy payloads to onPolicy off the MQTT client's
// receiving goroutine: verifying and loading a national catalogue must not
// hold up acks.
func (u *Uplink) runPolicy(ctx context.Context) (*latest, <-chan struct{}) {
	l := &latest{sig: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.sig:
			}
			l.mu.Lock()
			p := l.payload
			l.payload = nil
			l.mu.Unlock()
			if p != nil {
				u.onPolicy(p)
			}
		}
	}()
	return l, done
}

// publisher is the part of *mqttclient.Client the loop uses.
type publisher interface {
	Publish(m mqttclient.Message) mqttclient.Token
}

// loop is the single owner of the send position. A second goroutine, the
// applier, writes acks to the ledger, so an fsync never stalls sending: the
// window slides on the bureau's word, which is what the ledger records.
func (u *Uplink) loop(ctx context.Context, c publisher) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				u.applyAcks() // what the bureau acked must not be sent again after a restart
				return
			case <-u.applySig:
				u.applyAcks()
			}
		}
	})
	defer wg.Wait()

	var (
		connected  bool
		sent       = u.acked()
		lastAcked  = sent
		deadline   time.Time // resend from acked+1 if no ack progress by then (real time)
		lastResend time.Time
		lastHole   uint64 // the hole resendHole last sent, and when
		lastHoleAt time.Time
		backoff    = 1 // multiplier of AckTimeout while the bureau stays silent
		timer      = time.NewTimer(time.Hour)
		// probing: the bureau went silent, so only the first record it
		// lacks is sent again, not a window of duplicates for the broker
		// to queue; the window opens when the bureau acks.
		probing bool
	)
	defer timer.Stop()

	resend := func(why string) {
		acked := u.acked()
		u.log.Info("uplink: sending again", "from_seq", acked+1, "sent_seq", sent, "why", why)
		sent, lastResend = acked, time.Now()
		u.mu.Lock()
		u.st.Resends++
		u.st.SentSeq = sent
		u.mu.Unlock()
	}

	for {
		appended := u.ob.Appended()
		acked, head := u.acked(), u.ob.Head()
		if acked > lastAcked { // the bureau moved forward: it is alive
			lastAcked, backoff, probing = acked, 1, false
			deadline = time.Now().Add(u.ackTimeout)
		}
		if sent < acked { // acks can outrun sends, e.g. after a restart
			sent = acked
		}
		limit := min(head, acked+uint64(u.window))
		if probing {
			limit = min(head, acked+1)
		}
		if u.sendLimit != nil {
			limit = min(limit, max(acked, u.sendLimit()))
		}

		var timeout <-chan time.Time
		if sent > acked {
			timer.Reset(time.Until(deadline))
			timeout = timer.C
		}
		var work <-chan struct{}
		if connected && sent < limit {
			work = ready // do not block: there is something to send
		}

		select {
		case <-ctx.Done():
			return
		case <-u.connSig:
			connected, backoff = true, 1
			u.publishStatus(c, feed.StateOnline)
			if sent > acked {
				resend("reconnected")
				deadline = time.Now().Add(u.ackTimeout)
			}
		case <-u.ackSig:
			u.mu.Lock()
			stale, hole := u.staleUpto, u.hole
			u.staleUpto, u.hole.from, u.hole.to = 0, 0, 0
			u.mu.Unlock()
			cur := u.acked()
			// The bureau holds what follows a hole in what was sent: the
			// hole was lost on its way (a receiver went away with it), or
			// is still on its way to another receiver. Send the hole
			// alone, once in a while for the same hole; the stream goes on
			// where it was.
			if hole.from == cur+1 && hole.to <= sent && (hole.from != lastHole || time.Since(lastHoleAt) > u.ackTimeout/5) {
				lastHole, lastHoleAt = hole.from, time.Now()
				if !u.resendHole(ctx, c, hole.from, min(hole.to, cur+uint64(u.window))) {
					connected = false
				}
				deadline = time.Now().Add(u.ackTimeout)
				break
			}
			// The bureau saying again that it has exactly what we know it
			// has, while records are out, and nothing beyond, means it
			// lost them: send again at once, but not in a storm (the
			// duplicates bring more such acks).
			if stale == cur+1 && sent > cur && time.Since(lastResend) > u.ackTimeout/5 {
				if cur > lastAcked {
					lastAcked, backoff = cur, 1
				}
				probing = false // it answers
				resend("repeated ack")
				deadline = time.Now().Add(u.ackTimeout)
			}
		case <-appended:
		case <-u.limitSig:
		case <-timeout:
			if sent > lastAcked && u.acked() == lastAcked {
				resend("ack timeout")
				probing = true
				backoff = min(2*backoff, maxBackoff)
				wait := time.Duration(backoff) * u.ackTimeout
				deadline = time.Now().Add(wait/2 + rand.N(wait/2+1)) // jitter: tills do not resend in step
			}
		case <-work:
			if sent == acked {
				deadline = time.Now().Add(u.ackTimeout) // a new round: the clock starts now
			}
			var ok bool
			sent, ok = u.send(ctx, c, sent, min(int(limit-sent), chunk))
			if !ok {
				connected = false // until the next connection comes up
			}
		}
	}
}

// ready is always ready to receive.
var ready = func() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// resendHole publishes records from..to again, leaving the send position
// where it is; it is false when the connection is down.
func (u *Uplink) resendHole(ctx context.Context, c publisher, from, to uint64) bool {
	u.log.Info("uplink: sending a hole again", "from_seq", from, "to_seq", to)
	u.mu.Lock()
	u.st.HoleResends++
	u.mu.Unlock()
	_, ok := u.publish(ctx, c, from-1, int(to-from+1))
	return ok
}

// send publishes up to n records after seq sent and returns the new send
// position; ok is false when the connection is down.
func (u *Uplink) send(ctx context.Context, c publisher, sent uint64, n int) (uint64, bool) {
	sent, ok := u.publish(ctx, c, sent, n)
	u.mu.Lock()
	u.st.SentSeq = sent
	u.mu.Unlock()
	return sent, ok
}

// publish publishes up to n records after seq sent and returns the seq of
// the last one published; ok is false when the connection is down.
func (u *Uplink) publish(ctx context.Context, c publisher, sent uint64, n int) (uint64, bool) {
	// A failure here is the ledger's (disk, corruption): pause, so the loop
	// does not spin on it, and try again.
	pause := func(msg string, args ...any) (uint64, bool) {
		u.log.Error(msg, args...)
		select {
		case <-ctx.Done():
		case <-time.After(retryOnFailure):
		}
		return sent, true
	}
	entries, err := u.ob.Pending(sent, n)
	if err != nil {
		return pause("uplink: read outbox", "after_seq", sent, "err", err)
	}
	if len(entries) == 0 {
		return pause("uplink: outbox has nothing after seq below head", "after_seq", sent, "head_seq", u.ob.Head())
	}
	for _, e := range entries {
		if e.Seq != sent+1 {
			return pause("uplink: outbox out of order", "want_seq", sent+1, "got_seq", e.Seq)
		}
		payload, err := feed.Seal(e.Rec, e.Sig)
		if err != nil {
			return pause("uplink: seal record", "seq", e.Seq, "err", err)
		}
		tok := c.Publish(mqttclient.Message{Topic: u.txTopic, Payload: payload, QoS: 1})
		// Only a local failure is known at once; a PUBACK would prove nothing.
		if err := tok.Wait(0); errors.Is(err, mqttclient.ErrNotConnected) || errors.Is(err, mqttclient.ErrClosed) {
			return sent, false
		}
		sent = e.Seq
	}
	return sent, true
}

// handleAck takes one ack payload from the bureau. It runs on the MQTT
// client's receiving goroutine, so it only checks and notes the ack; the
// applier writes it to the ledger, once for however many came in.
func (u *Uplink) handleAck(payload []byte) {
	defer signal(u.ackSig)
	a, err := feed.ParseAck(payload)
	if err != nil {
		u.refuse(AckRefusal{Kind: AckForged, Detail: fmt.Sprintf("not an ack (%d bytes): %v", len(payload), err)})
		return
	}
	if r := u.check(a); r != nil {
		u.refuse(*r)
		return
	}
	at, _ := time.Parse(time.RFC3339, a.At) // ParseAck has checked it; zero if none
	u.mu.Lock()
	acked := max(u.bureauAck, u.ob.Acked())
	if a.WaitingFrom > 0 && a.UptoSeq >= acked {
		u.hole.from, u.hole.to = a.UptoSeq+1, a.WaitingFrom-1
	}
	if a.UptoSeq <= acked {
		u.staleUpto = a.UptoSeq + 1
		regressed := a.UptoSeq < acked && !at.IsZero() && at.After(u.ackAt.Add(regressSkew))
		u.mu.Unlock()
		if regressed {
			u.refuse(AckRefusal{Kind: AckRegressed, UptoSeq: a.UptoSeq, Detail: fmt.Sprintf(
				"the bureau acknowledges up to %d at %s, after it had acknowledged %d: it lost records, or this till's ledger was rolled back",
				a.UptoSeq, a.At, acked)})
		}
		return
	}
	u.bureauAck = a.UptoSeq
	if at.After(u.ackAt) {
		u.ackAt = at
	}
	u.st.LastAck = u.now()
	progress := u.regressed
	u.regressed = false
	u.mu.Unlock()
	signal(u.applySig)
	if progress && u.onProgress != nil {
		u.onProgress()
	}
}

// check returns why a (well formed) must be refused, or nil: whether it is
// the bureau's, for this till, and about the till's own record.
func (u *Uplink) check(a feed.Ack) *AckRefusal {
	forged := func(why string) *AckRefusal {
		return &AckRefusal{Kind: AckForged, UptoSeq: a.UptoSeq, Detail: "ack up to " + strconv.FormatUint(a.UptoSeq, 10) + ": " + why}
	}
	switch {
	case u.bureauKey != nil && a.Sig == "":
		return forged("unsigned, and this till takes only acks signed with the bureau key")
	case u.bureauKey != nil && !a.Verify(u.bureauKey):
		return forged("its signature does not verify with the bureau key")
	case (u.bureauKey != nil || a.Pharmacy != "" || a.Till != "") && (a.Pharmacy != u.pharmacy || a.Till != u.till):
		return forged(fmt.Sprintf("it names till %.40q/%.40q", a.Pharmacy, a.Till))
	case u.bureauKey != nil && a.UptoSeq > 0 && a.Hash == "":
		return forged("it carries no record hash")
	}
	if head := u.ob.Head(); a.UptoSeq > head {
		return &AckRefusal{Kind: AckMismatch, UptoSeq: a.UptoSeq, Detail: fmt.Sprintf(
			"the bureau acknowledges up to %d, beyond this till's last record %d: was the ledger restored from an old backup?", a.UptoSeq, head)}
	}
	if a.Hash == "" || a.UptoSeq <= u.acked() {
		return nil // a stale ack clears nothing; its record may be pruned
	}
	e, err := u.ob.Get(a.UptoSeq)
	if err != nil {
		u.log.Error("uplink: read the record an ack names", "seq", a.UptoSeq, "err", err)
		return &AckRefusal{Kind: AckMismatch, UptoSeq: a.UptoSeq, Detail: fmt.Sprintf("record %d cannot be read to check the ack: %v", a.UptoSeq, err)}
	}
	if h := feed.Hash(e.Rec); h != a.Hash {
		return &AckRefusal{Kind: AckMismatch, UptoSeq: a.UptoSeq, Detail: fmt.Sprintf(
			"the bureau holds other bytes (%.12s…) for record %d than this till (%.12s…): the records after the bureau's stay in the outbox", a.Hash, a.UptoSeq, h)}
	}
	return nil
}

// refuse counts, logs and reports a refused ack.
func (u *Uplink) refuse(r AckRefusal) {
	u.mu.Lock()
	switch r.Kind {
	case AckForged:
		u.st.ForgedAcks++
	case AckMismatch:
		u.st.MismatchedAcks++
	case AckRegressed:
		u.st.RegressedAcks++
		u.regressed = true
	}
	u.mu.Unlock()
	u.log.Warn("uplink: ack refused", "kind", r.Kind, "upto_seq", r.UptoSeq, "detail", r.Detail)
	if u.onRefused != nil {
		u.onRefused(r)
	}
}

// acked is the highest seq the bureau has acknowledged, written to the
// ledger or about to be.
func (u *Uplink) acked() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return max(u.bureauAck, u.ob.Acked())
}

// applyAcks writes the bureau's latest ack to the ledger.
func (u *Uplink) applyAcks() {
	u.mu.Lock()
	upto := u.bureauAck
	u.mu.Unlock()
	if upto <= u.ob.Acked() {
		return
	}
	err := u.ob.Ack(upto)
	switch {
	case errors.Is(err, ledger.ErrAckBeyondHead):
		u.refuse(AckRefusal{Kind: AckMismatch, UptoSeq: upto, Detail: err.Error()})
		u.mu.Lock()
		if u.bureauAck == upto { // not the bureau's word after all
			u.bureauAck = 0
		}
		u.mu.Unlock()
	case err != nil:
		// The bureau has the records; the next ack writes them off.
		u.log.Error("uplink: record ack in ledger", "upto_seq", upto, "err", err)
	}
	u.mu.Lock()
	u.st.AckedSeq = u.ob.Acked()
	u.mu.Unlock()
}

func (u *Uplink) setConnected(v bool) {
	u.mu.Lock()
	u.st.Connected = v
	u.mu.Unlock()
}

// status is the retained status payload: the head and the hash of its
// record, signed when the uplink has the till's key.
func (u *Uplink) status(state string) []byte {
	st := feed.Status{State: state, HeadSeq: u.ob.Head(), AckedSeq: u.ob.Acked(), At: u.now().Format(time.RFC3339)}
	if st.HeadSeq > 0 {
		e, err := u.ob.Get(st.HeadSeq)
		if err != nil {
			u.log.Error("uplink: read the head for the status", "head_seq", st.HeadSeq, "err", err)
		} else {
			st.HeadHash = feed.Hash(e.Rec)
		}
	}
	if u.statusKey != nil {
		st = feed.SignStatus(st, u.pharmacy, u.till, u.statusKey)
	}
	b, _ := json.Marshal(st)
	return b
}

// publishStatus sends the retained status without waiting: a lost status
// is repaired by the next connection, and the will covers a dead one.
func (u *Uplink) publishStatus(c publisher, state string) {
	c.Publish(mqttclient.Message{Topic: u.statusTopic, Payload: u.status(state), QoS: 1, Retained: true})
}

// signal wakes the loop without blocking; one pending wake-up is enough.
// Recheck tells the loop to read SendLimit again: records it held back
// may be sendable now.
func (u *Uplink) Recheck() { signal(u.limitSig) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
