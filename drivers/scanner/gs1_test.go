package scanner

import (
	"errors"
	"strings"
	"testing"
)

// gtin is the AI 01 element every GS1 string needs.
const gtin = "0106901234567892"

func TestParseGS1_table(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want GS1
		err  string
	}{
		{name: "gtin only", in: "0106901234567892", want: GS1{GTIN: "06901234567892"}},
		{name: "all four", in: "0106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001",
			want: GS1{GTIN: "06901234567892", Expiry: "261231", ExpiryDate: "2026-12-31", Lot: "LOT42", Serial: "SN0001"}},
		{name: "trailing GS", in: "0106901234567892" + "10LOT42" + gsS,
			want: GS1{GTIN: "06901234567892", Lot: "LOT42"}},
		{name: "leading GS", in: gsS + "0106901234567892",
			want: GS1{GTIN: "06901234567892"}},
		{name: "lot before serial", in: gtin + "10A1" + gsS + "21B2",
			want: GS1{GTIN: "06901234567892", Lot: "A1", Serial: "B2"}},
		{name: "serial before lot", in: gtin + "21B2" + gsS + "10A1",
			want: GS1{GTIN: "06901234567892", Lot: "A1", Serial: "B2"}},
		{name: "var field swallows the rest", in: gtin + "10A121B2",
			want: GS1{GTIN: "06901234567892", Lot: "A121B2"}},
		{name: "var field 20 chars", in: gtin + "21" + strings.Repeat("9", 20),
			want: GS1{GTIN: "06901234567892", Serial: strings.Repeat("9", 20)}},
		{name: "expiry day 00", in: gtin + "17270200", want: GS1{GTIN: "06901234567892", Expiry: "270200", ExpiryDate: "2027-02-28"}},
		{name: "expiry day 00 leap year", in: gtin + "17280200", want: GS1{GTIN: "06901234567892", Expiry: "280200", ExpiryDate: "2028-02-29"}},
		{name: "expiry day 00 December", in: gtin + "17261200", want: GS1{GTIN: "06901234567892", Expiry: "261200", ExpiryDate: "2026-12-31"}},
		{name: "production and expiry", in: gtin + "11250301" + "17280301",
			want: GS1{GTIN: "06901234567892", Produced: "250301", ProducedDate: "2025-03-01", Expiry: "280301", ExpiryDate: "2028-03-01"}},
		{name: "production 29 February 2024", in: gtin + "11240229", want: GS1{GTIN: "06901234567892", Produced: "240229", ProducedDate: "2024-02-29"}},
		{name: "variant", in: gtin + "22A-1", want: GS1{GTIN: "06901234567892", Variant: "A-1"}},
		{name: "set 82 punctuation", in: gtin + `10!"%&'()*+,-./:;<=>?_`[:22], want: GS1{GTIN: "06901234567892", Lot: `!"%&'()*+,-./:;<=>?_`}},
		{name: "case gtin", in: "0116901234567899", want: GS1{GTIN: "16901234567899"}},
		{name: "empty", in: "", err: "empty GS1 element string"},
		{name: "only GS", in: gsS, err: "empty GS1 element string"},
		{name: "AI cut short", in: "0106901234567892" + "1", err: "GS1 AI cut short"},
		{name: "gtin short", in: "01069012345678", err: "GS1 AI 01 too short: 12 of 14 digits"},
		{name: "gtin GS inside", in: "01069012345" + gsS + "678", err: "GS1 AI 01 too short: 9 of 14 digits"},
		{name: "gtin letter", in: "010690123456789X", err: "GS1 AI 01 has byte 0x58 where a digit belongs"},
		{name: "gtin bad check", in: "0106901234567893", err: "GS1 AI 01 has a bad check digit"},
		{name: "expiry short", in: gtin + "17261", err: "GS1 AI 17 too short: 3 of 6 digits"},
		{name: "expiry month 00", in: gtin + "17260001", err: "GS1 AI 17 is not a date: month 00 in 260001, want 01–12"},
		{name: "expiry day 32", in: gtin + "17260132", err: "GS1 AI 17 is not a date: day 32 in 260132, January 2026 has 31 days"},
		{name: "expiry 29 February 2027", in: gtin + "17270229", err: "day 29 in 270229, February 2027 has 28 days"},
		{name: "expiry 31 June", in: gtin + "17260631", err: "day 31 in 260631, June 2026 has 30 days"},
		{name: "production day 00", in: gtin + "11250100", want: GS1{GTIN: "06901234567892", Produced: "250100", ProducedDate: "2025-01-01"}},
		{name: "production month 13", in: gtin + "11251301", err: "GS1 AI 11 is not a date: month 13"},
		{name: "production 29 February 2025", in: gtin + "11250229", err: "February 2025 has 28 days"},
		{name: "production short", in: gtin + "1125010", err: "GS1 AI 11 too short: 5 of 6 digits"},
		{name: "production repeated", in: gtin + "11250101" + "11250102", err: "GS1 AI 11 repeated"},
		{name: "variant too long", in: gtin + "22" + strings.Repeat("V", 21), err: "GS1 AI 22 longer than 20 characters"},
		{name: "no gtin: lot and serial", in: "10A1" + gsS + "21B2", err: "GS1 data has no GTIN (AI 01)"},
		{name: "no gtin: expiry", in: "17270200", err: "GS1 data has no GTIN (AI 01)"},
		{name: "no gtin: production", in: gsS + "11250101", err: "GS1 data has no GTIN (AI 01)"},
		{name: "no gtin: variant", in: "22A", err: "GS1 data has no GTIN (AI 01)"},
		{name: "var field 21 chars", in: gtin + "21" + strings.Repeat("9", 21), err: "GS1 AI 21 longer than 20 characters"},
		{name: "lot empty at end", in: gtin + "10", err: "GS1 AI 10 is empty"},
		{name: "unknown AI", in: "30" + "12", err: `unknown GS1 AI "30"`},
		{name: "unknown 3-digit AI", in: "2401234", err: `unknown GS1 AI "24"`},
		{name: "repeated gtin", in: "0106901234567892" + "0106901234567892", err: "GS1 AI 01 repeated"},
		{name: "two leading GS", in: gsS + gsS + "10A", err: "two GS in a row"},
		{name: "CR in lot", in: gtin + "10A\rB", err: "GS1 AI 10 has byte 0x0d outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGS1(tc.in)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseGS1(%q) = %+v, %v; want ErrUnreadable containing %q", tc.in, got, err, tc.err)
				}
				if got != (GS1{}) {
					t.Errorf("ParseGS1(%q) = %+v on error, want zero", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGS1(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseGS1(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestGS1Year checks the GS1 rule for the century of a two-digit year:
// up to 49 years back and 50 ahead of this year.
func TestGS1Year(t *testing.T) {
	tests := []struct{ yy, now, want int }{
		{26, 2026, 2026},
		{0, 2026, 2000},
		{76, 2026, 2076}, // 50 ahead
		{77, 2026, 1977}, // 51 ahead: the previous century
		{99, 2026, 1999},
		{75, 2026, 2075},
		{25, 2075, 2125}, // 50 behind: the next century
		{26, 2075, 2026}, // 49 behind
		{0, 2099, 2100},
		{99, 2000, 1999},
		{50, 2000, 2050},
		{51, 2000, 1951},
	}
	for _, tc := range tests {
		if got := gs1Year(tc.yy, tc.now); got != tc.want {
			t.Errorf("gs1Year(%02d, %d) = %d, want %d", tc.yy, tc.now, got, tc.want)
		}
	}
}

// TestGS1Date checks month lengths, leap years (2000 and 2400 are, 2100
// is not) and day 00 ("no day given"): the month's last day in an expiry
// (AI 17), its first in a production date (AI 11).
func TestGS1Date(t *testing.T) {
	tests := []struct {
		ai, yymmdd string
		now        int
		want, err  string
	}{
		{"17", "260115", 2026, "2026-01-15", ""},
		{"17", "260100", 2026, "2026-01-31", ""},
		{"17", "260400", 2026, "2026-04-30", ""},
		{"17", "270200", 2026, "2027-02-28", ""},
		{"17", "280200", 2026, "2028-02-29", ""},
		{"17", "000200", 2026, "2000-02-29", ""}, // 2000: divisible by 400
		{"17", "000200", 2080, "2100-02-28", ""}, // 2100: a century, no leap year
		{"17", "000229", 2080, "", "February 2100 has 28 days"},
		{"17", "000229", 2380, "2400-02-29", ""},
		{"17", "281231", 2026, "2028-12-31", ""},
		{"17", "280001", 2026, "", "month 00 in 280001, want 01–12"},
		{"17", "281301", 2026, "", "month 13"},
		{"17", "280932", 2026, "", "day 32 in 280932, September 2028 has 30 days"},
		{"17", "280931", 2026, "", "September 2028 has 30 days"},
		{"11", "280229", 2026, "2028-02-29", ""},
		{"11", "280200", 2026, "2028-02-01", ""},
		{"11", "270229", 2026, "", "February 2027 has 28 days"},
		{"11", "991231", 2026, "1999-12-31", ""},
	}
	for _, tc := range tests {
		got, err := gs1Date(tc.ai, tc.yymmdd, tc.now)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("gs1Date(%s, %s, %d) = %q, %v; want an error containing %q", tc.ai, tc.yymmdd, tc.now, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("gs1Date(%s, %s, %d) = %q, %v; want %q", tc.ai, tc.yymmdd, tc.now, got, err, tc.want)
		}
	}
}
