package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// changes is the agent's broadcast in small: it wakes every subscriber.
type changes struct {
	mu   sync.Mutex
	subs map[chan struct{}]bool
}

func (c *changes) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	c.subs[ch] = true
	c.mu.Unlock()
	return ch, func() { c.mu.Lock(); delete(c.subs, ch); c.mu.Unlock() }
}

func (c *changes) notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// fullServer serves every endpoint over a real ledger: the session, live
// updates, metrics, the chain check and the report.
type fullServer struct {
	srv *httptest.Server
	s   *session.Session
	led *ledger.Ledger
}

func newFullServer(t *testing.T, guard *password.Guard) *fullServer {
	t.Helper()
	cat, led := counter(t)
	ch := &changes{subs: map[chan struct{}]bool{}}
	m := NewMetrics()
	s := session.New(session.Config{
		Pharmacy: "P1", Till: "T1", Catalog: cat, Limits: policy.DefaultLimits(), Ledger: led, Index: led,
		OnChange: ch.notify, OnDecision: m.ObserveDecision,
	})
	status := func() Status {
		depth, _, _ := led.Outbox()
		return Status{
			Outbox:   Outbox{Depth: depth},
			Pharmacy: "P1", Till: "T1", HeadSeq: led.Head(), AckedSeq: led.Acked(),
			Devices: map[string]DeviceState{"card": {State: "connected"}, "scanner": {State: "missing"}},
			Policy:  Policy{Region: "330100", Version: "v1"},
			Chain:   &Chain{Checked: time.Now().Format(time.RFC3339), OK: true},
		}
	}
	srv := httptest.NewServer(mustNew(t, Deps{
		Session: s, Status: status, Records: led, Changes: ch.subscribe, Metrics: m, Password: guard,
	}))
	t.Cleanup(srv.Close)
	return &fullServer{srv: srv, s: s, led: led}
}

// basket puts a card and a blocked shampoo (line 0) on the session.
func basket(s *session.Session) string {
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: shampoo})
	return ""
}

// sold checks out a prescribed amoxicillin, a pharmacist on duty, and
// returns the sale's id.
func sold(s *session.Session) string {
	onDuty(s)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	if err := s.SetRx("RX20260302A001", false); err != nil {
		panic(err)
	}
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	rc, err := s.Checkout(session.PayInsurance, "c1")
	if err != nil {
		panic(err)
	}
	return rc.ID
}

// held puts a card and a prescription drug held for want of a
// prescription on the session.
func held(s *session.Session) string {
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	return ""
}

// noCard is a basket without a card, a pharmacist on duty.
func noCard(s *session.Session) string {
	onDuty(s)
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	_ = s.SetRx("RX20260302A001", false)
	return ""
}

// onDuty signs a pharmacist in.
func onDuty(s *session.Session) string {
	if err := s.SignIn("钱药师", "ZY330100001"); err != nil {
		panic(err)
	}
	return ""
}

// changed is basket with another card read after the shampoo.
func changed(s *session.Session) string {
	basket(s)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "B87654321", Name: "李四", Region: "330100"})
	return ""
}

// checkErrorBody checks an error answer: the stable code of the status,
// both messages, strings only, and nothing of the till's Go internals.
func checkErrorBody(t *testing.T, status int, b []byte, api bool) {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %q: %v, want an object of strings", b, err)
	}
	row, ok := errorTable[e["error"]]
	if !ok || row.status != status || e["message_zh"] == "" || e["message_en"] == "" || !hasHan(e["message_zh"]) {
		t.Errorf("error body %q (status %d): want a code of the table for the status and both messages", b, status)
	}
	for k := range e {
		switch k {
		case "error", "message_zh", "message_en", "detail":
		default:
			t.Errorf("error body %q has field %q", b, k)
		}
	}
	if leak := goInternals.FindString(string(b)); api && leak != "" {
		t.Errorf("error body %q shows Go internals: %q", b, leak)
	}
}

