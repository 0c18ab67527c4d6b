package scanner

import (
	"errors"
	"strings"
	"testing"
)

const gsS = "\x1d"

// outcome is what Classify should give: a Code (AIM and Data are filled in
// by the test) or an error containing err.
type outcome struct {
	code Code
	err  string
}

// classifyCases are real-world lines. Each row is tried with the AIM id a
// configured scanner sends and without any AIM id; noAIM is nil when the
// outcome is the same both ways.
var classifyCases = []struct {
	name  string
	aim   string
	data  string
	with  outcome
	noAIM *outcome
}{
	{name: "ean13", aim: "]E0", data: "6901234567892",
		with: outcome{code: Code{Kind: KindEAN13, Product: "6901234567892"}}},
	{name: "ean13 other", aim: "]E0", data: "4006381333931",
		with: outcome{code: Code{Kind: KindEAN13, Product: "4006381333931"}}},
	{name: "ean13 bad check digit", aim: "]E0", data: "6901234567893",
		with: outcome{err: "bad EAN-13 check digit 3, want 2"}},
	{name: "ean13 12 digits", aim: "]E0", data: "690123456789",
		with:  outcome{err: "]E0 data is not 13 digits"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "ean13 with letter", aim: "]E0", data: "690123456789X",
		with:  outcome{err: "]E0 data is not 13 digits"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "ean8", aim: "]E4", data: "96385074",
		with: outcome{code: Code{Kind: KindEAN8, Product: "96385074"}}},
	{name: "ean8 bad check digit", aim: "]E4", data: "96385075",
		with: outcome{err: "bad EAN-8 check digit 5, want 4"}},
	{name: "ean8 sent as ean13", aim: "]E0", data: "96385074",
		with:  outcome{err: "]E0 data is not 13 digits"},
		noAIM: &outcome{code: Code{Kind: KindEAN8, Product: "96385074"}}},
	{name: "ean13 sent as ean8", aim: "]E4", data: "6901234567892",
		with:  outcome{err: "]E4 data is not 8 digits"},
		noAIM: &outcome{code: Code{Kind: KindEAN13, Product: "6901234567892"}}},
	{name: "trace 81", aim: "]C0", data: "81234567890123456789",
		with: outcome{code: Code{Kind: KindTrace, Trace: "81234567890123456789"}}},
	{name: "trace 83", aim: "]C0", data: "83001234567890123456",
		with: outcome{code: Code{Kind: KindTrace, Trace: "83001234567890123456"}}},
	{name: "trace 19 digits", aim: "]C0", data: "8123456789012345678",
		with:  outcome{err: "not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "trace 21 digits", aim: "]C0", data: "812345678901234567890",
		with:  outcome{err: "not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "trace not starting with 8", aim: "]C0", data: "71234567890123456789",
		with:  outcome{err: "not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "trace with letter", aim: "]C0", data: "8123456789012345678A",
		with:  outcome{err: "not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "gs1 box", aim: "]d2", data: "0106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "261231", ExpiryDate: "2026-12-31", Lot: "LOT42", Serial: "SN0001"}}},
	{name: "gs1 trailing GS", aim: "]d2", data: "0106901234567892" + "21SN0001" + gsS,
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Serial: "SN0001"}}},
	{name: "gs1 leading GS", aim: "]C1", data: gsS + "0106901234567892" + "17270600",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "270600", ExpiryDate: "2027-06-30"}}},
	{name: "gs1 serial before lot", aim: "]Q3", data: "0106901234567892" + "21ABC123" + gsS + "10B2024-07" + gsS + "17260131",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "260131", ExpiryDate: "2026-01-31", Lot: "B2024-07", Serial: "ABC123"}}},
	{name: "gs1 GS after fixed field", aim: "]d2", data: "0106901234567892" + gsS + "17261231" + gsS + "10L1",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "261231", ExpiryDate: "2026-12-31", Lot: "L1"}}},
	{name: "gs1 case gtin", aim: "]d2", data: "0116901234567899" + "21X1",
		with: outcome{code: Code{Kind: KindGS1, GTIN: "16901234567899", Serial: "X1"}}},
	// Issue #16: a lot, serial or date without a GTIN names no item.
	{name: "gs1 without 01", aim: "]d2", data: "17261231" + "10L1" + gsS + "21S1",
		with: outcome{err: "GS1 data has no GTIN (AI 01)"}},
	{name: "gs1 without 01 or GS", aim: "]d2", data: "17261231" + "10L1",
		with:  outcome{err: "GS1 data has no GTIN (AI 01)"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "gs1 serial only", aim: "]C1", data: gsS + "21SN0001",
		with: outcome{err: "GS1 data has no GTIN (AI 01)"}},
	{name: "gs1 production date only", aim: "]Q3", data: "11250115",
		with:  outcome{err: "GS1 data has no GTIN (AI 01)"},
		noAIM: &outcome{err: "bad EAN-8 check digit"}},
	// Issue #16: a GTIN-14 holding a GTIN-8 finds the EAN-8.
	{name: "gs1 gtin-8", aim: "]d2", data: "0100000012345670" + "21S1",
		with: outcome{code: Code{Kind: KindGS1, Product: "12345670", GTIN: "00000012345670", Serial: "S1"}}},
	{name: "gs1 gtin-8 other", aim: "]d2", data: "0100000096385074" + "17280200",
		with: outcome{code: Code{Kind: KindGS1, Product: "96385074", GTIN: "00000096385074", Expiry: "280200", ExpiryDate: "2028-02-29"}}},
	{name: "gs1 upc-a", aim: "]d2", data: "0100036000291452",
		with: outcome{code: Code{Kind: KindGS1, Product: "0036000291452", GTIN: "00036000291452"}}},
	{name: "gs1 gtin-8 bad check digit", aim: "]d2", data: "0100000012345671",
		with: outcome{err: "GS1 AI 01 has a bad check digit"}},
	// Issue #16: dates are real dates.
	{name: "gs1 production date", aim: "]d2", data: "0106901234567892" + "11250115" + "17270100" + "10L1",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Produced: "250115", ProducedDate: "2025-01-15",
			Expiry: "270100", ExpiryDate: "2027-01-31", Lot: "L1"}}},
	{name: "gs1 expiry 29 February leap year", aim: "]d2", data: "0106901234567892" + "17280229",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "280229", ExpiryDate: "2028-02-29"}}},
	{name: "gs1 expiry 29 February common year", aim: "]d2", data: "0106901234567892" + "17270229",
		with: outcome{err: "GS1 AI 17 is not a date: day 29 in 270229, February 2027 has 28 days"}},
	{name: "gs1 expiry end of February common year", aim: "]d2", data: "0106901234567892" + "17270200",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "270200", ExpiryDate: "2027-02-28"}}},
	{name: "gs1 expiry 31 April", aim: "]d2", data: "0106901234567892" + "17260431",
		with: outcome{err: "day 31 in 260431, April 2026 has 30 days"}},
	{name: "gs1 production day 00", aim: "]d2", data: "0106901234567892" + "11250100",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Produced: "250100", ProducedDate: "2025-01-01"}}},
	{name: "gs1 production 30 February", aim: "]d2", data: "0106901234567892" + "11240230",
		with: outcome{err: "GS1 AI 11 is not a date: day 30 in 240230, February 2024 has 29 days"}},
	{name: "gs1 variant", aim: "]d2", data: "0106901234567892" + "222A" + gsS + "10L1",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Variant: "2A", Lot: "L1"}}},
	{name: "gs1 bad gtin check digit", aim: "]d2", data: "0106901234567893" + "21S1",
		with: outcome{err: "GS1 AI 01 has a bad check digit"}},
	{name: "gs1 expiry too short", aim: "]d2", data: "0106901234567892" + "172612",
		with: outcome{err: "GS1 AI 17 too short: 4 of 6 digits"}},
	{name: "gs1 expiry month 13", aim: "]d2", data: "0106901234567892" + "17261301",
		with: outcome{err: "GS1 AI 17 is not a date: month 13 in 261301, want 01–12"}},
	{name: "gs1 unknown AI", aim: "]d2", data: "0106901234567892" + "30" + "12",
		with: outcome{err: `unknown GS1 AI "30"`}},
	{name: "gs1 lot too long", aim: "]d2", data: "0106901234567892" + "10" + strings.Repeat("A", 21),
		with: outcome{err: "GS1 AI 10 longer than 20 characters"}},
	{name: "gs1 serial empty", aim: "]d2", data: "0106901234567892" + "21" + gsS + "10L1",
		with: outcome{err: "GS1 AI 21 is empty"}},
	{name: "gs1 serial repeated", aim: "]d2", data: "0106901234567892" + "21A" + gsS + "21B",
		with: outcome{err: "GS1 AI 21 repeated"}},
	{name: "gs1 space in lot", aim: "]d2", data: "0106901234567892" + "10L 1",
		with: outcome{err: "GS1 AI 10 has byte 0x20 outside the GS1 character set"}},
	{name: "gs1 double GS", aim: "]d2", data: "0106901234567892" + "10L1" + gsS + gsS + "21S1",
		with: outcome{err: "two GS in a row"}},
	{name: "rx 6 characters", aim: "]Q1", data: "RX123456",
		with: outcome{code: Code{Kind: KindRx, Rx: "RX123456"}}},
	{name: "rx 32 characters", aim: "]Q1", data: "RX" + strings.Repeat("A1", 16),
		with: outcome{code: Code{Kind: KindRx, Rx: "RX" + strings.Repeat("A1", 16)}}},
	{name: "rx 5 characters", aim: "]Q1", data: "RX12345",
		with: outcome{err: "has 5 characters after RX, want 6–32"}},
	{name: "rx 33 characters", aim: "]Q1", data: "RX" + strings.Repeat("A", 33),
		with: outcome{err: "has 33 characters after RX, want 6–32"}},
	{name: "rx lower case inside", aim: "]Q1", data: "RX2024a0001",
		with: outcome{err: "prescription reference byte 6 is 0x61"}},
	{name: "rx dash", aim: "]Q1", data: "RX2024-0001",
		with: outcome{err: "prescription reference byte 6 is 0x2d"}},
	// Only upper-case RX marks a prescription; with ]Q1 anything else is
	// a voucher token, and without an AIM id a voucher cannot be told.
	{name: "rx lower-case prefix", aim: "]Q1", data: "rx123456",
		with:  outcome{code: Code{Kind: KindVoucher}},
		noAIM: &outcome{err: "not a known code"}},
	{name: "voucher", aim: "]Q1", data: "TGV1:8f3a2c9e0b7d4e1fa6c5b3d2e1f0a9b8",
		with:  outcome{code: Code{Kind: KindVoucher}},
		noAIM: &outcome{err: "not a known code"}},
	{name: "voucher url", aim: "]Q1", data: "https://ybj.example.cn/qr?t=AbC123_-x",
		with:  outcome{code: Code{Kind: KindVoucher}},
		noAIM: &outcome{err: "not a known code"}},
	{name: "voucher url with numbers", aim: "]Q1", data: "https://ybj.example.cn/v2/qr/20260302?t=AbC123",
		with:  outcome{code: Code{Kind: KindVoucher}},
		noAIM: &outcome{err: "not a known code"}},
	// Issue #16: what packs put in a plain QR is their code, never a
	// voucher: the content decides, as without an AIM id.
	{name: "qr trace", aim: "]Q1", data: "81234567890123456789",
		with: outcome{code: Code{Kind: KindTrace, Trace: "81234567890123456789"}}},
	{name: "qr trace 83", aim: "]Q1", data: "83001234567890123456",
		with: outcome{code: Code{Kind: KindTrace, Trace: "83001234567890123456"}}},
	{name: "qr 19 digits", aim: "]Q1", data: "8123456789012345678",
		with:  outcome{err: "QR of 19 digits: not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "qr 20 digits not starting with 8", aim: "]Q1", data: "71234567890123456789",
		with:  outcome{err: "QR of 20 digits: not a traceability code"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "qr payment code", aim: "]Q1", data: "134567890123456789",
		with:  outcome{err: "a voucher is never digits alone"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "qr ean13", aim: "]Q1", data: "6901234567892",
		with: outcome{code: Code{Kind: KindEAN13, Product: "6901234567892"}}},
	{name: "qr ean13 bad check digit", aim: "]Q1", data: "6901234567893",
		with: outcome{err: "bad EAN-13 check digit 3, want 2"}},
	{name: "qr gs1 element string", aim: "]Q1", data: "0106901234567892" + "17261231" + "10LOT42",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Expiry: "261231", ExpiryDate: "2026-12-31", Lot: "LOT42"}}},
	{name: "qr gs1 in brackets", aim: "]Q1", data: "(01)06901234567892(17)261231(10)LOT42",
		with:  outcome{err: "QR holds GS1 text in brackets"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "digital link", aim: "]Q1", data: "https://example.com/01/09506000134352/10/ABC123/21/12345?17=261231",
		with: outcome{code: Code{Kind: KindGS1, Product: "9506000134352", GTIN: "09506000134352", Lot: "ABC123", Serial: "12345",
			Expiry: "261231", ExpiryDate: "2026-12-31"}}},
	{name: "digital link gtin only", aim: "]Q1", data: "https://id.gs1.org/01/09506000134352",
		with: outcome{code: Code{Kind: KindGS1, Product: "9506000134352", GTIN: "09506000134352"}}},
	{name: "digital link gtin-8", aim: "]Q1", data: "https://example.com/01/00000012345670?17=270200",
		with: outcome{code: Code{Kind: KindGS1, Product: "12345670", GTIN: "00000012345670", Expiry: "270200", ExpiryDate: "2027-02-28"}}},
	{name: "digital link upper case", aim: "]Q1", data: "HTTPS://EXAMPLE.COM/01/06901234567892/21/SN0001",
		with: outcome{code: Code{Kind: KindGS1, Product: "6901234567892", GTIN: "06901234567892", Serial: "SN0001"}}},
	{name: "digital link bad check digit", aim: "]Q1", data: "https://example.com/01/09506000134353/10/ABC",
		with: outcome{err: "GS1 AI 01 has a bad check digit"}},
	{name: "digital link of an SSCC", aim: "]Q1", data: "https://example.com/00/106141412345678908",
		with: outcome{err: "names GS1 key AI 00, not the GTIN"}},
	{name: "digital link of a voucher host", aim: "]Q1", data: "https://ybj.example.cn/01/AbC123",
		with: outcome{err: `GS1 AI 01 is "AbC123", want 14 digits`}},
	{name: "qr control byte", aim: "]Q1", data: "TGV1:8f3a\x00c9",
		with:  outcome{err: "QR byte 9 is 0x00"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "voucher non-ASCII", aim: "]Q1", data: "TGV1:凭证",
		with:  outcome{err: "outside printable ASCII"},
		noAIM: &outcome{err: "not a known code"}},
	{name: "voucher empty", aim: "]Q1", data: "",
		with:  outcome{err: "]Q1 with no data"},
		noAIM: &outcome{err: "empty line"}},
	{name: "ean13 add-on aim", aim: "]E3", data: "690123456789212",
		with:  outcome{err: `unknown AIM id "]E3"`},
		noAIM: &outcome{err: "not a known code"}},
	{name: "plain datamatrix aim", aim: "]d1", data: "6901234567892",
		with:  outcome{err: `unknown AIM id "]d1"`},
		noAIM: &outcome{code: Code{Kind: KindEAN13, Product: "6901234567892"}}},
}

func TestClassify_table(t *testing.T) {
	for _, tc := range classifyCases {
		for _, withAIM := range []bool{true, false} {
			aim, want := tc.aim, tc.with
			if !withAIM {
				aim = ""
				if tc.noAIM != nil {
					want = *tc.noAIM
				}
			}
			name := tc.name + "/aim"
			if !withAIM {
				name = tc.name + "/no_aim"
			}
			t.Run(name, func(t *testing.T) {
				checkClassify(t, aim, tc.data, want)
			})
		}
	}
}

func checkClassify(t *testing.T, aim, data string, want outcome) {
	t.Helper()
	got, err := Classify([]byte(aim + data))
	if got.AIM != aim || got.Data != data {
		t.Errorf("AIM, Data = %q, %q; want %q, %q", got.AIM, got.Data, aim, data)
	}
	if want.err != "" {
		if err == nil {
			t.Fatalf("Classify(%q) = %+v, nil; want error containing %q", aim+data, got, want.err)
		}
		if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), want.err) {
			t.Errorf("error %q: want ErrUnreadable containing %q", err, want.err)
		}
		if got.Kind != KindUnknown {
			t.Errorf("Kind = %v on error, want unknown", got.Kind)
		}
		return
	}
	if err != nil {
		t.Fatalf("Classify(%q): %v", aim+data, err)
	}
	w := want.code
	w.AIM, w.Data = aim, data
	if got != w {
		t.Errorf("Classify(%q) =\n %+v\nwant\n %+v", aim+data, got, w)
	}
}

