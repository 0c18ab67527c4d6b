package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
)

// uploadCatalog writes testdata/catalog.csv with the upload columns: the
// pharmacy's own id and name, and the lot on the shelf, of 连花清瘟 and
// 蒙脱石散.
func uploadCatalog(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{
		lianhua:  ",LH-024,连花清瘟胶囊（本店）,L2405,2025-05-01,2027-12-31,",
		smectite: ",MT-010,蒙脱石散（本店）,M2501,2025-01-10,2027-01-09,",
	}
	var out strings.Builder
	for i, row := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		switch barcode, _, _ := strings.Cut(row, ","); {
		case i == 0:
			row += ",fixmedins_hilist_id,fixmedins_hilist_name,manu_lotnum,manu_date,expy_end,trdn_flag"
		case extra[barcode] != "":
			row += extra[barcode]
		default:
			row += ",,,,,,"
		}
		out.WriteString(row + "\n")
	}
	path := filepath.Join(dir, "catalog.csv")
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const settlementJSON = `{"mdtrt_sn":"MD20260302001","setl_id":"S20260302001","psn_no":"33000010000000012345","mdtrt_setl_type":"1","hi_feesetl_type":"1","psn_cert_type":"01"}`

// TestTill_uploadsToThePlatform is issue #16 across every real part: a
// till on the simulator's devices sells a box scanned from its GS1
// DataMatrix (lot and expiry) and one by its EAN (the catalogue's lot),
// with the POS's settlement in the checkout; sells again and is told the
// settlement afterwards; takes a box back. The records reach a bureau
// through a real mosquitto, and its 3505 and 3506 exports carry every
// field the platform requires, the pharmacist signed in on duty
// included: the check finds nothing missing.
func TestTill_uploadsToThePlatform(t *testing.T) {
	st := startStack(t, uploadCatalog(t, t.TempDir()))
	devs, api, ar := st.devs, st.api, st.ar
	if r := post(t, api+"/api/pharmacist/sign-in", `{"name":"王药师","prac_cert_no":"ZY-2024-0315"}`); r.code != http.StatusOK {
		t.Fatalf("sign-in = %d %s", r.code, r.body)
	}
	devs.Insert(sim.DemoHolders()[0])
	waitUntil(t, "card on the session", func() bool {
		var v session.View
		getJSON(t, api+"/api/session", &v)
		return v.Card != nil && v.Card.Present
	})
	scan := func(code string, lines int) {
		t.Helper()
		if err := devs.Scan(code); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, code+" on the basket", func() bool {
			var v session.View
			getJSON(t, api+"/api/session", &v)
			return len(v.Lines) == lines
		})
	}
	checkout := func(body string) session.Sale {
		t.Helper()
		r := post(t, api+"/api/session/checkout", body)
		var sale session.Sale
		if err := json.Unmarshal(r.body, &sale); r.code != http.StatusOK || err != nil {
			t.Fatalf("checkout %s = %d %s", body, r.code, r.body)
		}
		return sale
	}

	// A box of 连花清瘟 by its GS1 DataMatrix (AI 01; 11 made, 17
	// expiry, 10 lot, another lot than the catalogue's), a box of 蒙脱石散
	// by its EAN (the catalogue's lot and dates), settled at once.
	scan("]d2"+"01"+"0"+lianhua+"11"+"250601"+"17"+"280531"+"10"+"L2406", 1)
	scan("]E0"+smectite, 2)
	first := checkout(`{"payment":"insurance","cashier":"李四","settlement":` + settlementJSON + `}`)
	// A second sale, settled afterwards.
	scan("]E0"+lianhua, 1)
	second := checkout(`{"payment":"insurance","cashier":"李四"}`)
	if r := post(t, api+"/api/sales/"+second.ID+"/settlement", strings.Replace(settlementJSON, "001", "002", -1)); r.code != http.StatusOK {
		t.Fatalf("late settlement = %d %s", r.code, r.body)
	}
	// A box of the first sale comes back.
	r := post(t, api+"/api/returns", `{"sale_id":"`+first.ID+`","refund":"fund","cashier":"张三","lines":[{"barcode":"`+lianhua+`","qty":1}]}`)
	var ret session.Receipt
	if err := json.Unmarshal(r.body, &ret); r.code != http.StatusOK || err != nil {
		t.Fatalf("return = %d %s", r.code, r.body)
	}
	waitUntil(t, "the bureau holds every record", func() bool {
		var st web.Status
		getJSON(t, api+"/api/status", &st)
		return st.AckedSeq >= ret.Seq && st.Outbox.Depth == 0
	})

	var out bytes.Buffer
	sales, err := bureau.ExportUpload(context.Background(), &out, ar, bureau.Format3505, bureau.ExportFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if sales.Records != 2 || sales.Lines != 3 {
		t.Fatalf("3505 summary %+v, want two sales of three lines", sales)
	}
	ups := decodeUploads(t, out.Bytes())
	byLine := map[string]bureau.Selinfo{}
	for _, u := range ups {
		byLine[u.Source.ID+"/"+u.Input.Selinfo.FixmedinsHilistID] = u.Input.Selinfo
	}
	lh := byLine[first.ID+"/LH-024"]
	if lh.ManuLotnum != "L2406" || lh.ExpyEnd != "2028-05-31" || lh.ManuDate != "2025-06-01" || lh.FixmedinsHilistName != "连花清瘟胶囊（本店）" ||
		lh.MdtrtSn != "MD20260302001" || lh.SetlID != "S20260302001" || lh.MdtrtSetlType != "1" || lh.RtalDocno != first.ID ||
		lh.FixmedinsBchno != feed.BatchNo(first.ID, 0) || lh.SelRetnOpterName != "李四" || lh.RxFlag != "0" || lh.TrdnFlag != "0" {
		t.Errorf("连花清瘟 line %+v", lh)
	}
	if mt := byLine[first.ID+"/MT-010"]; mt.ManuLotnum != "M2501" || mt.ManuDate != "2025-01-10" || mt.ExpyEnd != "2027-01-09" || mt.MdtrtSn != "MD20260302001" {
		t.Errorf("蒙脱石散 line %+v, want the catalogue's lot", mt)
	}
	if l := byLine[second.ID+"/LH-024"]; l.MdtrtSn != "MD20260302002" || l.SetlID != "S20260302002" || l.ManuLotnum != "L2405" {
		t.Errorf("the second sale's line %+v, want the late settlement", l)
	}

	out.Reset()
	returns, err := bureau.ExportUpload(context.Background(), &out, ar, bureau.Format3506, bureau.ExportFilter{})
	if err != nil || returns.Records != 1 || returns.Lines != 1 {
		t.Fatalf("3506: %+v, %v", returns, err)
	}
	back := decodeUploads(t, out.Bytes())[0].Input.Selinfo
	if back.FixmedinsBchno != lh.FixmedinsBchno || back.ManuLotnum != "L2406" || back.MdtrtSn != "MD20260302001" || back.SelRetnOpterName != "张三" || back.SelRetnCnt != "1" {
		t.Errorf("returned line %+v, want the first sale's line, returned by 张三", back)
	}

	// The check finds every required field, and says so.
	for _, format := range []string{bureau.Format3505, bureau.Format3506} {
		out.Reset()
		sum, err := bureau.CheckUpload(context.Background(), &out, ar, format, bureau.ExportFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || sum.Incomplete != 0 || sum.Complete != sum.Records {
			t.Errorf("%s check: %+v\n%s\nwant every record complete", format, sum, out.String())
		}
	}
	if lh.PharName != "王药师" || lh.PharPracCertNo != "ZY-2024-0315" || back.PharName != "王药师" {
		t.Errorf("pharmacist on the upload: sale %q %q, return %q", lh.PharName, lh.PharPracCertNo, back.PharName)
	}
}

func decodeUploads(t *testing.T, b []byte) []bureau.Upload {
	t.Helper()
	var ups []bureau.Upload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	for dec.More() {
		var u bureau.Upload
		if err := dec.Decode(&u); err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
	}
	return ups
}
