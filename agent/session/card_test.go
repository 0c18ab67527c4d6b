package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
)

var other = Card{Type: feed.CardSSC, No: "B87654321", Name: "李四", Region: "330100"}

// TestSession_cardChangeWaitsForTheCashier: a different card read while
// the basket is open does not take it; insurance is refused until the
// cashier confirms, the confirmation is a record, and then the basket is
// the new holder's.
func TestSession_cardChangeWaitsForTheCashier(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.s.CardRemoved()
	f.s.CardRead(other)
	v := f.s.View()
	if v.State != "open" || v.Card == nil || v.Card.No != "A1234****" || v.CardChange == nil ||
		v.CardChange.From.No != "A1234****" || v.CardChange.To.No != "B8765****" || v.CardChange.To.Name != "李*" || v.Notice == nil {
		t.Fatalf("view = %+v (change %+v), want the basket still the holder's and the change shown", v, v.CardChange)
	}
	for _, m := range []string{PayInsurance, PaySplit} {
		if _, err := f.s.Checkout(m, "c1"); !errors.Is(err, ErrCardChanged) {
			t.Errorf("%s checkout during a card change = %v, want ErrCardChanged", m, err)
		}
	}
	if err := f.s.ConfirmCard(""); !errors.Is(err, ErrCashierRequired) {
		t.Errorf("confirm without cashier = %v", err)
	}
	f.led.fail = errors.New("disk full")
	if err := f.s.ConfirmCard("c1"); !errors.Is(err, ErrPersist) {
		t.Fatalf("confirm on a failing ledger = %v, want ErrPersist", err)
	}
	if v := f.s.View(); v.CardChange == nil || v.Card.No != "A1234****" {
		t.Fatalf("after a failed confirm = %+v, want the change still waiting", v)
	}
	f.led.fail = nil
	before := f.led.Head()
	if err := f.s.ConfirmCard("c1"); err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if r.Seq != before+1 || r.Kind != feed.KindCardChange || r.Card == nil || r.Card.No != other.No || r.Card.Name != "李*" ||
		r.Cashier != "c1" || r.Reason != "from 03 A12345678" || len(r.Lines) != 1 || r.Lines[0].Barcode != metformin {
		t.Fatalf("card change record = %+v", r)
	}
	if v := f.s.View(); v.CardChange != nil || v.Card.No != "B8765****" || !v.Card.Present {
		t.Fatalf("after the confirm = %+v, want the new holder's basket", v)
	}
	if err := f.s.ConfirmCard("c1"); !errors.Is(err, ErrNoCardChange) {
		t.Errorf("a second confirm = %v, want ErrNoCardChange", err)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	if sale := f.led.last(t); sale.Card.No != other.No {
		t.Errorf("sale card = %+v, want the confirmed holder", sale.Card)
	}
}

// TestSession_cardChangeEnds: a void drops the change with the basket and
// keeps the new card, in the reader, for the next sale; the new card
// removed, or the holder's card back, ends it with the basket kept.
func TestSession_cardChangeEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		end    func(f *fixture)
		holder string // masked card after
		lines  int
	}{
		{"void", func(f *fixture) { f.s.Void() }, "B8765****", 0},
		{"new card removed", func(f *fixture) { f.s.CardRemoved() }, "A1234****", 1},
		{"holder's card back", func(f *fixture) { f.s.CardRemoved(); f.s.CardRead(card) }, "A1234****", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.s.CardRead(card)
			f.s.Scan(product(metformin))
			f.s.CardRead(other) // the reader missed the removal: the new card is in
			tt.end(f)
			v := f.s.View()
			if v.CardChange != nil || v.Card == nil || v.Card.No != tt.holder || len(v.Lines) != tt.lines {
				t.Fatalf("view = %+v, want no change, card %s, %d lines", v, tt.holder, tt.lines)
			}
			if k := f.led.kinds(t); strings.Contains(k, feed.KindCardChange) {
				t.Errorf("records %s, want no card change recorded", k)
			}
		})
	}
}

