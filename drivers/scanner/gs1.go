package scanner

import "strings"

// GS1 holds the application identifiers tillguard reads from a GS1 element
// string. A field the symbol does not carry is "".
type GS1 struct {
	GTIN   string // AI 01: 14 digits, check digit valid
	Expiry string // AI 17: YYMMDD (DD may be 00: end of month)
	Lot    string // AI 10: 1–20 characters
	Serial string // AI 21: 1–20 characters
}

// ParseGS1 parses a GS1 element string as a scanner sends it: AIs one after
// another, a variable-length field ending at GS (0x1D, FNC1) or at the end
// of the data. One GS may lead (some scanners send the symbol's initial
// FNC1), follow a fixed-length field, or trail. Only AIs 01, 17, 10 and 21
// are known; any other AI, a repeated AI, a short or over-long field, or a
// character outside the GS1 character set is an error wrapping
// ErrUnreadable: without the AI table for the others, the rest of the string
// cannot be split reliably.
func ParseGS1(data string) (GS1, error) {
	var g GS1
	s := strings.TrimPrefix(data, string(rune(gs)))
	if s == "" {
		return GS1{}, unreadable("empty GS1 element string")
	}
	for s != "" {
		if s[0] == gs {
			return GS1{}, unreadable("empty GS1 element (two GS in a row)")
		}
		if len(s) < 2 {
			return GS1{}, unreadable("GS1 AI cut short: %q", s)
		}
		ai := s[:2]
		s = s[2:]
		var dst *string
		var val string
		var err error
		switch ai {
		case "01":
			dst = &g.GTIN
			val, s, err = fixedField(ai, s, 14)
			if err == nil && !ValidEAN(val) {
				err = unreadable("GS1 AI 01 has a bad check digit")
			}
		case "17":
			dst = &g.Expiry
			val, s, err = fixedField(ai, s, 6)
			if err == nil && !validYYMMDD(val) {
				err = unreadable("GS1 AI 17 is not a date YYMMDD")
			}
		case "10":
			dst = &g.Lot
			val, s, err = varField(ai, s)
		case "21":
			dst = &g.Serial
			val, s, err = varField(ai, s)
		default:
			return GS1{}, unreadable("unknown GS1 AI %q", ai)
		}
		if err != nil {
			return GS1{}, err
		}
		if *dst != "" {
			return GS1{}, unreadable("GS1 AI %s repeated", ai)
		}
		*dst = val
	}
	return g, nil
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

// varField takes 1–20 characters of GS1 character set 82 up to a GS or the
// end of the data.
func varField(ai, s string) (val, rest string, err error) {
	end := strings.IndexByte(s, gs)
	if end < 0 {
		end = len(s)
	}
	val = s[:end]
	switch {
	case val == "":
		return "", "", unreadable("GS1 AI %s is empty", ai)
	case len(val) > 20:
		return "", "", unreadable("GS1 AI %s longer than 20 characters", ai)
	}
	for i := 0; i < len(val); i++ {
		if !inSet82(val[i]) {
			return "", "", unreadable("GS1 AI %s has byte 0x%02x outside the GS1 character set", ai, val[i])
		}
	}
	return val, skipGS(s[end:]), nil
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

// validYYMMDD checks month 01–12 and day 00–31; GS1 lets day 00 mean the
// last day of the month.
func validYYMMDD(s string) bool {
	mm := int(s[2]-'0')*10 + int(s[3]-'0')
	dd := int(s[4]-'0')*10 + int(s[5]-'0')
	return mm >= 1 && mm <= 12 && dd <= 31
}
