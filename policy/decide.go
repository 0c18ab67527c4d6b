package policy

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Card is the insurance card presented for the sale.
type Card struct {
	Type    string // "03" social-security card, "01" e-voucher
	No      string
	Expires string // YYYY-MM-DD, the last valid day; "" unknown
}

// Line is the line being decided.
type Line struct {
	Barcode string
	Item    *Item    // nil: not in the catalogue
	Qty     int      // retail packs
	Traces  []string // traceability codes scanned for this line, one per box
	Manual  bool     // keyed in, not scanned
	// Expiry is the boxes' expiry date as scanned (GS1 AI 17, day 00
	// already the month's last day), YYYY-MM-DD, the last day they may be
	// sold; "" unknown. A line holds boxes of one lot, so one date.
	Expiry string
}

// Basket is the rest of the open sale.
type Basket struct {
	RxRef  string // prescription reference scanned or entered in this sale; "" none
	LongRx bool   // the prescription is flagged long (长期处方)
	// Others are the other lines currently allowed, flagged or overridden
	// in the basket (not blocked ones). Their days count towards
	// days_supply as bought now: the caller must not also put them in
	// History.Purchases.
	Others []Line
	// PharmacistOnDuty: a licensed pharmacist is signed in at the till
	// (pharmacist_absent). The zero value is nobody on duty: fail closed.
	PharmacistOnDuty bool
}

// History is what the ledger index knows about this card and this till.
// The caller fetches it per line; Decide's cost depends only on its size
// and the basket's, never on the ledger's.
type History struct {
	Purchases   []Purchase // this card's earlier insurance purchases, any generic
	SoldTraces  []string   // those of the line's Traces already sold at this till and not returned
	RecentCards []CardSeen // distinct cards seen at this till within BurstWindow before now, not this card
}

// Purchase is an earlier insurance line on the same card.
type Purchase struct {
	Generic string // Item.Generic of what was bought
	Days    int    // days it supplied
	At      time.Time
}

// CardSeen is a card seen at this till.
type CardSeen struct {
	No string
	At time.Time
}

// Decision is the verdict on one line: the most severe finding decides
// (block > hold > flag > allow; between equals, the order of docs/rules.md).
type Decision struct {
	Verdict  Verdict
	Rule     RuleID // the deciding rule; "" when allowed
	ReasonZH string // of the deciding finding, for the cashier; "" when allowed
	ReasonEN string
	Days     int       // days this line supplies; 0 when not computable
	OnHand   int       // days of the same generic on hand before this line (when days_supply ran)
	Limit    int       // the days-supply limit applied; 0 when days_supply did not run
	Findings []Finding // every non-allow finding, in the order of docs/rules.md; nil when allowed
}

// Finding is one rule that fired on a line.
type Finding struct {
	Rule     RuleID
	Verdict  Verdict
	ReasonZH string
	ReasonEN string
}

// Overridable reports whether a pharmacist may release the decision: only
// a hold. A block is never overridden; allow and flag need nothing.
func Overridable(d Decision) bool { return d.Verdict == Hold }

