package scanner

import (
	"strings"
	"time"
)

// GS1 holds the application identifiers tillguard reads from a GS1 element
// string or a GS1 Digital Link. A field the symbol does not carry is "".
type GS1 struct {
	GTIN     string // AI 01: 14 digits, check digit valid
	Variant  string // AI 22: consumer product variant, 1–20 characters
	Expiry   string // AI 17: YYMMDD as in the symbol (DD may be 00: end of month)
	Produced string // AI 11: YYMMDD as in the symbol
	Lot      string // AI 10: 1–20 characters
	Serial   string // AI 21: 1–20 characters

	// ExpiryDate and ProducedDate are Expiry and Produced as real dates,
	// "YYYY-MM-DD": the century by the GS1 rule (gs1Year), and an expiry
	// day 00 resolved to the month's last day.
	ExpiryDate, ProducedDate string
}

// fixedAI gives the length in digits of each known predefined-length AI.
// Every other known AI (variableAI) is 1–20 characters of set 82.
var fixedAI = map[string]int{"01": 14, "11": 6, "17": 6}

var variableAI = map[string]bool{"10": true, "21": true, "22": true}

// ParseGS1 parses a GS1 element string as a scanner sends it: AIs one after
// another, a variable-length field ending at GS (0x1D, FNC1) or at the end
// of the data. One GS may lead (some scanners send the symbol's initial
// FNC1), follow a fixed-length field, or trail. Only AIs 01, 11, 17, 10, 21
// and 22 are known; any other AI, a repeated AI, a short or over-long
// field, a date that is no date, a character outside the GS1 character
// set, or a string without a GTIN (AI 01) is an error wrapping
// ErrUnreadable: without the AI table for the others, the rest of the
// string cannot be split reliably.
func ParseGS1(data string) (GS1, error) {
	var g GS1
	year := time.Now().Year()
	s := strings.TrimPrefix(data, string(rune(gs)))
	if s == "" {
		return GS1{}, unreadable("empty GS1 element string")
	}
	for s != "" {
		var ai, val string
		var err error
		if ai, val, s, err = nextElement(s); err == nil {
			err = g.set(ai, val, year)
		}
		if err != nil {
			return GS1{}, err
		}
	}
	if err := g.complete(); err != nil {
		return GS1{}, err
	}
	return g, nil
}

// nextElement splits the first AI and its value off s.
func nextElement(s string) (ai, val, rest string, err error) {
	if s[0] == gs {
		return "", "", "", unreadable("empty GS1 element (two GS in a row)")
	}
	if len(s) < 2 {
		return "", "", "", unreadable("GS1 AI cut short: %q", s)
	}
	ai, s = s[:2], s[2:]
	if n, ok := fixedAI[ai]; ok {
		val, rest, err = fixedField(ai, s, n)
	} else if variableAI[ai] {
		val, rest = varField(s)
	} else {
		err = unreadable("unknown GS1 AI %q", ai)
	}
	return ai, val, rest, err
}

// set checks val as the value of ai and stores it. The element string and
// the Digital Link both come here, so both syntaxes obey the same rules.
func (g *GS1) set(ai, val string, year int) error {
	dst, date := g.fieldOf(ai)
	if dst == nil {
		return unreadable("unknown GS1 AI %q", ai)
	}
	if *dst != "" {
		return unreadable("GS1 AI %s repeated", ai)
	}
	if err := checkValue(ai, val); err != nil {
		return err
	}
	if date != nil {
		d, err := gs1Date(ai, val, year)
		if err != nil {
			return err
		}
		*date = d
	}
	*dst = val
	return nil
}

// fieldOf returns where ai's value goes, and for a date AI where its
// resolved date goes; nil for an AI tillguard does not read.
func (g *GS1) fieldOf(ai string) (dst, date *string) {
	switch ai {
	case "01":
		return &g.GTIN, nil
	case "11":
		return &g.Produced, &g.ProducedDate
	case "17":
		return &g.Expiry, &g.ExpiryDate
	case "10":
		return &g.Lot, nil
	case "21":
		return &g.Serial, nil
	case "22":
		return &g.Variant, nil
	}
	return nil, nil
}

