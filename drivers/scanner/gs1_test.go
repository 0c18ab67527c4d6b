package scanner

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGS1_table(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want GS1
		err  string
	}{
		{name: "gtin only", in: "0106901234567892", want: GS1{GTIN: "06901234567892"}},
		{name: "all four", in: "0106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001",
			want: GS1{GTIN: "06901234567892", Expiry: "261231", Lot: "LOT42", Serial: "SN0001"}},
		{name: "trailing GS", in: "0106901234567892" + "10LOT42" + gsS,
			want: GS1{GTIN: "06901234567892", Lot: "LOT42"}},
		{name: "leading GS", in: gsS + "0106901234567892",
			want: GS1{GTIN: "06901234567892"}},
		{name: "lot before serial", in: "10A1" + gsS + "21B2",
			want: GS1{Lot: "A1", Serial: "B2"}},
		{name: "serial before lot", in: "21B2" + gsS + "10A1",
			want: GS1{Lot: "A1", Serial: "B2"}},
		{name: "var field swallows the rest", in: "10A121B2",
			want: GS1{Lot: "A121B2"}},
		{name: "var field 20 chars", in: "21" + strings.Repeat("9", 20),
			want: GS1{Serial: strings.Repeat("9", 20)}},
		{name: "expiry day 00", in: "17270200", want: GS1{Expiry: "270200"}},
		{name: "set 82 punctuation", in: `10!"%&'()*+,-./:;<=>?_`[:22], want: GS1{Lot: `!"%&'()*+,-./:;<=>?_`}},

		{name: "empty", in: "", err: "empty GS1 element string"},
		{name: "only GS", in: gsS, err: "empty GS1 element string"},
		{name: "AI cut short", in: "0106901234567892" + "1", err: "GS1 AI cut short"},
		{name: "gtin short", in: "01069012345678", err: "GS1 AI 01 too short: 12 of 14 digits"},
		{name: "gtin GS inside", in: "01069012345" + gsS + "678", err: "GS1 AI 01 too short: 9 of 14 digits"},
		{name: "gtin letter", in: "010690123456789X", err: "GS1 AI 01 has byte 0x58 where a digit belongs"},
		{name: "gtin bad check", in: "0106901234567893", err: "GS1 AI 01 has a bad check digit"},
		{name: "expiry short", in: "17261", err: "GS1 AI 17 too short: 3 of 6 digits"},
		{name: "expiry month 00", in: "17260001", err: "GS1 AI 17 is not a date"},
		{name: "expiry day 32", in: "17260132", err: "GS1 AI 17 is not a date"},
		{name: "var field 21 chars", in: "21" + strings.Repeat("9", 21), err: "GS1 AI 21 longer than 20 characters"},
		{name: "lot empty at end", in: "10", err: "GS1 AI 10 is empty"},
		{name: "unknown AI", in: "30" + "12", err: `unknown GS1 AI "30"`},
		{name: "unknown 3-digit AI", in: "2401234", err: `unknown GS1 AI "24"`},
		{name: "repeated gtin", in: "0106901234567892" + "0106901234567892", err: "GS1 AI 01 repeated"},
		{name: "two leading GS", in: gsS + gsS + "10A", err: "two GS in a row"},
		{name: "CR in lot", in: "10A\rB", err: "GS1 AI 10 has byte 0x0d outside"},
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
