package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

func TestBatch_orCatalogue(t *testing.T) {
	cat := policy.UploadInfo{Lot: "L1", ManuDate: "2025-01-01", ExpyEnd: "2027-01-01"}
	tests := []struct {
		name string
		box  batch
		want batch
	}{
		{"nothing scanned", batch{}, batch{"L1", "2025-01-01", "2027-01-01"}},
		{"the catalogue's lot", batch{lot: "L1"}, batch{"L1", "2025-01-01", "2027-01-01"}},
		{"the catalogue's expiry", batch{expyEnd: "2027-01-01"}, batch{"L1", "2025-01-01", "2027-01-01"}},
		{"another lot", batch{lot: "L2", expyEnd: "2027-06-30"}, batch{lot: "L2", expyEnd: "2027-06-30"}},
		{"another expiry, no lot", batch{expyEnd: "2027-06-30"}, batch{expyEnd: "2027-06-30"}},
	}
	for _, tt := range tests {
		if got := tt.box.orCatalogue(cat); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := (batch{lot: "L2"}).orCatalogue(policy.UploadInfo{}); got != (batch{lot: "L2"}) {
		t.Errorf("no catalogue lot: %+v", got)
	}
}

// uploadCatalog is the session tests' catalogue with the upload columns:
// metformin has the pharmacy's own id and name and a lot on the shelf,
// shampoo none of them.
const uploadCatalog = `barcode,trace_prefix,med_list_codg,name,category,covered,rx,course,pack_units,daily_units,price_fen,fixmedins_hilist_id,fixmedins_hilist_name,manu_lotnum,manu_date,expy_end,trdn_flag
6901234567892,,XA10BAE054A001010100001,二甲双胍片 0.5g×60,drug,1,0,chronic,60,6,1250,YP-0001,二甲双胍片（本店）,L2405,2025-05-01,2027-04-30,
6903148091050,,,海飞丝洗发水,daily_goods,0,0,,,,3990,,,,,,
6937215000782,8102106,XJ01CAA040E001010101378,阿莫西林胶囊 0.25g×36粒,drug,1,1,acute,36,16,1250,,,,,,1
`

func newUploadFixture(t *testing.T) *fixture {
	t.Helper()
	lim := policy.DefaultLimits()
	lim.AcuteDays, lim.ChronicDays, lim.LongRxDays = 60, 90, 90 // room for a few packs a sale
	f := newFixtureLimits(t, lim, nil)
	cat, err := policy.LoadCatalog(strings.NewReader(uploadCatalog))
	if err != nil {
		t.Fatal(err)
	}
	f.s.SetPolicy(cat, lim, nil)
	return f
}

// scan classifies data as the scanner would and scans it.
func (f *fixture) scan(t *testing.T, data string) {
	t.Helper()
	c, err := scanner.Classify([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	f.s.Scan(c)
}

// A GS1 symbol's lot and expiry reach the sale's line; boxes of another
// lot are a line of their own; the catalogue fills what the box does not
// say only for its own lot; the catalogue's id and name are the line's.
func TestSession_saleLinesCarryTheBatch(t *testing.T) {
	f := newUploadFixture(t)
	f.s.CardRead(card)
	const gs1 = "]d20106901234567892" + "11250600" + "17270600" + "10"
	f.scan(t, gs1+"L2406")                     // lot L2406, made June 2025, expiring 2027-06-30 (GS1 day 00)
	f.scan(t, gs1+"L2406")                     // the same lot: the same line
	f.scan(t, "]E0"+metformin)                 // no lot: the catalogue's
	f.scan(t, "]d20106901234567892"+"10L2405") // the catalogue's lot: its dates
	f.scan(t, "]E0"+shampoo)
	if _, err := f.s.Checkout(PaySplit, "c1"); err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if len(r.Lines) != 4 {
		t.Fatalf("lines %+v, want the two lots apart and the shampoo", r.Lines)
	}
	want := []feed.Line{
		{Qty: 2, ManuLotnum: "L2406", ManuDate: "2025-06-01", ExpyEnd: "2027-06-30", FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "二甲双胍片（本店）"},
		{Qty: 1, ManuLotnum: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "二甲双胍片（本店）"},
		{Qty: 1, ManuLotnum: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "二甲双胍片（本店）"},
		{Qty: 1},
	}
	for i, w := range want {
		l := r.Lines[i]
		got := feed.Line{Qty: l.Qty, ManuLotnum: l.ManuLotnum, ManuDate: l.ManuDate, ExpyEnd: l.ExpyEnd, FixmedinsHilistID: l.FixmedinsHilistID, FixmedinsHilistName: l.FixmedinsHilistName}
		if !equalLine(got, w) {
			t.Errorf("line %d: %+v, want %+v", i, got, w)
		}
	}
	if r.PharName != "" || r.PharPracCertNo != "" {
		t.Errorf("pharmacist on duty %q %q without a sign-in", r.PharName, r.PharPracCertNo)
	}
}

func equalLine(a, b feed.Line) bool {
	return a.Qty == b.Qty && a.ManuLotnum == b.ManuLotnum && a.ManuDate == b.ManuDate && a.ExpyEnd == b.ExpyEnd &&
		a.FixmedinsHilistID == b.FixmedinsHilistID && a.FixmedinsHilistName == b.FixmedinsHilistName
}

// A split-pack item's line says so (trdn_flag).
func TestSession_splitPackFlag(t *testing.T) {
	f := newUploadFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace1))
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	if l := f.led.last(t).Lines[0]; !l.TrdnFlag || l.ManuLotnum != "" {
		t.Errorf("line %+v, want trdn_flag and no lot", l)
	}
}

var settled = feed.Settlement{MdtrtSn: "MD20260302001", SetlID: "S20260302001", PsnNo: "33000010000000012345", HiFeesetlType: "1", MdtrtSetlType: feed.SetlPlatform, PsnCertType: "01"}

func TestSession_checkoutSettled(t *testing.T) {
	f := newUploadFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	st := settled
	sale, err := f.s.CheckoutSettled(PayInsurance, "c1", &st)
	if err != nil {
		t.Fatal(err)
	}
	st.MdtrtSn = "changed by the caller"
	r := f.led.last(t)
	if r.Kind != feed.KindSale || r.Settlement == nil || *r.Settlement != settled || sale.Settlement == nil || *sale.Settlement != settled {
		t.Fatalf("sale record settlement %+v, answer %+v; want %+v", r.Settlement, sale.Settlement, settled)
	}
	// Without a settlement, the record has none.
	f.s.Scan(product(shampoo))
	if _, err := f.s.CheckoutSettled(PayCash, "c1", nil); err != nil {
		t.Fatal(err)
	}
	if r := f.led.last(t); r.Settlement != nil {
		t.Errorf("cash sale without a settlement recorded %+v", r.Settlement)
	}
}

func TestSession_checkoutBadSettlement(t *testing.T) {
	with := func(f func(*feed.Settlement)) *feed.Settlement { s := settled; f(&s); return &s }
	tests := []struct {
		name   string
		method string
		st     *feed.Settlement
		detail string
	}{
		{"no mdtrt_sn", PayInsurance, with(func(s *feed.Settlement) { s.MdtrtSn = "" }), "mdtrt_sn is required"},
		{"setl_id too long", PayInsurance, with(func(s *feed.Settlement) { s.SetlID = strings.Repeat("9", 31) }), "setl_id is 31 characters, at most 30"},
		{"space in psn_no", PayInsurance, with(func(s *feed.Settlement) { s.PsnNo = "3300 01" }), `psn_no "3300 01"`},
		{"platform without setl_id", PaySplit, with(func(s *feed.Settlement) { s.SetlID = "" }), "setl_id is required when mdtrt_setl_type is 1"},
		{"cash through the platform", PayCash, &settled, "a cash sale is self-paid"},
		{"insurance self-paid", PayInsurance, with(func(s *feed.Settlement) { s.MdtrtSetlType = feed.SetlSelfPaid }), "a sale paid by insurance went through the platform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newUploadFixture(t)
			f.s.CardRead(card)
			f.s.Scan(product(metformin))
			_, err := f.s.CheckoutSettled(tt.method, "c1", tt.st)
			if !errors.Is(err, ErrBadSettlement) || !errors.Is(err, ErrInvalid) || !strings.Contains(Detail(err), tt.detail) {
				t.Fatalf("err = %v (detail %q), want ErrBadSettlement saying %q", err, Detail(err), tt.detail)
			}
			if f.led.Head() != 0 || len(f.s.View().Lines) != 1 {
				t.Errorf("a refused settlement left %d records and %d lines", f.led.Head(), len(f.s.View().Lines))
			}
		})
	}
}