// Decide decides one line for an insurance sale, collecting every finding.
//
// card is nil when no card has been presented (a cash context): the card
// rules, days_supply, price_cap, trace_missing and off_hours then do not
// run, but special_control blocks, for its buyer must be identified. A line
// insurance will not pay (non_drug, not_covered) is still checked against
// the drug-law rules (rx_required, rx_items, special_control, trace_dup),
// the card and till rules and manual_entry, so the record shows them.
// expired runs on every line whose Expiry is known, card or not: a box
// past its expiry is not sold at all. pharmacist_absent runs on every
// prescription drug, card or not, as rx_required does.
//
// deny reports cards on the deny list (Policy.Denied; nil denies none).
// now is the scan time in the pharmacy's zone: days are counted in calendar
// days and opening hours read on its clock.
func Decide(l Line, card *Card, b Basket, h History, lim Limits, deny func(cardNo string) bool, now time.Time) Decision {
	var d Decision
	add := func(r reason, f facts) {
		fd := r.finding(f, &lim)
		d.Findings = append(d.Findings, fd)
		if fd.Verdict.rank() > d.Verdict.rank() {
			d.Verdict, d.Rule, d.ReasonZH, d.ReasonEN = fd.Verdict, fd.Rule, fd.ReasonZH, fd.ReasonEN
		}
	}
	d.Verdict = Allow

	it := l.Item
	payable := false
	var name facts
	switch {
	case it == nil:
		var f facts
		f.set("barcode", shorten(l.Barcode))
		add(reasonUnknownBarcode, f)
	case it.Category.nonDrug():
		// not_covered is implied and not listed: the category says more.
		var f facts
		f.setLang("category", categoryZH(it.Category), categoryEN(it.Category))
		add(reasonNonDrug, f)
	case !it.Covered:
		name.set("name", it.Name)
		add(reasonNotCovered, name)
	case it.MedListCodg == "":
		name.set("name", it.Name)
		add(reasonNoCode, name)
	default:
		payable = true
	}
	if it != nil {
		d.Days = LineDays(*it, l.Qty)
	}
	insured := payable && card != nil // the rules about what the fund pays

	// days_supply. A line whose days cannot be computed (a device without
	// a daily dose) is not subject to it; the loader makes drugs that have
	// a pack size carry a daily dose and a course.
	if insured && d.Days > 0 && lim.on(RuleDaysSupply) {
		g := it.Generic()
		d.Limit = lim.forLine(it.Course, b.LongRx)
		d.OnHand = satAdd(OnHand(h.Purchases, g, now), basketDays(b.Others, g))
		// Written so that no sum can overflow.
		if d.OnHand > d.Limit || d.Days > d.Limit-d.OnHand {
			var f facts
			f.setInt("days", d.Days)
			f.setInt("on_hand", d.OnHand)
			f.setInt("limit", d.Limit)
			if d.OnHand == 0 {
				add(reasonDaysOverLine, f)
			} else {
				add(reasonDaysOver, f)
			}
		}
	}

	if it != nil && it.Rx {
		if b.RxRef == "" && lim.on(RuleRxRequired) {
			if name.zh == nil {
				name.set("name", it.Name)
			}
			add(reasonRxMissing, name)
		}
		if lim.on(RuleRxItems) {
			if n, isNew := rxDrugs(b.Others, it); isNew && n > lim.RxItems {
				var f facts
				f.setInt("n", n)
				f.setInt("max", lim.RxItems)
				add(reasonRxItems, f)
			}
		}
	}

	if it != nil && it.Control != "" && lim.on(RuleSpecialControl) {
		var f facts
		f.setLang("class", controlLabelZH(it.Control), controlLabelEN(it.Control))
		if card == nil {
			add(reasonControlNoCard, f)
		} else if most, ok := lim.ControlMax[it.Control]; ok {
			// A class without a configured limit still needs the card, but
			// has no pack limit.
			n := 0
			for _, o := range b.Others {
				if o.Item != nil && o.Item.Control == it.Control && o.Qty > 0 {
					n = satAdd(n, o.Qty)
				}
			}
			if n > most || max(l.Qty, 0) > most-n {
				f.setInt("max", most)
				f.setInt("n", n)
				f.setInt("qty", l.Qty)
				add(reasonControlOver, f)
			}
		}
	}

	if lim.on(RuleTraceDup) {
		if code, r := traceDup(l.Traces, h.SoldTraces, b.Others); r != 0 {
			var f facts
			f.set("code", shorten(code))
			add(r, f)
		}
	}

	if insured && it.Category == CategoryDrug && it.TracePrefix != "" && l.Qty > 0 && lim.on(RuleTraceMissing) {
		n := 0
		for _, c := range l.Traces {
			if len(c) == traceLen && len(it.TracePrefix) == tracePrefixLen && c[:tracePrefixLen] == it.TracePrefix && allDigits(c) {
				n++
			}
		}
		if n < l.Qty {
			var f facts
			f.setInt("qty", l.Qty)
			f.setInt("n", n)
			if n == 0 {
				add(reasonTraceNone, f)
			} else {
				add(reasonTraceShort, f)
			}
		}
	}

	if insured && it.PriceCapFen > 0 && it.PriceFen > it.PriceCapFen && lim.on(RulePriceCap) {
		var f facts
		f.set("price", yuan(it.PriceFen))
		f.set("cap", yuan(it.PriceCapFen))
		add(reasonPriceCap, f)
	}

	if card != nil {
		if card.Expires != "" && lim.on(RuleCardExpired) {
			var f facts
			f.set("expires", shorten(card.Expires))
			switch last, err := time.Parse(time.DateOnly, card.Expires); {
			case err != nil:
				add(reasonCardExpiryBad, f) // fail closed
			case civilDay(now) > civilDay(last):
				add(reasonCardExpired, f)
			}
		}
		if deny != nil && deny(card.No) && lim.on(RuleCardBlocked) {
			add(reasonCardBlocked, facts{})
		}
		if lim.on(RuleCardBurst) {
			if n := burst(card.No, h.RecentCards, lim.BurstCards, lim.BurstWindow, now); n > lim.BurstCards {
				var f facts
				f.setInt("n", n)
				f.setInt("max", lim.BurstCards)
				f.setLang("window", windowZH(lim.BurstWindow), windowEN(lim.BurstWindow))
				add(reasonCardBurst, f)
			}
		}
		if lim.Hours != nil && lim.on(RuleOffHours) {
			if in, ok := lim.Hours.open(now); !in {
				var f facts
				f.set("time", now.Format("15:04"))
				f.set("open", shorten(lim.Hours.Open))
				f.set("close", shorten(lim.Hours.Close))
				if ok {
					add(reasonOffHours, f)
				} else {
					add(reasonHoursBad, f) // fail closed
				}
			}
		}
	}

	if l.Manual && lim.on(RuleManualEntry) {
		add(reasonManualEntry, facts{})
	}

	if l.Expiry != "" && lim.on(RuleExpired) {
		var f facts
		f.set("expiry", shorten(l.Expiry))
		last, err := time.Parse(time.DateOnly, l.Expiry)
		// Days left count calendar days: 0 on the expiry day, which is
		// still sellable.
		left := civilDay(last) - civilDay(now)
		switch near := int64(lim.ExpiryNearDays); {
		case err != nil:
			add(reasonExpiryBad, f) // fail closed
		case left < 0:
			add(reasonExpired, f)
		case near < 0 || left < near:
			f.set("days", strconv.FormatInt(left, 10))
			add(reasonExpiryNear, f)
		}
	}

	// Last, as the seventeenth rule: between equal holds rx_required,
	// earlier in the table, decides and says more.
	if it != nil && it.Rx && !b.PharmacistOnDuty && lim.on(RulePharmacistAbsent) {
		add(reasonNoPharmacist, facts{})
	}
	return d
}

