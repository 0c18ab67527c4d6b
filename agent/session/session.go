package session

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Payment methods at checkout, and how a sold line is paid.
const (
	PayInsurance = "insurance"
	PayCash      = "cash"
	PaySplit     = "split" // insurance for what policy allows, cash for the rest
)

// Appender stores a record durably and assigns its seq.
type Appender interface {
	Append(r *feed.Record) (ledger.Entry, error)
}

// Index is the ledger's history index (sync/ledger): what the rules need
// to know about earlier records, at a cost that does not grow with the
// ledger.
type Index interface {
	History(q ledger.HistoryQuery) (ledger.History, error)
	Sale(id string) (ledger.Sale, error)
}

// Card is the buyer's card as the session needs it. Name and SSN never
// leave the session unmasked.
type Card struct {
	Type    string // feed.CardSSC or feed.CardVoucher
	No      string
	Name    string
	Region  string
	Expires string // YYYY-MM-DD, "" if unknown
}

// Config wires a session.
type Config struct {
	Pharmacy, Till string
	Catalog        *policy.Catalog
	Limits         policy.Limits            // the region's limits in force
	Deny           func(cardNo string) bool // the bureau's deny list; nil = empty
	Ledger         Appender
	Index          Index // nil = no history: every card starts clean (tests of one sale)
	Now            func() time.Time
	Log            *slog.Logger
	Beep           func(n int) // audible feedback; nil = silent
	OnChange       func()      // after every change, for live screens; must not block
	// OnDecision sees every decision and how long it took (metrics);
	// nil = none. It must not block.
	OnDecision func(rule, verdict string, d time.Duration)
}

// Session is the one open customer session of a till. It is safe for
// concurrent use: device goroutines and HTTP handlers share it.
type Session struct {
	cfg Config

	mu      sync.Mutex
	card    *Card // the buyer: the basket is this holder's
	present bool  // the buyer's card in the reader (a voucher counts as present)
	pending *Card // another card read while the basket is open: a change not confirmed (card.go)
	// cashier is the cashier the POS last named (a checkout, a card
	// change, a return): the till has no sign-in for cashiers, so the
	// attempts it records name who was at the till as far as it knows.
	cashier string
	lines   []*line
	rxRef   string
	// prescriber is who wrote the prescription (SetRxFrom); "" unknown.
	prescriber string
	longRx     bool
	notice     *Notice
	// pharmacist is who is on duty (pharmacist.go); nil = nobody. It
	// outlives the basket, not the session.
	pharmacist *Pharmacist

	retMu sync.Mutex // serialises returns: each checks what is left to return
}

type line struct {
	barcode    string
	item       *policy.Item // nil: not in the catalogue
	qty        int
	traces     []string
	manual     bool // keyed in, not scanned
	dec        policy.Decision
	overridden bool   // a pharmacist released the hold
	recID      string // id of the record of the current decision
	logged     bool   // a record was written for the current decision
	lastRec    string // id of the line's last record, of any decision: the next one refers back to it
	batch      batch  // the boxes' lot and dates, from their codes (batch.go)
}

// Notice is the last message for the cashier that is not about a line.
type Notice struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// New returns an idle session.
func New(cfg Config) *Session {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Deny == nil {
		cfg.Deny = func(string) bool { return false }
	}
	return &Session{cfg: cfg}
}

// Unreadable tells the cashier a scan could not be classified; nothing is
// guessed into an item.
func (s *Session) Unreadable() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = &Notice{ZH: "无法识别的条码，请重新扫描", EN: "Unreadable code: scan again"}
}

// Scan takes one classified code from the scanner.
func (s *Session) Scan(c scanner.Code) {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = nil
	switch c.Kind {
	case scanner.KindRx:
		s.setRx(c.Rx, false)
	case scanner.KindVoucher:
		// The voucher is an opaque token only the bureau can resolve; it
		// identifies the buyer for this sale, as a card does.
		s.readCard(&Card{Type: feed.CardVoucher, No: c.Data})
	case scanner.KindTrace:
		it, ok := s.cfg.Catalog.ByTrace(c.Trace)
		barcode := ""
		if ok {
			barcode = it.Barcode
		}
		s.addBox(barcode, itemOrNil(it, ok), c.Trace, batch{})
	default:
		if c.Product == "" {
			s.notice = &Notice{ZH: "无法识别的条码，请重新扫描", EN: "Unreadable code: scan again"}
			return
		}
		it, ok := s.cfg.Catalog.Lookup(c.Product)
		s.addBox(c.Product, itemOrNil(it, ok), "", scanBatch(c))
	}
}

