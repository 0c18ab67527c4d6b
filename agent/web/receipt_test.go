package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
)

// GET /api/sales/{id}/receipt: the sale as the POS prints it, with the
// traceability code of its box, as JSON and as text that fits the paper.
func TestAPI_receipt(t *testing.T) {
	f := newFullServer(t, nil)
	id := sold(f.s)
	code, b := do(t, "GET", f.srv.URL+"/api/sales/"+id+"/receipt", "")
	var rc session.SaleReceipt
	if err := json.Unmarshal([]byte(b), &rc); code != 200 || err != nil {
		t.Fatalf("receipt = %d %s (%v)", code, b, err)
	}
	if rc.ID != id || rc.Cashier != "c1" || rc.Payment != session.PayInsurance || len(rc.Lines) != 1 ||
		len(rc.Lines[0].Traces) != 1 || rc.Lines[0].Traces[0] != amoxTrace || rc.Totals.TotalFen != rc.Lines[0].PriceFen ||
		rc.Card != "A1234****" {
		t.Fatalf("receipt %+v", rc)
	}
	for paper, cols := range map[string]int{"58": 32, "80": 48} {
		code, b := do(t, "GET", f.srv.URL+"/api/sales/"+id+"/receipt?format=text&paper="+paper, "")
		if code != 200 || !strings.Contains(string(b), "追溯码 "+amoxTrace) || !strings.Contains(string(b), "合计 Total") {
			t.Fatalf("text receipt on %s mm = %d\n%s", paper, code, b)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if w := textCols(l); w > cols {
				t.Errorf("%s mm: line %q is %d columns, over %d", paper, l, w, cols)
			}
		}
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/sales/" + id + "/receipt?paper=57", 400, `"error":"bad_request"`},
		{"/api/sales/" + id + "/receipt?format=pdf", 400, `"error":"bad_request"`},
		{"/api/sales/019cac4e-5260-7345-ac9a-3715aa3903ad/receipt", 404, `"error":"sale_not_found"`},
	} {
		if code, b := do(t, "GET", f.srv.URL+tc.path, ""); code != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s = %d %s, want %d %s", tc.path, code, b, tc.code, tc.want)
		}
	}
}

// textCols counts a Chinese character as two columns, as the printer does.
func textCols(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x2E80 && r <= 0xFFEF {
			n += 2
		} else {
			n++
		}
	}
	return n
}
