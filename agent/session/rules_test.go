package session

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

func trace(code string) scanner.Code {
	return scanner.Code{Kind: scanner.KindTrace, Data: code, Trace: code}
}

func rxScan(ref string) scanner.Code {
	return scanner.Code{Kind: scanner.KindRx, AIM: "]Q1", Data: ref, Rx: ref}
}

func TestSession_holdWaitsForPharmacist(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(trace(amoxTrace1)) // prescription drug, no prescription
	l := f.s.View().Lines[0]
	if l.Decision != "hold" || l.Rule != string(policy.RuleRxRequired) {
		t.Fatalf("line = %+v, want rx_required hold", l)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); !errors.Is(err, ErrConflict) {
		t.Fatalf("checkout with a held line = %v, want ErrConflict", err)
	}
	held := f.led.last(t)
	if held.Kind != feed.KindBlocked || held.Lines[0].Decision != "hold" {
		t.Fatalf("hold record = %+v", held)
	}

	for _, tt := range []struct {
		line            int
		pharmacist, why string
		want            error
	}{
		{0, "", "ok", ErrInvalid},
		{0, "ph1", " ", ErrInvalid},
		{1, "ph1", "ok", ErrNoLine},
		{-1, "ph1", "ok", ErrNoLine},
	} {
		if err := f.s.Override(tt.line, tt.pharmacist, tt.why); !errors.Is(err, tt.want) {
			t.Errorf("Override(%d, %q, %q) = %v, want %v", tt.line, tt.pharmacist, tt.why, err, tt.want)
		}
	}
	if err := f.s.Override(0, "ph007", "paper prescription seen"); err != nil {
		t.Fatal(err)
	}
	ov := f.led.last(t)
	if ov.Kind != feed.KindOverride || ov.Pharmacist != "ph007" || ov.Reason != "paper prescription seen" || ov.Ref != held.ID ||
		len(ov.Lines) != 1 || !ov.Lines[0].Overridden || ov.Lines[0].Rule != string(policy.RuleRxRequired) {
		t.Fatalf("override record = %+v, want ref %s", ov, held.ID)
	}
	if err := f.s.Override(0, "ph007", "again"); !errors.Is(err, ErrNotOverridable) {
		t.Errorf("second override = %v, want ErrNotOverridable", err)
	}
	if v := f.s.View().Lines[0]; !v.Overridden || v.Decision != "hold" {
		t.Errorf("view line = %+v, want the hold marked overridden", v)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatalf("checkout after the override: %v", err)
	}
	sale := f.led.last(t)
	if l := sale.Lines[0]; !l.Overridden || l.Pay != PayInsurance || l.Decision != "hold" {
		t.Errorf("sale line = %+v, want the released hold paid by insurance", l)
	}
}

func TestSession_blockCannotBeOverridden(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(shampoo))
	f.s.Scan(product(metformin))
	for line, want := range []error{ErrNotOverridable, ErrNotOverridable} { // block, allow
		before := f.led.Head()
		if err := f.s.Override(line, "ph1", "please"); !errors.Is(err, want) {
			t.Errorf("Override(%d) = %v, want %v", line, err, want)
		}
		if f.led.Head() != before {
			t.Errorf("a refused override wrote a record")
		}
	}
}

func TestSession_prescriptionReleasesHold(t *testing.T) {
	for _, how := range []string{"scan", "api"} {
		t.Run(how, func(t *testing.T) {
			f := newFixture(t)
			f.signIn(t)
			f.s.CardRead(card)
			f.s.Scan(trace(amoxTrace1))
			if how == "scan" {
				f.s.Scan(rxScan(rxRef))
			} else if err := f.s.SetRx(rxRef, false); err != nil {
				t.Fatal(err)
			}
			v := f.s.View()
			if v.RxRef != rxRef || v.Lines[0].Decision != "allow" {
				t.Fatalf("after the prescription: %+v", v)
			}
			if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
				t.Fatal(err)
			}
			if l := f.led.last(t).Lines[0]; l.RxRef != rxRef || !l.RxFlag {
				t.Errorf("sale line = %+v, want the prescription", l)
			}
		})
	}
}

func TestSession_setRxValidates(t *testing.T) {
	f := newFixture(t)
	for _, ref := range []string{"", "RX123", "rx123456", "RX12345a", "XX123456"} {
		if err := f.s.SetRx(ref, false); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetRx(%q) = %v, want ErrInvalid", ref, err)
		}
	}
}

