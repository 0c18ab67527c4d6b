package agent_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
)

func get(t *testing.T, url string) response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// cashSale keys in shampoo and checks out for cash.
func cashSale(t *testing.T, api string) response {
	t.Helper()
	if r := post(t, api+"/api/session/lines", `{"barcode":"`+shampoo+`","qty":1}`); r.code != http.StatusOK {
		t.Fatalf("add line = %d %s", r.code, r.body)
	}
	return post(t, api+"/api/session/checkout", `{"payment":"cash","cashier":"c1"}`)
}

var quarantinedName = regexp.MustCompile(`^ledger\.db\.corrupt-\d{8}T\d{6}Z$`)

// TestTill_corruptLedgerIsQuarantined: a corrupt ledger at start is set
// aside unchanged and the till runs without sales, also on the next start,
// until it is started once with AcceptNewLedger.
func TestTill_corruptLedgerIsQuarantined(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "till")
	cfg := agent.Config{
		DataDir: dir, Baud: agent.DefaultBaud, Pharmacy: pharmacy, Till: till, Region: "330100",
		Catalog: "../testdata/catalog.csv", Policy: "../testdata/policy.json", HTTP: "127.0.0.1:0",
	}
	_, api, stop := runTill(t, cfg)
	if r := cashSale(t, api); r.code != http.StatusOK {
		t.Fatalf("sale on a sound ledger = %d %s", r.code, r.body)
	}
	stop()

	// Damage the file: both bbolt meta pages zeroed.
	path := filepath.Join(dir, "ledger.db")
	damaged, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(damaged[:2*4096])
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}

	quarantined := func() string {
		t.Helper()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("ledger.db after quarantine: %v, want none", err)
		}
		got, err := filepath.Glob(path + ".corrupt-*")
		if err != nil || len(got) != 1 {
			t.Fatalf("quarantined files = %v, %v: want one", got, err)
		}
		if !quarantinedName.MatchString(filepath.Base(got[0])) {
			t.Errorf("quarantined as %s, want ledger.db.corrupt-<UTC time>", got[0])
		}
		b, err := os.ReadFile(got[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, damaged) {
			t.Errorf("quarantined file's bytes changed")
		}
		return got[0]
	}
	degraded := func(api, q, reasonZH string) {
		t.Helper()
		if r := get(t, api+"/healthz"); r.code != http.StatusOK || string(r.body) != "ok\n" {
			t.Errorf("/healthz = %d %q", r.code, r.body)
		}
		var st web.Status
		getJSON(t, api+"/api/status", &st)
		a, ok := findAlarm(st, "ledger")
		if !ok || !strings.HasPrefix(a.Detail, reasonZH) || !strings.Contains(a.Detail, q) {
			t.Errorf("ledger alarm = %+v (%v), want %q… naming %s", a, ok, reasonZH, q)
		}
		if st.Quarantined != q {
			t.Errorf("status quarantined = %q, want %q", st.Quarantined, q)
		}
		m := string(get(t, api+"/metrics").body)
		for _, want := range []string{`tillguard_alarm{kind="ledger"} 1`, `tillguard_ledger_quarantined{path="` + q + `"} 1`} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		for _, page := range []string{"/", "/till"} {
			if r := get(t, api+page); r.code != http.StatusOK {
				t.Errorf("GET %s = %d", page, r.code)
			}
		}
		if r := get(t, api+"/"); !strings.Contains(string(r.body), q) {
			t.Errorf("dashboard does not name %s", q)
		}
		// The blocked shampoo cannot be recorded, nor the sale: both 503
		// with the quarantine's reason.
		for _, r := range []response{
			post(t, api+"/api/session/lines", `{"barcode":"`+shampoo+`","qty":1}`),
			post(t, api+"/api/session/checkout", `{"payment":"cash","cashier":"c1"}`),
		} {
			var v struct {
				Error     string `json:"error"`
				MessageZH string `json:"message_zh"`
			}
			_ = json.Unmarshal(r.body, &v)
			if r.code != http.StatusServiceUnavailable || v.Error != "ledger_unavailable" || !strings.HasPrefix(v.MessageZH, reasonZH) {
				t.Errorf("line or checkout = %d %s, want 503 %q…", r.code, r.body, reasonZH)
			}
		}
		// The scan was decided and stays on the screen, without history.
		var sv session.View
		getJSON(t, api+"/api/session", &sv)
		if len(sv.Lines) != 1 || sv.Lines[0].Decision == "" {
			t.Errorf("session after a refused checkout = %+v, want the decided line", sv.Lines)
		}
		post(t, api+"/api/session/void", `{}`)
	}

	_, api, stop = runTill(t, cfg)
	q := quarantined()
	degraded(api, q, "账本损坏，已隔离")
	stop()

	// A restart quarantines nothing more and starts no ledger of its own.
	_, api, stop = runTill(t, cfg)
	if got := quarantined(); got != q {
		t.Errorf("quarantined file is now %s, want %s", got, q)
	}
	degraded(api, q, "账本已隔离")
	stop()

	// The operator's explicit start: a fresh chain; the quarantined file stays.
	cfg.AcceptNewLedger = true
	tl, api, stop := runTill(t, cfg)
	var st web.Status
	getJSON(t, api+"/api/status", &st)
	if a, ok := findAlarm(st, "ledger"); ok || st.Quarantined != "" {
		t.Errorf("fresh ledger: alarm %+v, quarantined %q: want neither", a, st.Quarantined)
	}
	if r := cashSale(t, api); r.code != http.StatusOK {
		t.Fatalf("sale on the fresh ledger = %d %s", r.code, r.body)
	}
	if tl.Ledger() == nil || tl.Ledger().Head() < 1 {
		t.Fatalf("fresh ledger head = %v", tl.Ledger())
	}
	if e, err := tl.Ledger().Get(1); err != nil || e.Seq != 1 {
		t.Errorf("fresh ledger seq 1 = %+v, %v", e, err)
	}
	stop()
	if b, err := os.ReadFile(q); err != nil || !bytes.Equal(b, damaged) {
		t.Errorf("quarantined file after a fresh start: %v, changed %v", err, !bytes.Equal(b, damaged))
	}
}