func TestClassify_otherErrors(t *testing.T) {
	tests := []struct {
		line, aim, data, err string
	}{
		{line: "", data: "", err: "empty line"},
		{line: "]", data: "]", err: "truncated AIM id"},
		{line: "]E", data: "]E", err: "truncated AIM id"},
		{line: "]A0ABC", aim: "]A0", data: "ABC", err: `unknown AIM id "]A0"`},
		{line: "]e06901234567892", aim: "]e0", data: "6901234567892", err: `unknown AIM id "]e0"`},
		{line: "RX12345", data: "RX12345", err: "has 5 characters after RX"},
		{line: "12345678901234", data: "12345678901234", err: "not a known code"},
		{line: "6901234567892\r", data: "6901234567892\r", err: "not a known code"},
	}
	for _, tc := range tests {
		c, err := Classify([]byte(tc.line))
		if err == nil || !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Classify(%q) error = %v; want ErrUnreadable containing %q", tc.line, err, tc.err)
		}
		if c != (Code{AIM: tc.aim, Data: tc.data}) {
			t.Errorf("Classify(%q) = %+v; want only AIM %q and Data %q", tc.line, c, tc.aim, tc.data)
		}
	}
}

// noiseBytes are bytes no valid code contains: controls other than GS (a
// GS1 separator) and CR/LF (terminators), DEL, and bytes above ASCII.
var noiseBytes = []byte{0x00, 0x01, 0x07, 0x08, 0x1b, 0x1c, 0x1e, 0x7f, 0x80, 0xc0, 0xe6, 0xff}

