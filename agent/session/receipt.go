package session

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/width"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// SaleReceipt is what the POS prints for a sale: every line with who
// pays it and the traceability codes of its boxes (receipts carry them
// since 2026-01-01), and the split between the fund and cash. It is read
// from the sale's record, so a receipt printed again says what was sold.
type SaleReceipt struct {
	ID       string        `json:"id"`
	Seq      uint64        `json:"seq"`
	At       string        `json:"at"`
	Pharmacy string        `json:"pharmacy"`
	Till     string        `json:"till"`
	Cashier  string        `json:"cashier"`
	Card     string        `json:"card,omitempty"` // the card number, cut as on every page
	Payment  string        `json:"payment"`
	Lines    []ReceiptLine `json:"lines"`
	Totals   Totals        `json:"totals"`
}

// ReceiptLine is one line of a receipt; PriceFen is the whole line's.
type ReceiptLine struct {
	Name     string   `json:"name"`
	Barcode  string   `json:"barcode"`
	Qty      int      `json:"qty"`
	PriceFen int64    `json:"price_fen"`
	Payer    string   `json:"payer"`
	Traces   []string `json:"drug_trac_codg,omitempty"`
}

// Receipt reads the receipt of sale saleID from the ledger (ErrNotFound
// when this till made no such sale).
func (s *Session) Receipt(saleID string) (SaleReceipt, error) {
	if s.cfg.Index == nil {
		return SaleReceipt{}, problemf(ErrNotFound, "sale %.80q not found (no ledger index)", saleID)
	}
	sale, err := s.cfg.Index.Sale(saleID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return SaleReceipt{}, problemf(ErrNotFound, "sale %.80q not found", saleID)
	case err != nil:
		return SaleReceipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	case sale.Record.Kind != feed.KindSale:
		return SaleReceipt{}, problemf(ErrNotFound, "%.80q is no sale", saleID)
	}
	r := sale.Record
	rc := SaleReceipt{ID: r.ID, Seq: sale.Seq, At: r.At, Pharmacy: r.Pharmacy, Till: r.Till, Cashier: r.Cashier}
	if r.Card != nil {
		rc.Card = feed.MaskCardNo(r.Card.No)
	}
	if r.Payment != nil {
		rc.Payment = r.Payment.Method
		rc.Totals = Totals{InsuranceFen: r.Payment.InsuranceFen, CashFen: r.Payment.CashFen, TotalFen: r.Payment.InsuranceFen + r.Payment.CashFen}
	}
	for _, l := range r.Lines {
		rc.Lines = append(rc.Lines, ReceiptLine{Name: l.Name, Barcode: l.Barcode, Qty: l.Qty, PriceFen: l.PriceFen, Payer: l.Pay, Traces: l.DrugTracCodg})
	}
	return rc, nil
}

// Text lays the receipt out for a thermal printer of cols columns (32 on
// 58 mm paper, 48 on 80 mm), a Chinese character taking two.
func (rc SaleReceipt) Text(cols int) string {
	var b strings.Builder
	rule := strings.Repeat("-", cols) + "\n"
	center := func(s string) {
		b.WriteString(strings.Repeat(" ", max(0, (cols-textWidth(s))/2)) + s + "\n")
	}
	pair := func(left, right string) { // right-aligned amount after a left text
		if gap := cols - textWidth(left) - textWidth(right); gap >= 1 {
			b.WriteString(left + strings.Repeat(" ", gap) + right + "\n")
			return
		}
		b.WriteString(wrap(left, cols) + strings.Repeat(" ", max(0, cols-textWidth(right))) + right + "\n")
	}
	center("医保定点药店 销售小票")
	center("Sales receipt")
	b.WriteString(rule)
	at := rc.At
	if t, err := time.Parse(time.RFC3339, rc.At); err == nil {
		at = t.Format("2006-01-02 15:04")
	}
	b.WriteString(wrap("机构 "+rc.Pharmacy+" 收银台 "+rc.Till, cols))
	b.WriteString(wrap("时间 "+at+" 收银员 "+rc.Cashier, cols))
	b.WriteString(wrap("单号 "+rc.ID, cols))
	if rc.Card != "" {
		b.WriteString(wrap("医保卡 "+rc.Card, cols))
	}
	b.WriteString(rule)
	for _, l := range rc.Lines {
		b.WriteString(wrap(l.Name, cols))
		payer := "医保"
		if l.Payer == PayCash {
			payer = "自费"
		}
		pair(fmt.Sprintf("  ×%d %s", l.Qty, payer), yuan(l.PriceFen))
		for _, tr := range l.Traces {
			b.WriteString(wrap("  追溯码 "+tr, cols))
		}
	}
	b.WriteString(rule)
	pair("医保统筹 Insurance", yuan(rc.Totals.InsuranceFen))
	pair("现金 Cash", yuan(rc.Totals.CashFen))
	pair("合计 Total", yuan(rc.Totals.TotalFen))
	return b.String()
}

func yuan(fen int64) string { return fmt.Sprintf("¥%d.%02d", fen/100, fen%100) }

// textWidth is s's width in printer columns: two for a wide (Chinese)
// character, one otherwise.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// wrap breaks s into lines of at most cols columns, each ended by a
// newline, never splitting a character.
func wrap(s string, cols int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := textWidth(string(r))
		if n+w > cols {
			b.WriteByte('\n')
			n = 0
		}
		b.WriteRune(r)
		n += w
	}
	b.WriteByte('\n')
	return b.String()
}
