package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/sync/feed"
)

// requestWith sends method url with body and the headers given ("Host"
// sets the Host header).
func requestWith(t *testing.T, method, url, body string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// TestTill_crossSiteRefused is the attack on a real till, turned
// around: a page on localhost:18555 posting lines and a checkout
// (no-cors, so text/plain, with the Origin and Sec-Fetch-Site a browser
// adds), the same as JSON, and a name rebound to the till, all refused;
// nothing is in the ledger or on the session.
func TestTill_crossSiteRefused(t *testing.T) {
	tl, api, _ := runTill(t, offlineTill(filepath.Join(t.TempDir(), "till"), 0))
	page := map[string]string{"Origin": "http://localhost:18555", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range page {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		name, path, body string
		hdr              map[string]string
		code             int
	}{
		{"no-cors lines", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, with(map[string]string{"Content-Type": "text/plain;charset=UTF-8"}), 403},
		{"no-cors checkout", "/api/session/checkout", `{"payment":"cash","cashier":"csrf"}`, with(map[string]string{"Content-Type": "text/plain;charset=UTF-8"}), 403},
		{"JSON from the page", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, with(map[string]string{"Content-Type": "application/json"}), 403},
		{"cross-site", "/api/session/checkout", `{"payment":"cash","cashier":"csrf"}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"text/plain, no browser headers", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"rebound name", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, map[string]string{"Content-Type": "application/json", "Host": "rebind.attacker.example:" + strings.Split(tl.Addr(), ":")[1]}, 421},
	} {
		if r := requestWith(t, "POST", api+tt.path, tt.body, tt.hdr); r.code != tt.code {
			t.Errorf("%s: POST %s = %d %s, want %d", tt.name, tt.path, r.code, r.body, tt.code)
		}
	}
	for _, path := range []string{"/api/records", "/api/status", "/"} {
		if r := requestWith(t, "GET", api+path, "", map[string]string{"Host": "rebind.attacker.example"}); r.code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s for a rebound name = %d, want 421", path, r.code)
		}
	}
	if h := tl.Ledger().Head(); h != 0 {
		t.Errorf("ledger head %d after the attack, want nothing recorded", h)
	}
	var v session.View
	getJSON(t, api+"/api/session", &v)
	if len(v.Lines) != 0 {
		t.Errorf("session %+v after the attack, want empty", v.Lines)
	}
	// The till's own POS software still sells.
	if seq := sellCash(t, api, "c1"); seq == 0 {
		t.Error("no sale from the till itself")
	}
}

// Goods of testdata/catalog.csv that neither need a prescription nor carry
// trace codes, of different generics: each sale of them is allowed.
const (
	lianhua    = "6953300714204" // 连花清瘟胶囊, acute, 2 days a pack
	smectite   = "6930022004189" // 蒙脱石散, acute, 3 days a pack
	ibuprofen2 = "6901222003562" // 布洛芬, traced: scanned by its barcode it is flagged trace_missing
)

// apiError is an error answer of the till's API.
type apiError struct {
	Error     string `json:"error"`
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
	Detail    string `json:"detail"`
}

// goInternals matches what the till's Go code says of itself.
var goInternals = regexp.MustCompile(`json: |Go (struct|value)|struct \{|(^|"|: )(session|web|ledger|bbolt|policy|scanner|agent): |cannot unmarshal|\bint64\b|\.go:\d`)

// wantError checks that r is the error code with both messages, as
// strings only, and nothing of the till's internals.
func wantError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	var e apiError
	var fields map[string]any
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Errorf("%s: body %s: %v", what, r.body, err)
		return
	}
	for k, v := range fields {
		if _, ok := v.(string); !ok || (k != "error" && k != "message_zh" && k != "message_en" && k != "detail") {
			t.Errorf("%s: body %s: field %q", what, r.body, k)
		}
	}
	_ = json.Unmarshal(r.body, &e)
	if r.code != status || e.Error != code || e.MessageZH == "" || e.MessageEN == "" {
		t.Errorf("%s = %d %s, want %d %q with both messages", what, r.code, r.body, status, code)
	}
	if leak := goInternals.FindString(string(r.body)); leak != "" {
		t.Errorf("%s: body %s shows Go internals %q", what, r.body, leak)
	}
}

// records returns the till's records from seq from, as /api/records serves
// them.
func records(t *testing.T, api string, from uint64) []feed.Record {
	t.Helper()
	var page struct{ Records []feed.Record }
	getJSON(t, fmt.Sprintf("%s/api/records?from_seq=%d", api, from), &page)
	return page.Records
}

// lastOf returns the last record of kind, nil if none.
func lastOf(recs []feed.Record, kind string) *feed.Record {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == kind {
			return &recs[i]
		}
	}
	return nil
}

// scanned scans code and waits until the basket has n lines.
func (d *deviceTill) scanned(t *testing.T, code string, n int) session.View {
	t.Helper()
	if err := d.sim.Scan(code); err != nil {
		t.Fatal(err)
	}
	var v session.View
	waitUntil(t, fmt.Sprintf("%d lines after %s", n, code), func() bool {
		v = d.view(t)
		return len(v.Lines) == n
	})
	return v
}

// insert puts h in the reader and waits until the session shows the card
// named name: as the buyer, or as the card change's new card.
func (d *deviceTill) insert(t *testing.T, h sim.Holder, change bool) session.View {
	t.Helper()
	d.sim.Insert(h)
	var v session.View
	name := feed.MaskName(h.Name)
	waitUntil(t, "card "+name+" read", func() bool {
		v = d.view(t)
		if change {
			return v.CardChange != nil && v.CardChange.To.Name == name
		}
		return v.Card != nil && v.Card.Present && v.Card.Name == name
	})
	return v
}

// remove takes the card out and waits until the session has seen it go.
func (d *deviceTill) remove(t *testing.T) {
	t.Helper()
	d.sim.Remove()
	waitUntil(t, "card removed", func() bool {
		v := d.view(t)
		return (v.Card == nil || !v.Card.Present) && v.CardChange == nil
	})
}

// TestTill_cardChange: a different card read while a basket is open does
// not take it. The session shows the change, insurance is refused
// (card_changed) until the cashier confirms; the confirmation is a
// card_change record on disk before the answer, and the basket is then
// the new holder's, decided again. A void drops the change with the
// basket, keeping the card in the reader.
func TestTill_cardChange(t *testing.T) {
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	wang, li := sim.DemoHolders()[0], sim.DemoHolders()[1]
	d.insert(t, wang, false)
	d.scanned(t, "]E0"+lianhua, 1)
	d.remove(t)
	v := d.insert(t, li, true)
	if v.State != "open" || v.Card == nil || v.Card.Name != "王**" || v.CardChange.From == nil || v.CardChange.From.Name != "王**" ||
		v.CardChange.To.No != "A0000****" || v.Notice == nil {
		t.Fatalf("session during the change = %+v (change %+v), want the basket still 王**'s", v, v.CardChange)
	}
	for _, p := range []string{"insurance", "split"} {
		wantError(t, p+" checkout during a card change", post(t, d.api+"/api/session/checkout", `{"payment":"`+p+`","cashier":"c01"}`), 409, "card_changed")
	}
	wantError(t, "confirm without cashier", post(t, d.api+"/api/session/confirm-card", `{}`), 400, "cashier_required")
	wantError(t, "confirm with a number", post(t, d.api+"/api/session/confirm-card", `{"cashier":7}`), 400, "wrong_type")
	head := len(records(t, d.api, 1))
	r := post(t, d.api+"/api/session/confirm-card", `{"cashier":"c01"}`)
	if r.code != http.StatusOK {
		t.Fatalf("confirm = %d %s", r.code, r.body)
	}
	// The answer came after the record: it is there at once.
	recs := records(t, d.api, 1)
	cc := lastOf(recs, feed.KindCardChange)
	if len(recs) != head+1 || cc == nil || cc.Card == nil || cc.Card.No != li.Number || cc.Card.Name != "李**" ||
		cc.Cashier != "c01" || cc.Reason != "from 03 "+wang.Number || len(cc.Lines) != 1 || cc.Lines[0].Barcode != lianhua {
		t.Fatalf("records after the confirm = %d (had %d), card change %+v", len(recs), head, cc)
	}
	v = session.View{}
	if err := json.Unmarshal(r.body, &v); err != nil || v.CardChange != nil || v.Card == nil || v.Card.Name != "李**" || !v.Card.Present {
		t.Fatalf("session after the confirm = %s, want the basket 李**'s", r.body)
	}
	wantError(t, "a second confirm", post(t, d.api+"/api/session/confirm-card", `{"cashier":"c01"}`), 409, "no_card_change")
	r = post(t, d.api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`)
	if r.code != http.StatusOK {
		t.Fatalf("insurance checkout after the confirm = %d %s", r.code, r.body)
	}
	if sale := lastOf(records(t, d.api, 1), feed.KindSale); sale == nil || sale.Card.No != li.Number {
		t.Errorf("sale %+v, want it on the confirmed holder's card", sale)
	}

	// A void ends a change: the basket goes, the card in the reader stays.
	d.scanned(t, "]E0"+smectite, 1)
	d.remove(t)
	d.insert(t, wang, true)
	r, v = post(t, d.api+"/api/session/void", ``), session.View{}
	if err := json.Unmarshal(r.body, &v); r.code != http.StatusOK || err != nil || v.CardChange != nil || len(v.Lines) != 0 ||
		v.Card == nil || v.Card.Name != "王**" || !v.Card.Present || v.State != "idle" {
		t.Fatalf("void during a change = %d %s, want no basket and 王**'s card kept", r.code, r.body)
	}
	if n := len(records(t, d.api, 1)); n != len(recs)+1 { // the sale only
		t.Errorf("%d records after the void, want %d: a void confirms nothing", n, len(recs)+1)
	}
}

// TestTill_cardKeptAfterCheckout: after an insurance sale the card still
// in the reader is the next sale's, with no second read; it goes when the
// reader reports it removed.
func TestTill_cardKeptAfterCheckout(t *testing.T) {
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	d.insert(t, sim.DemoHolders()[0], false)
	for i, code := range []string{lianhua, smectite} {
		d.scanned(t, "]E0"+code, 1)
		if r := post(t, d.api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`); r.code != http.StatusOK {
			t.Fatalf("insurance sale %d = %d %s", i+1, r.code, r.body)
		}
		if v := d.view(t); v.Card == nil || !v.Card.Present || v.State != "idle" {
			t.Fatalf("after sale %d: %+v, want the card kept and no basket", i+1, v)
		}
	}
	d.remove(t)
	if v := d.view(t); v.Card != nil {
		t.Fatalf("after the removal: card %+v, want none", v.Card)
	}
	d.scanned(t, "]E0"+lianhua, 1)
	wantError(t, "insurance without the card", post(t, d.api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`), 409, "card_required")
}

// TestTill_checkoutAnswer: the checkout says what was charged to whom and
// which lines the sale left out, and agrees with the signed sale record.
func TestTill_checkoutAnswer(t *testing.T) {
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	d.insert(t, sim.DemoHolders()[0], false)
	d.scanned(t, "]E0"+lianhua, 1)
	d.scanned(t, "]E0"+shampoo, 2)    // blocked: non_drug
	d.scanned(t, "]E0"+ibuprofen2, 3) // flagged: trace_missing
	r := post(t, d.api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`)
	var sale session.Sale
	if err := json.Unmarshal(r.body, &sale); r.code != http.StatusOK || err != nil {
		t.Fatalf("checkout = %d %s", r.code, r.body)
	}
	rec := lastOf(records(t, d.api, 1), feed.KindSale)
	if rec == nil || sale.ID != rec.ID || sale.Seq != rec.Seq || sale.Payment != "insurance" {
		t.Fatalf("answer %+v for record %+v", sale, rec)
	}
	want := []session.SaleLine{
		{Barcode: lianhua, MedListCodg: "ZA01BAL031E002010104321", Name: "连花清瘟胶囊 0.35g×24粒", Qty: 1, PriceFen: 1490, Payer: "insurance"},
		{Barcode: ibuprofen2, MedListCodg: "XM01AEB046E002010202211", Name: "布洛芬缓释胶囊 0.3g×20粒", Qty: 1, PriceFen: 1680, Payer: "insurance"},
	}
	if !slices.Equal(sale.Lines, want) {
		t.Errorf("lines = %+v, want %+v", sale.Lines, want)
	}
	if sale.Totals != (session.Totals{InsuranceFen: 3170, CashFen: 0, TotalFen: 3170}) || rec.Payment.InsuranceFen != 3170 || rec.Payment.CashFen != 0 {
		t.Errorf("totals = %+v, record payment %+v; want 3170 on insurance", sale.Totals, rec.Payment)
	}
	if len(sale.Excluded) != 1 || sale.Excluded[0].Barcode != shampoo || sale.Excluded[0].Rule != "non_drug" ||
		sale.Excluded[0].ReasonZH == "" || sale.Excluded[0].ReasonEN == "" {
		t.Errorf("excluded = %+v, want the shampoo under non_drug", sale.Excluded)
	}
	for _, k := range []string{`"lines":`, `"excluded":`, `"totals":{"insurance_fen":3170,"cash_fen":0,"total_fen":3170}`, `"payer":"insurance"`, `"reason_zh":`} {
		if !strings.Contains(string(r.body), k) {
			t.Errorf("answer %s lacks %s", r.body, k)
		}
	}
	// The flagged line was recorded as what it is.
	flagged := lastOf(records(t, d.api, 1), feed.KindFlagged)
	if flagged == nil || flagged.Lines[0].Barcode != ibuprofen2 || flagged.Lines[0].Rule != "trace_missing" {
		t.Errorf("flagged record = %+v", flagged)
	}

	// Split, on the card still in the reader: the blocked line is cash.
	d.scanned(t, "]E0"+smectite, 1)
	d.scanned(t, "]E0"+shampoo, 2)
	r = post(t, d.api+"/api/session/checkout", `{"payment":"split","cashier":"c01"}`)
	sale = session.Sale{}
	if err := json.Unmarshal(r.body, &sale); r.code != http.StatusOK || err != nil {
		t.Fatalf("split checkout = %d %s", r.code, r.body)
	}
	if len(sale.Lines) != 2 || sale.Lines[0].Payer != "insurance" || sale.Lines[1].Payer != "cash" || len(sale.Excluded) != 0 ||
		sale.Totals != (session.Totals{InsuranceFen: 1120, CashFen: 5990, TotalFen: 7110}) {
		t.Errorf("split answer = %s", r.body)
	}
}

// TestTill_manualLines: a keyed-in barcode is held to the scanner's rules:
// anything it would not read is 400 bad_barcode and reaches neither the
// basket nor the ledger; a good EAN-13 is a line.
func TestTill_manualLines(t *testing.T) {
	tl, api, _ := runTill(t, offlineTill(filepath.Join(t.TempDir(), "till"), 0))
	for _, bc := range []string{
		"abc", "6953300714205", "695330071420", "69533007142", "6953300714204 ", "<b>6953300714204</b>",
		"<script>alert(1)</script>", "6953300714204\u0000", "", "６９５３３００７１４２０４", "RX20260302000123",
		"81033170000000000019", "]E06953300714205", strings.Repeat("9", 300),
	} {
		body, _ := json.Marshal(map[string]any{"barcode": bc, "qty": 3})
		r := post(t, api+"/api/session/lines", string(body))
		wantError(t, fmt.Sprintf("line %q", bc), r, 400, "bad_barcode")
	}
	if h := tl.Ledger().Head(); h != 0 {
		t.Fatalf("ledger head %d after bad barcodes, want nothing recorded", h)
	}
	var v session.View
	getJSON(t, api+"/api/session", &v)
	if len(v.Lines) != 0 {
		t.Fatalf("lines %+v after bad barcodes, want none", v.Lines)
	}
	r := post(t, api+"/api/session/lines", `{"barcode":"`+lianhua+`","qty":3}`)
	if err := json.Unmarshal(r.body, &v); r.code != http.StatusOK || err != nil || len(v.Lines) != 1 ||
		v.Lines[0].Barcode != lianhua || v.Lines[0].Name == "" || v.Lines[0].Qty != 3 || !v.Lines[0].Manual {
		t.Fatalf("good EAN-13 = %d %s", r.code, r.body)
	}
	rec := lastOf(records(t, api, 1), feed.KindFlagged) // manual_entry
	if rec == nil || rec.Lines[0].Barcode != lianhua || rec.Lines[0].Rule != "manual_entry" || rec.Lines[0].Qty != 3 {
		t.Errorf("manual line record = %+v", rec)
	}
}

// TestTill_apiErrors: every refusal of the API is its stable code with
// both messages and no Go internals, on a real till over HTTP.
func TestTill_apiErrors(t *testing.T) {
	tl, api, _ := runTill(t, offlineTill(filepath.Join(t.TempDir(), "till"), 0))
	port := strings.Split(tl.Addr(), ":")[1]
	if r := post(t, api+"/api/session/lines", `{"barcode":"`+shampoo+`","qty":1}`); r.code != http.StatusOK {
		t.Fatalf("line = %d %s", r.code, r.body)
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	for _, tt := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code                     string
	}{
		{"bad JSON", "POST", "/api/session/checkout", `{"payment":`, jsonCT, 400, "bad_json"},
		{"not an object", "POST", "/api/session/checkout", `"cash"`, jsonCT, 400, "bad_json"},
		{"empty body", "POST", "/api/session/lines", ``, jsonCT, 400, "bad_json"},
		{"trailing data", "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1"} x`, jsonCT, 400, "bad_json"},
		{"wrong type", "POST", "/api/session/lines", `{"barcode":6953300714204,"qty":1}`, jsonCT, 400, "wrong_type"},
		{"wrong type in a list", "POST", "/api/returns", `{"sale_id":"x","refund":"fund","cashier":"c1","lines":[{"barcode":"1","qty":"1"}]}`, jsonCT, 400, "wrong_type"},
		{"number too large", "POST", "/api/session/lines", `{"barcode":"6953300714204","qty":1e40}`, jsonCT, 400, "wrong_type"},
		{"unknown field", "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1","discount":5}`, jsonCT, 400, "unknown_field"},
		{"key twice", "POST", "/api/session/lines", `{"barcode":"6953300714204","qty":1,"Qty":999}`, jsonCT, 400, "duplicate_key"},
		{"body over 64 KiB", "POST", "/api/session/lines", `{"barcode":"` + strings.Repeat("1", 70<<10) + `","qty":1}`, jsonCT, 413, "body_too_large"},
		{"body of 1 MiB", "POST", "/api/returns", `{"sale_id":"` + strings.Repeat("x", 1<<20) + `"}`, jsonCT, 413, "body_too_large"},
		{"bad payment", "POST", "/api/session/checkout", `{"payment":"wechat","cashier":"c1"}`, jsonCT, 400, "bad_payment"},
		{"checkout without cashier", "POST", "/api/session/checkout", `{"payment":"cash"}`, jsonCT, 400, "cashier_required"},
		{"checkout blank cashier", "POST", "/api/session/checkout", `{"payment":"cash","cashier":" "}`, jsonCT, 400, "cashier_required"},
		{"return without cashier", "POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[{"barcode":"1","qty":1}]}`, jsonCT, 400, "cashier_required"},
		{"confirm without cashier", "POST", "/api/session/confirm-card", `{"cashier":""}`, jsonCT, 400, "cashier_required"},
		{"confirm with nothing to confirm", "POST", "/api/session/confirm-card", `{"cashier":"c1"}`, jsonCT, 409, "no_card_change"},
		{"void with a field", "POST", "/api/session/void", `{"all":true}`, jsonCT, 400, "unknown_field"},
		{"void with null", "POST", "/api/session/void", `null`, jsonCT, 400, "bad_json"},
		{"void with a list", "POST", "/api/session/void", `[]`, jsonCT, 400, "bad_json"},
		{"void with bad JSON", "POST", "/api/session/void", `{`, jsonCT, 400, "bad_json"},
		{"void as a form", "POST", "/api/session/void", `all=1`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "not_json"},
		{"insurance with no card", "POST", "/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`, jsonCT, 409, "card_required"},
		{"bad qty", "POST", "/api/session/lines", `{"barcode":"6953300714204","qty":0}`, jsonCT, 400, "bad_qty"},
		{"bad rx", "POST", "/api/session/rx", `{"ref":"RX1"}`, jsonCT, 400, "bad_rx"},
		{"no such line", "POST", "/api/session/override", `{"line":9,"pharmacist":"p","reason":"r"}`, jsonCT, 404, "no_such_line"},
		{"not held", "POST", "/api/session/override", `{"line":0,"pharmacist":"p","reason":"r"}`, jsonCT, 409, "not_held"},
		{"unknown sale", "POST", "/api/returns", `{"sale_id":"nope","refund":"fund","cashier":"c1","lines":[{"barcode":"1","qty":1}]}`, jsonCT, 404, "sale_not_found"},
		{"bad from_seq", "GET", "/api/records?from_seq=x", ``, nil, 400, "bad_from_seq"},
		{"wrong method", "GET", "/api/session/checkout", ``, nil, 405, "method_not_allowed"},
		{"unknown path", "GET", "/api/nothing", ``, nil, 404, "not_found"},
		{"cross-site", "POST", "/api/session/void", `{}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "cross_site"},
		{"rebound name", "GET", "/api/session", ``, map[string]string{"Host": "rebind.attacker.example:" + port}, 421, "wrong_host"},
	} {
		wantError(t, tt.name, requestWith(t, tt.method, api+tt.path, tt.body, tt.hdr), tt.status, tt.code)
	}
	// None of it reached the basket or the ledger: the shampoo's block only.
	if h := tl.Ledger().Head(); h != 1 {
		t.Errorf("ledger head %d, want only the blocked shampoo", h)
	}
}
