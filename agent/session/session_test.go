package session

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

const catalogCSV = `barcode,trace_prefix,med_list_codg,name,category,covered,rx,control,course,pack_units,daily_units,price_fen,price_cap_fen
6901234567892,,XA10BAE054A001010100001,二甲双胍片 0.5g×60,drug,1,0,,chronic,60,6,1250,
6903148091050,,,海飞丝洗发水,daily_goods,0,0,,,,,3990,
6937215000782,8102106,XJ01CAA040E001010101378,阿莫西林胶囊 0.25g×36粒,drug,1,1,,acute,36,16,1250,1400
`

const (
	metformin   = "6901234567892" // OTC here, no trace prefix: 10 days a pack
	shampoo     = "6903148091050"
	amoxicillin = "6937215000782" // prescription, traced: 3 days a pack
	amoxTrace1  = "81021060000000000001"
	amoxTrace2  = "81021060000000000002"
	rxRef       = "RX20260302A001"
)

// failLedger is a real ledger whose appends can be made to fail.
type failLedger struct {
	*ledger.Ledger
	fail error
}

func (f *failLedger) Append(r *feed.Record) (ledger.Entry, error) {
	if f.fail != nil {
		return ledger.Entry{}, f.fail
	}
	return f.Ledger.Append(r)
}

// records returns every record in the ledger.
func (f *failLedger) records(t *testing.T) []feed.Record {
	t.Helper()
	var out []feed.Record
	if err := f.Scan(1, func(e ledger.Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *failLedger) kinds(t *testing.T) string {
	var k []string
	for _, r := range f.records(t) {
		k = append(k, r.Kind)
	}
	return strings.Join(k, ",")
}

func (f *failLedger) last(t *testing.T) feed.Record {
	t.Helper()
	recs := f.records(t)
	if len(recs) == 0 {
		t.Fatal("no records")
	}
	return recs[len(recs)-1]
}

type fixture struct {
	s     *Session
	led   *failLedger
	now   time.Time
	beeps []int
}

func newFixture(t *testing.T) *fixture {
	return newFixtureLimits(t, policy.DefaultLimits(), nil)
}

// newFixtureLimits wires a session to a real ledger in a temp dir, with
// its history index.
func newFixtureLimits(t *testing.T, lim policy.Limits, deny func(string) bool) *fixture {
	t.Helper()
	cat, err := policy.LoadCatalog(strings.NewReader(catalogCSV))
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte(t.Name()))
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ed25519.NewKeyFromSeed(seed[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := led.Verify(); err != nil {
			t.Errorf("ledger: %v", err)
		}
		led.Close()
	})
	f := &fixture{led: &failLedger{Ledger: led}, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	f.s = New(Config{
		Pharmacy: "P1", Till: "T1", Catalog: cat, Limits: lim, Deny: deny, Ledger: f.led, Index: led,
		Now:  func() time.Time { return f.now },
		Beep: func(n int) { f.beeps = append(f.beeps, n) },
	})
	return f
}

var card = Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"}

func product(code string) scanner.Code {
	return scanner.Code{Kind: scanner.KindEAN13, Data: code, Product: code}
}

func TestSession_blocksNonDrugAndRecordsItOnce(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(shampoo))
	f.s.CardRead(card) // the same card again must not record the attempt twice
	v := f.s.View()
	if len(v.Lines) != 1 || v.Lines[0].Decision != "block" || v.Lines[0].Rule != "non_drug" {
		t.Fatalf("lines = %+v, want one non_drug block", v.Lines)
	}
	if k := f.led.kinds(t); k != feed.KindBlocked {
		t.Errorf("records = %s, want one blocked attempt", k)
	}
	if r := f.led.records(t)[0]; r.Card == nil || r.Card.Name != "王**" || r.Lines[0].Rule != "non_drug" {
		t.Errorf("blocked record = %+v, want masked card and the rule", r)
	}
	if len(f.beeps) != 1 || f.beeps[0] != 3 {
		t.Errorf("beeps = %v, want one triple beep", f.beeps)
	}
}

func TestSession_mergesPacksUntilDaysLimit(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.s.Scan(product(metformin)) // 10 + 10 > 15 days
	v := f.s.View()
	if len(v.Lines) != 2 {
		t.Fatalf("lines = %+v, want the allowed pack and a blocked one", v.Lines)
	}
	if l := v.Lines[0]; l.Decision != "allow" || l.Qty != 1 || l.Days != 10 {
		t.Errorf("first line = %+v", l)
	}
	if l := v.Lines[1]; l.Decision != "block" || l.Rule != "days_supply" {
		t.Errorf("second line = %+v, want days_supply block", l)
	}
	if v.Totals.InsuranceFen != 1250 || v.Totals.CashFen != 1250 {
		t.Errorf("totals = %+v", v.Totals)
	}
}

// TestSession_workedExample replays the worked example of docs/rules.md across three
// sales on one card: the history carries from one session to the next.
func TestSession_workedExample(t *testing.T) {
	f := newFixture(t)
	day0 := f.now
	for _, step := range []struct {
		day  int
		want string
	}{{0, "allow"}, {3, "block"}, {6, "allow"}} {
		f.now = day0.AddDate(0, 0, step.day)
		f.s.CardRead(card)
		f.s.Scan(product(metformin))
		got := f.s.View().Lines[0].Decision
		if got != step.want {
			t.Fatalf("day %d: %s, want %s (%s)", step.day, got, step.want, f.s.View().Lines[0].ReasonEN)
		}
		if got == "allow" {
			if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
				t.Fatalf("day %d: checkout: %v", step.day, err)
			}
		} else {
			f.s.Void()
		}
	}
}

