package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	recs [][]byte
	fail error
}

func (m *memLedger) Append(r *feed.Record) (ledger.Entry, error) {
	if m.fail != nil {
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
	srv := httptest.NewServer(New(Deps{
		Session: s,
		Status:  func() Status { return Status{Pharmacy: "P1", Till: "T1"} },
		Records: led,
	}))
	t.Cleanup(srv.Close)
	return srv, s, led
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
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
		{"POST", "/api/session/checkout", `{"payment":"insurance"}`, http.StatusConflict, "empty"},
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
	if code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"insurance"}`); code != http.StatusServiceUnavailable {
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
