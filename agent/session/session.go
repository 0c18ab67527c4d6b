package session

import (
	"errors"
	"fmt"
	"log/slog"
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

// Errors the caller branches on. ErrConflict covers every reason a session
// cannot be checked out as asked; ErrPersist means the ledger refused the
// record and nothing was sold.
var (
	ErrConflict = errors.New("session: cannot check out")
	ErrPersist  = errors.New("session: ledger cannot persist")
)

// Appender stores a record durably and assigns its seq.
type Appender interface {
	Append(r *feed.Record) (ledger.Entry, error)
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
	Limits         policy.Limits
	Ledger         Appender
	History        *History
	Now            func() time.Time
	Log            *slog.Logger
	Beep           func(n int) // audible feedback; nil = silent
	OnChange       func()      // after every change, for live screens; must not block
}

// Session is the one open customer session of a till. It is safe for
// concurrent use: device goroutines and HTTP handlers share it.
type Session struct {
	cfg Config

	mu      sync.Mutex
	card    *Card
	present bool // card in the reader (a voucher counts as present)
	lines   []*line
	rxRef   string
	notice  *Notice
}

type line struct {
	barcode string
	item    *policy.Item // nil: not in the catalogue
	qty     int
	traces  []string
	dec     policy.Decision
	logged  bool // a blocked/held record was written for the current decision
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
	if cfg.History == nil {
		cfg.History = NewHistory()
	}
	return &Session{cfg: cfg}
}

// CardRead puts the buyer's card on the session. A different card than the
// one already there re-decides every line for the new buyer.
func (s *Session) CardRead(c Card) {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	same := s.card != nil && s.card.No == c.No && s.card.Type == c.Type
	s.card, s.present, s.notice = &c, true, nil
	if !same {
		s.redecide()
	}
}

// CardRemoved suspends insurance payment; the basket stays until the card
// is back, or the cashier checks out for cash or voids.
func (s *Session) CardRemoved() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	if s.card == nil || s.card.Type != feed.CardSSC {
		return
	}
	s.present = false
	s.notice = &Notice{ZH: "医保卡已拔出，医保支付暂停", EN: "Card removed: insurance payment suspended"}
}

// CardError tells the cashier a card could not be read.
func (s *Session) CardError() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = &Notice{ZH: "读卡失败，请重新插卡", EN: "Card read failed: insert the card again"}
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
		s.rxRef = c.Rx
		s.notice = &Notice{ZH: "已录入处方 " + c.Rx, EN: "Prescription " + c.Rx + " entered"}
	case scanner.KindVoucher:
		// The voucher is an opaque token only the bureau can resolve; it
		// identifies the buyer for this sale.
		s.card, s.present = &Card{Type: feed.CardVoucher, No: c.Data}, true
		s.redecide()
	case scanner.KindTrace:
		it, ok := s.cfg.Catalog.ByTrace(c.Trace)
		barcode := ""
		if ok {
			barcode = it.Barcode
		}
		s.addBox(barcode, itemOrNil(it, ok), c.Trace)
	default:
		if c.Product == "" {
			s.notice = &Notice{ZH: "无法识别的条码，请重新扫描", EN: "Unreadable code: scan again"}
			return
		}
		it, ok := s.cfg.Catalog.Lookup(c.Product)
		s.addBox(c.Product, itemOrNil(it, ok), "")
	}
}

func itemOrNil(it policy.Item, ok bool) *policy.Item {
	if !ok {
		return nil
	}
	return &it
}

// addBox adds one pack: to the allowed line of the same product if there is
// one and policy still allows the larger quantity, else as a line of its own.
func (s *Session) addBox(barcode string, it *policy.Item, trace string) {
	if trace != "" {
		for _, l := range s.lines {
			for _, t := range l.traces {
				if t == trace {
					s.notice = &Notice{ZH: "该追溯码已扫描", EN: "This traceability code was already scanned"}
					return
				}
			}
		}
	}
	now := s.cfg.Now()
	for i, l := range s.lines {
		if l.barcode != barcode || l.dec.Verdict != policy.Allow {
			continue
		}
		dec := s.decide(barcode, it, l.qty+1, i, now)
		if dec.Verdict == policy.Allow {
			l.qty++
			l.dec = dec
			if trace != "" {
				l.traces = append(l.traces, trace)
			}
			s.beep(dec)
			return
		}
		break
	}
	l := &line{barcode: barcode, item: it, qty: 1}
	if trace != "" {
		l.traces = []string{trace}
	}
	l.dec = s.decide(barcode, it, 1, len(s.lines), now)
	s.lines = append(s.lines, l)
	s.record(l)
	s.beep(l.dec)
}