func TestSession_checkout(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.s.Scan(product(shampoo))
	rc, err := f.s.Checkout(PaySplit, "c1")
	if err != nil {
		t.Fatal(err)
	}
	sale := f.led.last(t)
	if sale.Kind != feed.KindSale || rc.Seq != sale.Seq || rc.ID != sale.ID {
		t.Fatalf("receipt %+v for record %+v", rc, sale)
	}
	if p := sale.Payment; p.Method != PaySplit || p.InsuranceFen != 1250 || p.CashFen != 3990 {
		t.Errorf("payment = %+v, want insurance 1250 and cash 3990", p)
	}
	if sale.Lines[0].Pay != PayInsurance || sale.Lines[1].Pay != PayCash {
		t.Errorf("lines paid %s/%s, want insurance/cash", sale.Lines[0].Pay, sale.Lines[1].Pay)
	}
	// The card is still in the reader: it stays for the next sale.
	if v := f.s.View(); v.State != "idle" || v.Card == nil || !v.Card.Present || len(v.Lines) != 0 {
		t.Errorf("after checkout the session is %+v, want idle with the card kept", v)
	}
}

func TestSession_checkoutRefused(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*fixture)
		method string
	}{
		{"empty basket", func(f *fixture) { f.s.CardRead(card) }, PayInsurance},
		{"insurance without card", func(f *fixture) { f.s.Scan(product(metformin)) }, PayInsurance},
		{"card removed", func(f *fixture) { f.s.CardRead(card); f.s.Scan(product(metformin)); f.s.CardRemoved() }, PaySplit},
		{"only blocked lines", func(f *fixture) { f.s.CardRead(card); f.s.Scan(product(shampoo)) }, PayInsurance},
		{"unknown method", func(f *fixture) { f.s.CardRead(card); f.s.Scan(product(metformin)) }, "card"},
		{"no cashier", func(f *fixture) { f.s.CardRead(card); f.s.Scan(product(metformin)) }, PayCash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			before := f.led.Head()
			cashier, want := "c1", ErrConflict
			switch tt.name {
			case "unknown method":
				want = ErrBadPayment
			case "no cashier":
				cashier, want = " ", ErrCashierRequired
			}
			if _, err := f.s.Checkout(tt.method, cashier); !errors.Is(err, want) || Detail(err) == "" {
				t.Fatalf("checkout = %v, want %v with a detail", err, want)
			}
			if f.led.Head() != before {
				t.Errorf("a refused checkout wrote %d records", f.led.Head()-before)
			}
		})
	}
}

func TestSession_cashAfterCardRemoved(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.s.CardRemoved()
	if v := f.s.View(); v.Card == nil || v.Card.Present || len(v.Lines) != 1 || v.Notice == nil {
		t.Fatalf("after removal = %+v, want the basket kept, card absent, a notice", v)
	}
	if _, err := f.s.Checkout(PayCash, "c1"); err != nil {
		t.Fatal(err)
	}
	if p := f.led.last(t).Payment; p.CashFen != 1250 || p.InsuranceFen != 0 {
		t.Errorf("payment = %+v, want all cash", p)
	}
}

func TestSession_persistFailureKeepsBasket(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	f.led.fail = errors.New("disk full")
	if _, err := f.s.Checkout(PayInsurance, "c1"); !errors.Is(err, ErrPersist) {
		t.Fatalf("checkout = %v, want ErrPersist", err)
	}
	if v := f.s.View(); len(v.Lines) != 1 || v.Card == nil {
		t.Errorf("basket after a failed commit = %+v, want it kept", v)
	}
}

func TestSession_newCardRedecides(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	f.s.Scan(product(metformin)) // no card yet: nothing to count against
	f.s.CardRead(card)           // the same buyer: 10 days on hand + 10 > 15
	if l := f.s.View().Lines[0]; l.Decision != "block" || l.Rule != "days_supply" {
		t.Fatalf("after the card = %+v, want days_supply block", l)
	}
	other := Card{Type: feed.CardSSC, No: "B87654321", Name: "李四", Region: "330100"}
	f.s.CardRead(other) // a card change: decided again only once confirmed
	if l := f.s.View().Lines[0]; l.Decision != "block" {
		t.Fatalf("before the change is confirmed = %+v, want still blocked for the holder", l)
	}
	if err := f.s.ConfirmCard("c1"); err != nil {
		t.Fatal(err)
	}
	if l := f.s.View().Lines[0]; l.Decision != "allow" {
		t.Errorf("for another buyer = %+v, want allowed", l)
	}
}

func TestSession_unreadableIsNeverAnItem(t *testing.T) {
	f := newFixture(t)
	f.s.Unreadable()
	f.s.Scan(scanner.Code{Kind: scanner.KindUnknown, Data: "garbage"})
	if v := f.s.View(); len(v.Lines) != 0 || v.Notice == nil {
		t.Errorf("view = %+v, want no lines and a notice", v)
	}
}
