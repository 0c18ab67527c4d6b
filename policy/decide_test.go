package policy

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// Items as in testdata/catalog.csv.
var (
	metforminA = Item{Barcode: "6901234567892", MedListCodg: "XA10BAE054A001010101445", Name: "盐酸二甲双胍片 0.5g×60片",
		Category: CategoryDrug, Covered: true, Rx: true, Course: CourseChronic, PackUnits: 60, DailyUnits: 6, PriceFen: 2580}
	metforminB = Item{Barcode: "6923456700123", MedListCodg: "XA10BAE054A001010203127", Name: "盐酸二甲双胍片 0.5g×20片",
		Category: CategoryDrug, Covered: true, Rx: true, Course: CourseChronic, PackUnits: 20, DailyUnits: 6, PriceFen: 590}
	metforminXR = Item{Barcode: "6945123004563", MedListCodg: "XA10BAE054A012010300892", Name: "盐酸二甲双胍缓释片 0.5g×30片",
		Category: CategoryDrug, Covered: true, Rx: true, Course: CourseChronic, PackUnits: 30, DailyUnits: 4, PriceFen: 1860}
	amoxicillin = Item{Barcode: "6937215000782", MedListCodg: "XJ01CAA040E001010101378", Name: "阿莫西林胶囊 0.25g×36粒",
		Category: CategoryDrug, Covered: true, Rx: true, Course: CourseAcute, PackUnits: 36, DailyUnits: 16, PriceFen: 1250}
	shampoo = Item{Barcode: "6903148091050", Name: "海飞丝去屑洗发水 400ml", Category: CategoryDailyGoods, PriceFen: 5990}
)

var cst = time.FixedZone("CST", 8*3600)

// day returns 09:30 on day n of the worked example, China time.
func day(n int) time.Time { return time.Date(2025, 3, 10+n, 9, 30, 0, 0, cst) }

// testCard is a valid card; tests of the days rules decide with it, a
// prescription in the basket and a pharmacist on duty, so that only
// days_supply can fire.
var testCard = &Card{Type: "03", No: "A12345678", Expires: "2030-12-31"}

// decide decides qty packs of it (nil: bc is unknown) on testCard with a
// prescription and a pharmacist on duty, history hist, limits lim.
func decide(it *Item, bc string, qty int, longRx bool, hist []Purchase, lim Limits, now time.Time) Decision {
	return Decide(Line{Barcode: bc, Item: it, Qty: qty}, testCard, Basket{RxRef: "RX1", LongRx: longRx, PharmacistOnDuty: true},
		History{Purchases: hist}, lim, nil, now)
}

// same compares decisions, findings included.
func same(a, b Decision) bool {
	if len(a.Findings) != len(b.Findings) {
		return false
	}
	for i := range a.Findings {
		if a.Findings[i] != b.Findings[i] {
			return false
		}
	}
	return a.Verdict == b.Verdict && a.Rule == b.Rule && a.ReasonZH == b.ReasonZH && a.ReasonEN == b.ReasonEN &&
		a.Days == b.Days && a.OnHand == b.OnHand && a.Limit == b.Limit
}

// buy decides a scan and, when allowed, adds it to the card's history the
// way the session does.
func buy(t *testing.T, hist *[]Purchase, it Item, qty int, at time.Time) Decision {
	t.Helper()
	d := decide(&it, it.Barcode, qty, false, *hist, DefaultLimits(), at)
	if d.Verdict == Allow && d.Days > 0 {
		*hist = append(*hist, Purchase{Generic: it.Generic(), Days: d.Days, At: at})
	}
	return d
}

// TestDecide_workedExample reproduces the worked example of docs/rules.md.
func TestDecide_workedExample(t *testing.T) {
	var hist []Purchase
	steps := []struct {
		day     int
		want    Decision
		comment string
	}{
		{0, Decision{Verdict: Allow, Days: 10, OnHand: 0, Limit: 15}, "on hand 0 → 10"},
		{3, Decision{Verdict: Block, Rule: RuleDaysSupply, Days: 10, OnHand: 7, Limit: 15,
			ReasonZH: "已有 7 天用量，再购 10 天将超过 15 天上限",
			ReasonEN: "7 days on hand + 10 new would exceed the 15-day limit",
			Findings: []Finding{{RuleDaysSupply, Block, "已有 7 天用量，再购 10 天将超过 15 天上限",
				"7 days on hand + 10 new would exceed the 15-day limit"}}}, "7 + 10 = 17 > 15"},
		{6, Decision{Verdict: Allow, Days: 10, OnHand: 4, Limit: 15}, "4 + 10 = 14 ≤ 15"},
	}
	for _, s := range steps {
		if got := buy(t, &hist, metforminA, 1, day(s.day)); !same(got, s.want) {
			t.Errorf("day %d (%s):\n got %+v\nwant %+v", s.day, s.comment, got, s.want)
		}
	}
}

