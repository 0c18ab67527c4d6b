package web

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

const catalogCSV = `barcode,med_list_codg,name,category,covered,course,pack_units,daily_units,price_fen
6901234567892,XA10BAE054A001010100001,二甲双胍片,drug,1,chronic,60,6,1250
`

type memLedger struct {
	recs    [][]byte
	fail    error
	refused atomic.Uint64
}

func (m *memLedger) refusals() (uint64, error) { return m.refused.Load(), m.fail }

func (m *memLedger) Append(r *feed.Record) (ledger.Entry, error) {
	if m.fail != nil {
		m.refused.Add(1)
		return ledger.Entry{}, m.fail
	}
	m.recs = append(m.recs, []byte(`{"seq":`+string(rune('0'+len(m.recs)+1))+`}`))
	return ledger.Entry{Seq: uint64(len(m.recs))}, nil
}

func (m *memLedger) Scan(from uint64, fn func(ledger.Entry) error) error {
	for i := from; i <= uint64(len(m.recs)); i++ {
		if err := fn(ledger.Entry{Seq: i, Rec: m.recs[i-1]}); err != nil {
			return err
		}
	}
	return nil
}

func newServer(t *testing.T) (*httptest.Server, *session.Session, *memLedger) {
	t.Helper()
	cat, err := policy.LoadCatalog(strings.NewReader(catalogCSV))
	if err != nil {
		t.Fatal(err)
	}
	led := &memLedger{}
	s := session.New(session.Config{Pharmacy: "P1", Till: "T1", Catalog: cat, Limits: policy.DefaultLimits(), Ledger: led})
	srv := httptest.NewServer(mustNew(t, Deps{
		Session: s,
		Status:  func() Status { return Status{Pharmacy: "P1", Till: "T1"} },
		Records: led,
		Refused: led.refusals,
	}))
	t.Cleanup(srv.Close)
	return srv, s, led
}