// Return describes one returned line (docs/rules.md, cash_refund).
type Return struct {
	PaidBy   string // "insurance" or "cash": how the original line was paid
	RefundTo string // "fund" or "cash"
}

// DecideReturn decides a return: a line paid by insurance goes back to the
// fund; refunded any other way it is blocked as cash_refund. Any PaidBy
// other than "cash" counts as insurance: fail closed.
func DecideReturn(r Return) Decision {
	if r.PaidBy == "cash" || r.RefundTo == "fund" {
		return Decision{Verdict: Allow}
	}
	lim := Limits{}
	f := reasonCashRefund.finding(facts{}, &lim)
	return Decision{Verdict: f.Verdict, Rule: f.Rule, ReasonZH: f.ReasonZH, ReasonEN: f.ReasonEN, Findings: []Finding{f}}
}

// basketDays sums the days the basket's other lines of generic supply.
func basketDays(others []Line, generic string) int {
	total := 0
	for _, o := range others {
		if o.Item != nil && o.Item.MedListCodg != "" && o.Item.Generic() == generic {
			total = satAdd(total, LineDays(*o.Item, o.Qty))
		}
	}
	return total
}

// rxDrugs counts the different prescription drugs (generics) of the
// basket with it, and whether it adds one.
func rxDrugs(others []Line, it *Item) (n int, isNew bool) {
	key := func(x *Item) string {
		if g := x.Generic(); g != "" {
			return g
		}
		return "barcode:" + x.Barcode
	}
	mine := key(it)
	isNew = true
	var seen []string
	for _, o := range others {
		if o.Item == nil || !o.Item.Rx {
			continue
		}
		k := key(o.Item)
		if k == mine {
			isNew = false
			continue
		}
		dup := false
		for _, s := range seen {
			if s == k {
				dup = true
				break
			}
		}
		if !dup {
			seen = append(seen, k)
		}
	}
	return len(seen) + 1, isNew
}