// decide asks policy about qty packs of it, counting the card's history and
// the allowed lines before position upto in the basket.
func (s *Session) decide(barcode string, it *policy.Item, qty, upto int, now time.Time) policy.Decision {
	var hist []policy.Purchase
	if s.card != nil {
		hist = s.cfg.History.Purchases(s.card.No)
		for _, l := range s.lines[:upto] {
			if l.dec.Verdict == policy.Allow && l.item != nil && l.dec.Days > 0 {
				hist = append(hist, policy.Purchase{Generic: l.item.Generic(), Days: l.dec.Days, At: now})
			}
		}
	}
	return policy.Decide(policy.Scan{Barcode: barcode, Item: it, Qty: qty}, hist, s.cfg.Limits, now)
}

func (s *Session) redecide() {
	now := s.cfg.Now()
	for i, l := range s.lines {
		dec := s.decide(l.barcode, l.item, l.qty, i, now)
		if dec.Verdict != l.dec.Verdict || dec.Rule != l.dec.Rule {
			l.logged = false
		}
		l.dec = dec
		s.record(l)
	}
}

// record writes a blocked or held decision to the ledger once. A failure
// does not weaken the block; it is logged, and checkout will refuse
// insurance sales while the ledger cannot persist.
func (s *Session) record(l *line) {
	if l.logged || (l.dec.Verdict != policy.Block && l.dec.Verdict != policy.Hold) {
		return
	}
	r := s.newRecord(feed.KindBlocked)
	r.Lines = []feed.Line{s.feedLine(l, "")}
	if _, err := s.cfg.Ledger.Append(r); err != nil {
		s.cfg.Log.Error("session: record blocked attempt", "rule", l.dec.Rule, "err", err)
		return
	}
	l.logged = true
}

func (s *Session) beep(d policy.Decision) {
	if s.cfg.Beep == nil {
		return
	}
	if d.Verdict == policy.Allow || d.Verdict == policy.Flag {
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
		r.Card = &feed.Card{Type: s.card.Type, No: s.card.No, Region: s.card.Region, Name: MaskName(s.card.Name)}
	}
	return r
}

func (s *Session) feedLine(l *line, pay string) feed.Line {
	fl := feed.Line{
		Barcode:      l.barcode,
		Qty:          l.qty,
		Days:         l.dec.Days,
		DrugTracCodg: l.traces,
		Decision:     string(l.dec.Verdict),
		Rule:         string(l.dec.Rule),
		ReasonZH:     l.dec.ReasonZH,
		ReasonEN:     l.dec.ReasonEN,
		Pay:          pay,
	}
	if l.item != nil {
		fl.MedListCodg = l.item.MedListCodg
		fl.Name = l.item.Name
		fl.PriceFen = l.item.PriceFen * int64(l.qty)
		fl.RxFlag = l.item.Rx
		if l.item.Rx {
			fl.RxRef = s.rxRef
		}
	}
	return fl
}

// Receipt identifies a committed sale.
type Receipt struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

// Checkout commits the sale and closes the session. Insurance pays only
// for allowed and flagged lines; blocked lines are sold for cash with
// "split" or "cash", and left out of an insurance-only checkout. The sale is
// on disk when Checkout returns without error.
func (s *Session) Checkout(method, cashier string) (Receipt, error) {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	if len(s.lines) == 0 {
		return Receipt{}, fmt.Errorf("%w: the basket is empty", ErrConflict)
	}
	for _, l := range s.lines {
		if l.dec.Verdict == policy.Hold {
			return Receipt{}, fmt.Errorf("%w: %s awaits the pharmacist", ErrConflict, l.barcode)
		}
	}
	insurance := method == PayInsurance || method == PaySplit
	switch {
	case method != PayInsurance && method != PayCash && method != PaySplit:
		return Receipt{}, fmt.Errorf("%w: unknown payment method %q", ErrConflict, method)
	case insurance && (s.card == nil || !s.present):
		return Receipt{}, fmt.Errorf("%w: insurance needs the card in the reader", ErrConflict)
	}
	r := s.newRecord(feed.KindSale)
	r.Cashier = cashier
	r.Payment = &feed.Payment{Method: method}
	for _, l := range s.lines {
		pay := PayCash
		if insurance && l.dec.Verdict != policy.Block {
			pay = PayInsurance
		}
		if method == PayInsurance && pay == PayCash {
			continue // a blocked item does not enter the insurance sale
		}
		fl := s.feedLine(l, pay)
		r.Lines = append(r.Lines, fl)
		if pay == PayInsurance {
			r.Payment.InsuranceFen += fl.PriceFen
		} else {
			r.Payment.CashFen += fl.PriceFen
		}
	}
	if len(r.Lines) == 0 {
		return Receipt{}, fmt.Errorf("%w: nothing in the basket can be paid by insurance", ErrConflict)
	}
	e, err := s.cfg.Ledger.Append(r)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	}
	s.cfg.History.Add(*r)
	s.reset()
	return Receipt{ID: r.ID, Seq: e.Seq}, nil
}

// Void drops the basket and the card. Blocked attempts stay recorded.
func (s *Session) Void() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.reset()
}

func (s *Session) reset() {
	s.card, s.present, s.lines, s.rxRef, s.notice = nil, false, nil, "", nil
}

func (s *Session) changed() {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}
