package session

import (
	"fmt"
	"strings"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// Sale is a committed sale as the checkout answers it (POST
// /api/session/checkout): what was charged to whom, and which lines of the
// basket the sale left out, so that none vanishes unsaid.
type Sale struct {
	ID       string     `json:"id"`
	Seq      uint64     `json:"seq"`
	Payment  string     `json:"payment"`
	Totals   Totals     `json:"totals"`
	Lines    []SaleLine `json:"lines"`
	Excluded []Excluded `json:"excluded"`
	// Settlement is the POS's settlement as the sale record keeps it;
	// absent when the checkout brought none.
	Settlement *feed.Settlement `json:"settlement,omitempty"`
}

// SaleLine is one line of the sale and who pays it. PriceFen is the
// price of the whole line, all its packs, as in the sale record.
type SaleLine struct {
	Barcode     string `json:"barcode"`
	MedListCodg string `json:"med_list_codg"`
	Name        string `json:"name"`
	Qty         int    `json:"qty"`
	PriceFen    int64  `json:"price_fen"`
	Payer       string `json:"payer"` // PayInsurance or PayCash
}

// Excluded is a line of the basket the sale left out, and the decision
// that kept it out.
type Excluded struct {
	Barcode  string `json:"barcode"`
	Name     string `json:"name"`
	Qty      int    `json:"qty"`
	Rule     string `json:"rule"`
	ReasonZH string `json:"reason_zh"`
	ReasonEN string `json:"reason_en"`
}

// Checkout commits the sale and ends the basket; a card still in the
// reader stays for the next sale. cashier names who sells (required).
//
// Held lines not released by a pharmacist stop every checkout. Insurance
// pays the allowed and flagged lines and the released holds; a blocked line
// is paid in cash with "split" and "cash", and left out of an
// insurance-only checkout (it is in Sale.Excluded). "cash" puts every line
// on cash. Insurance and split need the buyer's card in the reader and no
// card change waiting. The sale is on disk when Checkout returns without
// error.
func (s *Session) Checkout(method, cashier string) (Sale, error) {
	return s.CheckoutSettled(method, cashier, nil)
}

// CheckoutSettled is Checkout with the POS's settlement of the sale with
// the national platform, kept in the sale record for the 3505 upload; nil
// is none yet (Settle attaches one later). A settlement is checked before
// anything is sold (ErrBadSettlement).
func (s *Session) CheckoutSettled(method, cashier string, st *feed.Settlement) (Sale, error) {
	if method != PayInsurance && method != PayCash && method != PaySplit {
		return Sale{}, problemf(ErrBadPayment, "payment %.40q: want %q, %q or %q", method, PayInsurance, PayCash, PaySplit)
	}
	cashier = strings.TrimSpace(cashier)
	if cashier == "" {
		return Sale{}, problemf(ErrCashierRequired, "a sale needs the cashier's id")
	}
	if st != nil {
		if err := checkSettlement(method, st); err != nil {
			return Sale{}, err
		}
		st = new(*st) // the caller's copy stays the caller's
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.cashier = cashier
	if err := s.canCheckout(method); err != nil {
		return Sale{}, err
	}
	r, sale := s.saleRecord(method, cashier)
	r.Settlement, sale.Settlement = st, st
	r.PharName, r.PharPracCertNo = s.pharmacistOnDuty()
	if len(r.Lines) == 0 {
		return Sale{}, problemf(ErrNothingInsurable, "every line is blocked for insurance: pay by split or cash")
	}
	e, err := s.cfg.Ledger.Append(r)
	if err != nil {
		return Sale{}, fmt.Errorf("%w: %w", ErrPersist, err)
	}
	sale.ID, sale.Seq = r.ID, e.Seq
	s.endSale()
	return sale, nil
}

// canCheckout says why the basket cannot be sold by method now, or nil.
func (s *Session) canCheckout(method string) error {
	if len(s.lines) == 0 {
		return problemf(ErrEmptyBasket, "the basket is empty")
	}
	for i, l := range s.lines {
		if l.dec.Verdict == policy.Hold && !l.overridden {
			return problemf(ErrHeldLines, "line %d (%s) awaits the pharmacist (%s)", i, l.barcode, l.dec.Rule)
		}
	}
	if method == PayCash {
		return nil
	}
	switch {
	case s.pending != nil:
		return problemf(ErrCardChanged, "another card was read: confirm the basket is the new holder's, or void it")
	case s.card == nil || !s.present:
		return problemf(ErrCardRequired, "insurance needs the card in the reader")
	}
	return nil
}

// saleRecord is the sale of the basket by method and what the answer says
// of it.
func (s *Session) saleRecord(method, cashier string) (*feed.Record, Sale) {
	r := s.newRecord(feed.KindSale)
	r.Cashier = cashier
	r.Payment = &feed.Payment{Method: method}
	sale := Sale{Payment: method, Lines: []SaleLine{}, Excluded: []Excluded{}}
	for _, l := range s.lines {
		pay := payer(method, l.dec.Verdict)
		if pay == "" {
			sale.Excluded = append(sale.Excluded, excluded(l))
			continue
		}
		fl := s.feedLine(l, pay)
		r.Lines = append(r.Lines, fl)
		sale.Lines = append(sale.Lines, SaleLine{
			Barcode: fl.Barcode, MedListCodg: fl.MedListCodg, Name: fl.Name, Qty: fl.Qty, PriceFen: fl.PriceFen, Payer: pay,
		})
		if pay == PayInsurance {
			r.Payment.InsuranceFen += fl.PriceFen
		} else {
			r.Payment.CashFen += fl.PriceFen
		}
	}
	p := r.Payment
	sale.Totals = Totals{InsuranceFen: p.InsuranceFen, CashFen: p.CashFen, TotalFen: p.InsuranceFen + p.CashFen}
	return r, sale
}

// payer is who pays a line of this verdict (held lines reach here only
// released): "" when the sale leaves it out.
func payer(method string, v policy.Verdict) string {
	switch {
	case method == PayCash:
		return PayCash
	case v != policy.Block:
		return PayInsurance
	case method == PaySplit:
		return PayCash
	}
	return "" // a blocked item does not enter an insurance-only sale
}

func excluded(l *line) Excluded {
	e := Excluded{Barcode: l.barcode, Qty: l.qty, Rule: string(l.dec.Rule), ReasonZH: l.dec.ReasonZH, ReasonEN: l.dec.ReasonEN}
	if l.item != nil {
		e.Name = l.item.Name
	}
	return e
}
