package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
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

// metricValue is the value of one series in a /metrics body; -1 if absent.
func metricValue(body, series string) int {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// TestMetrics_countsLinesOnce scans two shampoos before the card, then
// reads the card and enters a prescription: each re-decides both lines,
// and /metrics counts two lines, as the dashboard does, while the latency
// histogram counts every policy call.
func TestMetrics_countsLinesOnce(t *testing.T) {
	f := newFullServer(t, nil)
	f.s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: shampoo})
	f.s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: shampoo})
	f.s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	if err := f.s.SetRx("RX20260302A001", false); err != nil {
		t.Fatal(err)
	}

	for range 2 { // a second scrape reads nothing new and counts nothing again
		_, body := do(t, "GET", f.srv.URL+"/metrics", "")
		if n := metricValue(body, `tillguard_decisions_total{verdict="block",rule="non_drug"}`); n != 2 {
			t.Errorf("metrics: non_drug blocks = %d, want 2 (one per line)\n%s", n, body)
		}
		if n := metricValue(body, "tillguard_decision_duration_seconds_count"); n != 6 {
			t.Errorf("metrics: %d policy calls timed, want 6 (2 scans; the card and the prescription re-decide 2 lines each)", n)
		}
	}
	_, dash := do(t, "GET", f.srv.URL+"/", "")
	row := regexp.MustCompile(`<tr data-rule="non_drug"><td>.*?</td><td class="n">(\d+)</td>`).FindStringSubmatch(dash)
	if row == nil || row[1] != "2" {
		t.Errorf("dashboard: non_drug row %v, want 2 blocks", row)
	}
	if n := strings.Count(dash, `<tr data-rule="non_drug" data-decision="block">`); n != 2 {
		t.Errorf("dashboard lists %d stopped shampoos, want 2", n)
	}
}

// TestDashboard_stoppedBounded: the dashboard lists the period's newest
// stopped lines first, at most dashboardStopped of them, and says how
// many more the report has; flagged lines are not listed.
func TestDashboard_stoppedBounded(t *testing.T) {
	_, led := counter(t)
	now := time.Now()
	add := func(name, decision, rule string) {
		t.Helper()
		_, err := led.Append(&feed.Record{Pharmacy: "P1", Till: "T1", Kind: feed.KindBlocked, At: now.Format(time.RFC3339),
			Lines: []feed.Line{{Barcode: "6903148091050", Name: name, Qty: 1, Decision: decision, Rule: rule, ReasonZH: "原因 " + name}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	const n = dashboardStopped + 3
	for i := range n {
		add(fmt.Sprintf("商品%03d", i), feed.Block, "non_drug")
	}
	add("手工", feed.Flag, "manual_entry")
	h := mustNew(t, Deps{Session: session.New(session.Config{Ledger: led}), Status: func() Status { return Status{} }, Records: led, Now: time.Now})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, atTill(httptest.NewRequest("GET", "/", nil), "127.0.0.1:8080"))
	body := rec.Body.String()
	if got := strings.Count(body, `data-decision="block"`); got != dashboardStopped {
		t.Errorf("dashboard lists %d stopped lines, want %d", got, dashboardStopped)
	}
	if strings.Contains(body, `data-decision="flag"`) || strings.Contains(body, "原因 手工") {
		t.Error("dashboard lists a flagged line as stopped")
	}
	newest, oldestShown, dropped := strings.Index(body, fmt.Sprintf("商品%03d", n-1)), strings.Index(body, "商品003"), strings.Index(body, "商品002")
	if newest < 0 || oldestShown < 0 || newest > oldestShown || dropped >= 0 {
		t.Errorf("positions newest %d, oldest shown %d, dropped %d: want newest first and the oldest 3 left out", newest, oldestShown, dropped)
	}
	if !strings.Contains(body, `id="stopped-more"`) || !strings.Contains(body, "另有 3 项") {
		t.Error("dashboard does not say 3 more are in the report")
	}
	if !strings.Contains(body, fmt.Sprintf(`id="today-stopped">%d<`, n)) || !strings.Contains(body, `id="today-flagged">1<`) {
		t.Errorf("today's card does not count %d stopped and 1 flagged", n)
	}
}