func TestSession_manualEntryIsFlaggedAndRecorded(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	if err := f.s.AddManual(metformin, 1); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		barcode string
		qty     int
	}{{metformin, 0}, {metformin, 1000}, {"", 1}, {"abc", 1}} {
		if err := f.s.AddManual(bad.barcode, bad.qty); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddManual(%q, %d) = %v, want ErrInvalid", bad.barcode, bad.qty, err)
		}
	}
	l := f.s.View().Lines[0]
	if l.Decision != "flag" || l.Rule != string(policy.RuleManualEntry) || !l.Manual {
		t.Fatalf("manual line = %+v, want a manual_entry flag", l)
	}
	if r := f.led.last(t); r.Kind != feed.KindFlagged || r.Lines[0].Decision != "flag" || !r.Lines[0].Manual {
		t.Errorf("flag record = %+v", r)
	}
	// A scanned box of the same product is not merged into the keyed line.
	f.s.Scan(product(metformin))
	if v := f.s.View(); len(v.Lines) != 2 {
		t.Fatalf("lines = %+v, want the keyed and the scanned line apart", v.Lines)
	}
	if _, err := f.s.Checkout(PaySplit, "c1"); err != nil {
		t.Fatal(err)
	}
	sale := f.led.last(t)
	if l := sale.Lines[0]; l.Pay != PayInsurance || l.Rule != string(policy.RuleManualEntry) || !l.Manual {
		t.Errorf("sale line = %+v, want the flagged manual line on insurance", l)
	}
}

// TestSession_saleLinesCarryEveryFinding: a line with several findings
// records the deciding one as its rule and the rest as flags, with the
// days-supply limit.
func TestSession_saleLinesCarryEveryFinding(t *testing.T) {
	f := newFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	if err := f.s.AddManual(amoxicillin, 1); err != nil { // manual, and no trace code
		t.Fatal(err)
	}
	l := f.s.View().Lines[0]
	all := append([]string{l.Rule}, l.Flags...)
	if !slices.Contains(all, string(policy.RuleManualEntry)) || !slices.Contains(all, string(policy.RuleTraceMissing)) || len(l.Flags) == 0 {
		t.Fatalf("line = %+v, want manual_entry and trace_missing between rule and flags", l)
	}
	if l.DaysLimit != 7 {
		t.Errorf("days limit = %d, want the acute 7", l.DaysLimit)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	if sl := f.led.last(t).Lines[0]; !slices.Equal(sl.Flags, l.Flags) || sl.DaysLimit != 7 {
		t.Errorf("sale line = %+v, want flags %v and days_limit 7", sl, l.Flags)
	}
}

func TestSession_traceSoldOnceUntilReturned(t *testing.T) {
	f := newFixture(t)
	f.signIn(t) // on duty across the sales
	sell := func() policy.Verdict {
		t.Helper()
		f.s.CardRead(card)
		f.s.Scan(rxScan(rxRef))
		f.s.Scan(trace(amoxTrace1))
		return policy.Verdict(f.s.View().Lines[0].Decision)
	}
	if v := sell(); v != policy.Allow {
		t.Fatalf("first sale of the box: %s", v)
	}
	rc, err := f.s.Checkout(PayInsurance, "c1")
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.AddDate(0, 0, 20) // no days on hand left
	if v := sell(); v != policy.Block || f.s.View().Lines[0].Rule != string(policy.RuleTraceDup) {
		t.Fatalf("the same box again: %+v, want trace_dup block", f.s.View().Lines[0])
	}
	f.s.Void()

	ret, err := f.s.Return(ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Cashier: "c1",
		Lines: []ReturnLine{{Barcode: amoxicillin, Qty: 1, Traces: []string{amoxTrace1}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if r.Kind != feed.KindReturn || r.ID != ret.ID || r.Ref != rc.ID || r.Payment.Method != RefundFund || r.Payment.InsuranceFen != 1250 ||
		len(r.Lines) != 1 || r.Lines[0].Qty != 1 || !slices.Equal(r.Lines[0].DrugTracCodg, []string{amoxTrace1}) || r.Card == nil {
		t.Fatalf("return record = %+v", r)
	}
	if v := sell(); v != policy.Allow {
		t.Errorf("the returned box sold again: %+v, want allowed", f.s.View().Lines[0])
	}
}

func TestSession_returnsRefused(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.s.Scan(product(shampoo))
	rc, err := f.s.Checkout(PaySplit, "c1")
	if err != nil {
		t.Fatal(err)
	}
	line := func(barcode string, qty int, traces ...string) []ReturnLine {
		return []ReturnLine{{Barcode: barcode, Qty: qty, Traces: traces}}
	}
	tests := []struct {
		name string
		req  ReturnRequest
		want error
	}{
		{"unknown refund", ReturnRequest{SaleID: rc.ID, Refund: "card", Lines: line(metformin, 1), Cashier: "c1"}, ErrBadRefund},
		{"no sale id", ReturnRequest{Refund: RefundFund, Lines: line(metformin, 1), Cashier: "c1"}, ErrSaleRequired},
		{"no lines", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Cashier: "c1"}, ErrLinesRequired},
		{"qty 0", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: line(metformin, 0), Cashier: "c1"}, ErrBadQty},
		{"no cashier", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: line(metformin, 1), Cashier: " "}, ErrCashierRequired},
		{"unknown sale", ReturnRequest{SaleID: "nope", Refund: RefundFund, Lines: line(metformin, 1), Cashier: "c1"}, ErrNotFound},
		{"more than sold", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: line(metformin, 2), Cashier: "c1"}, ErrReturnTooMany},
		{"not in the sale", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: line(amoxicillin, 1), Cashier: "c1"}, ErrReturnTooMany},
		{"foreign trace", ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: line(metformin, 1, amoxTrace2), Cashier: "c1"}, ErrTraceNotInSale},
		{"cash for insurance", ReturnRequest{SaleID: rc.ID, Refund: RefundCash, Lines: line(metformin, 1), Cashier: "c1"}, ErrRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.led.Head()
			_, err := f.s.Return(tt.req)
			if !errors.Is(err, tt.want) || Detail(err) == "" {
				t.Fatalf("Return = %v (detail %q), want %v with a detail", err, Detail(err), tt.want)
			}
			wrote := f.led.Head() - before
			if tt.want == ErrRefused {
				r := f.led.last(t)
				if wrote != 1 || r.Kind != feed.KindBlocked || r.Lines[0].Rule != string(policy.RuleCashRefund) || r.Ref != rc.ID {
					t.Errorf("refused return recorded %d records, last %+v; want one cash_refund block", wrote, r)
				}
			} else if wrote != 0 {
				t.Errorf("a rejected return wrote %d records", wrote)
			}
		})
	}
	// Cash back for what was paid in cash is fine; then nothing is left.
	if _, err := f.s.Return(ReturnRequest{SaleID: rc.ID, Refund: RefundCash, Lines: line(shampoo, 1), Cashier: "c1"}); err != nil {
		t.Fatalf("cash refund of a cash line: %v", err)
	}
	if p := f.led.last(t).Payment; p.CashFen != 3990 || p.InsuranceFen != 0 {
		t.Errorf("payment = %+v, want 3990 cash", p)
	}
	if _, err := f.s.Return(ReturnRequest{SaleID: rc.ID, Refund: RefundCash, Lines: line(shampoo, 1), Cashier: "c1"}); !errors.Is(err, ErrConflict) {
		t.Errorf("second return of the same pack = %v, want ErrConflict", err)
	}
}

