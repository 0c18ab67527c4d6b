package web

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
)

// TestAPI_pharmacistOnDuty drives a shift over HTTP on a real ledger: a
// prescription drug held with nobody on duty, released by the sign-in
// (its record on disk before the 200), the sale naming the pharmacist,
// and the sign-out.
func TestAPI_pharmacistOnDuty(t *testing.T) {
	srv, s, led := newCounterServer(t)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	if err := s.SetRx("RX20260302A001", false); err != nil {
		t.Fatal(err)
	}
	s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace})
	code, body := do(t, "GET", srv.URL+"/api/session", "")
	if code != http.StatusOK || !strings.Contains(body, `"pharmacist":null`) || !strings.Contains(body, `"rule":"pharmacist_absent"`) {
		t.Fatalf("session with nobody on duty = %d %s", code, body)
	}

	code, body = do(t, "POST", srv.URL+"/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY330100001"}`)
	if code != http.StatusOK || !strings.Contains(body, `"pharmacist":{"name":"钱药师","prac_cert_no":"ZY330100001"}`) || !strings.Contains(body, `"decision":"allow"`) {
		t.Fatalf("sign-in = %d %s, want the session with the pharmacist and the line allowed", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindPharmacistOn || r.PharName != "钱药师" || r.PharPracCertNo != "ZY330100001" || r.Card != nil {
		t.Fatalf("record after the sign-in = %+v", r)
	}
	code, body = do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`)
	if code != http.StatusOK {
		t.Fatalf("checkout = %d %s", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindSale || r.PharName != "钱药师" || r.PharPracCertNo != "ZY330100001" {
		t.Errorf("sale = %+v, want phar_name and phar_prac_cert_no", r)
	}

	code, body = do(t, "POST", srv.URL+"/api/pharmacist/sign-out", "")
	if code != http.StatusOK || !strings.Contains(body, `"pharmacist":null`) {
		t.Fatalf("sign-out = %d %s", code, body)
	}
	if r := lastRecord(t, led); r.Kind != feed.KindPharmacistOff || r.PharName != "钱药师" {
		t.Errorf("record after the sign-out = %+v", r)
	}
	code, body = do(t, "POST", srv.URL+"/api/pharmacist/sign-out", "{}")
	if code != http.StatusConflict || !strings.Contains(body, `"error":"no_pharmacist"`) {
		t.Errorf("second sign-out = %d %s, want 409 no_pharmacist", code, body)
	}
}

// TestAPI_pharmacistNotPersisted: a sign-in or sign-out the ledger
// refuses is 503 ledger_unavailable and changes no duty.
func TestAPI_pharmacistNotPersisted(t *testing.T) {
	srv, s, led := newServer(t)
	led.fail = errors.New("no space left on device")
	code, body := do(t, "POST", srv.URL+"/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY330100001"}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"ledger_unavailable"`) || strings.Contains(body, "no space") {
		t.Errorf("sign-in on a failing ledger = %d %s, want 503 without the ledger's error", code, body)
	}
	if p := s.View().Pharmacist; p != nil {
		t.Fatalf("on duty after a refused sign-in: %+v", p)
	}
	led.fail = nil
	if err := s.SignIn("钱药师", "ZY330100001"); err != nil {
		t.Fatal(err)
	}
	led.fail = errors.New("no space left on device")
	code, body = do(t, "POST", srv.URL+"/api/pharmacist/sign-out", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"ledger_unavailable"`) {
		t.Errorf("sign-out on a failing ledger = %d %s, want 503", code, body)
	}
	if p := s.View().Pharmacist; p == nil {
		t.Error("off duty after a refused sign-out")
	}
}

// TestAPI_pharmacistErrorCodes: every refusal of a sign-in is one code
// of the table.
func TestAPI_pharmacistErrorCodes(t *testing.T) {
	for _, e := range []error{session.ErrNameRequired, session.ErrBadName, session.ErrPracCertRequired, session.ErrBadPracCert, session.ErrNoPharmacist} {
		code := sessionCode(e)
		if _, ok := errorTable[code]; !ok || code == errBadRequest || code == errConflict || code == errInternal {
			t.Errorf("%v answers %q, want a code of its own", e, code)
		}
	}
}