// goInternals matches what the till's Go code says of itself: package
// prefixes, Go type names, the json package's own wording.
var goInternals = regexp.MustCompile(`json: |Go (struct|value)|struct \{|(^|"|: )(session|web|ledger|bbolt|policy|scanner|agent|report): |cannot unmarshal|\bint64\b|\*[a-z]+\.[A-Z]|\.go:\d`)

// TestAPI_everyEndpoint sends every endpoint a good request, bad JSON, an
// unknown field, a wrong value and a wrong method, each to a fresh till.
// Under /api/ every error is JSON {"error": code, "message_zh",
// "message_en", "detail"?}, the code the table's for the status, with no
// Go internals; a wrong method is 405 with an Allow header, on the pages
// too.
func TestAPI_everyEndpoint(t *testing.T) {
	const (
		jsonCT = "application/json"
		htmlCT = "text/html"
	)
	tests := []struct {
		name               string
		prep               func(s *session.Session) string // returns a value for {ID} in body
		method, path, body string
		code               int
		ctype              string
		contains           string
	}{
		{"session", nil, "GET", "/api/session", "", 200, jsonCT, `"state":"idle"`},
		{"session nobody on duty", nil, "GET", "/api/session", "", 200, jsonCT, `"pharmacist":null`},
		{"session on duty", onDuty, "GET", "/api/session", "", 200, jsonCT, `"pharmacist":{"name":"钱药师","prac_cert_no":"ZY330100001"}`},
		{"session open", basket, "GET", "/api/session", "", 200, jsonCT, `"rule":"non_drug"`},
		{"session HEAD", nil, "HEAD", "/api/session", "", 200, jsonCT, ""},
		{"session POST", nil, "POST", "/api/session", "{}", 405, jsonCT, `"error":"method_not_allowed"`},

		{"checkout cash", basket, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1"}`, 200, jsonCT, `"seq":2`},
		{"checkout bad JSON", basket, "POST", "/api/session/checkout", `{"payment":`, 400, jsonCT, `"error":"bad_json"`},
		{"checkout empty body", basket, "POST", "/api/session/checkout", "", 400, jsonCT, `"error":"bad_json"`},
		{"checkout null", basket, "POST", "/api/session/checkout", "null", 400, jsonCT, `"error":"bad_json"`},
		{"checkout not an object", basket, "POST", "/api/session/checkout", `["cash"]`, 400, jsonCT, `"error":"bad_json"`},
		{"checkout wrong type", basket, "POST", "/api/session/checkout", `{"payment":1,"cashier":"c1"}`, 400, jsonCT, `"error":"wrong_type"`},
		{"checkout unknown field", basket, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1","tip":1}`, 400, jsonCT, `unknown field \"tip\"`},
		{"checkout trailing data", basket, "POST", "/api/session/checkout", `{"payment":"cash"}{}`, 400, jsonCT, "trailing"},
		{"checkout trailing brace", basket, "POST", "/api/session/checkout", `{"payment":"cash"}}`, 400, jsonCT, "trailing"},
		{"checkout key twice", basket, "POST", "/api/session/checkout", `{"payment":"insurance","payment":"cash"}`, 400, jsonCT, `key \"payment\" given twice`},
		{"checkout keys by case", basket, "POST", "/api/session/checkout", `{"payment":"insurance","Payment":"cash"}`, 400, jsonCT, "differ only in case"},
		{"checkout bad payment", basket, "POST", "/api/session/checkout", `{"payment":"alipay","cashier":"c1"}`, 400, jsonCT, `"error":"bad_payment"`},
		{"checkout no cashier", basket, "POST", "/api/session/checkout", `{"payment":"cash"}`, 400, jsonCT, `"error":"cashier_required"`},
		{"checkout blank cashier", basket, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"  "}`, 400, jsonCT, `"error":"cashier_required"`},
		{"checkout empty basket", nil, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1"}`, 409, jsonCT, `"error":"empty_basket"`},
		{"checkout nothing insurable", basket, "POST", "/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`, 409, jsonCT, `"error":"nothing_insurable"`},
		{"checkout held", held, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1"}`, 409, jsonCT, `"error":"held_lines"`},
		{"checkout no card", noCard, "POST", "/api/session/checkout", `{"payment":"split","cashier":"c1"}`, 409, jsonCT, `"error":"card_required"`},
		{"checkout card changed", changed, "POST", "/api/session/checkout", `{"payment":"split","cashier":"c1"}`, 409, jsonCT, `"error":"card_changed"`},
		{"checkout GET", nil, "GET", "/api/session/checkout", "", 405, jsonCT, "use POST"},

		{"void", basket, "POST", "/api/session/void", "", 200, jsonCT, `"state":"idle"`},
		{"void empty object", basket, "POST", "/api/session/void", "{}", 200, jsonCT, `"state":"idle"`},
		{"void unknown field", basket, "POST", "/api/session/void", `{"all":true}`, 400, jsonCT, `"error":"unknown_field"`},
		{"void null", basket, "POST", "/api/session/void", "null", 400, jsonCT, `"error":"bad_json"`},
		{"void array", basket, "POST", "/api/session/void", "[]", 400, jsonCT, `"error":"bad_json"`},
		{"void bad JSON", basket, "POST", "/api/session/void", "{", 400, jsonCT, `"error":"bad_json"`},
		{"void GET", nil, "GET", "/api/session/void", "", 405, jsonCT, "use POST"},

		{"confirm card", changed, "POST", "/api/session/confirm-card", `{"cashier":"c1"}`, 200, jsonCT, `"no":"B8765****"`},
		{"confirm card no change", basket, "POST", "/api/session/confirm-card", `{"cashier":"c1"}`, 409, jsonCT, `"error":"no_card_change"`},
		{"confirm card no cashier", changed, "POST", "/api/session/confirm-card", `{}`, 400, jsonCT, `"error":"cashier_required"`},
		{"confirm card empty body", changed, "POST", "/api/session/confirm-card", ``, 400, jsonCT, `"error":"bad_json"`},
		{"confirm card unknown field", changed, "POST", "/api/session/confirm-card", `{"cashier":"c1","to":"x"}`, 400, jsonCT, `"error":"unknown_field"`},
		{"confirm card GET", nil, "GET", "/api/session/confirm-card", "", 405, jsonCT, "use POST"},

		{"override block", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1","reason":"r"}`, 409, jsonCT, `"error":"not_held"`},
		{"override wrong type", basket, "POST", "/api/session/override", `{"line":"0"}`, 400, jsonCT, `"error":"wrong_type"`},
		{"override unknown field", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1","reason":"r","by":"x"}`, 400, jsonCT, `"error":"unknown_field"`},
		{"override no line", basket, "POST", "/api/session/override", `{"pharmacist":"ph1","reason":"r"}`, 400, jsonCT, `"error":"line_required"`},
		{"override no pharmacist", basket, "POST", "/api/session/override", `{"line":0,"reason":"r"}`, 400, jsonCT, `"error":"pharmacist_required"`},
		{"override no reason", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1"}`, 400, jsonCT, `"error":"reason_required"`},
		{"override no such line", basket, "POST", "/api/session/override", `{"line":5,"pharmacist":"ph1","reason":"r"}`, 404, jsonCT, `"error":"no_such_line"`},
		{"override GET", nil, "GET", "/api/session/override", "", 405, jsonCT, "use POST"},

		{"lines", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":2}`, 200, jsonCT, `"manual":true`},
		{"lines wrong type", nil, "POST", "/api/session/lines", `{"barcode":1,"qty":2}`, 400, jsonCT, `field \"barcode\" must be a string`},
		{"lines unknown field", nil, "POST", "/api/session/lines", `{"barcode":"1","qty":1,"price_fen":1}`, 400, jsonCT, `"error":"unknown_field"`},
		{"lines qty by case", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1,"QTY":999}`, 400, jsonCT, `keys \"qty\" and \"QTY\" differ only in case`},
		{"lines too large", nil, "POST", "/api/session/lines", `{"barcode":"` + strings.Repeat("1", 70<<10) + `"}`, 413, jsonCT, `"error":"body_too_large"`},
		{"lines qty", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1000}`, 400, jsonCT, `"error":"bad_qty"`},
		{"lines qty fraction", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1.5}`, 400, jsonCT, `"error":"wrong_type"`},
		{"lines no barcode", nil, "POST", "/api/session/lines", `{"qty":1}`, 400, jsonCT, `"error":"bad_barcode"`},
		{"lines bad barcode", nil, "POST", "/api/session/lines", `{"barcode":"abc","qty":3}`, 400, jsonCT, `"error":"bad_barcode"`},
		{"lines DELETE", nil, "DELETE", "/api/session/lines", "", 405, jsonCT, "use POST"},

		{"rx", nil, "POST", "/api/session/rx", `{"ref":"RX20260302A001","long":true}`, 200, jsonCT, `"rx_ref":"RX20260302A001"`},
		{"rx wrong type", nil, "POST", "/api/session/rx", `{"ref":1}`, 400, jsonCT, `"error":"wrong_type"`},
		{"rx unknown field", nil, "POST", "/api/session/rx", `{"ref":"RX20260302A001","doctor":"d"}`, 400, jsonCT, `"error":"unknown_field"`},
		{"rx bad ref", nil, "POST", "/api/session/rx", `{"ref":"rx-1"}`, 400, jsonCT, `"error":"bad_rx"`},
		{"rx GET", nil, "GET", "/api/session/rx", "", 405, jsonCT, "use POST"},

		{"return", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":1,"drug_trac_codg":["` + amoxTrace + `"]}]}`, 200, jsonCT, `"seq":3`},
		{"return cash refund", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"cash","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":1}]}`, 409, jsonCT, `"error":"return_refused"`},
		{"return too many", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":2}]}`, 409, jsonCT, `"error":"return_too_many"`},
		{"return foreign trace", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":1,"drug_trac_codg":["81021060000000000099"]}]}`, 409, jsonCT, `"error":"trace_not_in_sale"`},
		{"return no cashier", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","lines":[{"barcode":"` + amoxicillin + `","qty":1}]}`, 400, jsonCT, `"error":"cashier_required"`},
		{"return unknown sale", nil, "POST", "/api/returns", `{"sale_id":"nope","refund":"fund","cashier":"c1","lines":[{"barcode":"1","qty":1}]}`, 404, jsonCT, `"error":"sale_not_found"`},
		{"return no sale id", nil, "POST", "/api/returns", `{"refund":"fund","cashier":"c1","lines":[{"barcode":"1","qty":1}]}`, 400, jsonCT, `"error":"sale_id_required"`},
		{"return no lines", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","cashier":"c1","lines":[]}`, 400, jsonCT, `"error":"lines_required"`},
		{"return bad qty", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","cashier":"c1","lines":[{"barcode":"1","qty":0}]}`, 400, jsonCT, `"error":"bad_qty"`},
		{"return wrong type", nil, "POST", "/api/returns", `{"lines":{}}`, 400, jsonCT, `"error":"wrong_type"`},
		{"return unknown field", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[{"barcode":"1","qty":1,"price":1}]}`, 400, jsonCT, `unknown field \"price\"`},
		{"return line keys by case", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[{"barcode":"1","qty":1,"Qty":9}]}`, 400, jsonCT, "differ only in case"},
		{"return bad refund", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"wechat","lines":[{"barcode":"1","qty":1}]}`, 400, jsonCT, `"error":"bad_refund"`},
		{"return GET", nil, "GET", "/api/returns", "", 405, jsonCT, "use POST"},

		{"sign in", held, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY330100001"}`, 200, jsonCT, `"pharmacist":{"name":"钱药师","prac_cert_no":"ZY330100001"}`},
		{"sign in no name", nil, "POST", "/api/pharmacist/sign-in", `{"prac_cert_no":"ZY330100001"}`, 400, jsonCT, `"error":"name_required"`},
		{"sign in blank name", nil, "POST", "/api/pharmacist/sign-in", `{"name":" ","prac_cert_no":"ZY330100001"}`, 400, jsonCT, `"error":"name_required"`},
		{"sign in bad name", nil, "POST", "/api/pharmacist/sign-in", `{"name":"` + strings.Repeat("药", 51) + `","prac_cert_no":"ZY330100001"}`, 400, jsonCT, `"error":"bad_name"`},
		{"sign in no cert", nil, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师"}`, 400, jsonCT, `"error":"prac_cert_required"`},
		{"sign in bad cert", nil, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY 330100001"}`, 400, jsonCT, `"error":"bad_prac_cert"`},
		{"sign in cert too long", nil, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"` + strings.Repeat("Z", 33) + `"}`, 400, jsonCT, `"error":"bad_prac_cert"`},
		{"sign in empty body", nil, "POST", "/api/pharmacist/sign-in", "", 400, jsonCT, `"error":"bad_json"`},
		{"sign in wrong type", nil, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":330100001}`, 400, jsonCT, `"error":"wrong_type"`},
		{"sign in unknown field", nil, "POST", "/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY330100001","pin":"1"}`, 400, jsonCT, `"error":"unknown_field"`},
		{"sign in GET", nil, "GET", "/api/pharmacist/sign-in", "", 405, jsonCT, "use POST"},
		{"sign out", onDuty, "POST", "/api/pharmacist/sign-out", "", 200, jsonCT, `"pharmacist":null`},
		{"sign out empty object", onDuty, "POST", "/api/pharmacist/sign-out", "{}", 200, jsonCT, `"pharmacist":null`},
		{"sign out nobody on duty", nil, "POST", "/api/pharmacist/sign-out", "{}", 409, jsonCT, `"error":"no_pharmacist"`},
		{"sign out unknown field", onDuty, "POST", "/api/pharmacist/sign-out", `{"name":"钱药师"}`, 400, jsonCT, `"error":"unknown_field"`},
		{"sign out GET", nil, "GET", "/api/pharmacist/sign-out", "", 405, jsonCT, "use POST"},

		{"status", nil, "GET", "/api/status", "", 200, jsonCT, `"policy":{"region":"330100","version":"v1"}`},
		{"status PUT", nil, "PUT", "/api/status", "{}", 405, jsonCT, "use GET, HEAD"},

		{"records", basket, "GET", "/api/records?from_seq=1", "", 200, jsonCT, `"kind":"blocked"`},
		{"records past head", nil, "GET", "/api/records?from_seq=99", "", 200, jsonCT, `{"records":[]}`},
		{"records bad from_seq", nil, "GET", "/api/records?from_seq=-1", "", 400, jsonCT, `"error":"bad_from_seq"`},
		{"records POST", nil, "POST", "/api/records", "", 405, jsonCT, "use GET"},

		{"unknown API path", nil, "GET", "/api/nothing", "", 404, jsonCT, `"error":"not_found"`},
		{"events POST", nil, "POST", "/api/events", "", 405, jsonCT, "use GET"},

		{"healthz", nil, "GET", "/healthz", "", 200, "text/plain", "ok"},
		{"healthz POST", nil, "POST", "/healthz", "", 405, jsonCT, "use GET"},
		{"metrics", basket, "GET", "/metrics", "", 200, "text/plain; version=0.0.4", `tillguard_decisions_total{verdict="block",rule="non_drug"} 1`},
		{"metrics POST", nil, "POST", "/metrics", "", 405, jsonCT, "use GET"},

		{"dashboard", basket, "GET", "/", "", 200, htmlCT, `data-rule="non_drug"`},
		{"dashboard period", nil, "GET", "/?from=2026-01-01&to=2026-01-31", "", 200, htmlCT, "2026-01-01 – 2026-01-31"},
		{"dashboard bad period", nil, "GET", "/?from=2026-01-31&to=2026-01-01", "", 400, jsonCT, "before"},
		{"dashboard POST", nil, "POST", "/", "", 405, jsonCT, "use GET"},
		{"till", nil, "GET", "/till", "", 200, htmlCT, `src="/static/till.js"`},
		{"till POST", nil, "POST", "/till", "", 405, jsonCT, "use GET"},
		{"style", nil, "GET", "/static/style.css", "", 200, "text/css", "body.till"},
		{"script", nil, "GET", "/static/till.js", "", 200, "text/javascript", "EventSource"},
		{"no such asset", nil, "GET", "/static/nope.js", "", 404, "text/plain", ""},

		{"report", basket, "GET", "/report", "", 200, htmlCT, `data-rule="non_drug"`},
		{"report period", nil, "GET", "/report?from=2026-03-01&to=2026-03-02", "", 200, htmlCT, "2026-03-01 至 2026-03-02"},
		{"report half period", nil, "GET", "/report?from=2026-03-01", "", 400, jsonCT, "both from and to"},
		{"report bad date", nil, "GET", "/report?from=2026-3-1&to=2026-03-02", "", 400, jsonCT, "YYYY-MM-DD"},
		{"report POST", nil, "POST", "/report", "", 405, jsonCT, "use GET"},
		{"report csv", basket, "GET", "/report.csv", "", 200, "text/csv", "rule,non_drug,非药品不得医保支付,Non-drug goods on insurance,1,0,0,1"},
		{"report csv bad period", nil, "GET", "/report.csv?from=x&to=y", "", 400, jsonCT, "from"},
		{"report csv POST", nil, "POST", "/report.csv", "", 405, jsonCT, "use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFullServer(t, nil)
			body := tt.body
			if tt.prep != nil {
				body = strings.ReplaceAll(body, "{ID}", tt.prep(f.s))
			}
			req, err := http.NewRequest(tt.method, f.srv.URL+tt.path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if unsafeMethod(tt.method) {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			if resp.StatusCode != tt.code || !strings.HasPrefix(ct, tt.ctype) || !strings.Contains(string(b), tt.contains) {
				t.Fatalf("%s %s %s = %d %s %q, want %d %s containing %q", tt.method, tt.path, tt.body, resp.StatusCode, ct, b, tt.code, tt.ctype, tt.contains)
			}
			if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if resp.StatusCode >= 400 && ct == "application/json; charset=utf-8" {
				// The pages' own refusals (period) are not the API's.
				checkErrorBody(t, resp.StatusCode, b, strings.HasPrefix(tt.path, "/api/") || resp.StatusCode == 405)
			}
			// Records are served exactly as signed, for the bureau and
			// exports: they carry the card number (the name is masked).
			for _, secret := range []string{"王小明", "A12345678"} {
				if strings.Contains(string(b), secret) && !(secret == "A12345678" && strings.HasPrefix(tt.path, "/api/records")) {
					t.Errorf("%s %s shows %q unmasked", tt.method, tt.path, secret)
				}
			}
		})
	}
}

// readEvent reads one Server-Sent Event: its name and data.
func readEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// TestAPI_eventsPush: /api/events sends the session and the status at once,
// then the session again after a change, without being asked.
func TestAPI_eventsPush(t *testing.T) {
	f := newFullServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events = %d %s", resp.StatusCode, ct)
	}
	r := bufio.NewReader(resp.Body)
	if name, data := readEvent(t, r); name != "session" || !strings.Contains(data, `"state":"idle"`) {
		t.Fatalf("first event = %s %s, want the idle session", name, data)
	}
	if name, data := readEvent(t, r); name != "status" || !strings.Contains(data, `"pharmacy":"P1"`) {
		t.Fatalf("second event = %s %s, want the status", name, data)
	}
	basket(f.s)
	for {
		name, data := readEvent(t, r) // the deadline of ctx ends a stream that never says it
		if name == "session" && strings.Contains(data, `"rule":"non_drug"`) {
			if !strings.Contains(data, `"name":"王**"`) || strings.Contains(data, "王小明") {
				t.Errorf("pushed session %s, want the name masked", data)
			}
			return
		}
	}
}

// TestAPI_eventsNotWired: without live updates /api/events says so.
func TestAPI_eventsNotWired(t *testing.T) {
	srv, _, _ := newServer(t)
	code, body := do(t, "GET", srv.URL+"/api/events", "")
	if code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("events without Changes = %d %s, want 404 JSON", code, body)
	}
}
