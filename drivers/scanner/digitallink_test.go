package scanner

import (
	"errors"
	"strings"
	"testing"
)

// digitalLinkCases follow the GS1 Digital Link standard's URI syntax: the
// GTIN and its qualifiers (22, 10, 21) in the path, other AIs in the query,
// values percent-encoded. The GTINs have valid check digits (GS1's own
// examples 09506000134352 and 09520123456788 among them).
var digitalLinkCases = []struct {
	name string
	in   string
	want GS1
	err  string
}{
	{name: "gtin", in: "https://id.gs1.org/01/09506000134352",
		want: GS1{GTIN: "09506000134352"}},
	{name: "all qualifiers and expiry", in: "https://example.com/01/09506000134352/22/2A/10/ABC123/21/12345?17=261231",
		want: GS1{GTIN: "09506000134352", Variant: "2A", Lot: "ABC123", Serial: "12345", Expiry: "261231", ExpiryDate: "2026-12-31"}},
	{name: "lot and serial", in: "https://id.gs1.org/01/09520123456788/10/ABC1/21/12345XYZ",
		want: GS1{GTIN: "09520123456788", Lot: "ABC1", Serial: "12345XYZ"}},
	{name: "qualifiers in another order", in: "https://example.com/01/09506000134352/21/S1/10/L1",
		want: GS1{GTIN: "09506000134352", Lot: "L1", Serial: "S1"}},
	{name: "path prefix", in: "https://brand.example.cn/p/drugs/01/06901234567892/10/L1",
		want: GS1{GTIN: "06901234567892", Lot: "L1"}},
	{name: "http", in: "http://example.com/01/06901234567892",
		want: GS1{GTIN: "06901234567892"}},
	{name: "upper case, as QR alphanumeric mode prints it", in: "HTTPS://ID.GS1.ORG/01/09506000134352/10/ABC",
		want: GS1{GTIN: "09506000134352", Lot: "ABC"}},
	{name: "trailing slash", in: "https://example.com/01/09506000134352/",
		want: GS1{GTIN: "09506000134352"}},
	{name: "gtin-13 padded", in: "https://example.com/01/9506000134352",
		want: GS1{GTIN: "09506000134352"}},
	{name: "gtin-12 padded", in: "https://example.com/01/036000291452",
		want: GS1{GTIN: "00036000291452"}},
	{name: "gtin-8 padded", in: "https://example.com/01/12345670",
		want: GS1{GTIN: "00000012345670"}},
	{name: "expiry day 00", in: "https://example.com/01/09506000134352?17=280200",
		want: GS1{GTIN: "09506000134352", Expiry: "280200", ExpiryDate: "2028-02-29"}},
	{name: "production and expiry", in: "https://example.com/01/09506000134352/10/L1?11=250115&17=270115",
		want: GS1{GTIN: "09506000134352", Lot: "L1", Produced: "250115", ProducedDate: "2025-01-15", Expiry: "270115", ExpiryDate: "2027-01-15"}},
	{name: "other parameters ignored", in: "https://example.com/01/09506000134352?linkType=gs1:pip&17=261231&utm_source=box",
		want: GS1{GTIN: "09506000134352", Expiry: "261231", ExpiryDate: "2026-12-31"}},
	{name: "empty query parts", in: "https://example.com/01/09506000134352?&17=261231&",
		want: GS1{GTIN: "09506000134352", Expiry: "261231", ExpiryDate: "2026-12-31"}},
	{name: "fragment ignored", in: "https://example.com/01/09506000134352/10/L1#17=991399",
		want: GS1{GTIN: "09506000134352", Lot: "L1"}},
	{name: "percent-encoded slash", in: "https://example.com/01/09506000134352/10/AB%2F12",
		want: GS1{GTIN: "09506000134352", Lot: "AB/12"}},
	{name: "percent-encoded percent and question mark", in: "https://example.com/01/09506000134352/21/10%25%3F",
		want: GS1{GTIN: "09506000134352", Serial: "10%?"}},
	{name: "lower-case escapes", in: "https://example.com/01/09506000134352/10/a%2fb",
		want: GS1{GTIN: "09506000134352", Lot: "a/b"}},
	{name: "plus is a plus", in: "https://example.com/01/09506000134352/10/A+B",
		want: GS1{GTIN: "09506000134352", Lot: "A+B"}},
	{name: "1.0 path words", in: "https://example.com/gtin/09506000134352/lot/ABC/ser/123",
		want: GS1{GTIN: "09506000134352", Lot: "ABC", Serial: "123"}},
	{name: "lot 20 characters", in: "https://example.com/01/09506000134352/10/" + strings.Repeat("A", 20),
		want: GS1{GTIN: "09506000134352", Lot: strings.Repeat("A", 20)}},

	{name: "not a link", in: "0106901234567892", err: "not a GS1 Digital Link"},
	{name: "other scheme", in: "ftp://example.com/01/09506000134352", err: "not a GS1 Digital Link"},
	{name: "no key", in: "https://example.com/p/09506000134352", err: "not a GS1 Digital Link"},
	{name: "key without value", in: "https://example.com/01/", err: "not a GS1 Digital Link"},
	{name: "key in the query only", in: "https://example.com/?01=09506000134352", err: "not a GS1 Digital Link"},
	{name: "SSCC", in: "https://example.com/00/106141412345678908", err: "names GS1 key AI 00, not the GTIN (AI 01)"},
	{name: "GLN", in: "https://example.com/414/9520123456788", err: "names GS1 key AI 414"},
	{name: "bad check digit", in: "https://example.com/01/09506000134353", err: "GS1 AI 01 has a bad check digit"},
	{name: "gtin of 11 digits", in: "https://example.com/01/95060001343", err: `GS1 AI 01 is "95060001343", want 14 digits`},
	{name: "gtin with letter", in: "https://example.com/01/0950600013435X", err: "want 14 digits"},
	{name: "qualifier without value", in: "https://example.com/01/09506000134352/10", err: `path AI "10" has no value`},
	{name: "empty lot", in: "https://example.com/01/09506000134352/10/", err: "GS1 AI 10 is empty"},
	{name: "date in the path", in: "https://example.com/01/09506000134352/17/261231", err: `path has AI "17" after the GTIN`},
	{name: "second gtin in the path", in: "https://example.com/01/09506000134352/01/09506000134352", err: `path has AI "01" after the GTIN`},
	{name: "lot in path and query", in: "https://example.com/01/09506000134352/10/A?10=B", err: "GS1 AI 10 repeated"},
	{name: "expiry twice", in: "https://example.com/01/09506000134352?17=261231&17=270101", err: "GS1 AI 17 repeated"},
	{name: "unknown query AI", in: "https://example.com/01/09506000134352?3103=000189", err: `unknown GS1 AI "3103"`},
	{name: "expiry not a date", in: "https://example.com/01/09506000134352?17=270230", err: "February 2027 has 28 days"},
	{name: "expiry short", in: "https://example.com/01/09506000134352?17=2612", err: `GS1 AI 17 is "2612", want 6 digits`},
	{name: "expiry empty", in: "https://example.com/01/09506000134352?17=", err: `GS1 AI 17 is "", want 6 digits`},
	{name: "production day 00", in: "https://example.com/01/09506000134352?11=250100",
		want: GS1{GTIN: "09506000134352", Produced: "250100", ProducedDate: "2025-01-01"}},
	{name: "broken escape", in: "https://example.com/01/09506000134352/10/A%2", err: "broken percent-encoding"},
	{name: "escape not hex", in: "https://example.com/01/09506000134352/10/A%ZZ", err: "broken percent-encoding"},
	{name: "escaped space", in: "https://example.com/01/09506000134352/10/A%20B", err: "GS1 AI 10 has byte 0x20 outside the GS1 character set"},
	{name: "escaped GS", in: "https://example.com/01/09506000134352/10/A%1DB", err: "GS1 AI 10 has byte 0x1d"},
	{name: "escaped non-ASCII", in: "https://example.com/01/09506000134352/10/%E6%89%B9", err: "GS1 AI 10 has byte 0xe6"},
	{name: "lot 21 characters", in: "https://example.com/01/09506000134352/10/" + strings.Repeat("A", 21), err: "GS1 AI 10 longer than 20 characters"},
	{name: "space", in: "https://example.com/01/09506000134352/10/A B", err: "byte 42 is 0x20: a web address is printable ASCII without spaces"},
	{name: "noise in the host", in: "https://exa\x00mple.com/01/09506000134352", err: "byte 11 is 0x00"},
	{name: "non-ASCII in the host", in: "https://例子.cn/01/09506000134352", err: "byte 8 is 0xe4"},
}