// TestSession_cardKeptAfterCheckout: the card in the reader is the next
// sale's too, until the reader reports it removed.
func TestSession_cardKeptAfterCheckout(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	f.s.Scan(product(shampoo)) // no re-read
	if _, err := f.s.Checkout(PaySplit, "c1"); err != nil {
		t.Fatalf("second sale without reading the card again: %v", err)
	}
	f.s.CardRemoved()
	if v := f.s.View(); v.Card != nil {
		t.Errorf("card removed with no basket: %+v, want none", v.Card)
	}
	f.s.Scan(product(metformin))
	if _, err := f.s.Checkout(PayInsurance, "c1"); !errors.Is(err, ErrCardRequired) {
		t.Errorf("insurance after the card left = %v, want ErrCardRequired", err)
	}
	// A voucher names the buyer of one sale only.
	f.s.Scan(scanner.Code{Kind: scanner.KindVoucher, AIM: "]Q1", Data: "VOUCHER-1"})
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	if v := f.s.View(); v.Card != nil {
		t.Errorf("after a voucher sale: card %+v, want none", v.Card)
	}
}

// TestSession_checkoutAnswer: the answer says who pays each line, the
// totals, and the lines an insurance-only sale leaves out.
func TestSession_checkoutAnswer(t *testing.T) {
	for _, tt := range []struct {
		method         string
		payers         string
		ins, cash      int64
		excludedShampo bool
	}{
		{PayInsurance, "insurance", 1250, 0, true},
		{PaySplit, "insurance,cash", 1250, 3990, false},
		{PayCash, "cash,cash", 0, 5240, false},
	} {
		t.Run(tt.method, func(t *testing.T) {
			f := newFixture(t)
			f.s.CardRead(card)
			f.s.Scan(product(metformin))
			f.s.Scan(product(shampoo)) // blocked: non_drug
			sale, err := f.s.Checkout(tt.method, "c1")
			if err != nil {
				t.Fatal(err)
			}
			var payers []string
			for _, l := range sale.Lines {
				payers = append(payers, l.Payer)
			}
			rec := f.led.last(t)
			if sale.ID != rec.ID || sale.Seq != rec.Seq || sale.Payment != tt.method || strings.Join(payers, ",") != tt.payers ||
				sale.Totals != (Totals{InsuranceFen: tt.ins, CashFen: tt.cash, TotalFen: tt.ins + tt.cash}) ||
				rec.Payment.InsuranceFen != tt.ins || rec.Payment.CashFen != tt.cash {
				t.Fatalf("sale = %+v, record %+v; want payers %s, insurance %d, cash %d", sale, rec.Payment, tt.payers, tt.ins, tt.cash)
			}
			if l := sale.Lines[0]; l.Barcode != metformin || l.MedListCodg == "" || l.Name == "" || l.Qty != 1 || l.PriceFen != 1250 {
				t.Errorf("first line = %+v", l)
			}
			if got := len(sale.Excluded) == 1; got != tt.excludedShampo {
				t.Fatalf("excluded = %+v, want the shampoo %v", sale.Excluded, tt.excludedShampo)
			}
			if tt.excludedShampo {
				if e := sale.Excluded[0]; e.Barcode != shampoo || e.Rule != "non_drug" || e.ReasonZH == "" || e.ReasonEN == "" || e.Qty != 1 {
					t.Errorf("excluded line = %+v", e)
				}
			}
		})
	}
}

// TestSession_flaggedRecordKind: a line that goes through with a flag is
// recorded as flagged, a block and a hold as blocked.
func TestSession_flaggedRecordKind(t *testing.T) {
	f := newFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(product(amoxicillin)) // traced drug scanned without its code: trace_missing, a flag
	f.s.Scan(product(shampoo))     // non_drug: a block
	if k := f.led.kinds(t); k != feed.KindPharmacistOn+","+feed.KindFlagged+","+feed.KindBlocked {
		t.Fatalf("records = %s, want pharmacist_on,flagged,blocked", k)
	}
	if r := f.led.records(t)[1]; r.Lines[0].Decision != feed.Flag || r.Lines[0].Rule != "trace_missing" {
		t.Errorf("flagged record = %+v", r.Lines[0])
	}
}

// TestSession_keyedBarcodes: a keyed-in barcode is held to the scanner's
// rules; nothing it would not read reaches the ledger.
func TestSession_keyedBarcodes(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []string{
		"", "abc", "6901234567890", "690123456789", "12345", "6901234567892 ", " 6901234567892",
		"<b>6901234567892</b>", "6901234567892\x00", "69012345678921", "RX20260302A001", amoxTrace1,
		"]E06901234567890", "]Q1VOUCHER", strings.Repeat("6", 200), "６９０１２３４５６７８９２",
	} {
		err := f.s.AddManual(bad, 1)
		if !errors.Is(err, ErrBadBarcode) || !errors.Is(err, ErrInvalid) || Detail(err) == "" {
			t.Errorf("AddManual(%q) = %v, want ErrBadBarcode with a detail", bad, err)
		}
	}
	if h := f.led.Head(); h != 0 || len(f.s.View().Lines) != 0 {
		t.Fatalf("bad barcodes left %d records and lines %+v", h, f.s.View().Lines)
	}
	for code, want := range map[string]string{
		metformin:                   metformin,
		"96385074":                  "96385074", // EAN-8
		"]E0" + metformin:           metformin,
		"010" + metformin:           metformin, // GS1 AI 01, the GTIN-14 of the pack
		"010" + metformin + "21ABC": metformin,
	} {
		got, err := productCode(code)
		if err != nil || got != want {
			t.Errorf("productCode(%q) = %q, %v; want %q", code, got, err, want)
		}
	}
}

func FuzzProductCode(f *testing.F) {
	for _, s := range []string{metformin, "96385074", "abc", "]E0" + metformin, "0106901234567892", amoxTrace1, "RX20260302A001", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := productCode(s)
		if err != nil {
			if !errors.Is(err, ErrBadBarcode) || Detail(err) == "" || len(Detail(err)) > 4*maxKeyed+100 {
				t.Fatalf("productCode(%q) error %v: want ErrBadBarcode with a bounded detail", s, err)
			}
			return
		}
		if len(code) != 8 && len(code) != 13 || !scanner.ValidEAN(code) {
			t.Fatalf("productCode(%q) = %q: not an EAN-8 or EAN-13", s, code)
		}
	})
}

// TestSession_redecisionRefersBack: a line decided again differently is a
// new record whose Ref is the line's earlier one; a new line's first
// record refers to nothing.
func TestSession_redecisionRefersBack(t *testing.T) {
	f := newFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	f.s.Scan(product(amoxicillin))                  // no prescription: held
	if err := f.s.SetRx(rxRef, false); err != nil { // now flagged: trace_missing
		t.Fatal(err)
	}
	recs := f.led.records(t)[1:] // after the sign-in
	if len(recs) != 2 || recs[0].Kind != feed.KindBlocked || recs[0].Ref != "" || recs[1].Kind != feed.KindFlagged || recs[1].Ref != recs[0].ID {
		t.Fatalf("records = %+v, want the hold, then the flag referring to it", recs)
	}
}

// TestSession_attemptsNameTheCashier: a blocked attempt names the cashier
// the POS last named, none before any.
func TestSession_attemptsNameTheCashier(t *testing.T) {
	f := newFixture(t)
	f.s.Scan(product(shampoo))
	if r := f.led.last(t); r.Kind != feed.KindBlocked || r.Cashier != "" {
		t.Fatalf("first attempt %s by %q, want blocked by nobody yet", r.Kind, r.Cashier)
	}
	if _, err := f.s.Checkout(PayCash, " c7 "); err != nil {
		t.Fatal(err)
	}
	f.s.Scan(product(shampoo))
	if r := f.led.last(t); r.Kind != feed.KindBlocked || r.Cashier != "c7" {
		t.Fatalf("attempt after c7's sale %s by %q, want blocked by c7", r.Kind, r.Cashier)
	}
}
