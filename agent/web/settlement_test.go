package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

const goodSettlement = `{"mdtrt_sn":"MD20260302001","setl_id":"S20260302001","psn_no":"33000010000000012345","mdtrt_setl_type":"1","hi_feesetl_type":"1","psn_cert_type":"01"}`

// The settlement of POST /api/session/checkout and POST
// /api/sales/{id}/settlement: taken under the platform's names, refused
// with the till's error shape when it does not fit, and kept in the
// ledger (the sale's own, or a settlement record ref the sale).
func TestAPI_settlement(t *testing.T) {
	insured := func(s *session.Session) string { // an allowed amoxicillin, sold by insurance
		sold(s)
		s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
		_ = s.SetRx("RX20260302A001", false)
		s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: "81021060000000000002"})
		return ""
	}
	tests := []struct {
		name       string
		prep       func(s *session.Session) string
		path, body string
		code       int
		contains   string
	}{
		{"checkout settled", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":` + goodSettlement + `}`, 200, `"settlement":{"mdtrt_sn":"MD20260302001"`},
		{"checkout settlement null", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":null}`, 200, `"payment":"insurance"`},
		{"checkout settlement unknown field", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":{"mdtrt_sn":"M1","mdtrt_setl_type":"2","tip":1}}`, 400, `unknown field \"tip\"`},
		{"checkout settlement wrong type", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":{"mdtrt_sn":1}}`, 400, `field \"settlement.mdtrt_sn\" must be a string`},
		{"checkout settlement key twice", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":{"mdtrt_sn":"a","MDTRT_SN":"b"}}`, 400, `"error":"duplicate_key"`},
		{"checkout settlement not an object", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":"MD1"}`, 400, `"error":"wrong_type"`},
		{"checkout settlement too long", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":{"mdtrt_sn":"` + strings.Repeat("1", 31) + `","mdtrt_setl_type":"1","setl_id":"S1"}}`, 400, `"error":"bad_settlement"`},
		{"checkout settlement incomplete", insured, "/api/session/checkout", `{"payment":"insurance","cashier":"c1","settlement":{}}`, 400, `mdtrt_sn is required`},
		{"checkout settlement contradicts", basket, "/api/session/checkout", `{"payment":"cash","cashier":"c1","settlement":` + goodSettlement + `}`, 400, `a cash sale is self-paid`},

		{"settle later", sold, "/api/sales/{ID}/settlement", goodSettlement, 200, `"seq":3`}, // after the sign-in and the sale
		{"settle later unknown field", sold, "/api/sales/{ID}/settlement", `{"mdtrt_sn":"M1","mdtrt_setl_type":"1","setl_id":"S1","psn_name":"王小明"}`, 400, `unknown field \"psn_name\"`},
		{"settle later bad", sold, "/api/sales/{ID}/settlement", `{"mdtrt_sn":"M 1","mdtrt_setl_type":"1","setl_id":"S1"}`, 400, `"error":"bad_settlement"`},
		{"settle later empty body", sold, "/api/sales/{ID}/settlement", ``, 400, `"error":"bad_json"`},
		{"settle later unknown sale", nil, "/api/sales/019cac4e-5260-7345-ac9a-3715aa3903ad/settlement", goodSettlement, 404, `"error":"sale_not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFullServer(t, nil)
			path := tt.path
			if tt.prep != nil {
				path = strings.ReplaceAll(path, "{ID}", tt.prep(f.s))
			}
			head := f.led.Head()
			code, b := do(t, "POST", f.srv.URL+path, tt.body)
			if code != tt.code || !strings.Contains(b, tt.contains) {
				t.Fatalf("POST %s %s = %d %s, want %d containing %q", path, tt.body, code, b, tt.code, tt.contains)
			}
			if code >= 400 {
				checkErrorBody(t, code, []byte(b), true)
				if f.led.Head() != head {
					t.Errorf("a refused request recorded %d records", f.led.Head()-head)
				}
			}
		})
	}
}

// The settlement reaches the records: in the sale, and as a settlement
// record naming its sale.
func TestAPI_settlementRecorded(t *testing.T) {
	f := newFullServer(t, nil)
	id := sold(f.s)
	if code, b := do(t, "POST", f.srv.URL+"/api/sales/"+id+"/settlement", goodSettlement); code != 200 {
		t.Fatalf("settle = %d %s", code, b)
	}
	var got *feed.Record
	err := f.led.Scan(1, func(e ledger.Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return err
		}
		if r.Kind == feed.KindSettlement {
			got = &r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want feed.Settlement
	json.Unmarshal([]byte(goodSettlement), &want)
	if got == nil || got.Ref != id || got.Settlement == nil || *got.Settlement != want {
		t.Fatalf("settlement record %+v, want ref %s and %+v", got, id, want)
	}
	if code, _ := do(t, "GET", f.srv.URL+"/api/sales/"+id+"/settlement", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET the settlement = %d, want 405", code)
	}
}
