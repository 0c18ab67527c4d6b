package agent_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
)

// requestWith sends method url with body and the headers given ("Host"
// sets the Host header).
func requestWith(t *testing.T, method, url, body string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// TestTill_crossSiteRefused is the attack on a real till, turned
// around: a page on localhost:18555 posting lines and a checkout
// (no-cors, so text/plain, with the Origin and Sec-Fetch-Site a browser
// adds), the same as JSON, and a name rebound to the till, all refused;
// nothing is in the ledger or on the session.
func TestTill_crossSiteRefused(t *testing.T) {
	tl, api, _ := runTill(t, offlineTill(filepath.Join(t.TempDir(), "till"), 0))
	page := map[string]string{"Origin": "http://localhost:18555", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range page {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		name, path, body string
		hdr              map[string]string
		code             int
	}{
		{"no-cors lines", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, with(map[string]string{"Content-Type": "text/plain;charset=UTF-8"}), 403},
		{"no-cors checkout", "/api/session/checkout", `{"payment":"cash","cashier":"csrf"}`, with(map[string]string{"Content-Type": "text/plain;charset=UTF-8"}), 403},
		{"JSON from the page", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, with(map[string]string{"Content-Type": "application/json"}), 403},
		{"cross-site", "/api/session/checkout", `{"payment":"cash","cashier":"csrf"}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"text/plain, no browser headers", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"rebound name", "/api/session/lines", `{"barcode":"` + shampoo + `","qty":1}`, map[string]string{"Content-Type": "application/json", "Host": "rebind.attacker.example:" + strings.Split(tl.Addr(), ":")[1]}, 421},
	} {
		if r := requestWith(t, "POST", api+tt.path, tt.body, tt.hdr); r.code != tt.code {
			t.Errorf("%s: POST %s = %d %s, want %d", tt.name, tt.path, r.code, r.body, tt.code)
		}
	}
	for _, path := range []string{"/api/records", "/api/status", "/"} {
		if r := requestWith(t, "GET", api+path, "", map[string]string{"Host": "rebind.attacker.example"}); r.code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s for a rebound name = %d, want 421", path, r.code)
		}
	}
	if h := tl.Ledger().Head(); h != 0 {
		t.Errorf("ledger head %d after the attack, want nothing recorded", h)
	}
	var v session.View
	getJSON(t, api+"/api/session", &v)
	if len(v.Lines) != 0 {
		t.Errorf("session %+v after the attack, want empty", v.Lines)
	}
	// The till's own POS software still sells.
	if seq := sellCash(t, api, "c1"); seq == 0 {
		t.Error("no sale from the till itself")
	}
}