func TestParseDigitalLink_table(t *testing.T) {
	for _, tc := range digitalLinkCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDigitalLink(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDigitalLink(%q) = %+v, %v; want ErrUnreadable containing %q", tc.in, got, err, tc.err)
				}
				if got != (GS1{}) {
					t.Errorf("ParseDigitalLink(%q) = %+v on error, want zero", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDigitalLink(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseDigitalLink(%q) =\n %+v\nwant\n %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestDigitalLink_sameAsElementString: a Digital Link and the element
// string of the same pack give the same GS1 data.
func TestDigitalLink_sameAsElementString(t *testing.T) {
	tests := []struct{ link, element string }{
		{"https://example.com/01/09506000134352/10/ABC123/21/12345?17=261231",
			"0109506000134352" + "17261231" + "10ABC123" + gsS + "2112345"},
		{"https://example.com/01/06901234567892/22/V1/10/L%2F1?11=250115&17=270100",
			"0106901234567892" + "11250115" + "17270100" + "22V1" + gsS + "10L/1"},
		{"https://example.com/01/12345670", "0100000012345670"},
	}
	for _, tc := range tests {
		dl, err1 := ParseDigitalLink(tc.link)
		es, err2 := ParseGS1(tc.element)
		if err1 != nil || err2 != nil || dl != es {
			t.Errorf("%s: %+v, %v\n%q: %+v, %v", tc.link, dl, err1, tc.element, es, err2)
		}
	}
}

func TestIsDigitalLink(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"https://id.gs1.org/01/09506000134352", true},
		{"HTTP://X/01/1", true},
		{"https://x/a/b/8004/123", true},
		{"https://x/gtin/1", true},
		{"https://ybj.example.cn/qr?t=AbC123_-x", false},
		{"https://ybj.example.cn/qr/01", false}, // a key needs a value
		{"https://01/x", false},                 // the host is no key
		{"https://x/?01=09506000134352", false},
		{"mailto:01/09506000134352", false},
		{"01/09506000134352", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := isDigitalLink(tc.in); got != tc.want {
			t.Errorf("isDigitalLink(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
