package cardreader

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// padded fills a name out to the record's 30 bytes, as cards do.
func padded(b []byte, pad byte) []byte {
	return append(bytes.Clone(b), bytes.Repeat([]byte{pad}, 30-len(b))...)
}

// TestDecodeName_errorSaysWhatToDo: a name that does not decode names its
// bytes and tells the cashier what to do.
func TestDecodeName_errorSaysWhatToDo(t *testing.T) {
	_, err := decodeName([]byte{0xC0, 0xEE, 0x95, 0x34}, 30)
	if !errors.Is(err, ErrCard) || !strings.Contains(err.Error(), "C0 EE 95 34 is not GB18030 text") ||
		!strings.Contains(err.Error(), "read it again") {
		t.Errorf("decodeName error = %v", err)
	}
}

func TestParseRecord_cases(t *testing.T) {
	tests := []struct {
		name string
		rr   byte
		resp []byte
		want []byte
		err  error
	}{
		{"value", 0x07, []byte{0x07, 0x03, 'A', 'B', 'C', 0x90, 0x00}, []byte("ABC"), nil},
		{"empty value", 0x07, []byte{0x07, 0x00, 0x90, 0x00}, []byte{}, nil},
		{"record not found", 0x07, []byte{0x6A, 0x83}, nil, ErrNoRecord},
		{"other SW", 0x07, []byte{0x69, 0x86}, nil, ErrCard},
		{"too short", 0x07, []byte{0x90}, nil, ErrCard},
		{"SW only", 0x07, []byte{0x90, 0x00}, nil, ErrCard},
		{"wrong tag", 0x07, []byte{0x08, 0x01, 'A', 0x90, 0x00}, nil, ErrCard},
		{"length too long", 0x07, []byte{0x07, 0x05, 'A', 0x90, 0x00}, nil, ErrCard},
		{"length too short", 0x07, []byte{0x07, 0x01, 'A', 'B', 0x90, 0x00}, nil, ErrCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRecord(tt.rr, tt.resp)
			if !errors.Is(err, tt.err) || (err == nil && !bytes.Equal(got, tt.want)) {
				t.Errorf("parseRecord = % X, %v; want % X, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestDecodeRecord_fields(t *testing.T) {
	id := []byte{0x33, 0x01, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0xA0, 0, 0, 0x01}
	name := gbk(t, "王小明")
	tests := []struct {
		name  string
		rr    byte
		v     []byte
		field func(Card) string
		want  string // "" with ok false: an error is expected
		ok    bool
	}{
		{"card id", 0x01, id, func(c Card) string { return c.ID + "/" + c.Region }, "330100D15600000500000000A0000001/330100", true},
		{"card id short", 0x01, id[:15], nil, "", false},
		{"version", 0x03, []byte("3.00"), func(c Card) string { return c.Version }, "3.00", true},
		{"issued", 0x05, []byte{0x20, 0x21, 0x03, 0x15}, func(c Card) string { return c.Issued }, "2021-03-15", true},
		{"expires far", 0x06, []byte{0x99, 0x99, 0x12, 0x31}, func(c Card) string { return c.Expires }, "9999-12-31", true},
		{"date not BCD", 0x06, []byte{0x20, 0x3A, 0x01, 0x01}, nil, "", false},
		{"date month 13", 0x06, []byte{0x20, 0x30, 0x13, 0x01}, nil, "", false},
		{"date Feb 30", 0x0D, []byte{0x19, 0x90, 0x02, 0x30}, nil, "", false},
		{"date zero", 0x06, []byte{0, 0, 0, 0}, nil, "", false},
		{"date 3 bytes", 0x05, []byte{0x20, 0x21, 0x03}, nil, "", false},
		{"card number", 0x07, []byte("A00000001"), func(c Card) string { return c.Number }, "A00000001", true},
		{"card number space padded", 0x07, []byte("A1234    "), func(c Card) string { return c.Number }, "A1234", true},
		{"card number too long", 0x07, []byte("A0000000012"), nil, "", false},
		{"card number blank", 0x07, []byte("         "), nil, "", false},
		{"card number control byte", 0x07, []byte("A0000\x0100"), nil, "", false},
		{"ssn", 0x08, []byte("33010019470720000X"), func(c Card) string { return c.SSN }, "33010019470720000X", true},
		{"ssn high bytes", 0x08, []byte("3301001947072000\xC0\xC1"), nil, "", false},
		{"name zero padded", 0x09, append(bytes.Clone(name), make([]byte, 30-len(name))...), func(c Card) string { return c.Name }, "王小明", true},
		{"name space padded", 0x09, append(bytes.Clone(name), bytes.Repeat([]byte{0x20}, 30-len(name))...), func(c Card) string { return c.Name }, "王小明", true},
		{"name ASCII", 0x09, []byte("LI LEI\x00\x00"), func(c Card) string { return c.Name }, "LI LEI", true},
		{"name all padding", 0x09, make([]byte, 30), nil, "", false},
		{"name too long", 0x09, bytes.Repeat(name, 6), nil, "", false},
		{"name cut GBK", 0x09, append(bytes.Clone(name[:5]), 0x00), nil, "", false},
		{"name invalid GBK", 0x09, []byte{0xFF, 0xFF, 0x00}, nil, "", false},
		{"name control", 0x09, []byte{'A', 0x07, 'B'}, nil, "", false},
		// Issue #16: GB18030 four-byte sequences, the bytes from its
		// published linear mapping (U+10000 is 90 30 81 30).
		{"name four-byte 𠮷", 0x09, padded([]byte{0xC0, 0xEE, 0x95, 0x34, 0xB2, 0x35, 0xC3, 0xF7}, 0x00), func(c Card) string { return c.Name }, "李𠮷明", true},
		{"name four-byte 𠂇", 0x09, padded([]byte{0xD5, 0xC5, 0x95, 0x32, 0x90, 0x31}, 0x20), func(c Card) string { return c.Name }, "张𠂇", true},
		{"name four-byte only", 0x09, []byte{0x95, 0x36, 0xB9, 0x37, 0x96, 0x30, 0xBA, 0x35}, func(c Card) string { return c.Name }, "𡗗𢦏", true},
		{"name four-byte fills the record", 0x09, bytes.Repeat([]byte{0x95, 0x34, 0xB2, 0x35}, 7), func(c Card) string { return c.Name }, strings.Repeat("𠮷", 7), true},
		{"name with middle dot", 0x09, []byte{0xC2, 0xF2, 0xC2, 0xF2, 0xCC, 0xE1, 0xA1, 0xA4, 0xB0, 0xAC, 0xC1, 0xA6}, func(c Card) string { return c.Name }, "买买提·艾力", true},
		{"name four-byte cut", 0x09, []byte{0xC0, 0xEE, 0x95, 0x34, 0xB2, 0x00}, nil, "", false},
		{"name four-byte cut at two", 0x09, []byte{0xC0, 0xEE, 0x95, 0x34}, nil, "", false},
		{"name four-byte bad third byte", 0x09, []byte{0x95, 0x34, 0x20, 0x35}, nil, "", false},
		{"name four-byte bad fourth byte", 0x09, []byte{0x95, 0x34, 0xB2, 0x3A}, nil, "", false},
		{"name four-byte past U+10FFFF", 0x09, []byte{0xE3, 0x32, 0x9A, 0x36}, nil, "", false},
		{"name four-byte between BMP and planes", 0x09, []byte{0x84, 0x31, 0xA5, 0x30}, nil, "", false},
		{"name encoded U+FFFD", 0x09, []byte{0x84, 0x31, 0xA4, 0x37}, nil, "", false},
		{"name stray 0x80", 0x09, []byte{'A', 0x80}, nil, "", false},
		{"sex", 0x0A, []byte("2"), func(c Card) string { return c.Sex }, "2", true},
		{"sex letter", 0x0A, []byte("M"), nil, "", false},
		{"sex two bytes", 0x0A, []byte("12"), nil, "", false},
		{"birth", 0x0D, []byte{0x19, 0x85, 0x03, 0x15}, func(c Card) string { return c.Birth }, "1985-03-15", true},
		{"unknown record", 0x0B, []byte("x"), nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Card
			err := decodeRecord(&c, tt.rr, tt.v)
			if !tt.ok {
				if !errors.Is(err, ErrCard) {
					t.Errorf("decodeRecord(%02X, % X) = %v, want ErrCard; card %+v", tt.rr, tt.v, err, c)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeRecord(%02X, % X): %v", tt.rr, tt.v, err)
			}
			if got := tt.field(c); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

var (
	reID   = regexp.MustCompile(`^[0-9A-F]{32}$`)
	reDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// FuzzRecord decodes an arbitrary READ RECORD response. It must not panic;
// a value it accepts must re-encode to the same response, and the decoded
// field must have its documented shape.
func FuzzRecord(f *testing.F) {
	f.Add(byte(0x01), []byte{0x01, 0x10, 0x33, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x90, 0x00})
	f.Add(byte(0x06), []byte{0x06, 0x04, 0x20, 0x30, 0x06, 0x01, 0x90, 0x00})
	f.Add(byte(0x09), append(append([]byte{0x09, 0x08}, gbk(f, "王小明")...), 0x00, 0x00, 0x90, 0x00))
	f.Add(byte(0x09), []byte{0x09, 0x0A, 0xC0, 0xEE, 0x95, 0x34, 0xB2, 0x35, 0xC3, 0xF7, 0x20, 0x20, 0x90, 0x00})
	f.Add(byte(0x09), []byte{0x09, 0x04, 0xE3, 0x32, 0x9A, 0x36, 0x90, 0x00})
	f.Add(byte(0x09), []byte{0x09, 0x02, 'A', 0x80, 0x90, 0x00})
	f.Add(byte(0x07), []byte{0x6A, 0x83})
	f.Add(byte(0x0A), []byte{0x0A, 0x01, '1', 0x90, 0x00})
	f.Fuzz(func(t *testing.T, rr byte, resp []byte) {
		v, err := parseRecord(rr, resp)
		if err != nil {
			return
		}
		re := append(append([]byte{rr, byte(len(v))}, v...), 0x90, 0x00)
		if !bytes.Equal(re, resp) {
			t.Fatalf("re-encoded % X, got % X", re, resp)
		}
		var c Card
		if err := decodeRecord(&c, rr, v); err != nil {
			if !errors.Is(err, ErrCard) {
				t.Fatalf("error %v does not wrap ErrCard", err)
			}
			if c != (Card{}) && rr != 0x01 {
				t.Fatalf("failed decode changed the card: %+v", c)
			}
			return
		}
		switch rr {
		case 0x01:
			if !reID.MatchString(c.ID) || c.Region != c.ID[:6] {
				t.Fatalf("id %q region %q", c.ID, c.Region)
			}
		case 0x05, 0x06, 0x0D:
			d := c.Issued + c.Expires + c.Birth
			if !reDate.MatchString(d) {
				t.Fatalf("date %q", d)
			}
		case 0x09:
			if c.Name == "" || !utf8.ValidString(c.Name) || strings.ContainsRune(c.Name, utf8.RuneError) ||
				strings.Trim(c.Name, "\x00 ") != c.Name {
				t.Fatalf("name %q", c.Name)
			}
			// A name decodes from exactly its GB18030 bytes.
			if back, err := simplifiedchinese.GB18030.NewEncoder().String(c.Name); err != nil || back != string(trimPad(v)) {
				t.Fatalf("name %q encodes to % X, not the card's % X", c.Name, back, trimPad(v))
			}
		case 0x03, 0x07, 0x08, 0x0A:
			s := c.Version + c.Number + c.SSN + c.Sex
			if s == "" || strings.Trim(s, "\x00 ") != s {
				t.Fatalf("text %q", s)
			}
		}
	})
}
