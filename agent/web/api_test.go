package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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

// sold checks out a prescribed amoxicillin and returns the sale's id.
func sold(s *session.Session) string {
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

// TestAPI_everyEndpoint sends every endpoint a good request, bad JSON, an
// unknown field, a wrong value and a wrong method, each to a fresh till.
// Under /api/ every error is JSON {"error": "…"}; a wrong method is 405
// with an Allow header, on the pages too.
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
		{"session open", basket, "GET", "/api/session", "", 200, jsonCT, `"rule":"non_drug"`},
		{"session HEAD", nil, "HEAD", "/api/session", "", 200, jsonCT, ""},
		{"session POST", nil, "POST", "/api/session", "{}", 405, jsonCT, "method POST not allowed"},

		{"checkout cash", basket, "POST", "/api/session/checkout", `{"payment":"cash","cashier":"c1"}`, 200, jsonCT, `"seq":2`},
		{"checkout bad JSON", basket, "POST", "/api/session/checkout", `{"payment":`, 400, jsonCT, "bad JSON"},
		{"checkout empty body", basket, "POST", "/api/session/checkout", "", 400, jsonCT, "bad JSON"},
		{"checkout not an object", basket, "POST", "/api/session/checkout", `["cash"]`, 400, jsonCT, "bad JSON"},
		{"checkout unknown field", basket, "POST", "/api/session/checkout", `{"payment":"cash","tip":1}`, 400, jsonCT, `unknown field \"tip\"`},
		{"checkout trailing data", basket, "POST", "/api/session/checkout", `{"payment":"cash"}{}`, 400, jsonCT, "trailing"},
		{"checkout trailing brace", basket, "POST", "/api/session/checkout", `{"payment":"cash"}}`, 400, jsonCT, "trailing"},
		{"checkout key twice", basket, "POST", "/api/session/checkout", `{"payment":"insurance","payment":"cash"}`, 400, jsonCT, `key \"payment\" given twice`},
		{"checkout keys by case", basket, "POST", "/api/session/checkout", `{"payment":"insurance","Payment":"cash"}`, 400, jsonCT, "differ only in case"},
		{"checkout bad payment", basket, "POST", "/api/session/checkout", `{"payment":"alipay"}`, 400, jsonCT, "payment must be"},
		{"checkout empty basket", nil, "POST", "/api/session/checkout", `{"payment":"cash"}`, 409, jsonCT, "empty"},
		{"checkout GET", nil, "GET", "/api/session/checkout", "", 405, jsonCT, "use POST"},

		{"void", basket, "POST", "/api/session/void", "", 200, jsonCT, `"state":"idle"`},
		{"void empty object", basket, "POST", "/api/session/void", "{}", 200, jsonCT, `"state":"idle"`},
		{"void unknown field", basket, "POST", "/api/session/void", `{"all":true}`, 400, jsonCT, "unknown field"},
		{"void GET", nil, "GET", "/api/session/void", "", 405, jsonCT, "use POST"},

		{"override block", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1","reason":"r"}`, 409, jsonCT, "block"},
		{"override bad JSON", basket, "POST", "/api/session/override", `{"line":"0"}`, 400, jsonCT, "bad JSON"},
		{"override unknown field", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1","reason":"r","by":"x"}`, 400, jsonCT, "unknown field"},
		{"override no line", basket, "POST", "/api/session/override", `{"pharmacist":"ph1","reason":"r"}`, 400, jsonCT, `\"line\" is required`},
		{"override no reason", basket, "POST", "/api/session/override", `{"line":0,"pharmacist":"ph1"}`, 400, jsonCT, "reason"},
		{"override no such line", basket, "POST", "/api/session/override", `{"line":5,"pharmacist":"ph1","reason":"r"}`, 404, jsonCT, "no such line"},
		{"override GET", nil, "GET", "/api/session/override", "", 405, jsonCT, "use POST"},

		{"lines", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":2}`, 200, jsonCT, `"manual":true`},
		{"lines bad JSON", nil, "POST", "/api/session/lines", `{"qty":"2"}`, 400, jsonCT, "bad JSON"},
		{"lines unknown field", nil, "POST", "/api/session/lines", `{"barcode":"1","qty":1,"price_fen":1}`, 400, jsonCT, "unknown field"},
		{"lines qty by case", nil, "POST", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1,"QTY":999}`, 400, jsonCT, `keys \"qty\" and \"QTY\" differ only in case`},
		{"lines too large", nil, "POST", "/api/session/lines", `{"barcode":"` + strings.Repeat("1", 70<<10) + `"}`, 413, jsonCT, "bad JSON"},
		{"lines qty", nil, "POST", "/api/session/lines", `{"barcode":"1","qty":1000}`, 400, jsonCT, "qty"},
		{"lines no barcode", nil, "POST", "/api/session/lines", `{"qty":1}`, 400, jsonCT, "barcode"},
		{"lines DELETE", nil, "DELETE", "/api/session/lines", "", 405, jsonCT, "use POST"},

		{"rx", nil, "POST", "/api/session/rx", `{"ref":"RX20260302A001","long":true}`, 200, jsonCT, `"rx_ref":"RX20260302A001"`},
		{"rx bad JSON", nil, "POST", "/api/session/rx", `{"ref":1}`, 400, jsonCT, "bad JSON"},
		{"rx unknown field", nil, "POST", "/api/session/rx", `{"ref":"RX20260302A001","doctor":"d"}`, 400, jsonCT, "unknown field"},
		{"rx bad ref", nil, "POST", "/api/session/rx", `{"ref":"rx-1"}`, 400, jsonCT, "prescription reference"},
		{"rx GET", nil, "GET", "/api/session/rx", "", 405, jsonCT, "use POST"},

		{"return", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":1,"drug_trac_codg":["` + amoxTrace + `"]}]}`, 200, jsonCT, `"seq":2`},
		{"return cash refund", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"cash","lines":[{"barcode":"` + amoxicillin + `","qty":1}]}`, 409, jsonCT, "cash"},
		{"return too many", sold, "POST", "/api/returns", `{"sale_id":"{ID}","refund":"fund","lines":[{"barcode":"` + amoxicillin + `","qty":2}]}`, 409, jsonCT, ""},
		{"return unknown sale", nil, "POST", "/api/returns", `{"sale_id":"nope","refund":"fund","lines":[{"barcode":"1","qty":1}]}`, 404, jsonCT, "not found"},
		{"return bad JSON", nil, "POST", "/api/returns", `{"lines":{}}`, 400, jsonCT, "bad JSON"},
		{"return unknown field", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[{"barcode":"1","qty":1,"price":1}]}`, 400, jsonCT, "unknown field"},
		{"return line keys by case", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[{"barcode":"1","qty":1,"Qty":9}]}`, 400, jsonCT, "differ only in case"},
		{"return bad refund", nil, "POST", "/api/returns", `{"sale_id":"x","refund":"wechat","lines":[{"barcode":"1","qty":1}]}`, 400, jsonCT, "refund"},
		{"return GET", nil, "GET", "/api/returns", "", 405, jsonCT, "use POST"},

		{"status", nil, "GET", "/api/status", "", 200, jsonCT, `"policy":{"region":"330100","version":"v1"}`},
		{"status PUT", nil, "PUT", "/api/status", "{}", 405, jsonCT, "use GET, HEAD"},

		{"records", basket, "GET", "/api/records?from_seq=1", "", 200, jsonCT, `"kind":"blocked"`},
		{"records past head", nil, "GET", "/api/records?from_seq=99", "", 200, jsonCT, `{"records":[]}`},
		{"records bad from_seq", nil, "GET", "/api/records?from_seq=-1", "", 400, jsonCT, "from_seq"},
		{"records POST", nil, "POST", "/api/records", "", 405, jsonCT, "use GET"},

		{"unknown API path", nil, "GET", "/api/nothing", "", 404, jsonCT, "no such endpoint"},
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

		{"report", basket, "GET", "/report", "", 200, htmlCT, `<tr class="" data-rule="non_drug">`},
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
				var e map[string]string
				if err := json.Unmarshal(b, &e); err != nil || len(e) != 1 || e["error"] == "" {
					t.Errorf("error body %q, want {\"error\": \"…\"} only", b)
				}
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
