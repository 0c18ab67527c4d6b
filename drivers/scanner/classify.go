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
		return c.qr()
	}
	return unreadable("unknown AIM id %q", c.AIM)
}

// qr reads a plain QR (]Q1). Packs print their codes in QRs too — a
// traceability code, a GTIN, a GS1 Digital Link — and so does the buyer's
// voucher, which stands for the card: so the content decides, by the same
// rules as a line without AIM id, and only a QR that is no code at all is a
// voucher. A QR with the shape of a code but not its rules (digits alone,
// GS1 text in brackets) is unreadable, never someone's voucher.
func (c *Code) qr() error {
	d := c.Data
	switch {
	case d == "":
		return unreadable("%s with no data", c.AIM)
	case strings.HasPrefix(d, "RX"):
		// A QR that says it is a prescription but does not fit the
		// pattern is a bad prescription, not someone's voucher.
		return c.rx()
	}
	if matched, err := c.byShape(); matched {
		return err
	}
	for i := 0; i < len(d); i++ {
		if d[i] < 0x20 || d[i] > 0x7e {
			return unreadable("QR byte %d is 0x%02x, outside printable ASCII", i, d[i])
		}
	}
	switch {
	case allDigits(d):
		return unreadable("QR of %d digits: not a traceability code (20 digits starting with 8), an EAN-13 or an EAN-8, and a voucher is never digits alone", len(d))
	case bracketedAI(d):
		return unreadable("QR holds GS1 text in brackets, the human-readable form: the pack's GS1 symbol must be scanned, and a voucher never starts so")
	}
	c.Kind = KindVoucher
	return nil
}

func (c *Code) byContent() error {
	if c.Data == "" {
		return unreadable("empty line")
	}
	if matched, err := c.byShape(); matched {
		return err
	}
	return unreadable("not a known code (no AIM id)")
}

// byShape classifies the data by its content alone, in the order
// docs/devices.md gives, and reports whether the data has the shape of any
// known code; the error then says why it breaks that code's rules.
func (c *Code) byShape() (matched bool, err error) {
	d := c.Data
	switch {
	case isTrace(d):
		c.Kind, c.Trace = KindTrace, d
		return true, nil
	case len(d) == 13 && allDigits(d):
		return true, c.ean(13)
	case len(d) == 8 && allDigits(d):
		return true, c.ean(8)
	case len(d) >= 16 && d[:2] == "01" && allDigits(d[2:16]), strings.IndexByte(d, gs) >= 0:
		return true, c.gs1()
	case isDigitalLink(d):
		return true, c.digitalLink()
	case strings.HasPrefix(d, "RX"):
		return true, c.rx()
	}
	return false, nil
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
	c.setGS1(g)
	return nil
}

func (c *Code) digitalLink() error {
	g, err := ParseDigitalLink(c.Data)
	if err != nil {
		return err
	}
	c.setGS1(g)
	return nil
}

func (c *Code) setGS1(g GS1) {
	c.Kind = KindGS1
	c.Product = productOf(g.GTIN)
	c.GTIN, c.Variant, c.Serial, c.Lot = g.GTIN, g.Variant, g.Serial, g.Lot
	c.Expiry, c.ExpiryDate, c.Produced, c.ProducedDate = g.Expiry, g.ExpiryDate, g.Produced, g.ProducedDate
}

// productOf maps a GTIN-14 to the catalogue's key. Indicator 0 and six
// more zeros hold a GTIN-8: GS1 keeps the GTIN-13 prefixes 0000000–0000099
// unused so that they never collide, so the EAN-8 is meant. Indicator 0
// alone holds a GTIN-13 (a UPC-A as its EAN-13). The check digit carries
// over: leading zeros add nothing to the sum.
func productOf(gtin string) string {
	switch {
	case strings.HasPrefix(gtin, "000000"):
		return gtin[6:]
	case strings.HasPrefix(gtin, "0"):
		return gtin[1:]
	}
	return ""
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

// bracketedAI reports whether s starts like GS1's human-readable text: an
// AI of 2–4 digits in brackets, "(01)…".
func bracketedAI(s string) bool {
	end := strings.IndexByte(s, ')')
	return strings.HasPrefix(s, "(") && end >= 3 && end <= 5 && allDigits(s[1:end])
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