// TestClassify_noiseNeverYieldsAnItem inserts or substitutes a noise byte
// at every position of every good line: the line must turn unreadable.
func TestClassify_noiseNeverYieldsAnItem(t *testing.T) {
	for _, line := range goodLines(t) {
		for i := 0; i <= len(line); i++ {
			for _, b := range noiseBytes {
				inserted := line[:i] + string([]byte{b}) + line[i:]
				expectUnreadable(t, inserted)
				if i < len(line) {
					expectUnreadable(t, line[:i]+string([]byte{b})+line[i+1:])
				}
			}
		}
	}
}

func expectUnreadable(t *testing.T, line string) {
	t.Helper()
	if c, err := Classify([]byte(line)); err == nil {
		t.Errorf("Classify(%q) = %v %+v; want unreadable", line, c.Kind, c)
	}
}

// goodLines returns every table line that classifies, with and without AIM.
func goodLines(t *testing.T) []string {
	t.Helper()
	var lines []string
	for _, tc := range classifyCases {
		for _, l := range []string{tc.aim + tc.data, tc.data} {
			if _, err := Classify([]byte(l)); err == nil {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) < 20 {
		t.Fatalf("only %d good lines in the table", len(lines))
	}
	return lines
}

// TestClassify_digitErrorsCaught checks that a misread digit anywhere in a
// product code never yields another product: the mod-10 check catches
// every single-digit error.
func TestClassify_digitErrorsCaught(t *testing.T) {
	for _, code := range []string{"6901234567892", "4006381333931", "96385074", "]E06923450657713", "]E496385074"} {
		start := 0
		if strings.HasPrefix(code, "]") {
			start = 3
		}
		for i := start; i < len(code); i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == code[i] {
					continue
				}
				expectUnreadable(t, code[:i]+string([]byte{d})+code[i+1:])
			}
		}
	}
}