// TestDecide_brandSwitch checks that another brand or pack of the same
// generic (same first 10 characters of med_list_codg) still counts, and
// another generic does not.
func TestDecide_brandSwitch(t *testing.T) {
	if metforminA.Generic() != metforminB.Generic() || metforminA.Generic() != metforminXR.Generic() {
		t.Fatal("metformin brands do not share a generic")
	}
	var hist []Purchase
	if d := buy(t, &hist, metforminA, 1, day(0)); d.Verdict != Allow {
		t.Fatalf("day 0 brand A: %+v", d)
	}
	if d := buy(t, &hist, amoxicillin, 2, day(1)); d.Verdict != Allow || d.OnHand != 0 {
		t.Fatalf("amoxicillin counted metformin: %+v", d)
	}
	// Day 2: 8 days of A left; brand B adds ⌈20/6⌉ = 4 → 12.
	if d := buy(t, &hist, metforminB, 1, day(2)); d.Verdict != Allow || d.OnHand != 8 || d.Days != 4 {
		t.Fatalf("day 2 brand B: %+v, want allowed with 8 on hand + 4", d)
	}
	// Same day, the XR form: 12 on hand + ⌈30/4⌉ = 8 → 20 > 15.
	d := buy(t, &hist, metforminXR, 1, day(2))
	if d.Verdict != Block || d.Rule != RuleDaysSupply || d.OnHand != 12 || d.Days != 8 {
		t.Fatalf("day 2 XR: %+v, want blocked at 12 + 8", d)
	}
}

func TestDecide_limits(t *testing.T) {
	tests := []struct {
		name    string
		it      Item
		qty     int
		longRx  bool
		lim     Limits
		hist    []Purchase
		verdict Verdict
		days    int
		limit   int
		reason  string // ReasonZH when refused
	}{
		{"acute within", amoxicillin, 2, false, DefaultLimits(), nil, Allow, 5, 7, ""},                                          // ⌈72/16⌉
		{"acute at limit", amoxicillin, 3, false, DefaultLimits(), nil, Allow, 7, 7, ""},                                        // ⌈108/16⌉ = 7 ≤ 7
		{"acute one more pack", amoxicillin, 4, false, DefaultLimits(), nil, Block, 9, 7, "本次 9 天用量，超过 7 天上限"},                  // 144/16
		{"chronic at limit", metforminA, 1, false, DefaultLimits(), metHist(5, 0), Allow, 10, 15, ""},                           // 5 + 10 = 15
		{"chronic one over", metforminA, 1, false, DefaultLimits(), metHist(6, 0), Block, 10, 15, "已有 6 天用量，再购 10 天将超过 15 天上限"}, // 16
		{"chronic two packs", metforminA, 2, false, DefaultLimits(), nil, Block, 20, 15, "本次 20 天用量，超过 15 天上限"},
		{"long Rx", metforminA, 8, true, DefaultLimits(), nil, Allow, 80, 84, ""},
		{"long Rx over", metforminA, 9, true, DefaultLimits(), nil, Block, 90, 84, "本次 90 天用量，超过 84 天上限"},
		{"long Rx counts on hand", metforminA, 8, true, DefaultLimits(), metHist(5, 0), Block, 80, 84, "已有 5 天用量，再购 80 天将超过 84 天上限"},
		{"long Rx on an acute drug", amoxicillin, 20, true, DefaultLimits(), nil, Allow, 45, 84, ""},
		// A region with tighter limits (001_5780b94b1abdec55.txt:1161: 3–5 / 7–10 days).
		{"region acute", amoxicillin, 2, false, days(5, 10, 20), nil, Allow, 5, 5, ""},
		{"region chronic", metforminA, 1, false, days(5, 9, 20), nil, Block, 10, 9, ""},
		{"no course: acute limit", withCourse(metforminA, ""), 1, false, DefaultLimits(), nil, Block, 10, 7, ""},
		{"zero limits fail closed", metforminA, 1, false, days(0, 0, 0), nil, Block, 10, 0, ""},
		{"absurd quantity", metforminA, math.MaxInt / 2, false, DefaultLimits(), metHist(5, 0), Block, math.MaxInt, 15, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(&tt.it, tt.it.Barcode, tt.qty, tt.longRx, tt.hist, tt.lim, day(0))
			if d.Verdict != tt.verdict || d.Days != tt.days || d.Limit != tt.limit {
				t.Fatalf("got %+v, want %s with %d days, limit %d", d, tt.verdict, tt.days, tt.limit)
			}
			if (d.Verdict == Block) != (d.Rule == RuleDaysSupply) {
				t.Fatalf("rule %q with verdict %s", d.Rule, d.Verdict)
			}
			if tt.reason != "" && d.ReasonZH != tt.reason {
				t.Fatalf("ReasonZH = %q, want %q", d.ReasonZH, tt.reason)
			}
		})
	}
}

