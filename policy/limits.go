package policy

import "time"

// Limits are the settings in force for one region: the defaults of docs/rules.md
// (DefaultLimits), changed per region by the policy file or the bureau's
// bundle (Policy.Limits). A zero setting fails closed (a 0-day limit allows
// nothing, 0 burst cards holds every card) rather than switching a rule
// off: rules are switched off only through Off, off_hours by Hours nil, and
// expired's near-expiry flag (never its block) by ExpiryNearDays 0.
// Maps are read-only once the Limits are in use.
type Limits struct {
	AcuteDays, ChronicDays, LongRxDays int // days_supply: 7, 15, 84

	RxItems     int                // rx_items: different drugs on one prescription (5)
	ControlMax  map[string]int     // special_control: packs per sale per controlled class ({"ephedrine": 2})
	BurstCards  int                // card_burst: more than this many distinct cards …
	BurstWindow time.Duration      // … within this window before now (4 in 10 minutes)
	Hours       *Hours             // off_hours: registered opening hours; nil = no limit
	Severity    map[RuleID]Verdict // per-rule severity where docs/rules.md allows a change (trace_missing: block; pharmacist_absent: flag, block)
	Off         map[RuleID]bool    // rules switched off (never non_drug or not_covered)

	// ExpiryNearDays: expired flags a box with fewer than this many days
	// left before its expiry date (30). 0 flags none ("fewer than 0 days"
	// never holds); a box past its expiry is blocked all the same. A
	// negative window, which LoadPolicy refuses, flags every box with a
	// known expiry: fail closed.
	ExpiryNearDays int
}

// Hours are a pharmacy's registered opening hours, local clock time
// "HH:MM". Close before Open means the hours cross midnight (08:00–02:00);
// Close may be "24:00".
type Hours struct {
	Open, Close string
}

// DefaultLimits returns the defaults of docs/rules.md: 7 days acute, 15 chronic, 84
// for a long prescription (000_ff44986620f61bf1.txt:29); 5 drugs on a
// prescription (002_0b440fc10f5ecba8.txt:981); 2 packs of an ephedrine
// compound per sale; more than 4 cards in 10 minutes; no opening hours; a
// box flagged with fewer than 30 days before its expiry.
func DefaultLimits() Limits {
	return Limits{
		AcuteDays: 7, ChronicDays: 15, LongRxDays: 84,
		RxItems:        5,
		ControlMax:     map[string]int{"ephedrine": 2},
		BurstCards:     4,
		BurstWindow:    10 * time.Minute,
		ExpiryNearDays: 30,
	}
}

// forLine picks the days-supply limit for an item's course. An item
// without a course gets the acute limit, the shorter one.
func (l *Limits) forLine(c Course, longRx bool) int {
	switch {
	case longRx:
		return l.LongRxDays
	case c == CourseChronic:
		return l.ChronicDays
	}
	return l.AcuteDays
}

// on reports whether a rule runs. Required rules always do.
func (l *Limits) on(id RuleID) bool { return id.required() || !l.Off[id] }

// verdict is a rule's severity under these limits: the region's override
// where docs/rules.md allows it, else the default.
func (l *Limits) verdict(id RuleID) Verdict {
	if v, ok := l.Severity[id]; ok && id.allows(v) {
		return v
	}
	return id.severity()
}

// Policy is the whole policy a till enforces: its version, the default
// limits, each region's limits and the bureau's deny list of cards. It is
// read-only once loaded and safe for concurrent use.
type Policy struct {
	Version string
	Default Limits
	// Regions hold each region's complete limits: LoadPolicy merges a
	// region's settings over Default when it loads.
	Regions map[string]Limits
	Deny    map[string]bool // card numbers on the deny list
}

// DefaultPolicy returns the defaults of docs/rules.md for every region and an empty
// deny list: what a till enforces before any policy file or bundle.
func DefaultPolicy() *Policy {
	return &Policy{
		Version: "default",
		Default: DefaultLimits(),
		Regions: map[string]Limits{},
		Deny:    map[string]bool{},
	}
}

// Limits returns the limits in force in a region (6-digit code): the
// region's own when the policy has them, else the default.
func (p *Policy) Limits(region string) Limits {
	if l, ok := p.Regions[region]; ok {
		return l
	}
	return p.Default
}

// Denied reports whether a card number is on the deny list. A nil policy
// denies nothing.
func (p *Policy) Denied(cardNo string) bool {
	return p != nil && cardNo != "" && p.Deny[cardNo]
}

// parseClock reads "HH:MM" (00:00–23:59, and 24:00 when end is true) as
// minutes after midnight.
func parseClock(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case m > 59:
		return 0, false
	case h == 24 && m == 0 && end:
		return 24 * 60, true
	case h > 23:
		return 0, false
	}
	return h*60 + m, true
}

// open reports whether the clock time of t falls within the hours, and
// false for ok when the hours do not parse. Open == Close is no limit.
func (h Hours) open(t time.Time) (in, ok bool) {
	o, ok1 := parseClock(h.Open, false)
	c, ok2 := parseClock(h.Close, true)
	if !ok1 || !ok2 {
		return false, false
	}
	m := t.Hour()*60 + t.Minute()
	switch {
	case o < c:
		return m >= o && m < c, true
	case o > c: // across midnight
		return m >= o || m < c, true
	}
	return true, true
}