// A settlement told after the checkout is a record of its own, ref the
// sale; refused for no sale, a sale of no such id, or a bad settlement,
// and nothing is recorded then.
func TestSession_settleLater(t *testing.T) {
	f := newUploadFixture(t)
	f.s.CardRead(card)
	f.s.Scan(product(metformin))
	sale, err := f.s.Checkout(PayInsurance, "c1")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.s.Settle(sale.ID, settled)
	if err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if r.Kind != feed.KindSettlement || r.ID != rc.ID || r.Ref != sale.ID || r.Settlement == nil || *r.Settlement != settled || r.Card != nil || len(r.Lines) != 0 {
		t.Fatalf("settlement record %+v", r)
	}
	head := f.led.Head()
	for _, tt := range []struct {
		name, id string
		st       feed.Settlement
		want     error
	}{
		{"no id", "", settled, ErrSaleRequired},
		{"no such sale", "019cac4e-5260-7345-ac9a-3715aa3903ad", settled, ErrNotFound},
		{"not a sale", rc.ID, settled, ErrNotFound},
		{"bad settlement", sale.ID, feed.Settlement{MdtrtSn: "MD1"}, ErrBadSettlement},
		{"self-paid for an insurance sale", sale.ID, feed.Settlement{MdtrtSn: "MD1", MdtrtSetlType: feed.SetlSelfPaid}, ErrBadSettlement},
	} {
		if _, err := f.s.Settle(tt.id, tt.st); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if f.led.Head() != head {
		t.Errorf("refused settlements recorded %d records", f.led.Head()-head)
	}
	f.led.fail = errors.New("disk full")
	if _, err := f.s.Settle(sale.ID, settled); !errors.Is(err, ErrPersist) {
		t.Errorf("settle on a failing ledger: %v, want ErrPersist", err)
	}
}

// A return's line names the sale line it comes from by its
// fixmedins_bchno, and carries that line's item and batch.
func TestSession_returnNamesTheSaleLine(t *testing.T) {
	f := newUploadFixture(t)
	f.s.CardRead(card)
	f.scan(t, "]d20106901234567892"+"17270630"+"10L2406")
	f.scan(t, "]E0"+metformin)
	sale, err := f.s.Checkout(PayInsurance, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Return(ReturnRequest{SaleID: sale.ID, Refund: RefundFund, Cashier: "c1", Lines: []ReturnLine{{Barcode: metformin, Qty: 2}}}); err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if len(r.Lines) != 2 {
		t.Fatalf("return lines %+v, want one per sale line", r.Lines)
	}
	for i, want := range []struct{ bchno, lot string }{{feed.BatchNo(sale.ID, 0), "L2406"}, {feed.BatchNo(sale.ID, 1), "L2405"}} {
		if l := r.Lines[i]; l.FixmedinsBchno != want.bchno || l.ManuLotnum != want.lot || l.FixmedinsHilistID != "YP-0001" {
			t.Errorf("return line %d: %+v, want bchno %s lot %s", i, l, want.bchno, want.lot)
		}
	}
}

// The expiry a box's GS1 code carries is what the expired rule decides
// on: past it blocked, within the near window flagged, later sold; the
// catalogue's lot dates never stand in for a box's.
func TestSession_expiryFromTheScan(t *testing.T) {
	f := newUploadFixture(t) // the fixture's clock: 2026-03-02
	f.s.CardRead(card)
	gtin := "]d20106901234567892" + "17"
	f.scan(t, gtin+"260301"+"10L2401") // expired yesterday
	f.scan(t, gtin+"260315"+"10L2402") // 13 days left
	f.scan(t, gtin+"261231"+"10L2403") // months left
	f.scan(t, "]E0"+metformin)         // no expiry scanned: the catalogue's lot is no evidence
	want := []struct{ decision, rule string }{{"block", "expired"}, {"flag", "expired"}, {"allow", ""}, {"allow", ""}}
	v := f.s.View()
	if len(v.Lines) != len(want) {
		t.Fatalf("lines %+v, want one per lot and the EAN's", v.Lines)
	}
	for i, w := range want {
		if l := v.Lines[i]; l.Decision != w.decision || l.Rule != w.rule {
			t.Errorf("line %d: %s %s (%s), want %s %s", i, l.Decision, l.Rule, l.ReasonZH, w.decision, w.rule)
		}
	}
}

// The prescriber given with the prescription is on its drugs' lines, not
// on the others', and goes with the basket; a bad one changes nothing.
func TestSession_prescriberOnRxLines(t *testing.T) {
	f := newUploadFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	if err := f.s.SetRxFrom("RX20260302A001", false, "李\x00医生"); !errors.Is(err, ErrBadPrescriber) {
		t.Fatalf("control character: %v, want ErrBadPrescriber", err)
	}
	if err := f.s.SetRxFrom("RX20260302A001", false, " 李医生 "); err != nil {
		t.Fatal(err)
	}
	f.scan(t, "]E0"+amoxicillin) // a prescription drug
	f.scan(t, "]E0"+shampoo)
	if _, err := f.s.Checkout(PaySplit, "c1"); err != nil {
		t.Fatal(err)
	}
	r := f.led.last(t)
	if r.Lines[0].PrscDrName != "李医生" || r.Lines[1].PrscDrName != "" {
		t.Fatalf("prescribers %q %q, want 李医生 on the prescription drug only", r.Lines[0].PrscDrName, r.Lines[1].PrscDrName)
	}
	if err := f.s.SetRx("RX20260302A002", false); err != nil { // the next prescription, with no prescriber
		t.Fatal(err)
	}
	f.scan(t, "]E0"+amoxicillin)
	if _, err := f.s.Checkout(PayCash, "c1"); err != nil {
		t.Fatal(err)
	}
	if p := f.led.last(t).Lines[0].PrscDrName; p != "" {
		t.Fatalf("the next sale's prescriber %q, want none: it went with the basket", p)
	}
}