// days returns the default limits with other day limits.
func days(acute, chronic, longRx int) Limits {
	l := DefaultLimits()
	l.AcuteDays, l.ChronicDays, l.LongRxDays = acute, chronic, longRx
	return l
}

// metHist is one metformin purchase leaving onHand days at day(at).
func metHist(onHand, at int) []Purchase {
	return []Purchase{{Generic: metforminA.Generic(), Days: onHand, At: day(at)}}
}

func withCourse(it Item, c Course) Item { it.Course = c; return it }

// TestDecide_order checks which rule decides, in the order of docs/rules.md.
func TestDecide_order(t *testing.T) {
	covered := func(it Item) *Item { it.Covered = true; return &it }
	nonDrug := func(c Category) *Item { it := shampoo; it.Category = c; return &it }
	codeless := metforminA
	codeless.MedListCodg = ""
	uncovered := metforminA
	uncovered.Covered = false
	device := Item{Barcode: "6926300110536", Name: "血糖试纸 50片", Category: CategoryDevice, Covered: true,
		MedListCodg: "C0301010010000001234000"}
	overHist := metHist(15, 0) // full: any metformin line would exceed

	tests := []struct {
		name     string
		item     *Item
		qty      int
		verdict  Verdict
		rule     RuleID
		zh, en   string
		wantDays int
	}{
		{"unknown barcode fails closed", nil, 1, Block, RuleNotCovered,
			"条码 6900000000000 不在商品目录中，不能用医保支付", "Barcode 6900000000000 is not in the catalogue: insurance cannot pay", 0},
		{"shampoo", &shampoo, 1, Block, RuleNonDrug, "非药品（日用品），不能用医保支付", "Not a drug (daily goods): insurance cannot pay", 0},
		{"shampoo marked covered is still non-drug", covered(shampoo), 1, Block, RuleNonDrug, "非药品（日用品），不能用医保支付", "", 0},
		{"health food", nonDrug(CategoryHealthFood), 1, Block, RuleNonDrug, "非药品（保健食品），不能用医保支付", "Not a drug (health food): insurance cannot pay", 0},
		{"cosmetic", nonDrug(CategoryCosmetic), 1, Block, RuleNonDrug, "非药品（化妆品），不能用医保支付", "", 0},
		{"food", nonDrug(CategoryFood), 1, Block, RuleNonDrug, "非药品（食品），不能用医保支付", "", 0},
		{"other", nonDrug(CategoryOther), 1, Block, RuleNonDrug, "非药品（其他），不能用医保支付", "Not a drug (other goods): insurance cannot pay", 0},
		{"no category fails closed", nonDrug(""), 1, Block, RuleNonDrug, "", "", 0},
		{"drug not covered", &uncovered, 1, Block, RuleNotCovered,
			"盐酸二甲双胍片 0.5g×60片 不在医保目录内，不能用医保支付", "盐酸二甲双胍片 0.5g×60片 is not in the insurance catalogue: insurance cannot pay", 10},
		{"covered without code", &codeless, 1, Block, RuleNotCovered,
			"盐酸二甲双胍片 0.5g×60片 没有医保编码，不能用医保支付", "", 10},
		{"covered device without a daily dose", &device, 1, Allow, "", "", "", 0},
		{"zero quantity supplies no days", &metforminA, 0, Allow, "", "", "", 0},
		{"days last", &metforminA, 1, Block, RuleDaysSupply, "已有 15 天用量，再购 10 天将超过 15 天上限", "", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc := "6900000000000"
			if tt.item != nil {
				bc = tt.item.Barcode
			}
			d := decide(tt.item, bc, tt.qty, false, overHist, DefaultLimits(), day(0))
			if d.Verdict != tt.verdict || d.Rule != tt.rule || d.Days != tt.wantDays {
				t.Fatalf("got %+v, want %s %q with %d days", d, tt.verdict, tt.rule, tt.wantDays)
			}
			if tt.zh != "" && d.ReasonZH != tt.zh {
				t.Errorf("ReasonZH = %q, want %q", d.ReasonZH, tt.zh)
			}
			if tt.en != "" && d.ReasonEN != tt.en {
				t.Errorf("ReasonEN = %q, want %q", d.ReasonEN, tt.en)
			}
			if (d.Verdict == Allow) != (d.ReasonZH == "" && d.ReasonEN == "") {
				t.Errorf("verdict %s with reasons %q / %q", d.Verdict, d.ReasonZH, d.ReasonEN)
			}
		})
	}
}

