package bureau

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/feed"
)

func TestUnitPrice(t *testing.T) {
	tests := []struct {
		fen  int64
		qty  int
		want string
	}{
		{1680, 1, "16.8"},
		{2580, 2, "12.9"},
		{1000, 1, "10"},
		{1, 1, "0.01"},
		{1000, 3, "3.333333"},
		{2000, 3, "6.666667"}, // half up
		{-990, 1, "-9.9"},
		{0, 1, "0"},
	}
	for _, tt := range tests {
		if got := unitPrice(tt.fen, tt.qty); string(got) != tt.want {
			t.Errorf("unitPrice(%d, %d) = %s, want %s", tt.fen, tt.qty, got, tt.want)
		}
	}
}

const (
	saleID   = "019cac4e-5260-7345-ac9a-3715aa3903ad"
	returnID = "019cac50-2720-7bdb-bfb3-2ddc8eaa4bd9"
)

var fullSettlement = feed.Settlement{MdtrtSn: "MD20260302001", SetlID: "S20260302001", PsnNo: "33000010000000012345", HiFeesetlType: "1", MdtrtSetlType: feed.SetlPlatform, PsnCertType: "01"}

// completeSale is a sale record with everything a 3505 needs: a
// prescription drug with its prescriber, two boxes with their codes, the
// batch, the pharmacist on duty and the POS's settlement, and a line of
// daily goods that is not uploaded.
func completeSale() feed.Record {
	st := fullSettlement
	return feed.Record{
		Seq: 2, ID: saleID, Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindSale, At: "2026-03-02T02:08:00Z",
		Card:    &feed.Card{Type: feed.CardSSC, No: "A00000001", Region: "330100", Name: "王*"},
		Cashier: "李四", PharName: "钱药师", PharPracCertNo: "ZY330100001", Settlement: &st,
		Lines: []feed.Line{
			{Barcode: "6901234567892", MedListCodg: "XA10BAE054A001010101445", Name: "盐酸二甲双胍片 0.5g×60片", Qty: 2, Days: 20, PriceFen: 5160,
				DrugTracCodg: []string{"81000100000000000017", "81000100000000000018"}, RxFlag: true, RxRef: "RX20260302000123", Decision: feed.Allow, Pay: "insurance",
				FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "二甲双胍片（本店）", ManuLotnum: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", PrscDrName: "赵医生"},
			{Barcode: "6903148091050", Name: "海飞丝去屑洗发水 400ml", Qty: 1, PriceFen: 5990, Decision: feed.Block, Rule: "non_drug", Pay: "cash"},
		},
		Payment: &feed.Payment{Method: "split", InsuranceFen: 5160, CashFen: 5990},
	}
}

func TestMapSale_complete(t *testing.T) {
	r := completeSale()
	m := mapSale(&r, settlementOf(&r, nil))
	if len(m.lines) != 1 || len(m.skipped) != 1 || !strings.Contains(m.skipped[0], "line 2: not uploaded") {
		t.Fatalf("lines %d, skipped %q; want the drug uploaded and the shampoo not", len(m.lines), m.skipped)
	}
	want := Upload{
		Infno: Format3505, FixmedinsCode: "H33010200001",
		Input: UploadInput{Selinfo: Selinfo{
			MedListCodg: "XA10BAE054A001010101445", FixmedinsHilistID: "YP-0001", FixmedinsHilistName: "二甲双胍片（本店）",
			FixmedinsBchno: feed.BatchNo(saleID, 0), PrscDrName: "赵医生", PharName: "钱药师", PharPracCertNo: "ZY330100001",
			HiFeesetlType: "1", SetlID: "S20260302001", MdtrtSn: "MD20260302001", PsnNo: "33000010000000012345", PsnCertType: "01",
			ManuLotnum: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", RxFlag: "1", TrdnFlag: "0", FinlTrnsPric: "25.8",
			Rxno: "RX20260302000123", RtalDocno: saleID,
			Drugtracinfo: []Drugtrac{{"81000100000000000017"}, {"81000100000000000018"}},
			DrugProdBarc: "6901234567892", SelRetnCnt: "2", SelRetnTime: "2026-03-02 10:08:00", SelRetnOpterName: "李四", MdtrtSetlType: "1",
		}},
		Source: Source{Pharmacy: "H33010200001", Till: "T01", Seq: 2, ID: saleID, Line: 1},
	}
	if got := m.lines[0].up; !reflect.DeepEqual(got, want) {
		t.Fatalf("upload\n%+v\nwant\n%+v", got.Input.Selinfo, want.Input.Selinfo)
	}
	if p := problems(&m); len(p) != 0 {
		t.Fatalf("problems %q, want none", p)
	}
	// The platform's shape: input.selinfo, numbers as numbers.
	b, _ := json.Marshal(m.lines[0].up)
	for _, part := range []string{`"infno":"3505"`, `"input":{"selinfo":{"med_list_codg":"XA10BAE054A001010101445",`, `"finl_trns_pric":25.8,`, `"sel_retn_cnt":2,`,
		`"drugtracinfo":[{"drug_trac_codg":"81000100000000000017"},{"drug_trac_codg":"81000100000000000018"}]`} {
		if !bytes.Contains(b, []byte(part)) {
			t.Errorf("%s\nlacks %s", b, part)
		}
	}
}

// Every required field the till can lack is named, with why, and only
// it; a problem every line has with a field of the record is said once.
func TestCheck_everyRequiredField(t *testing.T) {
	drug := func(r *feed.Record) *feed.Line { return &r.Lines[0] }
	tests := []struct {
		name string
		edit func(r *feed.Record)
		want []string
	}{
		{"complete", func(*feed.Record) {}, nil},
		{"no settlement", func(r *feed.Record) { r.Settlement = nil }, []string{
			"missing mdtrt_sn (the POS sent no settlement for this sale: it sends one in the checkout, or later by POST /api/sales/" + saleID + "/settlement)",
			"missing mdtrt_setl_type (the POS sent no settlement for this sale",
		}},
		{"settlement without mdtrt_sn", func(r *feed.Record) { r.Settlement.MdtrtSn = "" }, []string{"missing mdtrt_sn (the POS's settlement did not send it)"}},
		{"platform settlement without setl_id", func(r *feed.Record) { r.Settlement.SetlID = "" }, []string{
			"missing setl_id (mdtrt_setl_type 1 (settled through the platform) needs the settlement's setl_id: the POS's settlement did not send it)"}},
		{"self-paid without setl_id", func(r *feed.Record) { r.Settlement.SetlID, r.Settlement.MdtrtSetlType = "", feed.SetlSelfPaid }, nil},
		{"unknown settlement kind", func(r *feed.Record) { r.Settlement.MdtrtSetlType = "9" }, []string{`mdtrt_setl_type "9": want 1`}},
		{"no pharmacist", func(r *feed.Record) { r.PharName, r.PharPracCertNo = "", "" }, []string{
			"missing phar_name (no pharmacist was signed in on duty at the till", "missing phar_prac_cert_no (no pharmacist"}},
		{"no practising certificate", func(r *feed.Record) { r.PharPracCertNo = "" }, []string{"missing phar_prac_cert_no"}},
		{"no cashier", func(r *feed.Record) { r.Cashier = "" }, []string{"missing sel_retn_opter_name (the record names no cashier)"}},
		{"no time", func(r *feed.Record) { r.At = "today" }, []string{`missing sel_retn_time (the record's at "today" is not an RFC 3339 time)`}},
		{"no lot", func(r *feed.Record) { drug(r).ManuLotnum = "" }, []string{"line 1: missing manu_lotnum (the box's code carries no lot (GS1 AI 10) and the catalogue has no manu_lotnum"}},
		{"no date of manufacture", func(r *feed.Record) { drug(r).ManuDate = "" }, []string{"line 1: missing manu_date (the box's code carries no date of manufacture (GS1 AI 11)"}},
		{"no expiry: optional", func(r *feed.Record) { drug(r).ExpyEnd = "" }, nil},
		{"date in another layout", func(r *feed.Record) { drug(r).ManuDate = "2025/05/01" }, []string{`line 1: manu_date "2025/05/01" is not in the platform's layout 2006-01-02`}},
		{"no prescriber", func(r *feed.Record) { drug(r).PrscDrName = "" }, []string{"line 1: missing prsc_dr_name (the prescription was entered without its prescriber"}},
		{"no prescriber for an OTC drug", func(r *feed.Record) { drug(r).PrscDrName, drug(r).RxFlag = "", false }, nil},
		{"catalogue id stands in", func(r *feed.Record) { drug(r).FixmedinsHilistID, drug(r).FixmedinsHilistName = "", "" }, nil},
		{"name too long", func(r *feed.Record) { drug(r).FixmedinsHilistName = strings.Repeat("药", 201) }, []string{
			"line 1: fixmedins_hilist_name is 201 characters, the platform takes at most 200"}},
		{"cashier too long", func(r *feed.Record) { r.Cashier = strings.Repeat("c", 51) }, []string{"sel_retn_opter_name is 51 characters, the platform takes at most 50"}},
		{"coded drug without codes", func(r *feed.Record) { drug(r).DrugTracCodg, drug(r).Flags = nil, []string{"trace_missing"} }, []string{
			"line 1: missing drugtracinfo (the drug carries traceability codes but no box's code was scanned)"}},
		{"fewer codes than boxes", func(r *feed.Record) { drug(r).DrugTracCodg = drug(r).DrugTracCodg[:1] }, []string{
			"line 1: incomplete drugtracinfo (1 traceability codes for 2 boxes: every box's code is required from 2026-01-01)"}},
		{"split pack: codes are per box, qty per unit", func(r *feed.Record) { drug(r).TrdnFlag, drug(r).Qty = true, 10 }, nil},
		{"uncoded drug", func(r *feed.Record) { drug(r).DrugTracCodg = nil }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := completeSale()
			tt.edit(&r)
			m := mapSale(&r, settlementOf(&r, nil))
			got := problems(&m)
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d: %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want it to begin %q", i, got[i], w)
				}
			}
		})
	}
}

