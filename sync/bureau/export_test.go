package bureau

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// records is an exporter over one till's records, as stored.
type records struct {
	pharmacy, till string
	recs, sigs     [][]byte
}

func (r *records) Tills(context.Context, archive.TillQuery) ([]archive.TillInfo, error) {
	return []archive.TillInfo{{Pharmacy: r.pharmacy, Till: r.till}}, nil
}

func (r *records) Scan(_ context.Context, pharmacy, till string, from uint64, _ int, fn func(seq uint64, rec, sig []byte) error) error {
	if pharmacy != r.pharmacy || till != r.till {
		return nil
	}
	for i := range r.recs {
		if seq := uint64(i + 1); seq >= from {
			if err := fn(seq, r.recs[i], r.sigs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *records) add(t *testing.T, rec feed.Record, sig []byte) {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	r.recs, r.sigs = append(r.recs, b), append(r.sigs, sig)
}

// exportCSV exports ar as CSV and reads it back: a map of column name to
// cell per row.
func exportCSV(t *testing.T, ar exporter) []map[string]string {
	t.Helper()
	var out bytes.Buffer
	if err := Export(ctx, &out, ar, FormatCSV, ExportFilter{}); err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(out.Bytes(), 0) >= 0 {
		t.Errorf("the CSV holds a NUL byte:\n%q", out.String())
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], CSVHeader) {
		t.Fatalf("header %q", rows[0])
	}
	var got []map[string]string
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, name := range CSVHeader {
			m[name] = row[i]
		}
		got = append(got, m)
	}
	return got
}

func TestCSVCell(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"张*", "张*"},
		{"c01", "c01"},
		{`=HYPERLINK("http://x")`, `'=HYPERLINK("http://x")`},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-2", "'-2"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tX", "'\tX"},
		{"\rX", "'\rX"},
		{"a\x00b", "ab"},
		{"\x00", ""},
		{"\x00=1", "'=1"}, // NULs go first: they cannot hide a formula
		{"a=1", "a=1"},    // only the first character counts
		{" =1", " =1"},
		{"'=1", "'=1"}, // already text
		{"\n=1", "\n=1"},
		{"1.5", "1.5"},
	} {
		if got := csvCell(tt.in); got != tt.want {
			t.Errorf("csvCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "x", `=HYPERLINK("http://x")`, "+1", "-2", "@SUM(A1)", "\tX", "\rX", "a\x00b", "\x00=", "'="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := csvCell(in)
		clean := strings.ReplaceAll(in, "\x00", "")
		if strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("csvCell(%q) = %q holds a NUL", in, out)
		}
		if out != "" && strings.IndexByte(formulaLead, out[0]) >= 0 {
			t.Fatalf("csvCell(%q) = %q begins a formula", in, out)
		}
		// Nothing else changes: the text is there, after a "'" only
		// where it began a formula.
		if out != clean && (out != "'"+clean || strings.IndexByte(formulaLead, clean[0]) < 0) {
			t.Fatalf("csvCell(%q) = %q, from %q", in, out, clean)
		}
	})
}