// maxManualQty bounds a keyed-in quantity: a typo, not a sale.
const maxManualQty = 999

// AddManual adds a line keyed in by the cashier instead of scanned
// (docs/rules.md, manual_entry): qty packs of barcode, decided at once. The
// barcode must be one the scanner would read as a product (productCode).
func (s *Session) AddManual(barcode string, qty int) error {
	if qty < 1 || qty > maxManualQty {
		return problemf(ErrBadQty, "qty %d, want 1–%d", qty, maxManualQty)
	}
	barcode, err := productCode(barcode)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = nil
	it, ok := s.cfg.Catalog.Lookup(barcode)
	l := &line{barcode: barcode, item: itemOrNil(it, ok), qty: qty, manual: true}
	l.dec = s.decide(l, l.qty, l.traces, len(s.lines), s.cfg.Now())
	s.lines = append(s.lines, l)
	s.record(l)
	s.beep(l.dec)
	return nil
}

// SetRx enters a prescription reference for this sale by hand or API (the
// scanner's "RX…" codes arrive through Scan), and re-decides the basket:
// prescription drugs held for want of one are released. long marks a long
// prescription (长期处方), which raises the days-supply limit.
func (s *Session) SetRx(ref string, long bool) error { return s.SetRxFrom(ref, long, "") }

// SetRxFrom is SetRx with the prescribing doctor's name, which the sale's
// prescription-drug lines carry for the national upload (prsc_dr_name):
// at most 50 characters, none a control character; "" when not known.
func (s *Session) SetRxFrom(ref string, long bool, prescriber string) error {
	if !validRx(ref) {
		return problemf(ErrBadRx, "prescription reference %.40q: want RX and 6–32 characters 0-9 A-Z", ref)
	}
	prescriber = strings.TrimSpace(prescriber)
	if !personName(prescriber) {
		return problemf(ErrBadPrescriber, "prescriber %.60q: want at most %d characters, no control characters", prescriber, maxPersonNameLen)
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.prescriber = prescriber
	s.setRx(ref, long)
	return nil
}

func (s *Session) setRx(ref string, long bool) {
	s.rxRef, s.longRx = ref, long
	s.notice = &Notice{ZH: "已录入处方 " + ref, EN: "Prescription " + ref + " entered"}
	s.redecide()
}

// validRx is the scanner's rule for a prescription reference
// (docs/devices.md, ]Q1 "RX…"), so a typed one is held to the same.
func validRx(ref string) bool {
	rest, ok := strings.CutPrefix(ref, "RX")
	if !ok || len(rest) < 6 || len(rest) > 32 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if b := rest[i]; !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z') {
			return false
		}
	}
	return true
}