func TestDecide_unknownBarcodeShortened(t *testing.T) {
	long := strings.Repeat("条", 20) // 60 bytes
	d := decide(nil, long, 1, false, nil, DefaultLimits(), day(0))
	want := "条码 " + strings.Repeat("条", 10) + "… 不在商品目录中，不能用医保支付"
	if d.Verdict != Block || d.Rule != RuleNotCovered || d.ReasonZH != want {
		t.Fatalf("got %+v\nwant ReasonZH %q", d, want)
	}
}

func TestLineDays_rounding(t *testing.T) {
	tests := []struct {
		name string
		it   Item
		qty  int
		want int
	}{
		{"whole pack", metforminA, 1, 10},                // 60 / 6
		{"part of a day counts", metforminB, 1, 4},       // 20 / 6 = 3.33
		{"two partial packs", metforminB, 2, 7},          // 40 / 6 = 6.67
		{"three partial packs exact", metforminB, 3, 10}, // 60 / 6
		{"half day", metforminXR, 1, 8},                  // 30 / 4 = 7.5
		{"acute", amoxicillin, 1, 3},                     // 36 / 16 = 2.25
		{"zero qty", metforminA, 0, 0},
		{"negative qty", metforminA, -1, 0},
		{"no pack units", withUnits(metforminA, 0, 6), 1, 0},
		{"no daily units", withUnits(metforminA, 60, 0), 1, 0},
		{"saturates", withUnits(metforminA, math.MaxInt/2, 1), 3, math.MaxInt},
		{"largest exact", withUnits(metforminA, math.MaxInt/3, math.MaxInt/3), 3, 3},
	}
	for _, tt := range tests {
		if got := LineDays(tt.it, tt.qty); got != tt.want {
			t.Errorf("%s: LineDays(%d×%d/%d, %d) = %d, want %d", tt.name, tt.it.PackUnits, tt.it.DailyUnits, tt.it.DailyUnits, tt.qty, got, tt.want)
		}
	}
}

func withUnits(it Item, pack, daily int) Item { it.PackUnits, it.DailyUnits = pack, daily; return it }

