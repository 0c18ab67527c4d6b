package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
)

// TestErrorTable: every code the handlers give is in the one table, with
// a status and both messages; a finer session error is looked up before
// its class, or its class would answer for it.
func TestErrorTable(t *testing.T) {
	for code, e := range errorTable {
		if http.StatusText(e.status) == "" || e.status < 400 || !hasHan(e.zh) || e.en == "" || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
			t.Errorf("%s: %+v", code, e)
		}
	}
	for _, e := range sessionErrors {
		if _, ok := errorTable[e.code]; !ok {
			t.Errorf("session error %v: code %q not in the table", e.err, e.code)
		}
	}
	for status, code := range statusCodes {
		if e, ok := errorTable[code]; !ok || e.status != status {
			t.Errorf("status %d: code %q is %+v in the table", status, code, e)
		}
	}
	for i, a := range sessionErrors {
		for _, b := range sessionErrors[:i] {
			if errors.Is(a.err, b.err) {
				t.Errorf("%v is looked up after %v, which it wraps: %s would never answer", a.err, b.err, a.code)
			}
		}
	}
}

// TestAPI_confirmCardNotPersisted: a confirmation the ledger refuses is
// 503 and changes nothing; once the ledger writes, it goes through.
func TestAPI_confirmCardNotPersisted(t *testing.T) {
	srv, s, led := newServer(t)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: "6901234567892"})
	s.CardRead(session.Card{Type: feed.CardSSC, No: "B87654321", Name: "李四", Region: "330100"})
	led.fail = errors.New("no space left on device")
	code, body := do(t, "POST", srv.URL+"/api/session/confirm-card", `{"cashier":"c1"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"ledger_unavailable"`) || strings.Contains(body, "no space") {
		t.Errorf("confirm on a failing ledger = %d %s, want 503 ledger_unavailable without the ledger's error", code, body)
	}
	if v := s.View(); v.CardChange == nil || v.Card.No != "A1234****" {
		t.Fatalf("after a refused confirm: %+v, want the change still waiting", v)
	}
	led.fail = nil
	if code, body := do(t, "POST", srv.URL+"/api/session/confirm-card", `{"cashier":"c1"}`); code != 200 || !strings.Contains(body, `"no":"B8765****"`) {
		t.Errorf("confirm = %d %s", code, body)
	}
	if len(led.recs) != 1 {
		t.Errorf("%d records, want the card change", len(led.recs))
	}
}

// TestAPI_refusalSplit: a ledger's own reason, "中文 / English", is the
// two messages of its 503.
func TestAPI_refusalSplit(t *testing.T) {
	srv, s, led := newServer(t)
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: "6901234567892"})
	led.fail = &session.Refusal{Reason: "账本已隔离 / ledger quarantined"}
	code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"cash","cashier":"c1"}`)
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); code != 503 || err != nil || e.Error != errLedgerUnavailable ||
		e.MessageZH != "账本已隔离" || e.MessageEN != "ledger quarantined" {
		t.Errorf("refused checkout = %d %s", code, body)
	}
}

// FuzzReadJSON: whatever the body, readJSON either takes it or answers an
// error of the table, with both messages and none of the decoder's Go
// wording.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"barcode":"6901234567892","qty":1}`, `{"barcode":1}`, `{"qty":1.5}`,
		`{"qty":1,"QTY":2}`, `{"x":1}`, `{"barcode":"a"} {}`, `{`, `{"lines":[{"qty":"1"}]}`, "\x00", `{"qty":1e99}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&lineRequest{}, &returnRequest{}, &struct{}{}} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/api/x", strings.NewReader(string(body)))
			if readJSON(rec, req, v, false) {
				continue
			}
			checkErrorBody(t, rec.Code, rec.Body.Bytes(), true)
		}
	})
}
