package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"
)

// LoadPolicy reads a policy file: JSON, the same bytes that travel inside
// the bureau's signed bundle. It is strict: an unknown key, a repeated
// key, a value of the wrong type or an impossible value (a negative or zero
// day limit, an unknown rule, a severity docs/rules.md does not allow for the
// rule, switching off non_drug or not_covered, a bad clock time…) fails
// the load. The error wraps ErrPolicy and lists every problem at once, each
// with its JSON path, so one round of fixes is enough.
//
// The format (testdata/policy.json at the repository's top is a documented
// sample):
//
//	{
//	  "version": "…",                   required
//	  "default": { limits },            over the defaults of docs/rules.md
//	  "regions": { "330100": { limits } },   each over "default"
//	  "deny":    [ "card number", … ]
//	}
//
// where limits holds any of acute_days, chronic_days, long_rx_days,
// rx_items, burst_cards, expiry_near_days (integers; expiry_near_days 0 to
// 366, 0 for no near-expiry flag), control_max ({"ephedrine": 2}),
// burst_window ("10m"), hours ({"open": "08:00", "close": "22:00"}, or null
// for no limit), severity ({"trace_missing": "block"}, {"pharmacist_absent":
// "flag"}) and off
// ({"manual_entry": true}). A setting left out is inherited. Every object
// may carry a "comment" string, which is ignored.
func LoadPolicy(r io.Reader) (*Policy, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	root, err := parseValue(dec, 0)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the file ended inside a value
	}
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("data after the top-level object")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	var c checker
	p := c.policy(root)
	if len(c.problems) > 0 {
		return nil, fmt.Errorf("%w (%d problems):\n%w", ErrPolicy, len(c.problems), errors.Join(c.problems...))
	}
	return p, nil
}

// jval is a parsed JSON value that keeps an object's keys in order,
// repeats included, so that a repeated key is reported, not silently
// overwritten.
type jval struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys  []string
	vals  []*jval // object values, or array items
	str   string  // string, or number text
	truth bool
}

// maxDepth bounds nesting; a policy file needs four levels.
const maxDepth = 16