// TestSession_returnFreesDays: metformin returned to the fund no longer
// counts as on hand.
func TestSession_returnFreesDays(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	rc, err := f.s.Checkout(PayInsurance, "c1")
	if err != nil {
		t.Fatal(err)
	}
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	if d := f.s.View().Lines[0].Decision; d != "block" {
		t.Fatalf("second pack the same day = %s, want block", d)
	}
	f.s.Void()
	if _, err := f.s.Return(ReturnRequest{SaleID: rc.ID, Refund: RefundFund, Lines: []ReturnLine{{Barcode: metformin, Qty: 1}}, Cashier: "c1"}); err != nil {
		t.Fatal(err)
	}
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	if l := f.s.View().Lines[0]; l.Decision != "allow" {
		t.Errorf("after the return = %+v, want allowed", l)
	}
}

// TestSession_burstOfCards: the fifth different card within ten minutes
// is held, from what the ledger index saw of the four before.
func TestSession_burstOfCards(t *testing.T) {
	f := newFixture(t)
	var last string
	for i, no := range []string{"C0000001", "C0000002", "C0000003", "C0000004", "C0000005"} {
		f.now = f.now.Add(time.Minute)
		f.s.CardRead(Card{Type: feed.CardSSC, No: no, Name: "张三", Region: "330100"})
		f.s.Scan(product(metformin))
		last = f.s.View().Lines[0].Rule
		if i < 4 {
			if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
				t.Fatalf("card %d: %v", i+1, err)
			}
		}
	}
	if last != string(policy.RuleCardBurst) {
		t.Errorf("fifth card's line rule = %q, want card_burst", last)
	}
}

func TestSession_denyListedCard(t *testing.T) {
	f := newFixtureLimits(t, policy.DefaultLimits(), func(no string) bool { return no == card.No })
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	if l := f.s.View().Lines[0]; l.Decision != "block" || l.Rule != string(policy.RuleCardBlocked) {
		t.Errorf("line = %+v, want card_blocked", l)
	}
}

func TestSession_overridePersistFailureKeepsHold(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(trace(amoxTrace1))
	f.led.fail = errors.New("disk full")
	if err := f.s.Override(0, "ph1", "seen"); !errors.Is(err, ErrPersist) {
		t.Fatalf("override = %v, want ErrPersist", err)
	}
	f.led.fail = nil
	if _, err := f.s.Checkout(PayInsurance, "c1"); !errors.Is(err, ErrConflict) {
		t.Errorf("checkout after a failed override = %v, want the line still held", err)
	}
}
