package console_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/console"
)

// cheapHash is a bcrypt hash at the lowest cost: tests check many.
func cheapHash(t *testing.T, pw string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func basic(user, pw string) func(r *http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

func TestAccess_noPasswordLoopbackOnly(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	for _, addr := range []string{"127.0.0.1:1234", "127.9.8.7:1", "[::1]:8090"} {
		if res := do(t, h, "GET", "/api/tills", addr, nil); res.code != 200 {
			t.Errorf("loopback %s: %d", addr, res.code)
		}
	}
	for _, addr := range []string{"10.0.0.5:1234", "[2001:db8::1]:80", "192.168.1.1:80", "garbage"} {
		for _, url := range []string{"/", "/api/tills", "/api/records?pharmacy=P1&till=T1", "/static/console.css", "/nope"} {
			wantError(t, do(t, h, "GET", url, addr, nil), http.StatusForbidden, "loopback_only")
		}
		if res := do(t, h, "GET", "/healthz", addr, nil); res.code != 200 {
			t.Errorf("healthz from %s: %d", addr, res.code)
		}
	}
}

func TestAccess_password(t *testing.T) {
	w := newWorld(t)
	h := w.handler(&console.Opts{Password: cheapHash(t, "correct horse")})
	tests := []struct {
		name string
		addr string
		auth func(*http.Request)
		code int
		err  string
	}{
		{"no credential, even from loopback", "127.0.0.1:1", nil, 401, "unauthorized"},
		{"no credential, remote", "10.1.1.1:1", nil, 401, "unauthorized"},
		{"wrong password", "10.1.1.2:1", basic("analyst", "wrong horse"), 401, "unauthorized"},
		{"right password, remote", "10.1.1.3:1", basic("analyst", "correct horse"), 200, ""},
		{"any user name", "10.1.1.3:1", basic("", "correct horse"), 200, ""},
		{"right password, loopback", "[::1]:1", basic("x", "correct horse"), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, h, "GET", "/api/tills", tt.addr, tt.auth)
			if tt.err != "" {
				wantError(t, res, tt.code, tt.err)
				if res.hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate: a browser would not ask")
				}
			} else if res.code != tt.code {
				t.Errorf("%d %s, want %d", res.code, res.body, tt.code)
			}
		})
	}
	if res := do(t, h, "GET", "/healthz", "10.9.9.9:1", nil); res.code != 200 {
		t.Errorf("healthz needs no credential: %d", res.code)
	}
	if res := do(t, h, "GET", "/", "10.1.1.3:1", basic("", "correct horse")); res.code != 200 {
		t.Errorf("page with the password: %d", res.code)
	}
}

func TestAccess_lockout(t *testing.T) {
	w := newWorld(t)
	h := w.handler(&console.Opts{Password: cheapHash(t, "correct horse")})
	const guesser, other = "10.2.2.2:5000", "10.3.3.3:5000"
	for i := range password.MaxFailures {
		wantError(t, do(t, h, "GET", "/api/tills", guesser, basic("", "guess"+strconv.Itoa(i))), 401, "unauthorized")
	}
	// The next attempt is refused without a check, the right password too.
	for _, pw := range []string{"guess", "correct horse"} {
		res := do(t, h, "GET", "/api/tills", guesser, basic("", pw))
		wantError(t, res, http.StatusTooManyRequests, "locked_out")
		if s, err := strconv.Atoi(res.hdr.Get("Retry-After")); err != nil || s <= 0 || s > int(password.Lockout/time.Second) {
			t.Errorf("Retry-After %q", res.hdr.Get("Retry-After"))
		}
	}
	// Another port of the same host is the same client; another host is not.
	wantError(t, do(t, h, "GET", "/api/tills", "10.2.2.2:6000", basic("", "correct horse")), 429, "locked_out")
	if res := do(t, h, "GET", "/api/tills", other, basic("", "correct horse")); res.code != 200 {
		t.Errorf("another client: %d", res.code)
	}
	w.clk.Add(password.Lockout)
	if res := do(t, h, "GET", "/api/tills", guesser, basic("", "correct horse")); res.code != 200 {
		t.Errorf("after the lockout: %d %s", res.code, res.body)
	}
}

func TestAccess_badHashFailsClosed(t *testing.T) {
	w := newWorld(t)
	h := w.handler(&console.Opts{Password: []byte("not a hash")})
	for _, addr := range []string{"127.0.0.1:1", "10.0.0.1:1"} {
		wantError(t, do(t, h, "GET", "/api/tills", addr, basic("", "not a hash")), 500, "auth_misconfigured")
	}
	if res := get(t, h, "/healthz"); res.code != 200 {
		t.Errorf("healthz %d", res.code)
	}
	if err := console.CheckPassword([]byte("not a hash")); err == nil {
		t.Error("CheckPassword accepts a bad hash")
	}
}

func TestHashPassword(t *testing.T) {
	if _, err := console.HashPassword("short"); err == nil {
		t.Error("a 5-character password is accepted")
	}
	h, err := console.HashPassword("long enough")
	if err != nil {
		t.Fatal(err)
	}
	if err := console.CheckPassword(h); err != nil {
		t.Fatalf("CheckPassword of HashPassword's hash: %v", err)
	}
	w := newWorld(t)
	if res := do(t, w.handler(&console.Opts{Password: h}), "GET", "/api/tills", "10.0.0.1:1", basic("", "long enough")); res.code != 200 {
		t.Errorf("with HashPassword's hash: %d", res.code)
	}
}
