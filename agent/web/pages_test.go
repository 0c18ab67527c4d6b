package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/feed"
)

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
		Chain:   &Chain{Checked: "2026-03-02T10:05:00+08:00", OK: true},
	}
	h := mustNew(t, Deps{Session: f.s, Status: func() Status { return st }, Records: f.led, Now: time.Now})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, atTill(httptest.NewRequest("GET", "/", nil), "127.0.0.1:8080"))
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