// A problem with a field of the record on every line is said once; a
// line's own problem, line by line.
func TestCheck_recordProblemsOnce(t *testing.T) {
	r := completeSale()
	r.Settlement = nil
	second := r.Lines[0]
	second.ManuLotnum = ""
	r.Lines = append(r.Lines, second)
	m := mapSale(&r, nil)
	got := problems(&m)
	want := []string{"missing mdtrt_sn", "missing mdtrt_setl_type", "line 3: missing manu_lotnum"}
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want %q", i, got[i], want[i])
		}
	}
	// On a split sale without settlement, the cash line is self-paid.
	r = completeSale()
	r.Settlement = nil
	r.Lines[1].MedListCodg = "XA07BCM014E012010100341"
	m = mapSale(&r, nil)
	if s := m.lines[1].up.Input.Selinfo; s.MdtrtSetlType != feed.SetlSelfPaid {
		t.Errorf("cash line mdtrt_setl_type %q, want 2", s.MdtrtSetlType)
	}
	if got := problems(&m); !slices.ContainsFunc(got, func(p string) bool { return strings.HasPrefix(p, "line 1: missing mdtrt_setl_type") }) {
		t.Errorf("problems %q: want the insurance line's mdtrt_setl_type missing, line by line", got)
	}
}

// sealed appends r to ar as a till would have sent it.
func sealed(t *testing.T, ar *records, r feed.Record) {
	t.Helper()
	ar.add(t, r, make([]byte, ed25519.SignatureSize))
}

// uploads exports ar as format and reads the lines back.
func uploads(t *testing.T, ar exporter, format string, f ExportFilter) ([]Upload, UploadSummary) {
	t.Helper()
	var out bytes.Buffer
	sum, err := ExportUpload(ctx, &out, ar, format, f)
	if err != nil {
		t.Fatal(err)
	}
	var ups []Upload
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	for dec.More() {
		var u Upload
		if err := dec.Decode(&u); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	return ups, sum
}

// check runs CheckUpload and returns its lines.
func check(t *testing.T, ar exporter, format string) ([]string, UploadSummary) {
	t.Helper()
	var out bytes.Buffer
	sum, err := CheckUpload(ctx, &out, ar, format, ExportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n"), sum
}

// A settlement that comes after its sale joins it, the latest winning;
// the sale's own settlement stands otherwise.
func TestExportUpload_lateSettlement(t *testing.T) {
	ar := &records{pharmacy: "H33010200001", till: "T01"}
	r := completeSale()
	r.Seq, r.Settlement = 1, nil
	sealed(t, ar, r)
	first := fullSettlement
	first.MdtrtSn = "MD-FIRST"
	sealed(t, ar, feed.Record{Seq: 2, ID: "s1", Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindSettlement, At: r.At, Ref: saleID, Settlement: &first})
	later := fullSettlement
	sealed(t, ar, feed.Record{Seq: 3, ID: "s2", Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindSettlement, At: r.At, Ref: saleID, Settlement: &later})
	ups, sum := uploads(t, ar, Format3505, ExportFilter{})
	if len(ups) != 1 || ups[0].Input.Selinfo.MdtrtSn != "MD20260302001" || ups[0].Input.Selinfo.SetlID != "S20260302001" {
		t.Fatalf("uploads %+v, want the latest settlement", ups)
	}
	if sum.Records != 1 || sum.Complete != 1 || sum.Skipped != 1 {
		t.Errorf("summary %+v", sum)
	}
	lines, _ := check(t, ar, Format3505)
	if len(lines) != 2 || !strings.Contains(lines[0], "line 2: not uploaded") || !strings.HasPrefix(lines[1], "3505: 1 sale, 1 complete for upload, 0 incomplete") {
		t.Errorf("check %q", lines)
	}
}

// A return uploads as the sale line it names, with the sale's identity,
// staff and settlement and its own count, time and cashier; a return from
// before fixmedins_bchno finds its line by barcode when only one has it.
func TestExportUpload_returns(t *testing.T) {
	sale := completeSale()
	sale.Lines = append(sale.Lines, sale.Lines[0]) // two metformin lines: a barcode does not say which
	sale.Lines[2].ManuLotnum = "L2406"
	sale.Lines[1].MedListCodg, sale.Lines[1].Barcode, sale.Lines[1].Name = "XA07BCM014E012010100341", "6930022004189", "蒙脱石散"
	sale.Lines[1].ManuLotnum, sale.Lines[1].ManuDate = "M1", "2025-02-01"
	ret := feed.Record{
		Seq: 3, ID: returnID, Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindReturn, At: "2026-03-03T09:00:00+08:00", Ref: saleID, Cashier: "张三",
		Lines: []feed.Line{
			{Barcode: "6901234567892", MedListCodg: "XA10BAE054A001010101445", Name: "盐酸二甲双胍片 0.5g×60片", Qty: 1, PriceFen: 2580, RxFlag: true, RxRef: "RX20260302000123",
				DrugTracCodg: []string{"81000100000000000017"}, Decision: feed.Allow, Pay: "insurance", FixmedinsBchno: feed.BatchNo(saleID, 2)},
			{Barcode: "6930022004189", MedListCodg: "XA07BCM014E012010100341", Name: "蒙脱石散", Qty: 1, PriceFen: 1000, Decision: feed.Allow, Pay: "cash"}, // before fixmedins_bchno
			{Barcode: "6901234567892", MedListCodg: "XA10BAE054A001010101445", Name: "盐酸二甲双胍片 0.5g×60片", Qty: 1, PriceFen: 2580, Decision: feed.Allow, Pay: "insurance"},
		},
	}
	ar := &records{pharmacy: "H33010200001", till: "T01"}
	sale.Seq = 1
	sealed(t, ar, feed.Record{Seq: 1, ID: "x", Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindDevice, At: sale.At})
	sale.Seq = 2
	sealed(t, ar, sale)
	sealed(t, ar, ret)

	// From seq 3: the sale before it is still found.
	ups, sum := uploads(t, ar, Format3506, ExportFilter{Pharmacy: "H33010200001", Till: "T01", FromSeq: 3})
	if len(ups) != 3 || sum.Records != 1 || sum.Incomplete != 1 {
		t.Fatalf("%d uploads, summary %+v", len(ups), sum)
	}
	s := ups[0].Input.Selinfo
	if ups[0].Infno != Format3506 || s.FixmedinsBchno != feed.BatchNo(saleID, 2) || s.ManuLotnum != "L2406" || s.RtalDocno != saleID ||
		s.MdtrtSn != "MD20260302001" || s.PharName != "钱药师" || s.PrscDrName != "赵医生" || s.FixmedinsHilistID != "YP-0001" ||
		s.SelRetnCnt != "1" || s.SelRetnTime != "2026-03-03 09:00:00" || s.SelRetnOpterName != "张三" || s.FinlTrnsPric != "25.8" {
		t.Errorf("returned line %+v", s)
	}
	if s := ups[1].Input.Selinfo; s.FixmedinsBchno != feed.BatchNo(saleID, 1) || s.MdtrtSetlType != feed.SetlSelfPaid {
		t.Errorf("old-style returned line %+v, want sale line 2 found by its barcode, self-paid", s)
	}
	lines, _ := check(t, ar, Format3506)
	why := "(the return record names no sale line, and sale " + saleID + " has 2 lines of 6901234567892)"
	want := []string{
		"H33010200001/T01 3: line 3: missing fixmedins_bchno " + why,
		"H33010200001/T01 3: line 3: missing manu_lotnum " + why,
		"H33010200001/T01 3: line 3: missing manu_date " + why,
	}
	if len(lines) != 4 || !slices.Equal(lines[:3], want) {
		t.Errorf("check %q\nwant %q", lines, want)
	}
}

// A return whose sale the archive does not hold says so for every field
// the sale would give.
func TestExportUpload_returnWithoutItsSale(t *testing.T) {
	ar := &records{pharmacy: "H33010200001", till: "T01"}
	sealed(t, ar, feed.Record{Seq: 1, ID: returnID, Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindReturn, At: "2026-03-03T09:00:00+08:00", Ref: saleID, Cashier: "张三",
		Lines: []feed.Line{{Barcode: "6930022004189", MedListCodg: "XA07BCM014E012010100341", Name: "蒙脱石散", Qty: 1, PriceFen: 1000, Decision: feed.Allow,
			FixmedinsBchno: feed.BatchNo(saleID, 0), ManuLotnum: "L1", ManuDate: "2025-01-01"}}})
	lines, sum := check(t, ar, Format3506)
	why := "(sale " + saleID + " is not in the archive (not received yet, or removed by retention))"
	for _, w := range []string{"missing phar_name " + why, "missing phar_prac_cert_no " + why, "missing mdtrt_sn " + why, "missing mdtrt_setl_type " + why} {
		found := false
		for _, l := range lines {
			found = found || l == "H33010200001/T01 1: "+w
		}
		if !found {
			t.Errorf("check %q\nlacks %q", lines, w)
		}
	}
	if sum.Incomplete != 1 {
		t.Errorf("summary %+v", sum)
	}
}

// fixture reads testdata/pre-nhsa.jsonl of sync/feed, records a till
// signed before the 3505 fields existed.
func fixture(t *testing.T) (*records, ed25519.PublicKey) {
	t.Helper()
	pubText, err := os.ReadFile("../feed/testdata/pre-nhsa.pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(pubText)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../feed/testdata/pre-nhsa.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ar := &records{pharmacy: "H33010200001", till: "T01"}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, feed.MaxEnvelope)
	for sc.Scan() {
		rec, _, sig, err := feed.Open(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		ar.recs, ar.sigs = append(ar.recs, rec), append(ar.sigs, sig)
	}
	return ar, pub
}

// Records from before the 3505 fields still verify, export byte for byte,
// and map onto 3505 and 3506, the check saying what they lack.
func TestExport_oldRecords(t *testing.T) {
	ar, pub := fixture(t)
	var jsonl bytes.Buffer
	if err := Export(ctx, &jsonl, ar, FormatJSONL, ExportFilter{}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("../feed/testdata/pre-nhsa.jsonl")
	if !bytes.Equal(jsonl.Bytes(), want) {
		t.Fatalf("the JSON lines export differs from what the till sent:\n%s", jsonl.Bytes())
	}
	for i, rec := range ar.recs {
		if !ed25519.Verify(pub, rec, ar.sigs[i]) {
			t.Errorf("seq %d does not verify", i+1)
		}
	}
	sales, sum := uploads(t, ar, Format3505, ExportFilter{})
	if len(sales) != 2 || sum.Records != 2 || sum.Incomplete != 1 || sum.Empty != 1 || sum.Skipped != 2 {
		t.Fatalf("3505 of the old records: %d uploads, %+v", len(sales), sum)
	}
	if s := sales[0].Input.Selinfo; s.FixmedinsHilistID != "6901234567892" || s.FixmedinsHilistName != "盐酸二甲双胍片 0.5g×60片" || s.RtalDocno != saleID ||
		s.SelRetnTime != "2026-03-02 10:08:00" || len(s.Drugtracinfo) != 1 {
		t.Errorf("old sale line %+v", s)
	}
	returns, sum := uploads(t, ar, Format3506, ExportFilter{})
	if len(returns) != 1 || sum.Records != 1 || returns[0].Input.Selinfo.FixmedinsBchno != feed.BatchNo(saleID, 0) {
		t.Fatalf("3506 of the old records: %+v, %+v", returns, sum)
	}
	lines, _ := check(t, ar, Format3505)
	var missing []string
	for _, l := range lines {
		if _, after, ok := strings.Cut(l, "missing "); ok {
			field, _, _ := strings.Cut(after, " ")
			missing = append(missing, field)
		}
	}
	wantMissing := []string{"phar_name", "phar_prac_cert_no", "mdtrt_sn", "mdtrt_setl_type", "prsc_dr_name", "manu_lotnum", "manu_date", "manu_lotnum", "manu_date"}
	if !reflect.DeepEqual(missing, wantMissing) {
		t.Errorf("the check of the old sale names %q missing, want %q:\n%s", missing, wantMissing, strings.Join(lines, "\n"))
	}
}

func TestExportUpload_badRequests(t *testing.T) {
	ar := &records{pharmacy: "P1", till: "T1"}
	if _, err := ExportUpload(ctx, &bytes.Buffer{}, ar, "3507", ExportFilter{}); err == nil || !strings.Contains(err.Error(), "want 3505 (sales) or 3506 (returns)") {
		t.Errorf("format 3507: %v", err)
	}
	if _, err := CheckUpload(ctx, &bytes.Buffer{}, ar, Format3505, ExportFilter{Pharmacy: "P1"}); err == nil {
		t.Error("a pharmacy without a till was taken")
	}
	if err := Export(ctx, &bytes.Buffer{}, ar, "xml", ExportFilter{}); err == nil || !strings.Contains(err.Error(), "3505") {
		t.Errorf("format xml: %v", err)
	}
}

// A box of a coded drug comes back with its code: a return that does not
// give it is incomplete, as the sale would have been.
func TestMapReturn_codedBoxWithoutItsCode(t *testing.T) {
	sale := completeSale()
	ret := feed.Record{Seq: 3, ID: returnID, Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindReturn, At: "2026-03-03T09:00:00+08:00", Ref: saleID, Cashier: "张三",
		Lines: []feed.Line{{Barcode: "6901234567892", MedListCodg: "XA10BAE054A001010101445", Name: "盐酸二甲双胍片 0.5g×60片", Qty: 1, PriceFen: 2580,
			Decision: feed.Allow, Pay: "insurance", FixmedinsBchno: feed.BatchNo(saleID, 0)}}}
	m := mapReturn(&ret, &sale, settlementOf(&sale, nil))
	got := problems(&m)
	if len(got) != 1 || got[0] != "line 1: missing drugtracinfo (the drug carries traceability codes but no box's code was scanned)" {
		t.Fatalf("problems %q", got)
	}
	ret.Lines[0].DrugTracCodg = []string{"81000100000000000017"}
	m = mapReturn(&ret, &sale, settlementOf(&sale, nil))
	if got := problems(&m); len(got) != 0 {
		t.Fatalf("with its code: problems %q", got)
	}
}
