package cardreader

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Card is the unauthenticated data of a social-security card.
type Card struct {
	ID      string // card identification code 卡识别码, 32 upper-case hex characters
	Region  string // issuing region 发卡地区行政区划代码: the first 6 characters of ID
	Version string // specification version, e.g. "2.00"
	Number  string // card number 卡号
	SSN     string // social-security number 社会保障号码
	Name    string // holder's name, UTF-8
	Sex     string // "1" male, "2" female, "9" unknown
	// Dates are "YYYY-MM-DD", "" if absent.
	Issued, Expires, Birth string
}

// Files and records read from a card, in reading order (docs/devices.md, Reading a card).
const (
	ef05 = 0xEF05
	ef06 = 0xEF06
)

type recordSpec struct {
	file     uint16
	rr       byte
	size     int // length on the card; ASCII and GB18030 fields may be shorter
	required bool
}

func cardRecords() []recordSpec {
	return []recordSpec{
		{ef05, 0x01, 16, true},
		{ef05, 0x03, 4, false},
		{ef05, 0x05, 4, false},
		{ef05, 0x06, 4, true},
		{ef05, 0x07, 9, true},
		{ef06, 0x08, 18, true},
		{ef06, 0x09, 30, true},
		{ef06, 0x0A, 1, false},
		{ef06, 0x0D, 4, false},
	}
}

// parseRecord checks a READ RECORD response APDU — tag rr, one length
// byte, the value, SW 90 00 — and returns the value (aliasing resp).
func parseRecord(rr byte, resp []byte) ([]byte, error) {
	if len(resp) < 2 {
		return nil, fmt.Errorf("%w: response of %d bytes", ErrCard, len(resp))
	}
	data, sw1, sw2 := resp[:len(resp)-2], resp[len(resp)-2], resp[len(resp)-1]
	switch {
	case sw1 == 0x6A && sw2 == 0x83:
		return nil, ErrNoRecord
	case sw1 != 0x90 || sw2 != 0x00:
		return nil, fmt.Errorf("%w: SW %02X %02X", ErrCard, sw1, sw2)
	case len(data) < 2 || data[0] != rr || int(data[1]) != len(data)-2:
		return nil, fmt.Errorf("%w: bad TLV % X", ErrCard, data)
	}
	return data[2:], nil
}

// decodeRecord stores record rr's value v into c.
func decodeRecord(c *Card, rr byte, v []byte) error {
	var err error
	switch rr {
	case 0x01:
		if len(v) != 16 {
			return fmt.Errorf("%w: card id of %d bytes", ErrCard, len(v))
		}
		c.ID = strings.ToUpper(hex.EncodeToString(v))
		c.Region = c.ID[:6]
	case 0x03:
		c.Version, err = decodeASCII(v, 4)
	case 0x05:
		c.Issued, err = decodeDate(v)
	case 0x06:
		c.Expires, err = decodeDate(v)
	case 0x07:
		c.Number, err = decodeASCII(v, 9)
	case 0x08:
		c.SSN, err = decodeASCII(v, 18)
	case 0x09:
		c.Name, err = decodeName(v, 30)
	case 0x0A:
		if len(v) != 1 || v[0] < '0' || v[0] > '9' {
			return fmt.Errorf("%w: sex % X", ErrCard, v)
		}
		c.Sex = string(v)
	case 0x0D:
		c.Birth, err = decodeDate(v)
	default:
		return fmt.Errorf("%w: unknown record %02X", ErrCard, rr)
	}
	return err
}

// trimPad drops the 0x00 and 0x20 padding cards put around text. Neither
// byte can be part of a GB18030 multi-byte character (the second byte of a
// pair is 0x40 or above, of a four-byte sequence 0x30–0x39), so trimming
// bytes is safe.
func trimPad(v []byte) []byte { return bytes.Trim(v, "\x00 ") }

func decodeASCII(v []byte, max int) (string, error) {
	if len(v) > max {
		return "", fmt.Errorf("%w: text of %d bytes, want at most %d", ErrCard, len(v), max)
	}
	t := trimPad(v)
	if len(t) == 0 {
		return "", fmt.Errorf("%w: empty text", ErrCard)
	}
	for _, b := range t {
		if b < 0x20 || b > 0x7E {
			return "", fmt.Errorf("%w: non-ASCII text % X", ErrCard, v)
		}
	}
	return string(t), nil
}

// decodeName reads the holder's name. Cards write it in GB18030: GBK's
// two-byte characters, and four-byte sequences for the rare characters
// GBK lacks (𠮷 U+20BB7 is 95 34 B2 35), which names do use.
func decodeName(v []byte, max int) (string, error) {
	if len(v) > max {
		return "", fmt.Errorf("%w: name of %d bytes, want at most %d", ErrCard, len(v), max)
	}
	t := trimPad(v)
	if len(t) == 0 {
		return "", fmt.Errorf("%w: empty name", ErrCard)
	}
	u, ok := decodeGB18030(t)
	if !ok {
		return "", fmt.Errorf("%w: name % X is not GB18030 text: take the card out and read it again; if it fails again, the card's name record is damaged", ErrCard, t)
	}
	return u, nil
}

// decodeGB18030 decodes b and reports whether b is exactly GB18030 text
// without control characters. The decoder does not fail: it turns what it
// cannot read into U+FFFD, which is refused here, and it reads a stray
// 0x80 as € as web browsers do, which GB18030 does not; so the name must
// also encode back to the very bytes on the card.
func decodeGB18030(b []byte) (string, bool) {
	u, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(u) {
		return "", false
	}
	for _, r := range string(u) {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return "", false
		}
	}
	back, err := simplifiedchinese.GB18030.NewEncoder().Bytes(u)
	if err != nil || !bytes.Equal(back, b) {
		return "", false
	}
	return string(u), true
}

// decodeDate turns BCD YYYYMMDD into "YYYY-MM-DD".
func decodeDate(v []byte) (string, error) {
	if len(v) != 4 {
		return "", fmt.Errorf("%w: date of %d bytes", ErrCard, len(v))
	}
	for _, b := range v {
		if b>>4 > 9 || b&0x0F > 9 {
			return "", fmt.Errorf("%w: date % X is not BCD", ErrCard, v)
		}
	}
	d, err := time.Parse("20060102", fmt.Sprintf("%X", v))
	if err != nil {
		return "", fmt.Errorf("%w: date % X: %w", ErrCard, v, err)
	}
	return d.Format(time.DateOnly), nil
}