// Override releases a held line on a pharmacist's authority: line is its
// position in View().Lines, from 0. Only a hold can be released; the
// override is a ledger record of its own (kind override, ref the hold's
// record) before the line counts as released. With nobody on duty, the
// pharmacist who releases is put on duty (pharmacist.go).
func (s *Session) Override(line int, pharmacist, reason string) error {
	pharmacist, reason = strings.TrimSpace(pharmacist), strings.TrimSpace(reason)
	switch {
	case pharmacist == "":
		return problemf(ErrPharmacistRequired, "an override needs the pharmacist's id")
	case reason == "":
		return problemf(ErrReasonRequired, "an override needs a reason")
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	if line < 0 || line >= len(s.lines) {
		return problemf(ErrNoLine, "no such line %d: the basket has %d", line, len(s.lines))
	}
	l := s.lines[line]
	switch {
	case l.overridden:
		return problemf(ErrNotOverridable, "line %d is already released", line)
	case !policy.Overridable(l.dec):
		return problemf(ErrNotOverridable, "line %d is %s (%s): only a hold can be released", line, l.dec.Verdict, l.dec.Rule)
	}
	r := s.newRecord(feed.KindOverride)
	fl := s.feedLine(l, "")
	fl.Overridden = true
	r.Lines = []feed.Line{fl}
	r.Pharmacist, r.Reason, r.Ref = pharmacist, reason, l.recID
	if _, err := s.cfg.Ledger.Append(r); err != nil {
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	l.overridden = true
	s.onDutyByOverride(pharmacist)
	s.notice = &Notice{ZH: "药师已放行第 " + strconv.Itoa(line+1) + " 行", EN: "Pharmacist released line " + strconv.Itoa(line+1)}
	// The released line now counts in the basket: later lines may change.
	s.redecide()
	return nil
}

func itemOrNil(it policy.Item, ok bool) *policy.Item {
	if !ok {
		return nil
	}
	return &it
}

// addBox adds one pack: to the scanned line of the same product if there
// is one that goes through and still does with the larger quantity, and
// whose boxes are of the same batch, else as a line of its own.
func (s *Session) addBox(barcode string, it *policy.Item, trace string, b batch) {
	if trace != "" {
		for _, l := range s.lines {
			if slices.Contains(l.traces, trace) {
				s.notice = &Notice{ZH: "该追溯码已扫描", EN: "This traceability code was already scanned"}
				return
			}
		}
	}
	now := s.cfg.Now()
	for i, l := range s.lines {
		if l.barcode != barcode || l.batch != b || l.manual || l.overridden || !passes(l.dec.Verdict) {
			continue
		}
		traces := l.traces
		if trace != "" {
			traces = append(slices.Clip(l.traces), trace)
		}
		dec := s.decide(l, l.qty+1, traces, i, now)
		if passes(dec.Verdict) {
			l.qty++
			l.traces = traces
			s.setDecision(l, dec)
			s.record(l)
			s.beep(dec)
			return
		}
		break
	}
	l := &line{barcode: barcode, item: it, qty: 1, batch: b}
	if trace != "" {
		l.traces = []string{trace}
	}
	l.dec = s.decide(l, 1, l.traces, len(s.lines), now)
	s.lines = append(s.lines, l)
	s.record(l)
	s.beep(l.dec)
}

// passes reports whether a line with this verdict goes on the insurance
// sale without anyone's say.
func passes(v policy.Verdict) bool { return v == policy.Allow || v == policy.Flag }

// counts reports whether a line is part of the sale for the rules that
// look at the rest of the basket: everything but blocked and unreleased
// held lines.
func (l *line) counts() bool {
	return passes(l.dec.Verdict) || l.dec.Verdict == policy.Hold && l.overridden
}

func (l *line) policyLine(qty int, traces []string) policy.Line {
	return policy.Line{Barcode: l.barcode, Item: l.item, Qty: qty, Traces: traces, Manual: l.manual, Expiry: l.batch.expyEnd}
}

// decide asks policy about qty packs of l with these traces, counting the
// card's history from the index and the lines before position upto.
func (s *Session) decide(l *line, qty int, traces []string, upto int, now time.Time) policy.Decision {
	start := time.Now() // OnDecision's latency includes reading the history
	lim := s.cfg.Limits
	q := ledger.HistoryQuery{Traces: traces}
	var card *policy.Card
	if s.card != nil {
		card = &policy.Card{Type: s.card.Type, No: s.card.No, Expires: s.card.Expires}
		q.Card = s.card.No
		q.Since = now.AddDate(0, 0, -(longestDays(lim) + 1))
		if lim.BurstWindow > 0 {
			q.CardsSince = now.Add(-lim.BurstWindow)
		}
	}
	var h policy.History
	if s.cfg.Index != nil {
		got, err := s.cfg.Index.History(q)
		if err != nil {
			s.cfg.Log.Error("session: read history", "err", err)
			return historyUnavailable()
		}
		h = toPolicyHistory(got)
	}
	b := policy.Basket{RxRef: s.rxRef, LongRx: s.longRx, PharmacistOnDuty: s.pharmacist != nil}
	for _, o := range s.lines[:upto] {
		if o.counts() {
			b.Others = append(b.Others, o.policyLine(o.qty, o.traces))
		}
	}
	if s.cfg.OnDecision == nil {
		return policy.Decide(l.policyLine(qty, traces), card, b, h, lim, s.cfg.Deny, now)
	}
	d := policy.Decide(l.policyLine(qty, traces), card, b, h, lim, s.cfg.Deny, now)
	s.cfg.OnDecision(string(d.Rule), string(d.Verdict), time.Since(start))
	return d
}

// longestDays is the longest days-supply window in force: purchases older
// than that have nothing left on hand, so the index is not asked for them.
func longestDays(lim policy.Limits) int {
	return max(lim.AcuteDays, lim.ChronicDays, lim.LongRxDays, 0)
}

// historyUnavailable fails closed: without the card's history the
// days-supply rule cannot be checked, so insurance does not pay.
func historyUnavailable() policy.Decision {
	return policy.Decision{
		Verdict:  policy.Block,
		Rule:     policy.RuleDaysSupply,
		ReasonZH: "无法读取购药记录，不能用医保支付",
		ReasonEN: "Purchase history unavailable: insurance cannot pay",
	}
}

func toPolicyHistory(h ledger.History) policy.History {
	out := policy.History{SoldTraces: h.SoldTraces}
	for _, p := range h.Purchases {
		g := policy.Item{MedListCodg: p.MedListCodg}.Generic()
		out.Purchases = append(out.Purchases, policy.Purchase{Generic: g, Days: p.Days, At: p.At})
	}
	for _, c := range h.RecentCards {
		out.RecentCards = append(out.RecentCards, policy.CardSeen{No: c.No, At: c.At})
	}
	return out
}

// setDecision gives l a new decision. A changed verdict or rule is a new
// decision to record, and ends a pharmacist's release of the old one.
func (s *Session) setDecision(l *line, d policy.Decision) {
	if d.Verdict != l.dec.Verdict || d.Rule != l.dec.Rule {
		l.logged, l.overridden, l.recID = false, false, ""
	}
	l.dec = d
}

func (s *Session) redecide() {
	now := s.cfg.Now()
	for i, l := range s.lines {
		s.setDecision(l, s.decide(l, l.qty, l.traces, i, now))
		s.record(l)
	}
}

// record writes a decision other than allow to the ledger once. A line
// decided again differently refers back to its earlier record (Ref), so
// that readers count the line once (agent/report.Lines). A failure does
// not weaken the decision; it is logged, and checkout will refuse
// insurance sales while the ledger cannot persist.
func (s *Session) record(l *line) {
	if l.logged || l.dec.Verdict == policy.Allow {
		return
	}
	r := s.newRecord(recordKind(l.dec.Verdict))
	r.Lines = []feed.Line{s.feedLine(l, "")}
	r.Ref = l.lastRec
	if _, err := s.cfg.Ledger.Append(r); err != nil {
		s.cfg.Log.Error("session: record decision", "verdict", l.dec.Verdict, "rule", l.dec.Rule, "err", err)
		return
	}
	l.logged, l.recID, l.lastRec = true, r.ID, r.ID
}

// recordKind is the kind of the record of a decision: a flagged line goes
// through, so its record says so rather than calling it blocked.
func recordKind(v policy.Verdict) string {
	if v == policy.Flag {
		return feed.KindFlagged
	}
	return feed.KindBlocked
}

func (s *Session) beep(d policy.Decision) {
	if s.cfg.Beep == nil {
		return
	}
	if passes(d.Verdict) {
		s.cfg.Beep(1)
	} else {
		s.cfg.Beep(3)
	}
}

func (s *Session) newRecord(kind string) *feed.Record {
	r := &feed.Record{
		Pharmacy: s.cfg.Pharmacy,
		Till:     s.cfg.Till,
		Kind:     kind,
		At:       s.cfg.Now().Format(time.RFC3339),
	}
	if s.card != nil {
		r.Card = feedCard(s.card)
	}
	r.Cashier = s.cashier
	return r
}

// feedLine is l as records carry it: the deciding rule, every other
// finding in Flags, and the numbers behind days_supply.
func (s *Session) feedLine(l *line, pay string) feed.Line {
	fl := feed.Line{
		Barcode:      l.barcode,
		Qty:          l.qty,
		Days:         l.dec.Days,
		DaysLimit:    l.dec.Limit,
		DrugTracCodg: l.traces,
		Manual:       l.manual,
		Decision:     string(l.dec.Verdict),
		Rule:         string(l.dec.Rule),
		ReasonZH:     l.dec.ReasonZH,
		ReasonEN:     l.dec.ReasonEN,
		Overridden:   l.overridden,
		Pay:          pay,
	}
	for _, f := range l.dec.Findings {
		if f.Rule != l.dec.Rule && !slices.Contains(fl.Flags, string(f.Rule)) {
			fl.Flags = append(fl.Flags, string(f.Rule))
		}
	}
	if l.item != nil {
		fl.MedListCodg = l.item.MedListCodg
		fl.Name = l.item.Name
		fl.PriceFen = l.item.PriceFen * int64(l.qty)
		fl.RxFlag = l.item.Rx
		if l.item.Rx {
			fl.RxRef, fl.PrscDrName = s.rxRef, s.prescriber
		}
	}
	s.uploadFields(&fl, l)
	return fl
}

// Receipt identifies a committed return.
type Receipt struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

// Void drops the basket; a card still in the reader stays for the next
// sale, and a card change waiting is dropped with the basket. Blocked
// attempts stay recorded.
func (s *Session) Void() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.endSale()
}

func (s *Session) changed() {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}