// TestClassify_packQRsNeverVouchers: whatever a pack prints in a plain QR
// — well formed or not — is never taken for the buyer's voucher, which
// would replace the card in the sale (issue #16).
func TestClassify_packQRsNeverVouchers(t *testing.T) {
	for _, d := range []string{
		"81234567890123456789", "8123456789012345678", "812345678901234567890", "00000000000000000000",
		"6901234567892", "6901234567893", "96385074", "12345",
		"0106901234567892", "0106901234567892" + "10LOT", "0106901234567893" + "10LOT", "10LOT" + gsS + "21S",
		"(01)06901234567892", "(17)261231(10)L",
		"https://example.com/01/09506000134352", "https://example.com/01/09506000134353",
		"https://example.com/01/09506000134352?17=261332", "https://x.cn/01/abc", "http://x/00/106141412345678908",
		"https://example.com/gtin/09506000134352/lot/A", "HTTPS://EXAMPLE.COM/01/09506000134352",
	} {
		c, err := Classify([]byte("]Q1" + d))
		if c.Kind == KindVoucher {
			t.Errorf("]Q1%q is a voucher", d)
		}
		if err == nil && c.Kind != KindTrace && c.Kind != KindGS1 && c.Kind != KindEAN13 && c.Kind != KindEAN8 {
			t.Errorf("]Q1%q = %v", d, c.Kind)
		}
	}
}