// mustNew is New for a test's Deps.
func mustNew(t *testing.T, d Deps) http.Handler {
	t.Helper()
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// do sends a request as the POS software would: a state-changing one is
// JSON.
func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if unsafeMethod(method) {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPI_errors(t *testing.T) {
	srv, _, _ := newServer(t)
	tests := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", "/api/session/checkout", "", http.StatusMethodNotAllowed, ""},
		{"POST", "/api/session", "", http.StatusMethodNotAllowed, ""},
		{"DELETE", "/api/status", "", http.StatusMethodNotAllowed, ""},
		{"POST", "/api/session/checkout", "{", http.StatusBadRequest, "bad JSON"},
		{"POST", "/api/session/checkout", `{"payment":"insurance"} {}`, http.StatusBadRequest, "trailing"},
		{"POST", "/api/session/checkout", `{"payment":"insurance","tip":1}`, http.StatusBadRequest, "unknown field"},
		{"POST", "/api/session/checkout", `{"payment":"bitcoin"}`, http.StatusBadRequest, "payment must be"},
		{"POST", "/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`, http.StatusConflict, "empty"},
		{"GET", "/api/records?from_seq=x", "", http.StatusBadRequest, "from_seq"},
		{"GET", "/api/records?from_seq=0", "", http.StatusBadRequest, "from_seq"},
		{"GET", "/nowhere", "", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		code, body := do(t, tt.method, srv.URL+tt.path, tt.body)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s %q = %d %q, want %d containing %q", tt.method, tt.path, tt.body, code, body, tt.code, tt.contains)
		}
	}
}

func TestAPI_checkoutFlow(t *testing.T) {
	srv, s, led := newServer(t)
	if code, body := do(t, "GET", srv.URL+"/api/session", ""); code != 200 || !strings.Contains(body, `"state":"idle"`) || !strings.Contains(body, `"card":null`) {
		t.Fatalf("idle session = %d %s", code, body)
	}
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: "6901234567892"})
	code, body := do(t, "GET", srv.URL+"/api/session", "")
	for _, want := range []string{`"state":"open"`, `"no":"A1234****"`, `"name":"王**"`, `"decision":"allow"`, `"med_list_codg":"XA10BAE054A001010100001"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("open session = %d %s, want %s", code, body, want)
		}
	}
	if strings.Contains(body, "王小明") || strings.Contains(body, "A12345678") {
		t.Errorf("session leaks the unmasked card: %s", body)
	}
	led.fail = errors.New("disk full")
	if code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`); code != http.StatusServiceUnavailable {
		t.Errorf("checkout with a failing ledger = %d %s, want 503", code, body)
	}
	led.fail = nil
	if code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`); code != 200 || !strings.Contains(body, `"seq":1`) {
		t.Errorf("checkout = %d %s, want 200 seq 1", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/records?from_seq=1", ""); code != 200 || !strings.Contains(body, `"records":[{"seq":1}]`) {
		t.Errorf("records = %d %s", code, body)
	}
	if code, body := do(t, "GET", srv.URL+"/api/status", ""); code != 200 || !strings.Contains(body, `"pharmacy":"P1"`) {
		t.Errorf("status = %d %s", code, body)
	}
	if code, body := do(t, "POST", srv.URL+"/api/session/void", ""); code != 200 || !strings.Contains(body, `"state":"idle"`) {
		t.Errorf("void = %d %s", code, body)
	}
}

// rulesCatalogCSV has a prescription drug with traceability codes and a
// non-drug, for holds, overrides and returns.
const rulesCatalogCSV = `barcode,trace_prefix,med_list_codg,name,category,covered,rx,course,pack_units,daily_units,price_fen
6937215000782,8102106,XJ01CAA040E001010101378,阿莫西林胶囊,drug,1,1,acute,36,16,1250
6903148091050,,,海飞丝洗发水,daily_goods,0,0,,,,3990
`

const (
	amoxicillin = "6937215000782"
	amoxTrace   = "81021060000000000001"
	shampoo     = "6903148091050"
)

// counter is the catalogue of rulesCatalogCSV and a real ledger, closed
// when the test ends.
func counter(t *testing.T) (*policy.Catalog, *ledger.Ledger) {
	t.Helper()
	cat, err := policy.LoadCatalog(strings.NewReader(rulesCatalogCSV))
	if err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("web"))
	led, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), ed25519.NewKeyFromSeed(seed[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	return cat, led
}

// newCounterServer serves a session over a real ledger with its index.
func newCounterServer(t *testing.T) (*httptest.Server, *session.Session, *ledger.Ledger) {
	t.Helper()
	cat, led := counter(t)
	s := session.New(session.Config{Pharmacy: "P1", Till: "T1", Catalog: cat, Limits: policy.DefaultLimits(), Ledger: led, Index: led})
	srv := httptest.NewServer(mustNew(t, Deps{Session: s, Status: func() Status { return Status{} }, Records: led}))
	t.Cleanup(srv.Close)
	return srv, s, led
}

func lastRecord(t *testing.T, led *ledger.Ledger) feed.Record {
	t.Helper()
	e, err := led.Get(led.Head())
	if err != nil {
		t.Fatal(err)
	}
	var r feed.Record
	if err := json.Unmarshal(e.Rec, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAPI_counterErrors(t *testing.T) {
	srv, s, _ := newCounterServer(t)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: shampoo}) // line 0: blocked
	tests := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"GET", "/api/session/override", "", http.StatusMethodNotAllowed, ""},
		{"GET", "/api/session/lines", "", http.StatusMethodNotAllowed, ""},
		{"PUT", "/api/session/rx", "", http.StatusMethodNotAllowed, ""},
		{"GET", "/api/returns", "", http.StatusMethodNotAllowed, ""},
		{"POST", "/api/session/override", "{", http.StatusBadRequest, "bad JSON"},
		{"POST", "/api/session/override", `{"pharmacist":"p","reason":"r"}`, http.StatusBadRequest, "line"},
		{"POST", "/api/session/override", `{"line":0,"pharmacist":"p"}`, http.StatusBadRequest, "reason"},
		{"POST", "/api/session/override", `{"line":7,"pharmacist":"p","reason":"r"}`, http.StatusNotFound, "no such line"},
		{"POST", "/api/session/override", `{"line":0,"pharmacist":"p","reason":"r"}`, http.StatusConflict, "block"},
		{"POST", "/api/session/lines", `{"barcode":"690","qty":0}`, http.StatusBadRequest, "qty"},
		{"POST", "/api/session/lines", `{"barcode":"690","qty":1,"price":1}`, http.StatusBadRequest, "unknown field"},
		{"POST", "/api/session/rx", `{"ref":"RX1"}`, http.StatusBadRequest, "prescription"},
		{"POST", "/api/returns", `{"sale_id":"x","refund":"wechat","lines":[{"barcode":"690","qty":1}]}`, http.StatusBadRequest, "refund"},
		{"POST", "/api/returns", `{"sale_id":"x","refund":"fund","cashier":"c1","lines":[{"barcode":"690","qty":1}]}`, http.StatusNotFound, "not found"},
		{"POST", "/api/returns", `{"sale_id":"x","refund":"fund","lines":[]}`, http.StatusBadRequest, "line"},
	}
	for _, tt := range tests {
		code, body := do(t, tt.method, srv.URL+tt.path, tt.body)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s %q = %d %q, want %d containing %q", tt.method, tt.path, tt.body, code, body, tt.code, tt.contains)
		}
	}
}

func TestAPI_overrideManualRx(t *testing.T) {
	srv, s, led := newCounterServer(t)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	if v := s.View(); v.Lines[0].Decision != "hold" {
		t.Fatalf("line = %+v, want held for the prescription", v.Lines[0])
	}
	code, body := do(t, "POST", srv.URL+"/api/session/override", `{"line":0,"pharmacist":"ph007","reason":"纸质处方已核"}`)
	if code != http.StatusOK || !strings.Contains(body, `"overridden":true`) {
		t.Fatalf("override = %d %s", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindOverride || r.Pharmacist != "ph007" || r.Reason != "纸质处方已核" {
		t.Errorf("override record = %+v", r)
	}
	if code, body := do(t, "POST", srv.URL+"/api/session/override", `{"line":0,"pharmacist":"ph007","reason":"again"}`); code != http.StatusConflict {
		t.Errorf("second override = %d %s, want 409", code, body)
	}
	code, body = do(t, "POST", srv.URL+"/api/session/lines", `{"barcode":"`+shampoo+`","qty":2}`)
	if code != http.StatusOK || !strings.Contains(body, `"manual":true`) || !strings.Contains(body, `"qty":2`) {
		t.Errorf("manual line = %d %s", code, body)
	}
	code, body = do(t, "POST", srv.URL+"/api/session/rx", `{"ref":"RX20260302A001"}`)
	if code != http.StatusOK || !strings.Contains(body, `"rx_ref":"RX20260302A001"`) {
		t.Errorf("rx = %d %s", code, body)
	}
}

func TestAPI_returns(t *testing.T) {
	srv, s, led := newCounterServer(t)
	onDuty(s)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	if err := s.SetRx("RX20260302A001", false); err != nil {
		t.Fatal(err)
	}
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	rc, err := s.Checkout(session.PayInsurance, "c1")
	if err != nil {
		t.Fatal(err)
	}
	ret := func(refund string, qty int) string {
		return `{"sale_id":"` + rc.ID + `","refund":"` + refund + `","cashier":"c1","lines":[{"barcode":"` + amoxicillin + `","qty":` + string(rune('0'+qty)) + `,"drug_trac_codg":["` + amoxTrace + `"]}]}`
	}
	if code, body := do(t, "POST", srv.URL+"/api/returns", ret("cash", 1)); code != http.StatusConflict || !strings.Contains(body, "cash_refund") && !strings.Contains(body, "refused") {
		t.Errorf("cash refund of an insurance line = %d %s, want 409", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindBlocked || r.Lines[0].Rule != string(policy.RuleCashRefund) {
		t.Errorf("refused return record = %+v, want a cash_refund block", r)
	}
	if code, body := do(t, "POST", srv.URL+"/api/returns", ret("fund", 2)); code != http.StatusConflict {
		t.Errorf("return of more than sold = %d %s, want 409", code, body)
	}
	code, body := do(t, "POST", srv.URL+"/api/returns", ret("fund", 1))
	if code != http.StatusOK || !strings.Contains(body, `"seq"`) {
		t.Fatalf("return to the fund = %d %s", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindReturn || r.Ref != rc.ID || r.Payment == nil || r.Payment.Method != "fund" {
		t.Errorf("return record = %+v", r)
	}
	if code, body := do(t, "POST", srv.URL+"/api/returns", ret("fund", 1)); code != http.StatusConflict {
		t.Errorf("second return of the box = %d %s, want 409", code, body)
	}
}
