package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/feed"
)

// atTill makes req look as an http.Server hands it over when it came in
// on the connection to local: the connection's address in its context,
// and Host naming it, as a browser on the till sends it.
func atTill(req *http.Request, local string) *http.Request {
	addr, err := net.ResolveTCPAddr("tcp", local)
	if err != nil {
		panic(err)
	}
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, addr))
	req.Host = local
	return req
}

// send sends a request with the headers given, and returns the status and
// body.
func send(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestGuard_crossSite: a page on another origin cannot drive the till. A
// browser's no-cors POST (text/plain, Origin and Sec-Fetch-Site set), a
// form post, and a JSON post from another origin are all refused, and
// nothing reaches the ledger; the till's own screen and POS software on
// the till get through.
func TestGuard_crossSite(t *testing.T) {
	f := newFullServer(t, nil)
	own := f.srv.URL // http://127.0.0.1:port
	line := `{"barcode":"` + shampoo + `","qty":1}`
	tests := []struct {
		name string
		path string
		body string
		hdr  map[string]string
		code int
		want string
	}{
		{"no-cors from a page on another port", "/api/session/lines", line,
			map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://localhost:18555", "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}, 403, "Sec-Fetch-Site: same-site"},
		{"no-cors from another site", "/api/session/checkout", `{"payment":"cash","cashier":"csrf"}`,
			map[string]string{"Content-Type": "text/plain", "Origin": "https://attacker.example", "Sec-Fetch-Site": "cross-site"}, 403, "cross-site"},
		{"JSON from another origin, no fetch metadata", "/api/session/lines", line,
			map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:18555"}, 403, "is not this till's"},
		{"null origin", "/api/session/lines", line,
			map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403, "Origin"},
		{"text/plain without a browser's headers", "/api/session/lines", line,
			map[string]string{"Content-Type": "text/plain"}, 415, "application/json"},
		{"a form", "/api/session/lines", "barcode=" + shampoo + "&qty=1",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"a multipart form", "/api/session/void", "",
			map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415, "application/json"},
		{"no content type", "/api/session/void", "", nil, 415, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := send(t, "POST", own+tt.path, tt.body, tt.hdr)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("POST %s = %d %s, want %d containing %q", tt.path, code, body, tt.code, tt.want)
			}
			var e map[string]string
			if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == "" {
				t.Errorf("refusal %q is not a JSON error", body)
			}
		})
	}
	if h := f.led.Head(); h != 0 {
		t.Errorf("ledger head %d after refused requests, want nothing recorded", h)
	}
	if v := f.s.View(); len(v.Lines) != 0 {
		t.Errorf("session lines %+v after refused requests, want none", v.Lines)
	}

	// The till's own page, and POS software with no browser headers.
	for _, hdr := range []map[string]string{
		{"Content-Type": "application/json", "Origin": own, "Sec-Fetch-Site": "same-origin"},
		{"Content-Type": "application/json; charset=utf-8"},
	} {
		if code, body := send(t, "POST", own+"/api/session/lines", line, hdr); code != 200 {
			t.Errorf("POST lines with %v = %d %s, want 200", hdr, code, body)
		}
	}
	if f.led.Head() == 0 {
		t.Error("the till's own requests recorded nothing")
	}
	// GET needs no JSON and is not refused cross-site: it changes nothing,
	// and without CORS headers the page cannot read the answer.
	if code, _ := send(t, "GET", own+"/api/session", "", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != 200 {
		t.Errorf("cross-site GET = %d, want 200", code)
	}
}

func TestCrossSite_cases(t *testing.T) {
	for _, tt := range []struct {
		hdr     http.Header
		refused bool
	}{
		{http.Header{}, false},
		{http.Header{"Sec-Fetch-Site": {"same-origin"}}, false},
		{http.Header{"Sec-Fetch-Site": {"none"}}, false},
		{http.Header{"Sec-Fetch-Site": {"same-site"}}, true},
		{http.Header{"Sec-Fetch-Site": {"cross-site"}}, true},
		{http.Header{"Origin": {"http://127.0.0.1:8080"}}, false},
		{http.Header{"Origin": {"HTTP://127.0.0.1:8080"}}, false},
		{http.Header{"Origin": {"https://127.0.0.1:8080"}}, false}, // behind a TLS proxy that keeps Host
		{http.Header{"Origin": {"http://127.0.0.1:8081"}}, true},
		{http.Header{"Origin": {"http://127.0.0.1:8080", "http://127.0.0.1:8080"}}, true},
		{http.Header{"Origin": {"null"}}, true},
		{http.Header{"Origin": {"file://"}}, true},
		{http.Header{"Origin": {"http://127.0.0.1:8080/x"}}, true},
	} {
		r := httptest.NewRequest("POST", "/api/session/void", nil)
		r.Host = "127.0.0.1:8080"
		r.Header = tt.hdr
		if why := crossSite(r); (why != "") != tt.refused {
			t.Errorf("headers %v: refused %q, want refused %v", tt.hdr, why, tt.refused)
		}
	}
}

// TestGuard_host: only the till's own address, and the configured
// names, are served; a rebound name gets 421 on every path.
func TestGuard_host(t *testing.T) {
	cat, led := counter(t)
	h := mustNew(t, Deps{
		Session: session.New(session.Config{Pharmacy: "P1", Till: "T1", Catalog: cat, Ledger: led}),
		Status:  func() Status { return Status{} }, Records: led,
		Hosts: []string{"till.shop.example", "POS.shop.example.:8443"},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	p := strconv.Itoa(port)
	for _, tt := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + p, true},
		{"localhost:" + p, true},
		{"LocalHost:" + p, true},
		{"localhost.:" + p, true},
		{"[::1]:" + p, true}, // still this machine's loopback
		{"till.shop.example", true},
		{"till.shop.example:443", true},
		{"pos.shop.example:8443", true},
		{"pos.shop.example", false}, // configured with a port
		{"pos.shop.example:" + p, false},
		{"rebind.attacker.example", false},
		{"rebind.attacker.example:" + p, false},
		{"127.0.0.1:1", false},
		{"localhost", false},
		{"10.0.0.1:" + p, false},
		{"127.0.0.1@attacker.example:" + p, false},
	} {
		for _, path := range []string{"/api/records", "/", "/healthz"} {
			code, body := send(t, "GET", srv.URL+path, "", map[string]string{"Host": tt.host})
			if (code != http.StatusMisdirectedRequest) != tt.ok {
				t.Errorf("GET %s Host %q = %d %s, want served %v", path, tt.host, code, body, tt.ok)
			}
			if !tt.ok && !strings.Contains(body, `"error"`) {
				t.Errorf("GET %s Host %q: refusal %q is not JSON", path, tt.host, body)
			}
		}
	}
	// The till on the shop's network: its address there, but no other name
	// that resolves to it.
	r := atTill(httptest.NewRequest("GET", "/api/records", nil), "192.168.1.20:8080")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Errorf("Host = the shop-network address: %d %s", rec.Code, rec.Body)
	}
	r.Host = "localhost:8080" // not loopback: no browser here means this till
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("Host localhost on the shop-network address: %d, want 421", rec.Code)
	}

	for _, bad := range []string{"", "till/x", "till.example:port", "a b", "[::1]:99999"} {
		if _, err := New(Deps{Hosts: []string{bad}}); err == nil {
			t.Errorf("Hosts %q: New took it", bad)
		}
	}
}