func parseValue(dec *json.Decoder, depth int) (*jval, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		v := &jval{kind: 'a'}
		if t == '{' {
			v.kind = 'o'
		}
		for dec.More() {
			if v.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string)) // the decoder only gives strings as keys
			}
			item, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, item)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return v, nil
	case string:
		return &jval{kind: 's', str: t}, nil
	case json.Number:
		return &jval{kind: 'n', str: t.String()}, nil
	case bool:
		return &jval{kind: 'b', truth: t}, nil
	case nil:
		return &jval{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// checker turns the parsed file into a Policy, collecting problems.
type checker struct{ problems []error }

func (c *checker) bad(path, format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// fields walks an object's keys, reporting repeats and keys not in known.
func (c *checker) fields(v *jval, path string, known []string, each func(key string, v *jval, path string)) {
	if v.kind != 'o' {
		c.bad(path, "want an object")
		return
	}
	seen := make(map[string]bool, len(v.keys))
	for i, k := range v.keys {
		p := join(path, k)
		switch {
		case seen[k]:
			c.bad(p, "appears twice")
			continue
		case !contains(known, k):
			c.bad(p, "unknown key (want one of %s)", strings.Join(known, ", "))
			continue
		}
		seen[k] = true
		if k == "comment" {
			if v.vals[i].kind != 's' {
				c.bad(p, "want a string")
			}
			continue
		}
		each(k, v.vals[i], p)
	}
}

func (c *checker) policy(root *jval) *Policy {
	p := DefaultPolicy()
	p.Version = ""
	var regions *jval
	var regionsPath string
	c.fields(root, "", []string{"comment", "version", "default", "regions", "deny"}, func(k string, v *jval, path string) {
		switch k {
		case "version":
			if v.kind != 's' || strings.TrimSpace(v.str) == "" || len(v.str) > 64 {
				c.bad(path, "want a non-empty string of at most 64 bytes")
				return
			}
			p.Version = v.str
		case "default":
			p.Default = c.limits(v, path, DefaultLimits())
		case "regions":
			regions, regionsPath = v, path // after default, whatever the key order
		case "deny":
			c.deny(v, path, p.Deny)
		}
	})
	if root.kind == 'o' && !hasKey(root, "version") {
		c.bad("version", "missing")
	}
	if regions != nil {
		c.object(regions, regionsPath, func(code string, v *jval, path string) {
			if len(code) != 6 || !allDigits(code) {
				c.bad(path, "region code: want 6 digits")
			}
			p.Regions[code] = c.limits(v, path, p.Default)
		})
	}
	return p
}

// limits reads a limits object over base (whose maps it copies).
func (c *checker) limits(v *jval, path string, base Limits) Limits {
	l := base
	l.ControlMax = maps.Clone(base.ControlMax)
	l.Severity = maps.Clone(base.Severity)
	l.Off = maps.Clone(base.Off)
	if l.Hours != nil {
		h := *l.Hours
		l.Hours = &h
	}
	before := len(c.problems)
	keys := []string{"comment", "acute_days", "chronic_days", "long_rx_days", "rx_items", "control_max",
		"burst_cards", "burst_window", "hours", "expiry_near_days", "severity", "off"}
	c.fields(v, path, keys, func(k string, v *jval, path string) {
		switch k {
		case "acute_days":
			l.AcuteDays = c.integer(v, path, 1, 366)
		case "chronic_days":
			l.ChronicDays = c.integer(v, path, 1, 366)
		case "long_rx_days":
			l.LongRxDays = c.integer(v, path, 1, 366)
		case "rx_items":
			l.RxItems = c.integer(v, path, 1, 100)
		case "burst_cards":
			l.BurstCards = c.integer(v, path, 1, 1000)
		case "expiry_near_days":
			// 0 is no near-expiry flag, not a limit that fails closed: a
			// box past its expiry is blocked whatever the window.
			l.ExpiryNearDays = c.integer(v, path, 0, 366)
		case "burst_window":
			if v.kind != 's' {
				c.bad(path, "want a duration such as \"10m\"")
				return
			}
			d, err := time.ParseDuration(v.str)
			if err != nil || d < time.Minute || d > 24*time.Hour {
				c.bad(path, "%q: want a duration from 1m to 24h", v.str)
				return
			}
			l.BurstWindow = d
		case "control_max":
			if l.ControlMax == nil {
				l.ControlMax = map[string]int{}
			}
			c.object(v, path, func(class string, v *jval, path string) {
				if class == "" || !controlName(class) {
					c.bad(path, "controlled class: want a lower-case name such as ephedrine")
				}
				l.ControlMax[class] = c.integer(v, path, 1, 1000)
			})
		case "hours":
			l.Hours = c.hours(v, path)
		case "severity":
			if l.Severity == nil {
				l.Severity = map[RuleID]Verdict{}
			}
			c.object(v, path, func(k string, v *jval, path string) {
				id := RuleID(k)
				if !c.rule(id, path) {
					return
				}
				info, _ := id.Info()
				if v.kind != 's' || !id.allows(Verdict(v.str)) {
					c.bad(path, "want %s for %s", verdictList(info.Allowed), id)
					return
				}
				l.Severity[id] = Verdict(v.str)
			})
		case "off":
			if l.Off == nil {
				l.Off = map[RuleID]bool{}
			}
			c.object(v, path, func(k string, v *jval, path string) {
				id := RuleID(k)
				if !c.rule(id, path) {
					return
				}
				switch {
				case v.kind != 'b':
					c.bad(path, "want true or false")
				case v.truth && id.required():
					c.bad(path, "%s cannot be switched off", id)
				default:
					l.Off[id] = v.truth
				}
			})
		}
	})
	if len(c.problems) == before && (l.LongRxDays < l.AcuteDays || l.LongRxDays < l.ChronicDays) {
		c.bad(join(path, "long_rx_days"), "%d is shorter than acute_days %d or chronic_days %d", l.LongRxDays, l.AcuteDays, l.ChronicDays)
	}
	return l
}

// object walks a JSON object of free keys, reporting repeats.
func (c *checker) object(v *jval, path string, each func(key string, v *jval, path string)) {
	if v.kind != 'o' {
		c.bad(path, "want an object")
		return
	}
	seen := map[string]bool{}
	for i, k := range v.keys {
		p := join(path, k)
		if seen[k] {
			c.bad(p, "appears twice")
			continue
		}
		seen[k] = true
		each(k, v.vals[i], p)
	}
}

func (c *checker) rule(id RuleID, path string) bool {
	if !id.known() || id == RuleCashRefund {
		// cash_refund is decided on returns, outside any region's limits.
		c.bad(path, "unknown rule %q", string(id))
		return false
	}
	return true
}

func (c *checker) integer(v *jval, path string, lo, hi int) int {
	n, err := strconv.Atoi(v.str)
	if v.kind != 'n' || err != nil || n < lo || n > hi {
		c.bad(path, "want a whole number from %d to %d", lo, hi)
		return 0
	}
	return n
}

func (c *checker) hours(v *jval, path string) *Hours {
	if v.kind == 'z' {
		return nil // no limit
	}
	var h Hours
	var set [2]bool
	c.fields(v, path, []string{"comment", "open", "close"}, func(k string, v *jval, path string) {
		end := k == "close"
		if _, ok := parseClock(v.str, end); v.kind != 's' || !ok {
			want := "00:00 to 23:59"
			if end {
				want = "00:00 to 24:00"
			}
			c.bad(path, "want a clock time HH:MM from %s", want)
			return
		}
		if end {
			h.Close, set[1] = v.str, true
		} else {
			h.Open, set[0] = v.str, true
		}
	})
	if v.kind != 'o' {
		return nil
	}
	for i, k := range []string{"open", "close"} {
		if !set[i] && !hasKey(v, k) {
			c.bad(join(path, k), "missing")
		}
	}
	if set[0] && set[1] {
		o, _ := parseClock(h.Open, false)
		e, _ := parseClock(h.Close, true)
		if o == e || (o == 0 && e == 24*60) {
			c.bad(path, "open %s and close %s leave no limit: write null for none", h.Open, h.Close)
		}
	}
	return &h
}

func (c *checker) deny(v *jval, path string, into map[string]bool) {
	if v.kind != 'a' {
		c.bad(path, "want an array of card numbers")
		return
	}
	for i, item := range v.vals {
		p := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case item.kind != 's' || !cardNumber(item.str):
			c.bad(p, "want a card number: 4 to 32 letters and digits")
		case into[item.str]:
			c.bad(p, "%s appears twice", item.str)
		default:
			into[item.str] = true
		}
	}
}

// cardNumber accepts what a card or e-voucher carries as its number.
func cardNumber(s string) bool {
	if len(s) < 4 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func verdictList(vs []Verdict) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Quote(string(v))
	}
	return strings.Join(s, " or ")
}

// join extends a JSON path: "" + "default" → "default", "regions" +
// "330100" → "regions.330100". An odd key is quoted.
func join(path, key string) string {
	k := key
	if k == "" || strings.ContainsAny(k, ". []\"") || !utf8Printable(k) {
		k = strconv.Quote(k)
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func utf8Printable(s string) bool { return strconv.Quote(s) == `"`+s+`"` }

func hasKey(v *jval, key string) bool { return contains(v.keys, key) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
