package session

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Where a return's money goes (docs/rules.md, cash_refund).
const (
	RefundFund = "fund" // back to the insurance fund (and cash-paid lines back as cash)
	RefundCash = "cash" // all as cash: refused for lines insurance paid
)

// ReturnLine is goods brought back from one sale: packs of a barcode and
// the traceability codes of the boxes.
type ReturnLine struct {
	Barcode string
	Qty     int
	Traces  []string
}

// ReturnRequest is one return against one earlier sale of this till.
type ReturnRequest struct {
	SaleID  string
	Lines   []ReturnLine
	Refund  string // RefundFund or RefundCash
	Cashier string
}

// Return records goods brought back. Each line is taken from what is left
// of the sale's lines with that barcode; each trace code must be one the
// sale sold and not yet returned. Policy decides the refund per line: an
// insurance-paid line refunded as cash is refused (ErrRefused, recorded as
// a blocked attempt). Otherwise a return record (kind return, ref the sale)
// is on disk when Return succeeds; its trace codes may be sold again and
// the card's days on hand shrink.
func (s *Session) Return(req ReturnRequest) (Receipt, error) {
	if err := checkReturn(&req); err != nil {
		return Receipt{}, err
	}
	if s.cfg.Index == nil {
		return Receipt{}, problemf(ErrNotFound, "sale %.80q not found (no ledger index)", req.SaleID)
	}
	s.mu.Lock()
	s.cashier = strings.TrimSpace(req.Cashier)
	s.mu.Unlock()
	s.retMu.Lock()
	defer s.retMu.Unlock()
	sale, err := s.cfg.Index.Sale(req.SaleID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return Receipt{}, problemf(ErrNotFound, "sale %.80q not found", req.SaleID)
	case err != nil:
		return Receipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	case sale.Record.Kind != feed.KindSale:
		return Receipt{}, problemf(ErrNotFound, "%.80q is no sale", req.SaleID)
	}
	lines, err := returnLines(&sale, req.Lines)
	if err != nil {
		return Receipt{}, err
	}
	r := &feed.Record{
		Pharmacy: s.cfg.Pharmacy, Till: s.cfg.Till, Kind: feed.KindReturn,
		At: s.cfg.Now().Format(time.RFC3339), Ref: sale.Record.ID,
		Card: sale.Record.Card, Cashier: strings.TrimSpace(req.Cashier),
		Payment: &feed.Payment{Method: req.Refund},
	}
	var refused []string
	for i := range lines {
		d := policy.DecideReturn(policy.Return{PaidBy: paidBy(lines[i].Pay), RefundTo: req.Refund})
		lines[i].Decision, lines[i].Rule = string(d.Verdict), string(d.Rule)
		lines[i].ReasonZH, lines[i].ReasonEN = d.ReasonZH, d.ReasonEN
		if d.Verdict == policy.Block {
			refused = append(refused, lines[i].Barcode+": "+d.ReasonZH+" / "+d.ReasonEN)
		}
		if lines[i].Pay == PayInsurance {
			r.Payment.InsuranceFen += lines[i].PriceFen
		} else {
			r.Payment.CashFen += lines[i].PriceFen
		}
	}
	r.Lines = lines
	if len(refused) > 0 {
		r.Kind = feed.KindBlocked // the attempt, for the bureau and the owner
		if _, err := s.cfg.Ledger.Append(r); err != nil {
			s.cfg.Log.Error("session: record refused return", "sale", sale.Record.ID, "err", err)
		}
		return Receipt{}, problemf(ErrRefused, "%s", strings.Join(refused, "; "))
	}
	e, err := s.cfg.Ledger.Append(r)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	}
	return Receipt{ID: r.ID, Seq: e.Seq}, nil
}

// checkReturn says what is wrong with the request itself, or nil.
func checkReturn(req *ReturnRequest) error {
	switch {
	case req.Refund != RefundFund && req.Refund != RefundCash:
		return problemf(ErrBadRefund, "refund %.40q, want %q or %q", req.Refund, RefundFund, RefundCash)
	case req.SaleID == "":
		return problemf(ErrSaleRequired, "a return needs the sale id")
	case len(req.Lines) == 0:
		return problemf(ErrLinesRequired, "a return needs at least one line")
	}
	for i, l := range req.Lines {
		switch {
		case l.Barcode == "":
			return problemf(ErrBadBarcode, "line %d has no barcode", i)
		case l.Qty < 1 || l.Qty > maxManualQty:
			return problemf(ErrBadQty, "line %d qty %d, want 1–%d", i, l.Qty, maxManualQty)
		}
	}
	if strings.TrimSpace(req.Cashier) == "" {
		return problemf(ErrCashierRequired, "a return needs the cashier's id")
	}
	return nil
}

// paidBy is how policy names the way a sold line was paid.
func paidBy(pay string) string {
	if pay == PayInsurance {
		return PayInsurance
	}
	return PayCash
}

// returnLines takes each asked line from the sale, one record line per
// sale line it comes from, each with its share of the price and days.
func returnLines(sale *ledger.Sale, asked []ReturnLine) ([]feed.Line, error) {
	var out []feed.Line
	seen := map[string]bool{}
	for _, a := range asked {
		portions, ok := sale.Take(a.Barcode, a.Qty)
		if !ok {
			return nil, problemf(ErrReturnTooMany, "sale %s has fewer than %d packs of %.40q left to return", sale.Record.ID, a.Qty, a.Barcode)
		}
		first := len(out)
		for _, p := range portions {
			sl := sale.Record.Lines[p.Line]
			rl := feed.Line{
				Barcode: sl.Barcode, MedListCodg: sl.MedListCodg, Name: sl.Name, Qty: p.Qty,
				RxFlag: sl.RxFlag, RxRef: sl.RxRef, Pay: sl.Pay,
			}
			returnedLine(&rl, sale.Record.ID, p.Line, sl)
			if sl.Qty > 0 {
				rl.PriceFen = sl.PriceFen * int64(p.Qty) / int64(sl.Qty)
				rl.Days = sl.Days * p.Qty / sl.Qty
			}
			out = append(out, rl)
		}
		if len(a.Traces) > a.Qty {
			return nil, problemf(ErrTraceNotInSale, "%d trace codes for %d packs of %.40q", len(a.Traces), a.Qty, a.Barcode)
		}
		for _, t := range a.Traces {
			if seen[t] || !slices.Contains(sale.OpenTraces, t) {
				return nil, problemf(ErrTraceNotInSale, "trace code %.40q is not an unreturned box of sale %s", t, sale.Record.ID)
			}
			seen[t] = true
			// The box goes on the portion from the sale line that sold it.
			at := -1
			for i, p := range portions {
				if slices.Contains(sale.Record.Lines[p.Line].DrugTracCodg, t) {
					at = first + i
				}
			}
			if at < 0 {
				return nil, problemf(ErrTraceNotInSale, "trace code %.40q was not sold as %.40q", t, a.Barcode)
			}
			out[at].DrugTracCodg = append(out[at].DrugTracCodg, t)
		}
	}
	return out, nil
}