// TestAuth_ownerPassword: with a password set, a client beyond this
// machine needs it for everything but /healthz; this machine's own
// clients (the till screen) need none.
func TestAuth_ownerPassword(t *testing.T) {
	g, _ := cheapGuard(t, "店主密码1234")
	f := newFullServer(t, g)
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
			req := atTill(httptest.NewRequest("GET", tt.path, nil), "192.168.1.20:8080")
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

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheapGuard guards pw hashed at bcrypt's lowest cost, on a clock the
// test moves.
func cheapGuard(t *testing.T, pw string) (*password.Guard, *testClock) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	g, err := password.NewGuard(h, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return g, clk
}

// TestAuth_lockout: after password.MaxFailures wrong passwords a client is
// locked out — 429 with Retry-After, even for the right password — while
// other clients are not; the lockout ends after password.Lockout.
func TestAuth_lockout(t *testing.T) {
	g, clk := cheapGuard(t, "店主密码1234")
	f := newFullServer(t, g)
	get := func(remote, pw string) *httptest.ResponseRecorder {
		req := atTill(httptest.NewRequest("GET", "/api/status", nil), "192.168.1.20:8080")
		req.RemoteAddr = remote
		req.SetBasicAuth("owner", pw)
		rec := httptest.NewRecorder()
		f.srv.Config.Handler.ServeHTTP(rec, req)
		return rec
	}
	const guesser, owner = "192.0.2.66:40000", "192.0.2.10:50000"
	for i := range password.MaxFailures {
		if rec := get(guesser, "guess"+strconv.Itoa(i)); rec.Code != 401 {
			t.Fatalf("guess %d = %d %s, want 401", i, rec.Code, rec.Body)
		}
	}
	for _, pw := range []string{"one guess more", "店主密码1234"} {
		rec := get(guesser, pw)
		secs, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if rec.Code != http.StatusTooManyRequests || err != nil || secs <= 0 || secs > int(password.Lockout/time.Second) {
			t.Fatalf("locked out, %q = %d Retry-After %q %s, want 429 within the lockout", pw, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if !strings.Contains(rec.Body.String(), "too many wrong passwords") {
			t.Errorf("lockout body %s", rec.Body)
		}
	}
	if rec := get(owner, "店主密码1234"); rec.Code != 200 {
		t.Errorf("another client with the password = %d, want 200", rec.Code)
	}
	clk.Add(password.Lockout)
	if rec := get(guesser, "店主密码1234"); rec.Code != 200 {
		t.Errorf("after the lockout, the password = %d, want 200", rec.Code)
	}
}

// TestAuth_oneCheckAtATime: password checks queue for the one bcrypt slot
// instead of running side by side: many guessers cannot take every core.
func TestAuth_oneCheckAtATime(t *testing.T) {
	g, _ := cheapGuard(t, "店主密码1234")
	hd, err := newHandler(Deps{Status: func() Status { return Status{} }, Password: g})
	if err != nil {
		t.Fatal(err)
	}
	hd.bcrypt <- struct{}{} // a check under way
	done := make(chan int)
	go func() {
		req := atTill(httptest.NewRequest("GET", "/api/status", nil), "192.168.1.20:8080")
		req.RemoteAddr = "192.0.2.7:1"
		req.SetBasicAuth("owner", "guess")
		rec := httptest.NewRecorder()
		hd.serve.ServeHTTP(rec, req)
		done <- rec.Code
	}()
	// Nothing to wait for: the test asserts that no answer comes while
	// the slot is taken, over a short while.
	select {
	case code := <-done:
		t.Fatalf("a check ran beside another: %d", code)
	case <-time.After(50 * time.Millisecond):
	}
	<-hd.bcrypt
	if code := <-done; code != 401 {
		t.Errorf("queued guess = %d, want 401", code)
	}
}

// TestAPI_blockedNotRecorded: while the ledger cannot write, a line whose
// blocked attempt cannot be recorded answers 503, saying so; the decision
// stays on the session.
func TestAPI_blockedNotRecorded(t *testing.T) {
	srv, s, led := newServer(t)
	led.fail = errors.New("no space left on device")
	code, body := do(t, "POST", srv.URL+"/api/session/lines", `{"barcode":"6900000000007","qty":1}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "blocked attempt was not recorded") {
		t.Errorf("blocked line on a failing ledger = %d %s, want 503 naming the unrecorded attempt", code, body)
	}
	if v := s.View(); len(v.Lines) != 1 || v.Lines[0].Decision == "allow" {
		t.Errorf("session %+v, want the blocked line kept", v.Lines)
	}
	// A prescription decides the basket again: the attempt not yet on
	// record is tried again, and refused again.
	if code, body := do(t, "POST", srv.URL+"/api/session/rx", `{"ref":"RX20260302A001"}`); code != http.StatusServiceUnavailable {
		t.Errorf("rx on a failing ledger with an unrecorded block = %d %s, want 503", code, body)
	}
	led.fail = nil
	if code, body := do(t, "POST", srv.URL+"/api/session/rx", `{"ref":"RX20260302A002"}`); code != 200 {
		t.Errorf("rx once the ledger writes = %d %s, want 200", code, body)
	}
	if len(led.recs) == 0 {
		t.Error("the blocked attempt was not recorded once the ledger could write")
	}
	if code, body := do(t, "POST", srv.URL+"/api/session/lines", `{"barcode":"6900000000014","qty":1}`); code != 200 {
		t.Errorf("blocked line on a sound ledger = %d %s, want 200", code, body)
	}
}

// TestAPI_notPersistedSays: a checkout the ledger refuses says what was
// not done, by payment; a cash sale's refusal says nothing of insurance.
func TestAPI_notPersistedSays(t *testing.T) {
	srv, s, led := newServer(t)
	s.CardRead(session.Card{Type: feed.CardSSC, No: "A12345678", Name: "王小明", Region: "330100"})
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: "6901234567892"})
	led.fail = errors.New("no space left on device")
	for _, tt := range []struct{ payment, want, not string }{
		{"cash", "the cash sale was not made", "insurance"},
		{"insurance", "the insurance sale was not made", "cash"},
		{"split", "the sale was not made", "insurance"},
	} {
		code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"`+tt.payment+`","cashier":"c1"}`)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, tt.want) || strings.Contains(body, tt.not) {
			t.Errorf("%s checkout on a failing ledger = %d %s, want 503 %q without %q", tt.payment, code, body, tt.want, tt.not)
		}
	}
	// The ledger's own reason, when it gives one, is what the cashier reads.
	led.fail = &session.Refusal{Reason: "磁盘空间不足，暂停医保销售 / low disk: no insurance sale"}
	if code, body := do(t, "POST", srv.URL+"/api/session/checkout", `{"payment":"insurance","cashier":"c1"}`); code != 503 || !strings.Contains(body, "low disk") {
		t.Errorf("refused checkout = %d %s, want the ledger's reason", code, body)
	}
}

// TestDecodeStrict: one JSON value, fields of v only, no key twice in an
// object in any case, at any depth.
func TestDecodeStrict(t *testing.T) {
	type inner struct {
		Qty int `json:"qty"`
	}
	type outer struct {
		Name  string  `json:"name"`
		Kelp  string  `json:"kelp"`
		Lines []inner `json:"lines"`
		Sub   *inner  `json:"sub"`
	}
	for _, tt := range []struct {
		body, err string
	}{
		{`{"name":"a","lines":[{"qty":1},{"qty":2}],"sub":{"qty":3}}`, ""},
		{`{"name":"a","NAME":"b"}`, "differ only in case"},
		{`{"name":"a","name":"b"}`, "given twice"},
		{`{"lines":[{"qty":1,"QTY":999}]}`, "differ only in case"},
		{`{"sub":{"qty":1,"Qty":2}}`, "differ only in case"},
		{`{"kelp":"a","\u212aelp":"b"}`, "differ only in case"}, // the Kelvin sign folds to k
		{"{\"kelp\":\"a\",\"\u212aelp\":\"b\"}", "differ only in case"},
		{`{"name":"a","lines":[],"Sub":null}`, ""}, // another case, once: encoding/json's match
		{`{"name":"a"} {}`, "trailing"},
		{`{"name":"a"}]`, "trailing"},
		{`{"name":"a","tip":1}`, "unknown field"},
		{`{"name":`, "unexpected EOF"},
		{`{"sub":{"qty":"x"}}`, "cannot unmarshal"},
	} {
		var v outer
		err := decodeStrict([]byte(tt.body), &v)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("decode %s = %v, want %q", tt.body, err, tt.err)
		}
	}
}