// traceDup finds a code of this line that was sold already (and not
// returned), or is scanned twice in this sale.
func traceDup(mine, sold []string, others []Line) (string, reason) {
	for _, c := range mine {
		for _, s := range sold {
			if c == s {
				return c, reasonTraceSold
			}
		}
	}
	for i, c := range mine {
		for _, c2 := range mine[:i] {
			if c == c2 {
				return c, reasonTraceTwice
			}
		}
		for _, o := range others {
			for _, c2 := range o.Traces {
				if c == c2 {
					return c, reasonTraceTwice
				}
			}
		}
	}
	return "", 0
}

// burst counts the distinct cards at this till within window before now,
// this one included. It stops counting once over most, so its cost is
// bounded by the window's cards, not the till's history.
func burst(self string, seen []CardSeen, most int, window time.Duration, now time.Time) int {
	from := now.Add(-window)
	var counted []string
	for _, c := range seen {
		if c.No == self || c.No == "" || !c.At.After(from) || c.At.After(now) {
			continue
		}
		dup := false
		for _, k := range counted {
			if k == c.No {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		counted = append(counted, c.No)
		if len(counted) > most {
			break
		}
	}
	return len(counted) + 1
}

// LineDays returns the days qty packs of it supply: ⌈qty × pack_units ÷
// daily_units⌉ (docs/rules.md, days_supply), so a part of a day counts as a day.
// It returns 0 when qty, pack_units or daily_units is not positive. An
// absurd quantity saturates at math.MaxInt instead of wrapping, so it is
// refused rather than allowed.
func LineDays(it Item, qty int) int {
	if qty <= 0 || it.PackUnits <= 0 || it.DailyUnits <= 0 {
		return 0
	}
	if qty > math.MaxInt/it.PackUnits {
		return math.MaxInt
	}
	units := qty * it.PackUnits
	days := units / it.DailyUnits
	if units%it.DailyUnits != 0 {
		days++
	}
	return days
}

// OnHand returns the days of generic still on hand at now: the sum over
// earlier purchases of max(0, days − days elapsed since the purchase).
// Days elapsed are calendar days in now's location, so a purchase at 23:50
// has one day elapsed ten minutes later. A purchase stamped after now (a
// clock set back) counts in full.
func OnHand(history []Purchase, generic string, now time.Time) int {
	if generic == "" {
		return 0
	}
	today := civilDay(now)
	loc := now.Location()
	total := 0
	for _, p := range history {
		if p.Generic != generic || p.Days <= 0 {
			continue
		}
		elapsed := today - civilDay(p.At.In(loc))
		if elapsed < 0 {
			elapsed = 0
		}
		if left := int64(p.Days) - elapsed; left > 0 {
			if int64(total) > math.MaxInt-left {
				return math.MaxInt
			}
			total += int(left)
		}
	}
	return total
}

// civilDay numbers t's calendar date in t's location. Counting dates, not
// 24-hour periods, keeps a DST change from shifting the count.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// satAdd adds non-negative ints, saturating at math.MaxInt.
func satAdd(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func categoryZH(c Category) string { zh, _ := categoryLabel(c); return zh }
func categoryEN(c Category) string { _, en := categoryLabel(c); return en }

func controlLabelZH(class string) string { zh, _ := controlLabel(shorten(class)); return zh }
func controlLabelEN(class string) string { _, en := controlLabel(shorten(class)); return en }

// windowZH and windowEN say a burst window the way a cashier reads it.
func windowZH(w time.Duration) string {
	if w%time.Minute == 0 {
		return strconv.FormatInt(int64(w/time.Minute), 10) + " 分钟"
	}
	return w.String()
}

func windowEN(w time.Duration) string {
	if w%time.Minute == 0 {
		return strconv.FormatInt(int64(w/time.Minute), 10) + " minutes"
	}
	return w.String()
}

// shorten keeps a hostile or garbled scan from flooding the cashier's
// screen: at most 32 bytes, cut on a character boundary.
func shorten(s string) string {
	const most = 32
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
