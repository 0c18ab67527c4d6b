package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// alarms holds the conditions the owner must see, one per cause, from
// when they were raised until they clear. Most kinds have one cause, named
// by the kind itself; the ledger has more at once (it cannot persist, its
// chain is broken), each cleared on its own.
//
// The kinds: ledger, disk, policy (policybundle.go), ack_forged,
// ack_mismatch and ack_regressed (uplink), device_card and device_scanner
// (devices.go). Each detail is a sentence for the owner's dashboard and
// the till screen's banner, Chinese first, then English.
type alarms struct {
	now func() time.Time
	mu  sync.Mutex
	set map[string]web.Alarm // by cause
}

// Causes of the ledger alarm besides the kind's own (a write refused, a
// quarantined file).
const causeChain = "ledger/chain"

func (a *alarms) raise(kind, detail string) {
	a.raiseFor(kind, web.Alarm{Kind: kind, Detail: detail})
}

// raiseFor raises al for cause, keeping when the cause was first raised.
func (a *alarms) raiseFor(cause string, al web.Alarm) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.set == nil {
		a.set = make(map[string]web.Alarm)
	}
	al.Since = a.now().Format(time.RFC3339)
	if old, ok := a.set[cause]; ok {
		al.Since = old.Since
	}
	a.set[cause] = al
}

func (a *alarms) clear(cause string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.set, cause)
}

func (a *alarms) list() []web.Alarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	causes := make([]string, 0, len(a.set))
	for c := range a.set {
		causes = append(causes, c)
	}
	sort.Slice(causes, func(i, j int) bool {
		ki, kj := a.set[causes[i]].Kind, a.set[causes[j]].Kind
		if ki != kj {
			return ki < kj
		}
		return causes[i] < causes[j]
	})
	out := make([]web.Alarm, 0, len(causes))
	for _, c := range causes {
		out = append(out, a.set[c])
	}
	return out
}

// DefaultChainCheck is how often the till walks its ledger's chain.
// Walking 100 000 records of ~650 bytes takes about 0.2 s of one amd64
// core (alarms_test.go, BenchmarkChainWalk) and, while it runs, the 8 MiB
// of mapped pages the ledger releases at (internal/boltdb.ReleaseStep)
// and a few MB of garbage, so a check every ten minutes costs the counter
// nothing it would notice.
const DefaultChainCheck = 10 * time.Minute

// chainLedger is what the chain check reads of the ledger.
type chainLedger interface {
	First() uint64
	Head() uint64
	Scan(from uint64, fn func(ledger.Entry) error) error
	PublicKey() ed25519.PublicKey
	Verify() error
}

var _ chainLedger = (*ledger.Ledger)(nil)

// chainCheck walks the ledger's chain at start and every period. A record
// that fails raises the ledger alarm naming it, and the uplink sends
// nothing from it on (sendLimit) until a later walk passes: records the
// bureau lacks stay in the outbox, and the bureau sees a till that has
// stopped at a seq. A head that does not open is ledger.Open's to find
// (quarantine.go); this is for what Open does not read.
//
// The walk checks that each record's bytes carry the hash of its
// predecessor's ("prev"), and the head's signature. That finds any edit
// made without the till's key: an edited record no longer hashes to what
// its successor carries, and an edit that rewrites every successor to
// match must rewrite the head, whose signature then fails. It costs a
// hash per record where ledger.Verify checks a signature per record, 40
// times the time (7.7 s for 100 000 records on one amd64 core); Verify
// is still run where the walk alone cannot tell a rotated key from a
// forged head. Neither can find the head itself cut back to an older
// record: the bureau, which has seen the later ones, does.
type chainCheck struct {
	led    chainLedger
	alarms *alarms
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	state   web.Chain
	badSeq  uint64        // first record that failed the last walk; 0 = none
	headSig [32]byte      // SHA-256 of a head record whose signature Verify passed
	first   chan struct{} // closed when the first walk has ended
	once    sync.Once

	// vouched is, during the first walk, the last record its successor
	// has linked to: what may be sent before the walk ends (sendLimit).
	vouched atomic.Uint64
	// progress, if set, is called when vouched has grown by a good
	// stretch (the uplink's Recheck). Set before the first walk.
	progress func()
}

// vouchEvery is how many records the first walk checks between telling
// the uplink it may send more.
const vouchEvery = 4096

func newChainCheck(led chainLedger, a *alarms, log *slog.Logger, now func() time.Time) *chainCheck {
	return &chainCheck{led: led, alarms: a, log: log, now: now, first: make(chan struct{})}
}

// chainBreak is a record that fails the walk.
type chainBreak struct {
	seq uint64
	why string
}

func (b *chainBreak) Error() string { return fmt.Sprintf("record %d: %s", b.seq, b.why) }

// errWalked ends a Scan at the head the walk started with.
var errWalked = errors.New("agent: chain walked")

