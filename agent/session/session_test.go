package session

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

const catalogCSV = `barcode,trace_prefix,med_list_codg,name,category,covered,rx,control,course,pack_units,daily_units,price_fen,price_cap_fen
6901234567892,8100001,XA10BAE054A001010100001,二甲双胍片 0.5g×60,drug,1,0,,chronic,60,6,1250,
6903148091050,,,海飞丝洗发水,daily_goods,0,0,,,,,3990,
`

const (
	metformin = "6901234567892"
	shampoo   = "6903148091050"
)

// memLedger is an in-memory Appender; fail makes every append fail.
type memLedger struct {
	recs []feed.Record
	fail error
}

func (m *memLedger) Append(r *feed.Record) (ledger.Entry, error) {
	if m.fail != nil {
		return ledger.Entry{}, m.fail
	}
	r.Seq = uint64(len(m.recs) + 1)
	r.ID = "id-" + string(rune('a'+len(m.recs)))
	m.recs = append(m.recs, *r)
	return ledger.Entry{Seq: r.Seq}, nil
}

func (m *memLedger) kinds() string {
	var k []string
	for _, r := range m.recs {
		k = append(k, r.Kind)
	}
	return strings.Join(k, ",")
}

type fixture struct {
	s     *Session
	led   *memLedger
	now   time.Time
	beeps []int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := policy.LoadCatalog(strings.NewReader(catalogCSV))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{led: &memLedger{}, now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	f.s = New(Config{
		Pharmacy: "P1", Till: "T1", Catalog: cat, Limits: policy.DefaultLimits(), Ledger: f.led,
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
	if f.led.kinds() != feed.KindBlocked {
		t.Errorf("records = %s, want one blocked attempt", f.led.kinds())
	}
	if r := f.led.recs[0]; r.Card == nil || r.Card.Name != "王**" || r.Lines[0].Rule != "non_drug" {
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

// TestSession_workedExample replays RULES.md's worked example across three
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
	sale := f.led.recs[len(f.led.recs)-1]
	if sale.Kind != feed.KindSale || rc.Seq != sale.Seq || rc.ID != sale.ID {
		t.Fatalf("receipt %+v for record %+v", rc, sale)
	}
	if p := sale.Payment; p.Method != PaySplit || p.InsuranceFen != 1250 || p.CashFen != 3990 {
		t.Errorf("payment = %+v, want insurance 1250 and cash 3990", p)
	}
	if sale.Lines[0].Pay != PayInsurance || sale.Lines[1].Pay != PayCash {
		t.Errorf("lines paid %s/%s, want insurance/cash", sale.Lines[0].Pay, sale.Lines[1].Pay)
	}
	if v := f.s.View(); v.State != "idle" || v.Card != nil {
		t.Errorf("after checkout the session is %+v, want idle", v)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			before := len(f.led.recs)
			if _, err := f.s.Checkout(tt.method, "c1"); !errors.Is(err, ErrConflict) {
				t.Fatalf("checkout = %v, want ErrConflict", err)
			}
			if len(f.led.recs) != before {
				t.Errorf("a refused checkout wrote %d records", len(f.led.recs)-before)
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
	if p := f.led.recs[len(f.led.recs)-1].Payment; p.CashFen != 1250 || p.InsuranceFen != 0 {
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
	f.s.CardRead(other)
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

func TestMask(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{MaskName("王小明"), "王**"},
		{MaskName("张"), "张"},
		{MaskCardNo("A12345678"), "A1234****"},
		{MaskID("330106199001011234"), "3301**********1234"},
		{MaskID("123"), "***"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
