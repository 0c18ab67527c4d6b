package scanner

import (
	"fmt"
	"strings"

	"github.com/tillguard/tillguard/internal/gs1"
)

// gs is the ASCII group separator that stands for FNC1 inside GS1 symbols.
const gs = 0x1d

func unreadable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnreadable}, args...)...)
}

// Classify tells what one scanned line means, following docs/devices.md (What a line means).
// line is the line without its terminator, with or without an AIM
// symbology identifier. With an AIM id the id decides the kind and the data
// must fit it; without one the content decides, in the order the protocol
// gives. Classify never guesses: anything that is not exactly one of the
// known kinds is an error wrapping ErrUnreadable, and the returned Code then
// has Kind KindUnknown with AIM and Data still set. AIM+Data is always the
// whole line.
func Classify(line []byte) (Code, error) {
	s := string(line)
	var c Code
	if strings.HasPrefix(s, "]") && len(s) >= 3 {
		c.AIM, c.Data = s[:3], s[3:]
	} else {
		c.Data = s
	}
	var err error
	switch {
	case c.AIM != "":
		err = c.byAIM()
	case strings.HasPrefix(s, "]"):
		// No code's data starts with ']': this is a cut-off AIM id.
		err = unreadable("truncated AIM id")
	default:
		err = c.byContent()
	}
	if err != nil {
		return Code{AIM: c.AIM, Data: c.Data}, err
	}
	return c, nil
}

func (c *Code) byAIM() error {
	d := c.Data
	switch c.AIM {
	case "]E0":
		return c.ean(13)
	case "]E4":
		return c.ean(8)
	case "]C0":
		if !isTrace(d) {
			return unreadable("%s data is not a traceability code (20 digits starting with 8)", c.AIM)
		}
		c.Kind, c.Trace = KindTrace, d
		return nil
	case "]d2", "]C1", "]Q3":
		return c.gs1()
	case "]Q1":
		if d == "" {
			return unreadable("%s with no data", c.AIM)
		}
		if strings.HasPrefix(d, "RX") {
			// A QR that says it is a prescription but does not fit the
			// pattern is a bad prescription, not someone's voucher.
			return c.rx()
		}
		for i := 0; i < len(d); i++ {
			if d[i] < 0x20 || d[i] > 0x7e {
				return unreadable("voucher byte %d is 0x%02x, outside printable ASCII", i, d[i])
			}
		}
		c.Kind = KindVoucher
		return nil
	}
	return unreadable("unknown AIM id %q", c.AIM)
}

func (c *Code) byContent() error {
	d := c.Data
	switch {
	case d == "":
		return unreadable("empty line")
	case isTrace(d):
		c.Kind, c.Trace = KindTrace, d
		return nil
	case len(d) == 13 && allDigits(d):
		return c.ean(13)
	case len(d) == 8 && allDigits(d):
		return c.ean(8)
	case len(d) >= 16 && d[:2] == "01" && allDigits(d[2:16]), strings.IndexByte(d, gs) >= 0:
		return c.gs1()
	case strings.HasPrefix(d, "RX"):
		return c.rx()
	}
	return unreadable("not a known code (no AIM id)")
}

func (c *Code) ean(n int) error {
	d := c.Data
	if len(d) != n || !allDigits(d) {
		if c.AIM != "" {
			return unreadable("%s data is not %d digits", c.AIM, n)
		}
		return unreadable("not %d digits", n)
	}
	if want := gs1.CheckDigit(d[:n-1]); d[n-1] != want {
		return unreadable("bad EAN-%d check digit %c, want %c", n, d[n-1], want)
	}
	c.Kind = KindEAN13
	if n == 8 {
		c.Kind = KindEAN8
	}
	c.Product = d
	return nil
}

func (c *Code) gs1() error {
	g, err := ParseGS1(c.Data)
	if err != nil {
		return err
	}
	c.Kind = KindGS1
	if strings.HasPrefix(g.GTIN, "0") {
		c.Product = g.GTIN[1:]
	}
	c.Serial, c.Lot, c.Expiry = g.Serial, g.Lot, g.Expiry
	return nil
}

func (c *Code) rx() error {
	d := c.Data
	ref := d[len("RX"):]
	if len(ref) < 6 || len(ref) > 32 {
		return unreadable("prescription reference has %d characters after RX, want 6–32", len(ref))
	}
	for i := 0; i < len(ref); i++ {
		if b := ref[i]; !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z') {
			return unreadable("prescription reference byte %d is 0x%02x, want 0-9 or A-Z", i+2, b)
		}
	}
	c.Kind, c.Rx = KindRx, d
	return nil
}

// isTrace reports whether s looks like a drug traceability code: 20 digits
// starting with 8. Its verification segment cannot be checked offline.
func isTrace(s string) bool {
	return len(s) == 20 && s[0] == '8' && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidEAN reports whether digits is a GTIN with a valid GS1 mod-10 check
// digit: EAN-8, UPC-A (12), EAN-13 or GTIN-14. Any other length, or any
// non-digit, is invalid.
func ValidEAN(digits string) bool {
	switch len(digits) {
	case 8, 12, 13, 14:
	default:
		return false
	}
	if !allDigits(digits) {
		return false
	}
	n := len(digits)
	return gs1.CheckDigit(digits[:n-1]) == digits[n-1]
}