// run walks the chain once and raises or clears the alarm. A walk cut
// short by ctx gives no verdict.
func (c *chainCheck) run(ctx context.Context) {
	defer c.once.Do(func() { close(c.first) })
	start := time.Now()
	err := c.walk(ctx)
	took := time.Since(start)
	if ctx.Err() != nil {
		return
	}
	var brk *chainBreak
	if err != nil && !errors.As(err, &brk) {
		// The ledger could not be read (closed at shutdown, an I/O
		// error): no verdict, and a write failing for the same reason
		// raises its own alarm.
		c.log.Error("agent: chain check: cannot read the ledger", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = web.Chain{Checked: c.now().Format(time.RFC3339), OK: brk == nil}
	if brk == nil {
		if c.badSeq != 0 {
			c.log.Info("agent: chain check passes again", "was_bad_seq", c.badSeq)
		}
		c.badSeq = 0
		c.alarms.clear(causeChain)
		c.log.Debug("agent: chain checked", "head_seq", c.led.Head(), "took", took)
		return
	}
	c.state.BadSeq, c.state.Error = brk.seq, brk.Error()
	if c.badSeq != brk.seq {
		c.log.Error("agent: ledger chain broken: the uplink sends nothing from this record on", "bad_seq", brk.seq, "why", brk.why)
	}
	c.badSeq = brk.seq
	c.alarms.raiseFor(causeChain, web.Alarm{
		Kind: "ledger",
		Seq:  brk.seq,
		Detail: fmt.Sprintf("账本第 %d 条记录与链不符（被改动或损坏），自该条起暂停上传，请联系技术支持 / "+
			"ledger record %d fails the chain check (edited or damaged): %s; nothing from seq %d on is sent to the bureau: call support",
			brk.seq, brk.seq, brk.why, brk.seq),
	})
}

// walk checks every record from the first retained one to the head as it
// was when the walk began; records appended meanwhile are the next walk's.
// It returns nil, a *chainBreak, or the error that kept it from reading.
func (c *chainCheck) walk(ctx context.Context) error {
	first, head := c.led.First(), c.led.Head()
	if head == 0 {
		return nil
	}
	want := first
	var prev ledger.Entry
	var link []byte // `"prev":"<hash of prev>"`, as the next record must carry it
	err := c.led.Scan(first, func(e ledger.Entry) error {
		if e.Seq > head {
			return errWalked
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Seq != want {
			return &chainBreak{want, "missing"}
		}
		// A quote inside a JSON string is escaped, so the bytes
		// `"prev":"` occur only as a key, and feed's records have no
		// other key "prev".
		if e.Seq > first && !bytes.Contains(e.Rec, link) {
			return c.badLink(prev, e)
		}
		link = append(append(append(link[:0], `"prev":"`...), feed.Hash(e.Rec)...), '"')
		if e.Seq%vouchEvery == 0 {
			c.vouch(e.Seq - 1)
		}
		prev = e
		want++
		return nil
	})
	if err != nil && !errors.Is(err, errWalked) {
		return err
	}
	if want <= head {
		return &chainBreak{want, "missing"}
	}
	return c.checkHead(prev)
}

// badLink names the record to blame when e does not link to prev: prev
// if its signature fails (its bytes changed), else e (its prev changed).
// A prev signed by a key since rotated is blamed too: the earlier of the
// two is the safer place to stop the uplink.
func (c *chainCheck) badLink(prev, e ledger.Entry) error {
	if ed25519.Verify(c.led.PublicKey(), prev.Rec, prev.Sig) {
		return &chainBreak{e.Seq, fmt.Sprintf("its prev is not the hash of record %d", prev.Seq)}
	}
	return &chainBreak{prev.Seq, fmt.Sprintf("record %d links to other bytes", e.Seq)}
}

// checkHead checks what no successor vouches for: the head's seq and
// signature. A head signed by a key that has since been rotated fails
// against the key in use; ledger.Verify, which knows each record's key,
// decides then, once per head.
func (c *chainCheck) checkHead(h ledger.Entry) error {
	var f struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(h.Rec, &f); err != nil || f.Seq != h.Seq {
		return &chainBreak{h.Seq, "not a record of this seq"}
	}
	if ed25519.Verify(c.led.PublicKey(), h.Rec, h.Sig) {
		return nil
	}
	sum := sha256Of(h.Rec, h.Sig)
	c.mu.Lock()
	known := c.headSig == sum
	c.mu.Unlock()
	if known {
		return nil
	}
	if err := c.led.Verify(); err != nil {
		if errors.Is(err, ledger.ErrCorrupt) {
			return &chainBreak{h.Seq, "bad signature (" + err.Error() + ")"}
		}
		return err
	}
	c.mu.Lock()
	c.headSig = sum
	c.mu.Unlock()
	return nil
}

// sha256Of identifies a stored record: its bytes and signature.
func sha256Of(rec, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(rec)
	h.Write(sig)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// vouch lets the uplink send up to seq while the first walk runs; later
// walks change nothing (their verdict does, at their end).
func (c *chainCheck) vouch(seq uint64) {
	select {
	case <-c.first:
		return
	default:
	}
	c.vouched.Store(seq)
	if c.progress != nil {
		c.progress()
	}
}

// sendLimit is the highest seq the uplink may send: while the first walk
// runs, the records their successors have linked to (an edited record is
// caught before it is sent; a rewrite of every successor is the head
// signature's to catch, at the walk's end, and the bureau's, which checks
// each record's signature); then below the first bad record, or every
// record while the chain is sound. So a large backlog starts to drain as
// soon as the walk has checked its first stretch.
func (c *chainCheck) sendLimit() uint64 {
	select {
	case <-c.first:
	default:
		return c.vouched.Load()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.badSeq == 0 {
		return ^uint64(0)
	}
	return c.badSeq - 1
}

// heldFrom is the first seq the uplink holds back; 0 = none.
func (c *chainCheck) heldFrom() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.badSeq
}

// status is the last walk's result for GET /api/status.
func (c *chainCheck) status() *web.Chain {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	return &st
}