// A till signs whatever it likes: formulas in its text fields reach the
// CSV as text, NULs not at all, and the exporter's own numbers as numbers.
func TestExport_CSVNeutralisesFormulas(t *testing.T) {
	ar := &records{pharmacy: "P1", till: "T1"}
	// 0xf8 makes the base64 signature begin with '+'.
	sig := append([]byte{0xf8}, bytes.Repeat([]byte{1}, 63)...)
	ar.add(t, feed.Record{
		Seq: 1, ID: "id-1", Pharmacy: "P1", Till: "T1", Kind: feed.KindSale, At: "2026-03-01T09:00:00+08:00",
		Card:       &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "+1"},
		Cashier:    `=HYPERLINK("http://x")`,
		Pharmacist: "@SUM(A1)",
		Reason:     "\tX",
		Ref:        "a\x00b",
		Lines: []feed.Line{
			{Barcode: "6901234567892", Name: "-2", Qty: -3, Days: -7, DaysLimit: -30, PriceFen: -1850, Decision: feed.Allow, Pay: "insurance",
				DrugTracCodg: []string{"=A1", "x"}, Flags: []string{"-1", "@x"}, Rule: "\rX", RxRef: "=1"},
		},
		Payment: &feed.Payment{Method: "split", InsuranceFen: -3700, CashFen: -990},
	}, sig)
	rows := exportCSV(t, ar)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	row := rows[0]
	for col, want := range map[string]string{
		"cashier":        `'=HYPERLINK("http://x")`,
		"card_name":      "'+1",
		"name":           "'-2",
		"pharmacist":     "'@SUM(A1)",
		"reason":         "'\tX",
		"ref":            "ab",
		"rule":           "'\rX",
		"rx_ref":         "'=1",
		"drug_trac_codg": "'=A1;x",
		"flags":          "'-1;@x",
		"sig":            "'" + base64.StdEncoding.EncodeToString(sig),
		// The exporter's own numbers stay numbers, negative or not.
		"seq": "1", "line": "1", "qty": "-3", "days": "-7", "days_limit": "-30", "price_fen": "-1850",
		"insurance_fen": "-3700", "cash_fen": "-990", "rx_flag": "0",
		// Harmless text is as it was.
		"pharmacy": "P1", "barcode": "6901234567892", "card_no": "330100********1234", "decision": feed.Allow,
	} {
		if got := row[col]; got != want {
			t.Errorf("%s = %q, want %q", col, got, want)
		}
	}
}

// Every text column goes through csvCell, whichever field a till fills.
func TestExport_CSVNeutralisesEveryTextColumn(t *testing.T) {
	const f = "=1+1"
	numeric := map[string]bool{"seq": true, "line": true, "qty": true, "days": true, "days_limit": true, "price_fen": true,
		"insurance_fen": true, "cash_fen": true, "rx_flag": true, "manual": true, "overridden": true, "trdn_flag": true}
	ar := &records{pharmacy: f, till: f}
	ar.add(t, feed.Record{
		Seq: 1, ID: f, Prev: f, Pharmacy: f, Till: f, Kind: f, At: f,
		Card: &feed.Card{Type: f, No: f, Region: f, Name: f}, Cashier: f, Pharmacist: f, Reason: f, Ref: f,
		PharName: f, PharPracCertNo: f,
		Settlement: &feed.Settlement{MdtrtSn: f, SetlID: f, PsnNo: f, HiFeesetlType: f, MdtrtSetlType: f, PsnCertType: f},
		Lines: []feed.Line{{Barcode: f, MedListCodg: f, Name: f, Qty: -1, Days: -1, DaysLimit: -1, PriceFen: -1,
			DrugTracCodg: []string{f}, RxRef: f, Decision: f, Rule: f, Flags: []string{f}, Pay: f,
			FixmedinsHilistID: f, FixmedinsHilistName: f, FixmedinsBchno: f, ManuLotnum: f, ManuDate: f, ExpyEnd: f, PrscDrName: f}},
		Payment: &feed.Payment{Method: f, InsuranceFen: -1, CashFen: -1},
	}, []byte{0xf8})
	// A device record fills the two device columns.
	ar.add(t, feed.Record{Seq: 2, ID: f, Pharmacy: f, Till: f, Kind: f, At: f, Device: &feed.Device{Name: f, State: f}}, []byte{0xf8})
	rows := exportCSV(t, ar)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, col := range CSVHeader {
		if numeric[col] {
			continue
		}
		cell := rows[0][col]
		if strings.HasPrefix(col, "device_") {
			cell = rows[1][col]
		}
		if cell != "'"+f && !(col == "sig" && strings.HasPrefix(cell, "'+")) {
			t.Errorf("%s = %q, want it neutralised", col, cell)
		}
	}
}
