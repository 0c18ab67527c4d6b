package policy

import (
	"math"
	"time"
	"unicode/utf8"
)

// Limits are the days-supply limits in force. They come from the bureau's
// policy bundle or the local config; DefaultLimits gives RULES.md's.
type Limits struct {
	AcuteDays   int // acute course
	ChronicDays int // chronic course
	LongRxDays  int // a prescription flagged long (长期处方)
}

// DefaultLimits returns 7 days acute, 15 chronic and 84 for a long
// prescription (RULES.md days_supply; 000_ff44986620f61bf1.txt:29).
func DefaultLimits() Limits {
	return Limits{AcuteDays: 7, ChronicDays: 15, LongRxDays: 84}
}

// forLine picks the limit for an item's course. An item without a course
// gets the acute limit, the shorter one. A limit of zero or less allows
// nothing: a missing setting fails closed rather than switching the rule off.
func (l Limits) forLine(c Course, longRx bool) int {
	switch {
	case longRx:
		return l.LongRxDays
	case c == CourseChronic:
		return l.ChronicDays
	}
	return l.AcuteDays
}

// Decision is the verdict on one scanned line.
type Decision struct {
	Verdict  Verdict
	Rule     RuleID // the rule that decided; "" when allowed
	ReasonZH string // for the cashier; "" when allowed
	ReasonEN string
	Days     int // days this line supplies; 0 when not computable
	OnHand   int // days of the same drug on hand before this line (when days_supply ran)
	Limit    int // the days-supply limit applied; 0 when days_supply did not run
}

// Purchase is an earlier insurance line on the same card.
type Purchase struct {
	Generic string // Item.Generic of what was bought
	Days    int    // days it supplied
	At      time.Time
}

// Scan is one line to decide.
type Scan struct {
	Barcode string
	Item    *Item // nil: the barcode is not in the catalogue
	Qty     int   // retail packs
	LongRx  bool  // the prescription is flagged long
}

// LineDays returns the days qty packs of it supply: ⌈qty × pack_units ÷
// daily_units⌉ (RULES.md days_supply), so a part of a day counts as a day.
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

// Decide decides one line. history holds the card's earlier insurance
// lines (any drug; Decide picks the same generic), lim the limits in force
// and now the time of the scan. The first check that fails decides; see
// the package comment for the order.
func Decide(s Scan, history []Purchase, lim Limits, now time.Time) Decision {
	it := s.Item
	if it == nil {
		return refuse(Decision{}, reasonUnknownBarcode, facts{barcode: shorten(s.Barcode)})
	}
	d := Decision{Days: LineDays(*it, s.Qty)}
	f := facts{barcode: s.Barcode, name: it.Name, category: it.Category, days: d.Days}
	switch {
	case it.Category.nonDrug():
		return refuse(d, reasonNonDrug, f)
	case !it.Covered:
		return refuse(d, reasonNotCovered, f)
	case it.MedListCodg == "":
		return refuse(d, reasonNoCode, f)
	}
	// A line whose days cannot be computed (a device without a daily dose,
	// say) is not subject to days_supply; the loader makes drugs that have
	// a pack size carry a daily dose and a course.
	if d.Days > 0 {
		d.Limit = lim.forLine(it.Course, s.LongRx)
		d.OnHand = OnHand(history, it.Generic(), now)
		f.onHand, f.limit = d.OnHand, d.Limit
		// Written so that no sum can overflow.
		if d.OnHand > d.Limit || d.Days > d.Limit-d.OnHand {
			if d.OnHand == 0 {
				return refuse(d, reasonDaysOverLine, f)
			}
			return refuse(d, reasonDaysOver, f)
		}
	}
	d.Verdict = Allow
	return d
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
