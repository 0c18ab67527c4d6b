package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
)

// TestAuth_ownerPassword: with a password set, a client beyond this
// machine needs it for everything but /healthz; this machine's own
// clients (the till screen) need none.
func TestAuth_ownerPassword(t *testing.T) {
	hash, err := HashPassword("店主密码1234")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(hash)
	if err != nil {
		t.Fatal(err)
	}
	f := newFullServer(t, auth)
	h := f.srv.Config.Handler
	tests := []struct {
		name, remote, path, password string
		code                         int
	}{
		{"shop network, no password", "192.0.2.10:50000", "/api/session", "", 401},
		{"shop network, wrong password", "192.0.2.10:50000", "/", "guess1234", 401},
		{"shop network, the password", "192.0.2.10:50000", "/", "店主密码1234", 200},
		{"shop network, the password again (cached)", "192.0.2.10:50000", "/api/status", "店主密码1234", 200},
		{"shop network, health check", "192.0.2.10:50000", "/healthz", "", 200},
		{"shop network over IPv6", "[2001:db8::1]:50000", "/till", "", 401},
		{"the till itself", "127.0.0.1:50000", "/till", "", 200},
		{"the till itself over IPv6", "[::1]:50000", "/api/session", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.RemoteAddr = tt.remote
			if tt.password != "" {
				req.SetBasicAuth("owner", tt.password)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("GET %s from %s = %d %s, want %d", tt.path, tt.remote, rec.Code, rec.Body, tt.code)
			}
			if tt.code == 401 && (rec.Header().Get("WWW-Authenticate") == "" || !strings.Contains(rec.Body.String(), `"error"`)) {
				t.Errorf("401 = %v %s, want a Basic challenge and a JSON error", rec.Header(), rec.Body)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	for _, tt := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"八个汉字的密码呢", true},
		{strings.Repeat("x", 73), false}, // bcrypt takes 72 bytes at most
		{"correct horse", true},
	} {
		h, err := HashPassword(tt.pw)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrPassword)) {
			t.Errorf("HashPassword(%q) = %v, want ok %v", tt.pw, err, tt.ok)
			continue
		}
		if tt.ok {
			a, err := NewAuth(h)
			if err != nil || !a.Check(tt.pw) || a.Check(tt.pw+"!") {
				t.Errorf("NewAuth(hash of %q) = %v, or checks wrongly", tt.pw, err)
			}
		}
	}
	if _, err := NewAuth([]byte("plain text")); err == nil {
		t.Error("NewAuth took a password that is not a bcrypt hash")
	}
}

// TestDashboard_shows renders the dashboard with an override, an alarm, a
// device down and a backlog being drained, and checks each is on it.
func TestDashboard_shows(t *testing.T) {
	f := newFullServer(t, nil)
	f.s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	f.s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: shampoo})
	f.s.Scan(scanner.Code{Kind: scanner.KindTrace, Trace: amoxTrace}) // held: no prescription
	if err := f.s.Override(1, "药师李", "纸质处方已核"); err != nil {
		t.Fatal(err)
	}
	st := Status{
		Pharmacy: "P1", Till: "T1", HeadSeq: 200, AckedSeq: 50,
		Outbox:  Outbox{Depth: 150, OldestAgeS: 3725},
		Devices: map[string]DeviceState{"card": {State: "connected", Reconnects: 2}, "scanner": {State: "disconnected", Error: "port gone"}},
		Policy:  Policy{Region: "330100", Version: "bundle-330100-v8"},
		Uplink:  Uplink{Configured: true, Connected: true, LastAck: "2026-03-02T10:00:00+08:00"},
		Alarms:  []Alarm{{Kind: "disk", Detail: "磁盘空间不足", Since: "2026-03-02T09:00:00+08:00"}},
	}
	h := New(Deps{Session: f.s, Status: func() Status { return st }, Records: f.led, Verify: f.led.Verify, Now: time.Now})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("dashboard = %d %s", rec.Code, body)
	}
	for _, want := range []string{
		`<g data-rule="non_drug">`, `<tr data-rule="rx_required">`, // chart and table by rule
		"药师李", "纸质处方已核", // the override, who and why
		"磁盘空间不足",                    // the alarm
		"port gone", "disconnected", // device health
		"head 200 · acked 50", "25.0%", "正在补传", "1h2m5s", "2026-03-02T10:00:00", // sync state
		"bundle-330100-v8", // policy version
		"完整",               // the chain verified
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(body, "王小明") || strings.Contains(body, "A12345678") {
		t.Error("dashboard shows the card holder unmasked")
	}
}

// TestMetrics_format: decisions per rule, the latency histogram, the
// outbox and each device's state, in Prometheus' text format.
func TestMetrics_format(t *testing.T) {
	f := newFullServer(t, nil)
	basket(f.s)
	code, body := do(t, "GET", f.srv.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics = %d", code)
	}
	for _, want := range []string{
		"# TYPE tillguard_decisions_total counter\n",
		`tillguard_decisions_total{verdict="block",rule="non_drug"} 1` + "\n",
		"# TYPE tillguard_decision_duration_seconds histogram\n",
		`tillguard_decision_duration_seconds_bucket{le="+Inf"} 1` + "\n",
		"tillguard_decision_duration_seconds_count 1\n",
		"tillguard_outbox_depth 1\n",
		`tillguard_device_state{device="card",state="connected"} 1` + "\n",
		`tillguard_device_state{device="scanner",state="missing"} 1` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if !strings.HasPrefix(line, "# ") && len(strings.Fields(line)) != 2 {
			t.Errorf("metrics line %q: want a name and a value", line)
		}
	}
}

// TestTillPage_assets: /till carries what the script fills in, and the
// script and style are embedded.
func TestTillPage_assets(t *testing.T) {
	srv, _, _ := newServer(t)
	_, page := do(t, "GET", srv.URL+"/till", "")
	for _, id := range []string{`id="card"`, `id="dev-card"`, `id="dev-scanner"`, `id="live"`, `id="held"`, `id="lines"`, `id="t-ins"`, `id="t-cash"`, `id="t-total"`, `name="viewport"`} {
		if !strings.Contains(page, id) {
			t.Errorf("/till lacks %s", id)
		}
	}
	_, js := do(t, "GET", srv.URL+"/static/till.js", "")
	for _, want := range []string{`new EventSource("/api/events")`, "textContent", "reason_zh", "reason_en", "insurance_fen", "cash_fen"} {
		if !strings.Contains(js, want) {
			t.Errorf("till.js lacks %q", want)
		}
	}
	if strings.Contains(js, "innerHTML") {
		t.Error("till.js uses innerHTML: catalogue names must go in as text")
	}
}