// complete enforces GS1's mandatory association: a lot, serial, variant
// or date qualifies a GTIN and means nothing alone.
func (g *GS1) complete() error {
	if g.GTIN == "" {
		return unreadable("GS1 data has no GTIN (AI 01): a lot, serial or date alone names no product")
	}
	return nil
}

// checkValue checks a whole value of a known AI: its length, its
// characters and, for AI 01, the check digit.
func checkValue(ai, val string) error {
	if n, ok := fixedAI[ai]; ok {
		if len(val) != n || !allDigits(val) {
			return unreadable("GS1 AI %s is %q, want %d digits", ai, val, n)
		}
		if ai == "01" && !ValidEAN(val) {
			return unreadable("GS1 AI 01 has a bad check digit")
		}
		return nil
	}
	switch {
	case val == "":
		return unreadable("GS1 AI %s is empty", ai)
	case len(val) > 20:
		return unreadable("GS1 AI %s longer than 20 characters", ai)
	}
	for i := 0; i < len(val); i++ {
		if !inSet82(val[i]) {
			return unreadable("GS1 AI %s has byte 0x%02x outside the GS1 character set", ai, val[i])
		}
	}
	return nil
}

// fixedField takes n digits and then at most one GS, which GS1 does not
// need after a predefined-length field but some encoders put there anyway.
func fixedField(ai, s string, n int) (val, rest string, err error) {
	i := 0
	for i < n && i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < n {
		if i < len(s) && s[i] != gs {
			return "", "", unreadable("GS1 AI %s has byte 0x%02x where a digit belongs", ai, s[i])
		}
		return "", "", unreadable("GS1 AI %s too short: %d of %d digits", ai, i, n)
	}
	return s[:n], skipGS(s[n:]), nil
}

// varField takes the characters up to a GS or the end of the data; set
// checks them.
func varField(s string) (val, rest string) {
	end := strings.IndexByte(s, gs)
	if end < 0 {
		end = len(s)
	}
	return s[:end], skipGS(s[end:])
}

// skipGS drops the separator after a field. A second GS would start an
// empty element: that is left for the caller to reject as a bad AI.
func skipGS(s string) string {
	if s != "" && s[0] == gs {
		return s[1:]
	}
	return s
}

// inSet82 reports whether b is in GS1 AI encodable character set 82.
func inSet82(b byte) bool {
	switch {
	case b >= '0' && b <= '9', b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z':
		return true
	}
	return strings.IndexByte(`!"%&'()*+,-./:;<=>?_`, b) >= 0
}

// gs1Date turns the YYMMDD of a date AI into "YYYY-MM-DD". The date must
// exist: month 01–12, a day the month has (29 February only in a leap
// year). Day 00 means "no day given", which the GS1 Barcode Syntax
// Dictionary allows in both date AIs read here (yymmd0): an expiry (AI 17)
// is then the month's last day, as GS1 reads it, and a production date
// (AI 11) its first, the earliest it can be.
func gs1Date(ai, yymmdd string, year int) (string, error) {
	yy, mm, dd := twoDigits(yymmdd[0:]), twoDigits(yymmdd[2:]), twoDigits(yymmdd[4:])
	if mm < 1 || mm > 12 {
		return "", unreadable("GS1 AI %s is not a date: month %02d in %s, want 01–12", ai, mm, yymmdd)
	}
	y := gs1Year(yy, year)
	last := time.Date(y, time.Month(mm)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch {
	case dd == 0 && ai == "17":
		dd = last
	case dd == 0:
		dd = 1
	case dd > last:
		return "", unreadable("GS1 AI %s is not a date: day %02d in %s, %s %d has %d days", ai, dd, yymmdd, time.Month(mm), y, last)
	}
	return time.Date(y, time.Month(mm), dd, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), nil
}

// gs1Year puts a two-digit year in its century by the rule of the GS1
// General Specifications (determination of century in dates): from 49
// years behind this year to 50 years ahead of it. A difference YY − this
// year's YY of 51…99 is the previous century, −99…−50 the next one.
func gs1Year(yy, thisYear int) int {
	century := thisYear / 100 * 100
	switch d := yy - thisYear%100; {
	case d >= 51:
		century -= 100
	case d <= -50:
		century += 100
	}
	return century + yy
}

func twoDigits(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }
