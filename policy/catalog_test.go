package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillguard/tillguard/internal/gs1"
)

const (
	hdr       = "barcode,trace_prefix,med_list_codg,name,category,covered,rx,control,course,pack_units,daily_units,price_fen,price_cap_fen\n"
	rowMetA   = "6901234567892,8100010,XA10BAE054A001010101445,盐酸二甲双胍片 0.5g×60片,drug,1,1,,chronic,60,6,2580,3000\n"
	rowMetB   = "6923456700123,8100021,XA10BAE054A001010203127,盐酸二甲双胍片 0.5g×20片,drug,1,1,,chronic,20,6,590,\n"
	rowAmox   = "6937215000782,8102106,XJ01CAA040E001010101378,阿莫西林胶囊 0.25g×36粒,drug,1,1,,acute,36,16,1250,1400\n"
	rowSham   = "6903148091050,,,海飞丝去屑洗发水 400ml,daily_goods,0,0,,,,,5990,\n"
	metBarA   = "6901234567892"
	shampooBc = "6903148091050"
)

func TestLoadCatalog_good(t *testing.T) {
	c, err := LoadCatalog(strings.NewReader(hdr + rowMetA + rowMetB + rowAmox + rowSham))
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 4 {
		t.Fatalf("Len = %d, want 4", c.Len())
	}
	got, ok := c.Lookup(metBarA)
	want := Item{
		Barcode: metBarA, TracePrefix: "8100010", MedListCodg: "XA10BAE054A001010101445",
		Name: "盐酸二甲双胍片 0.5g×60片", Category: CategoryDrug, Covered: true, Rx: true,
		Course: CourseChronic, PackUnits: 60, DailyUnits: 6, PriceFen: 2580, PriceCapFen: 3000,
	}
	if !ok || got != want {
		t.Fatalf("Lookup = %+v, %v\nwant %+v", got, ok, want)
	}
	sh, ok := c.Lookup(shampooBc)
	if !ok || sh.Category != CategoryDailyGoods || sh.Covered || sh.MedListCodg != "" || sh.PriceCapFen != 0 {
		t.Fatalf("shampoo = %+v, %v", sh, ok)
	}
	if _, ok := c.Lookup("6901234567891"); ok {
		t.Fatal("Lookup found a barcode that is not there")
	}
}

func TestLoadCatalog_layouts(t *testing.T) {
	reordered := "covered,category,name,price_fen,barcode,course,pack_units,daily_units,med_list_codg\n" +
		"1,drug,盐酸二甲双胍片,2580,6901234567892,chronic,60,6,XA10BAE054A001010101445\n"
	tests := []struct {
		name string
		in   string
	}{
		{"plain", hdr + rowMetA},
		{"columns reordered", reordered},
		{"unknown column", "barcode,name,supplier,category,covered,med_list_codg\n" +
			"6901234567892,盐酸二甲双胍片,中美上海施贵宝,drug,1,XA10BAE054A001010101445\n"},
		{"BOM", "\ufeff" + hdr + rowMetA},
		{"CRLF", strings.ReplaceAll(hdr+rowMetA, "\n", "\r\n")},
		{"BOM and CRLF", "\ufeff" + strings.ReplaceAll(reordered, "\n", "\r\n")},
		{"header case and spaces", " Barcode , NAME,category,covered ,med_list_codg\n6901234567892,二甲双胍,drug,1,XA10BAE054A001010101445\n"},
		{"no trailing newline", strings.TrimSuffix(hdr+rowMetA, "\n")},
		{"quoted name with comma", "barcode,name,category,covered,med_list_codg\n6901234567892,\"二甲双胍片, 0.5g\",drug,1,XA10BAE054A001010101445\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadCatalog(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			it, ok := c.Lookup(metBarA)
			if !ok || it.MedListCodg != "XA10BAE054A001010101445" || it.Category != CategoryDrug || !it.Covered {
				t.Fatalf("Lookup = %+v, %v", it, ok)
			}
		})
	}
}

func TestLoadCatalog_headerOnly(t *testing.T) {
	c, err := LoadCatalog(strings.NewReader("barcode,name,category,covered\n"))
	if err != nil || c.Len() != 0 {
		t.Fatalf("LoadCatalog = %v, %v; want an empty catalogue", c, err)
	}
}

// TestLoadCatalog_badRow checks each kind of bad row is reported with its
// line number (the bad row is always line 3, after a good one).
func TestLoadCatalog_badRow(t *testing.T) {
	tests := []struct {
		name string
		row  string
		want string
	}{
		{"empty barcode", ",,,口罩,device,0,0,,,,,990,\n", `barcode "": empty`},
		{"barcode letters", "69012345678X2,,,口罩,device,0,0,,,,,990,\n", "not all digits"},
		{"barcode length", "690123456789,,,口罩,device,0,0,,,,,990,\n", "12 digits"},
		{"EAN-13 check digit", "6901234567891,,,口罩,device,0,0,,,,,990,\n", "check digit 1, want 2"},
		{"EAN-8 check digit", "96385070,,,口罩,device,0,0,,,,,990,\n", "check digit 0, want 4"},
		{"duplicate barcode", "6901234567892,,,口罩,device,0,0,,,,,990,\n", "barcode 6901234567892 already on line 2"},
		{"duplicate trace prefix", "6923456700123,8100010,XA10BAE054A001010203127,二甲双胍,drug,1,1,,chronic,20,6,590,\n", "trace_prefix 8100010 already on line 2"},
		{"trace prefix length", "6923456700123,810001,,口罩,device,0,0,,,,,990,\n", `trace_prefix "810001": want 7 digits`},
		{"med_list_codg short", "6923456700123,,XA10BAE054A00101020312,二甲双胍,drug,1,1,,chronic,20,6,590,\n", `med_list_codg "XA10BAE054A00101020312": want 23`},
		{"med_list_codg lower case", "6923456700123,,xa10bae054a001010203127,二甲双胍,drug,1,1,,chronic,20,6,590,\n", "want 23 characters"},
		{"covered drug without code", "6923456700123,,,二甲双胍,drug,1,1,,chronic,20,6,590,\n", "covered drug has no med_list_codg"},
		{"empty name", "6923456700123,,,,device,0,0,,,,,990,\n", "name is empty"},
		{"bad UTF-8 name", "6923456700123,,,\xff\xfe,device,0,0,,,,,990,\n", "not valid UTF-8"},
		{"unknown category", "6923456700123,,,口罩,medicine,0,0,,,,,990,\n", `category "medicine"`},
		{"unknown course", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,,long,20,6,590,\n", `course "long"`},
		{"covered not 0/1", "6923456700123,,,口罩,device,yes,0,,,,,990,\n", `covered "yes"`},
		{"covered empty", "6923456700123,,,口罩,device,,0,,,,,990,\n", `covered "": want 1 or 0`},
		{"rx not 0/1", "6923456700123,,,口罩,device,0,2,,,,,990,\n", `rx "2"`},
		{"negative price", "6923456700123,,,口罩,device,0,0,,,,,-990,\n", `price_fen "-990"`},
		{"decimal price", "6923456700123,,,口罩,device,0,0,,,,,9.90,\n", `price_fen "9.90"`},
		{"huge price cap", "6923456700123,,,口罩,device,0,0,,,,,990,99999999999\n", `price_cap_fen "99999999999"`},
		{"pack units not a number", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,,chronic,二十,6,590,\n", `pack_units "二十"`},
		{"pack without daily units", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,,chronic,20,,590,\n", "pack_units 20 needs daily_units > 0"},
		{"pack with zero daily units", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,,chronic,20,0,590,\n", "pack_units 20 needs daily_units > 0"},
		{"pack without course", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,,,20,6,590,\n", "needs a course"},
		{"bad control", "6923456700123,,XA10BAE054A001010203127,二甲双胍,drug,1,1,Ephedrine!,chronic,20,6,590,\n", `control "Ephedrine!"`},
		{"short row", "6923456700123,,,口罩\n", "4 fields, header has 13"},
		{"bare quote", "6923456700123,,,口\"罩,device,0,0,,,,,990,\n", `bare "`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadCatalog(strings.NewReader(hdr + rowMetA + tt.row))
			if err == nil {
				t.Fatalf("loaded %d items, want an error", c.Len())
			}
			if c != nil {
				t.Fatal("a bad file returned a catalogue")
			}
			if !errors.Is(err, ErrCatalog) {
				t.Fatalf("error %v does not wrap ErrCatalog", err)
			}
			if !hasProblem(err, "line 3: ", tt.want) || len(problems(err)) != 1 {
				t.Fatalf("error %q\nwant one problem, on line 3, containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadCatalog_badHeader(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", "empty, no header row"},
		{"only BOM", "\ufeff", "empty, no header row"},
		{"missing covered", "barcode,name,category\n", `line 1: required column "covered" is missing`},
		{"missing barcode", "name,category,covered\n", `line 1: required column "barcode" is missing`},
		{"duplicate column", "barcode,name,category,covered,name\n", `line 1: column "name" appears twice`},
		{"header after blank lines", "\n\nbarcode,name,category\n", `line 3: required column "covered" is missing`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCatalog(strings.NewReader(tt.in))
			if !errors.Is(err, ErrCatalog) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrCatalog containing %q", err, tt.want)
			}
		})
	}
}

// TestLoadCatalog_allProblems checks that every problem is reported at once,
// each with the physical line it starts on (a quoted field may span lines).
func TestLoadCatalog_allProblems(t *testing.T) {
	in := hdr + // 1
		rowMetA + // 2
		"6901234567891,,,口罩,device,0,0,,,,,990,\n" + // 3: check digit
		"6923456700123,,,\"多行\n名称\",device,0,0,,,,,990,\n" + // 4–5: good, two lines
		"6923456700123,,,口罩,medicine,0,0,,,,,-1,\n" + // 6: duplicate, category, price
		rowAmox + // 7
		"6937215000782,8102106,,阿莫西林,drug,1,1,,acute,36,16,1250,\n" + // 8: duplicate barcode, trace, no code
		"6926300110536,,,口\"罩,device,0,0,,,,,990,\n" + // 9: CSV syntax; reading goes on
		"6926300110537,,,口罩,device,0,0,,,,,990,\n" // 10: check digit
	_, err := LoadCatalog(strings.NewReader(in))
	want := []string{
		"line 3: barcode \"6901234567891\": check digit 1, want 2",
		"line 6: category \"medicine\"",
		"line 6: price_fen \"-1\"",
		"line 6: barcode 6923456700123 already on line 4",
		"line 8: covered drug has no med_list_codg",
		"line 8: barcode 6937215000782 already on line 7",
		"line 8: trace_prefix 8102106 already on line 7",
		"line 9: bare \"",
		"line 10: barcode \"6926300110537\": check digit 7, want 6",
	}
	got := problems(err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(err.Error(), "(9 problems)") {
		t.Errorf("error %q does not count its problems", err)
	}
}

// TestCatalog_sharedFixture loads testdata/catalog.csv, which other
// packages and the demo use, and checks the rows the tests rely on.
func TestCatalog_sharedFixture(t *testing.T) {
	f, err := os.Open("../testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := LoadCatalog(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() < 20 {
		t.Fatalf("Len = %d, want at least 20", c.Len())
	}
	met, ok := c.Lookup(metBarA)
	if !ok || met.PackUnits != 60 || met.DailyUnits != 6 || met.Course != CourseChronic || LineDays(met, 1) != 10 {
		t.Fatalf("metformin = %+v, %v; want 0.5g×60, daily 6, chronic (docs/rules.md worked example)", met, ok)
	}
	generics := map[string]int{}
	cats := map[Category]bool{}
	var ephedrine, rx bool
	for _, it := range c.items {
		cats[it.Category] = true
		ephedrine = ephedrine || it.Control == "ephedrine"
		rx = rx || it.Rx
		if it.MedListCodg != "" {
			if k := it.MedListCodg[0]; k != 'X' && k != 'Z' {
				t.Errorf("%s: med_list_codg %s starts neither X nor Z", it.Name, it.MedListCodg)
			}
			generics[it.Generic()]++
		}
		if p := it.Barcode[:3]; p < "690" || p > "699" {
			t.Errorf("%s: barcode %s is not a Chinese (690–699) EAN-13", it.Name, it.Barcode)
		}
		if it.TracePrefix != "" && it.TracePrefix[0] != '8' {
			t.Errorf("%s: trace_prefix %s does not start with 8", it.Name, it.TracePrefix)
		}
	}
	if generics[met.Generic()] < 2 {
		t.Error("fewer than two metformin brands share a generic")
	}
	for _, cat := range []Category{CategoryDrug, CategoryDevice, CategoryDailyGoods, CategoryHealthFood, CategoryCosmetic, CategoryFood, CategoryOther} {
		if !cats[cat] {
			t.Errorf("no %s row", cat)
		}
	}
	if !ephedrine || !rx {
		t.Errorf("ephedrine row %v, Rx row %v; want both", ephedrine, rx)
	}
	if sh, ok := c.Lookup(shampooBc); !ok || sh.Category != CategoryDailyGoods {
		t.Errorf("shampoo %s = %+v, %v", shampooBc, sh, ok)
	}
}

func TestCatalog_ByTrace(t *testing.T) {
	c, err := LoadCatalog(strings.NewReader(hdr + rowMetA + rowSham))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code string
		want string // barcode; "" = not found
	}{
		{"81000104567890123456", metBarA},
		{"81000114567890123456", ""}, // other product
		{"8100010456789012345", ""},  // 19 digits
		{"810001045678901234567", ""},
		{"8100010456789012345X", ""},
		{"", ""},
	}
	for _, tt := range tests {
		it, ok := c.ByTrace(tt.code)
		if ok != (tt.want != "") || it.Barcode != tt.want {
			t.Errorf("ByTrace(%q) = %s, %v; want %q", tt.code, it.Barcode, ok, tt.want)
		}
	}
}

func TestCatalog_LookupGTIN(t *testing.T) {
	c, err := LoadCatalog(strings.NewReader("barcode,name,category,covered\n6901234567892,A,device,0\n96385074,B,device,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		code, want string
	}{
		{"6901234567892", "6901234567892"},
		{"06901234567892", "6901234567892"}, // GTIN-14
		{"96385074", "96385074"},
		{"00000096385074", "96385074"},
		{"16901234567892", ""}, // indicator digit 1: a case, not the pack
		{"0006901234567892", ""},
	}
	for _, tt := range tests {
		it, ok := c.Lookup(tt.code)
		if ok != (tt.want != "") || it.Barcode != tt.want {
			t.Errorf("Lookup(%q) = %s, %v; want %q", tt.code, it.Barcode, ok, tt.want)
		}
	}
}

func TestCheckBarcode_knownCodes(t *testing.T) {
	for _, code := range []string{"6901234567892", "4006381333931", "96385074", "73513537", "6903148091050"} {
		if msg := checkBarcode(code); msg != "" {
			t.Errorf("checkBarcode(%s) = %q, want valid", code, msg)
		}
	}
}

// problems splits a LoadCatalog error into its listed problems.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	lines := strings.Split(err.Error(), "\n")
	return lines[1:]
}

func hasProblem(err error, prefix, substr string) bool {
	for _, p := range problems(err) {
		if strings.HasPrefix(p, prefix) && strings.Contains(p, substr) {
			return true
		}
	}
	return false
}

// TestLoadCatalog_notUTF8: a catalogue saved by a Chinese spreadsheet (GBK,
// part of GB18030) is one problem that names the encoding and how to save
// it as UTF-8, not one per row; other bytes that are not UTF-8 are one
// problem too.
func TestLoadCatalog_notUTF8(t *testing.T) {
	gbk := func(s string) string {
		b, err := simplifiedchinese.GBK.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var rows strings.Builder
	for i := range 21 {
		fmt.Fprintf(&rows, "69%010d%c,,,口罩 %d 只装,device,0,0,,,,,990,\n", i, gs1.CheckDigit(fmt.Sprintf("69%010d", i)), i)
	}
	for _, tc := range []struct {
		name, in, line, want string
	}{
		{"GBK", gbk(hdr + rows.String()), "line 2: ", "GBK/GB18030"},
		{"GB18030 four-byte", hdr + string([]byte{'6', '9', 0x81, 0x30, 0x81, 0x30}) + "\n", "line 2: ", "GBK/GB18030"},
		{"Latin-1", hdr + rowMetA + "6923456700123,,,caf\xe9,device,0,0,,,,,990,\n", "line 3: ", "not UTF-8: save it as UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadCatalog(strings.NewReader(tc.in))
			if c != nil || !errors.Is(err, ErrCatalog) {
				t.Fatalf("LoadCatalog = %v, %v; want ErrCatalog", c, err)
			}
			if got := problems(err); len(got) != 1 || !hasProblem(err, tc.line, tc.want) || !hasProblem(err, tc.line, "save it as UTF-8") {
				t.Errorf("problems %q\nwant one, on %q, containing %q and how to save it", got, tc.line, tc.want)
			}
		})
	}
	// Saved again as UTF-8, the same rows load.
	c, err := LoadCatalog(strings.NewReader(hdr + rows.String()))
	if err != nil || c.Len() != 21 {
		t.Fatalf("the UTF-8 file: %v, %v", c, err)
	}
}

// The upload columns are optional, read when present, and give nothing
// when absent or for a barcode not in the catalogue.
func TestCatalog_Upload(t *testing.T) {
	const up = "barcode,name,category,covered,med_list_codg,course,pack_units,daily_units,fixmedins_hilist_id,fixmedins_hilist_name,manu_lotnum,manu_date,expy_end,trdn_flag\n"
	c, err := LoadCatalog(strings.NewReader(up +
		"6901234567892,二甲双胍,drug,1,XA10BAE054A001010101445,chronic,60,6,YP-0001,二甲双胍片（店内）,L2405,2025-05-01,2027-04-30,1\n" +
		"6903148091050,洗发水,daily_goods,0,,,,,,,,,,\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		barcode string
		want    UploadInfo
	}{
		{metBarA, UploadInfo{HilistID: "YP-0001", HilistName: "二甲双胍片（店内）", Lot: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", Trdn: true}},
		{"0" + metBarA, UploadInfo{HilistID: "YP-0001", HilistName: "二甲双胍片（店内）", Lot: "L2405", ManuDate: "2025-05-01", ExpyEnd: "2027-04-30", Trdn: true}},
		{shampooBc, UploadInfo{}},
		{"6901234567891", UploadInfo{}},
	}
	for _, tt := range tests {
		if got := c.Upload(tt.barcode); got != tt.want {
			t.Errorf("Upload(%s) = %+v, want %+v", tt.barcode, got, tt.want)
		}
	}
	// A catalogue without the columns keeps nothing for them.
	plain, err := LoadCatalog(strings.NewReader(hdr + rowMetA))
	if err != nil {
		t.Fatal(err)
	}
	if plain.uploads != nil || plain.Upload(metBarA) != (UploadInfo{}) {
		t.Errorf("uploads %v without the columns", plain.uploads)
	}
}

func TestLoadCatalog_badUploadColumns(t *testing.T) {
	const up = "barcode,name,category,covered,pack_units,daily_units,course,fixmedins_hilist_id,fixmedins_hilist_name,manu_lotnum,manu_date,expy_end,trdn_flag\n"
	const good = "6923456700123,口罩,device,0,,,,"
	tests := []struct {
		name, row, want string
	}{
		{"id too long", good + strings.Repeat("A", 31) + ",,,,,\n", "fixmedins_hilist_id is 31 characters, the national platform takes at most 30"},
		{"name too long", good + "," + strings.Repeat("名", 201) + ",,,,\n", "fixmedins_hilist_name is 201 characters"},
		{"lot too long", good + ",," + strings.Repeat("L", 31) + ",,,\n", "manu_lotnum is 31 characters"},
		{"control character", good + ",\"a\tb\",,,,\n", "fixmedins_hilist_name has a control character"},
		{"manu_date no date", good + ",,L1,2025-13-01,,\n", `manu_date "2025-13-01": want a date YYYY-MM-DD`},
		{"expy_end other layout", good + ",,L1,,2027/04/30,\n", `expy_end "2027/04/30"`},
		{"expiry before manufacture", good + ",,L1,2025-05-01,2024-05-01,\n", "expy_end 2024-05-01 is before manu_date 2025-05-01"},
		{"trdn_flag not 0/1", good + ",,,,,yes\n", `trdn_flag "yes": want 1, 0 or empty`},
		{"split pack without pack_units", good + ",,,,,1\n", "trdn_flag 1 (sold by the unit) needs pack_units"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCatalog(strings.NewReader(up + "6901234567892,二甲双胍,drug,0,60,6,chronic,,,,,,\n" + tt.row))
			if !hasProblem(err, "line 3: ", tt.want) || len(problems(err)) != 1 {
				t.Fatalf("error %v\nwant one problem, on line 3, containing %q", err, tt.want)
			}
		})
	}
}