func TestValidEAN(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"6901234567892", true},
		{"6901234567893", false},
		{"4006381333931", true},
		{"6923450657713", true},
		{"96385074", true},
		{"96385075", false},
		{"12345670", true},
		{"036000291452", true}, // UPC-A
		{"06901234567892", true},
		{"16901234567899", true},
		{"16901234567890", false},
		{"0", false},
		{"", false},
		{"690123456789", false}, // 12 digits, check digit 9 wrong for UPC-A
		{"69012345678921", false},
		{"690123456789A", false},
		{"123456789012345", false}, // 15 digits: not a GTIN length
	}
	for _, tc := range tests {
		if got := ValidEAN(tc.in); got != tc.want {
			t.Errorf("ValidEAN(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestKind_String(t *testing.T) {
	want := map[Kind]string{
		KindUnknown: "unknown", KindEAN13: "ean13", KindEAN8: "ean8", KindTrace: "trace",
		KindGS1: "gs1", KindRx: "rx", KindVoucher: "voucher", Kind(42): "kind(42)", Kind(-1): "kind(-1)",
	}
	for k, s := range want {
		if got := k.String(); got != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, s)
		}
	}
}

func TestCode_Box(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"]C081234567890123456789", true},
		{"]d20106901234567892" + "21SN1", true},
		{"]d20106901234567892" + "10L1" + gsS + "21SN1" + gsS, true},
		{"]d20106901234567892" + "10L1", false},         // product and lot: many boxes
		{"]d20116901234567899" + "21SN1", false},        // a case, not a retail box
		{"]d217261231" + "10L1" + gsS + "21SN1", false}, // serial without product
		{"]E06901234567892", false},
		{"]Q1RX123456", false},
		{"]Q181234567890123456789", true},                         // a traceability code in a QR
		{"]Q1https://example.com/01/09506000134352/21/S1", true},  // a Digital Link with a serial
		{"]Q1https://example.com/01/09506000134352/10/L1", false}, // lot only
		{"]d20100000012345670" + "21SN1", true},                   // GTIN-8 pack with a serial
		{"]Q1https://example.com/01/19506000134359/21/S1", false}, // a case
		{"]Q1token", false},
		{"garbage", false},
	}
	for _, tc := range tests {
		c, _ := Classify([]byte(tc.line))
		if got := c.Box(); got != tc.want {
			t.Errorf("Classify(%q).Box() = %v, want %v", tc.line, got, tc.want)
		}
	}
}