func TestOnHand_calendarDays(t *testing.T) {
	g := metforminA.Generic()
	late := time.Date(2025, 3, 10, 23, 50, 0, 0, cst)
	tests := []struct {
		name string
		hist []Purchase
		now  time.Time
		want int
	}{
		{"none", nil, late, 0},
		{"same day", []Purchase{{g, 10, late}}, late.Add(5 * time.Minute), 10},
		{"twenty minutes, next date", []Purchase{{g, 10, late}}, late.Add(20 * time.Minute), 9},
		{"47 hours, two dates", []Purchase{{g, 10, time.Date(2025, 3, 10, 0, 10, 0, 0, cst)}}, time.Date(2025, 3, 11, 23, 10, 0, 0, cst), 9},
		{"used up", []Purchase{{g, 10, day(0)}}, day(10), 0},
		{"long gone", []Purchase{{g, 10, day(0)}}, day(400), 0},
		{"sums", []Purchase{{g, 10, day(0)}, {g, 4, day(2)}, {g, 8, day(5)}}, day(6), 4 + 0 + 7},
		{"other generics ignored", []Purchase{{amoxicillin.Generic(), 5, day(0)}, {g, 10, day(0)}}, day(1), 9},
		{"future purchase counts in full", []Purchase{{g, 10, day(3)}}, day(0), 10},
		{"non-positive days ignored", []Purchase{{g, -5, day(0)}, {g, 0, day(0)}}, day(0), 0},
		// 23:30 UTC on the 9th is 07:30 on the 10th in China: same date as now.
		{"dates in now's location", []Purchase{{g, 10, time.Date(2025, 3, 9, 23, 30, 0, 0, time.UTC)}}, day(0), 10},
		{"saturates", []Purchase{{g, math.MaxInt, day(0)}, {g, math.MaxInt, day(0)}}, day(0), math.MaxInt},
	}
	for _, tt := range tests {
		if got := OnHand(tt.hist, g, tt.now); got != tt.want {
			t.Errorf("%s: OnHand = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := OnHand([]Purchase{{"", 10, day(0)}}, "", day(0)); got != 0 {
		t.Errorf("OnHand of no generic = %d, want 0", got)
	}
}

// TestOnHand_dst checks that a short (23-hour) day still counts as one day.
func TestOnHand_dst(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	bought := time.Date(2025, 3, 8, 23, 30, 0, 0, ny) // clocks go forward on the 9th
	now := time.Date(2025, 3, 10, 0, 10, 0, 0, ny)    // 23h40m later by the clock, 2 dates
	if got := OnHand([]Purchase{{"G", 10, bought}}, "G", now); got != 8 {
		t.Fatalf("OnHand = %d, want 8", got)
	}
}

func TestItem_Generic(t *testing.T) {
	tests := []struct{ codg, want string }{
		{"XA10BAE054A001010101445", "XA10BAE054"},
		{"ZA01BAL031E002010104321", "ZA01BAL031"},
		{"XA10", "XA10"},
		{"", ""},
		{"二甲双胍片剂型规格厂家代码", "二甲双胍片剂型规格厂"}, // characters, not bytes
	}
	for _, tt := range tests {
		if got := (Item{MedListCodg: tt.codg}).Generic(); got != tt.want {
			t.Errorf("Generic(%q) = %q, want %q", tt.codg, got, tt.want)
		}
	}
}

// ephedrine is the catalogue's pseudoephedrine compound.
var ephedrine = Item{Barcode: "6905153009174", TracePrefix: "8104428", MedListCodg: "XR05XAF061E002010101562",
	Name: "复方盐酸伪麻黄碱缓释胶囊 10粒", Category: CategoryDrug, Covered: true, Control: "ephedrine",
	Course: CourseAcute, PackUnits: 10, DailyUnits: 2, PriceFen: 1950}

func rules(d Decision) []RuleID {
	var ids []RuleID
	for _, f := range d.Findings {
		ids = append(ids, f.Rule)
	}
	return ids
}

// TestDecide_noCard checks the cash context: no card rules, no days or
// payment rules, but a controlled class still needs the buyer's identity.
func TestDecide_noCard(t *testing.T) {
	lim := DefaultLimits()
	lim.Hours = &Hours{"08:00", "09:00"}
	recent := History{Purchases: metHist(15, 0), RecentCards: []CardSeen{{"B1", day(0)}, {"B2", day(0)}, {"B3", day(0)}, {"B4", day(0)}, {"B5", day(0)}}}
	deny := func(string) bool { return true }
	d := Decide(Line{Barcode: metforminA.Barcode, Item: &metforminA, Qty: 1}, nil, Basket{RxRef: "R", PharmacistOnDuty: true}, recent, lim, deny, day(0))
	if d.Verdict != Allow || d.Limit != 0 || d.Days != 10 {
		t.Errorf("metformin without a card: %+v", d)
	}
	d = Decide(Line{Barcode: ephedrine.Barcode, Item: &ephedrine, Qty: 1}, nil, Basket{}, recent, lim, deny, day(0))
	if d.Verdict != Block || d.Rule != RuleSpecialControl || d.ReasonZH != "含麻黄碱类复方制剂须登记购买人身份，请先读社保卡" {
		t.Errorf("ephedrine without a card: %+v", d)
	}
}

// TestDecide_manyFindings checks that the most severe finding decides, the
// first in the order of docs/rules.md among equals, and that every finding is kept.
func TestDecide_manyFindings(t *testing.T) {
	lim := DefaultLimits()
	lim.Hours = &Hours{"08:00", "09:00"}
	card := &Card{No: "X1", Expires: "2020-01-01"}
	deny := func(no string) bool { return no == "X1" }
	it := metforminA
	it.TracePrefix = "8100010"
	d := Decide(Line{Barcode: it.Barcode, Item: &it, Qty: 2, Manual: true}, card, Basket{}, History{}, lim, deny, day(0))
	want := []RuleID{RuleDaysSupply, RuleRxRequired, RuleTraceMissing, RuleCardExpired, RuleCardBlocked, RuleOffHours, RuleManualEntry, RulePharmacistAbsent}
	if !slices.Equal(rules(d), want) || d.Verdict != Block || d.Rule != RuleDaysSupply {
		t.Fatalf("got %s by %s with %v, want block by days_supply with %v", d.Verdict, d.Rule, rules(d), want)
	}
	if Overridable(d) {
		t.Error("a block is overridable")
	}
	// Without the blocks, the hold decides and can be overridden.
	d = Decide(Line{Barcode: it.Barcode, Item: &it, Qty: 1, Traces: []string{"81000100000000000001"}}, testCard, Basket{}, History{}, lim, nil, day(0))
	if d.Verdict != Hold || d.Rule != RuleRxRequired || !Overridable(d) || len(d.Findings) != 3 {
		t.Errorf("got %+v, want held by rx_required, then off_hours and pharmacist_absent", d)
	}
	if Overridable(Decision{Verdict: Flag}) || Overridable(Decision{Verdict: Allow}) {
		t.Error("flag or allow overridable")
	}
}

// TestDecide_limitsFailClosed checks settings a hand-built Limits could
// carry: required rules ignore Off, a severity docs/rules.md does not allow is
// ignored, and unreadable hours or expiry dates hold or block.
func TestDecide_limitsFailClosed(t *testing.T) {
	lim := DefaultLimits()
	lim.Off = map[RuleID]bool{RuleNonDrug: true, RuleNotCovered: true, RuleManualEntry: true}
	lim.Severity = map[RuleID]Verdict{RuleDaysSupply: Flag, RuleNonDrug: Allow, RuleTraceMissing: Block}
	if d := decide(&shampoo, shampoo.Barcode, 1, false, nil, lim, day(0)); d.Verdict != Block || d.Rule != RuleNonDrug {
		t.Errorf("non_drug switched off or lowered: %+v", d)
	}
	if d := decide(nil, "1", 1, false, nil, lim, day(0)); d.Verdict != Block || d.Rule != RuleNotCovered {
		t.Errorf("not_covered switched off: %+v", d)
	}
	if d := decide(&metforminA, metforminA.Barcode, 2, false, nil, lim, day(0)); d.Verdict != Block {
		t.Errorf("days_supply lowered to flag: %+v", d)
	}
	l := Line{Barcode: metforminA.Barcode, Item: &metforminA, Qty: 1, Manual: true}
	if d := Decide(l, testCard, Basket{RxRef: "R", PharmacistOnDuty: true}, History{}, lim, nil, day(0)); d.Verdict != Allow {
		t.Errorf("manual_entry switched off still fires: %+v", d)
	}
	lim = DefaultLimits()
	lim.Hours = &Hours{"8am", "10pm"}
	if d := decide(&metforminA, metforminA.Barcode, 1, false, nil, lim, day(0)); d.Verdict != Hold || d.Rule != RuleOffHours {
		t.Errorf("bad hours: %+v", d)
	}
	bad := &Card{No: "A1", Expires: "2025-02-30"}
	if d := Decide(l, bad, Basket{RxRef: "R", PharmacistOnDuty: true}, History{}, DefaultLimits(), nil, day(0)); d.Rule != RuleCardExpired ||
		d.ReasonZH != "社保卡有效期 2025-02-30 无法识别" {
		t.Errorf("bad expiry: %+v", d)
	}
}

// TestDecide_burst checks the burst count: distinct cards, this one not
// counted twice, only within the window.
func TestDecide_burst(t *testing.T) {
	now := day(0)
	seen := func(nos ...string) []CardSeen {
		var out []CardSeen
		for i, no := range nos {
			out = append(out, CardSeen{no, now.Add(-time.Duration(i+1) * time.Minute)})
		}
		return out
	}
	tests := []struct {
		name string
		seen []CardSeen
		want Verdict
	}{
		{"four others", seen("B1", "B2", "B3", "B4"), Hold},
		{"three others", seen("B1", "B2", "B3"), Allow},
		{"repeats count once", seen("B1", "B2", "B1", "B3", "B2"), Allow},
		{"this card not counted", seen("B1", "B2", "B3", testCard.No), Allow},
		{"old ones out", append(seen("B1", "B2", "B3"), CardSeen{"B4", now.Add(-10 * time.Minute)}), Allow},
		{"future ones out", append(seen("B1", "B2", "B3"), CardSeen{"B4", now.Add(time.Minute)}), Allow},
		{"many", seen("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9"), Hold},
	}
	for _, tt := range tests {
		l := Line{Barcode: metforminA.Barcode, Item: &metforminA, Qty: 1}
		d := Decide(l, testCard, Basket{RxRef: "R", PharmacistOnDuty: true}, History{RecentCards: tt.seen}, DefaultLimits(), nil, now)
		if d.Verdict != tt.want {
			t.Errorf("%s: %+v, want %s", tt.name, d, tt.want)
		}
	}
}

func TestDecideReturn(t *testing.T) {
	tests := []struct {
		paid, to string
		want     Verdict
	}{
		{"insurance", "fund", Allow},
		{"insurance", "cash", Block},
		{"insurance", "", Block},
		{"", "cash", Block}, // unknown payment counts as insurance
		{"cash", "cash", Allow},
		{"cash", "fund", Allow},
	}
	for _, tt := range tests {
		d := DecideReturn(Return{PaidBy: tt.paid, RefundTo: tt.to})
		if d.Verdict != tt.want || (d.Verdict == Block) != (d.Rule == RuleCashRefund && len(d.Findings) == 1) {
			t.Errorf("%s → %s: %+v, want %s", tt.paid, tt.to, d, tt.want)
		}
	}
}

// TestDecide_expired checks the expired rule: past the expiry date
// blocked, the expiry day itself sellable, fewer than N days left flagged,
// no date no finding, an unreadable date blocked; with or without a card.
func TestDecide_expired(t *testing.T) {
	now := day(0) // 2025-03-10 09:30 CST
	noNear := DefaultLimits()
	noNear.ExpiryNearDays = 0
	negative := DefaultLimits()
	negative.ExpiryNearDays = -1
	off := DefaultLimits()
	off.Off = map[RuleID]bool{RuleExpired: true}
	tests := []struct {
		name    string
		expiry  string
		card    *Card
		lim     Limits
		now     time.Time
		verdict Verdict
		zh, en  string
	}{
		{"no expiry known", "", testCard, DefaultLimits(), now, Allow, "", ""},
		{"past expiry", "2025-03-09", testCard, DefaultLimits(), now, Block,
			"药品已过有效期（2025-03-09），不得销售", "Past its expiry date (2025-03-09): not for sale"},
		{"long past", "2019-12-31", testCard, DefaultLimits(), now, Block, "药品已过有效期（2019-12-31），不得销售", ""},
		{"past expiry without a card", "2025-03-09", nil, DefaultLimits(), now, Block, "", ""},
		{"expires today: flagged, not blocked", "2025-03-10", testCard, DefaultLimits(), now, Flag,
			"药品临近有效期（2025-03-10，还剩 0 天）", "Near its expiry (2025-03-10, 0 days left)"},
		{"expires today, last minute", "2025-03-10", testCard, DefaultLimits(), time.Date(2025, 3, 10, 23, 59, 59, 0, cst), Flag, "", ""},
		{"expired at midnight", "2025-03-10", testCard, DefaultLimits(), time.Date(2025, 3, 11, 0, 0, 0, 0, cst), Block, "", ""},
		{"expires today, no near window", "2025-03-10", testCard, noNear, now, Allow, "", ""},
		{"past expiry, no near window", "2025-03-09", testCard, noNear, now, Block, "", ""},
		{"12 days left", "2025-03-22", testCard, DefaultLimits(), now, Flag,
			"药品临近有效期（2025-03-22，还剩 12 天）", "Near its expiry (2025-03-22, 12 days left)"},
		{"29 days left", "2025-04-08", testCard, DefaultLimits(), now, Flag, "药品临近有效期（2025-04-08，还剩 29 天）", ""},
		{"30 days left", "2025-04-09", testCard, DefaultLimits(), now, Allow, "", ""},
		{"near without a card", "2025-03-22", nil, DefaultLimits(), now, Flag, "", ""},
		{"negative window fails closed", "2030-01-01", testCard, negative, now, Flag, "", ""},
		{"day that does not exist", "2025-02-30", testCard, DefaultLimits(), now, Block,
			"药品有效期 2025-02-30 无法识别，请核对药盒", "The box's expiry date 2025-02-30 cannot be read: check the box"},
		{"GS1 digits, not a date", "250309", testCard, DefaultLimits(), now, Block, "药品有效期 250309 无法识别，请核对药盒", ""},
		{"switched off", "2025-03-09", testCard, off, now, Allow, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Line{Barcode: metforminA.Barcode, Item: &metforminA, Qty: 1, Expiry: tt.expiry}
			d := Decide(l, tt.card, Basket{RxRef: "RX1", PharmacistOnDuty: true}, History{}, tt.lim, nil, tt.now)
			if d.Verdict != tt.verdict {
				t.Fatalf("got %+v, want %s", d, tt.verdict)
			}
			if tt.verdict == Allow {
				return
			}
			if d.Rule != RuleExpired || len(d.Findings) != 1 {
				t.Fatalf("got %+v, want only expired", d)
			}
			if tt.zh != "" && d.ReasonZH != tt.zh {
				t.Errorf("ReasonZH = %q, want %q", d.ReasonZH, tt.zh)
			}
			if tt.en != "" && d.ReasonEN != tt.en {
				t.Errorf("ReasonEN = %q, want %q", d.ReasonEN, tt.en)
			}
		})
	}
	// A near-expiry flag stays a flag beside a block, which decides.
	l := Line{Barcode: shampoo.Barcode, Item: &shampoo, Qty: 1, Expiry: "2025-03-22"}
	d := Decide(l, testCard, Basket{}, History{}, DefaultLimits(), nil, now)
	if !slices.Equal(rules(d), []RuleID{RuleNonDrug, RuleExpired}) || d.Rule != RuleNonDrug || d.Findings[1].Verdict != Flag {
		t.Errorf("shampoo near expiry: %+v", d)
	}
}

// TestDecide_pharmacistAbsent checks the seventeenth rule: a prescription
// drug without a pharmacist on duty is held, card or not, insurance or
// not; an OTC drug is not; a region may make it flag or block or switch
// it off; rx_required, earlier in the table, decides between the two holds.
func TestDecide_pharmacistAbsent(t *testing.T) {
	ibuprofen := Item{Barcode: "6901222003562", MedListCodg: "XM01AEB046E002010202211", Name: "布洛芬缓释胶囊 0.3g×20粒",
		Category: CategoryDrug, Covered: true, Course: CourseAcute, PackUnits: 20, DailyUnits: 4, PriceFen: 1680}
	vitaminRx := Item{Barcode: "6904005001915", Name: "维生素C泡腾片 1g×15片", Category: CategoryDrug, Rx: true, PackUnits: 15, DailyUnits: 1}
	with := func(v Verdict) Limits {
		l := DefaultLimits()
		l.Severity = map[RuleID]Verdict{RulePharmacistAbsent: v}
		return l
	}
	off := DefaultLimits()
	off.Off = map[RuleID]bool{RulePharmacistAbsent: true}
	lowered := with(Allow) // not a severity the rule allows: ignored
	tests := []struct {
		name   string
		it     Item
		card   *Card
		b      Basket
		lim    Limits
		want   Verdict
		rule   RuleID
		others []RuleID // the other findings, in order
	}{
		{"rx, nobody on duty", amoxicillin, testCard, Basket{RxRef: "R"}, DefaultLimits(), Hold, RulePharmacistAbsent, nil},
		{"rx, pharmacist on duty", amoxicillin, testCard, Basket{RxRef: "R", PharmacistOnDuty: true}, DefaultLimits(), Allow, "", nil},
		{"OTC, nobody on duty", ibuprofen, testCard, Basket{}, DefaultLimits(), Allow, "", nil},
		{"rx without a card", amoxicillin, nil, Basket{RxRef: "R"}, DefaultLimits(), Hold, RulePharmacistAbsent, nil},
		{"rx insurance does not pay", vitaminRx, testCard, Basket{RxRef: "R"}, DefaultLimits(), Block, RuleNotCovered, []RuleID{RulePharmacistAbsent}},
		{"rx without a prescription either", amoxicillin, testCard, Basket{}, DefaultLimits(), Hold, RuleRxRequired, []RuleID{RulePharmacistAbsent}},
		{"region flags", amoxicillin, testCard, Basket{RxRef: "R"}, with(Flag), Flag, RulePharmacistAbsent, nil},
		{"region blocks", amoxicillin, testCard, Basket{RxRef: "R"}, with(Block), Block, RulePharmacistAbsent, nil},
		{"region lowers to allow: ignored", amoxicillin, testCard, Basket{RxRef: "R"}, lowered, Hold, RulePharmacistAbsent, nil},
		{"switched off", amoxicillin, testCard, Basket{RxRef: "R"}, off, Allow, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := Line{Barcode: tt.it.Barcode, Item: &tt.it, Qty: 1}
			d := Decide(l, tt.card, tt.b, History{}, tt.lim, nil, day(0))
			want := slices.Concat([]RuleID{tt.rule}, tt.others)
			if tt.rule == "" {
				want = nil
			}
			if d.Verdict != tt.want || d.Rule != tt.rule || !slices.Equal(rules(d), want) {
				t.Fatalf("got %s by %q with %v, want %s by %q with %v", d.Verdict, d.Rule, rules(d), tt.want, tt.rule, want)
			}
			if d.Rule == RulePharmacistAbsent && (d.ReasonZH != "处方药须执业药师在岗审核：当前无药师签到" ||
				d.ReasonEN != "A prescription drug needs a licensed pharmacist on duty: nobody is signed in") {
				t.Errorf("reason %q / %q", d.ReasonZH, d.ReasonEN)
			}
		})
	}
}
