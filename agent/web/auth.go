package web

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLen is the shortest owner's password accepted, in characters.
const MinPasswordLen = 8

// ErrPassword: a password that cannot be set (too short or too long).
var ErrPassword = errors.New("web: unusable password")

// HashPassword hashes the owner's password for storage (bcrypt).
func HashPassword(pw string) ([]byte, error) {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return nil, fmt.Errorf("%w: want at least %d characters", ErrPassword, MinPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		// bcrypt refuses more than 72 bytes rather than cutting them off.
		return nil, fmt.Errorf("%w: %w", ErrPassword, err)
	}
	return h, nil
}

// Auth checks HTTP basic credentials against the owner's password hash.
// The user name is not checked: there is one account, the owner's.
type Auth struct {
	hash []byte

	mu   sync.Mutex
	good map[[32]byte]bool // passwords already verified: bcrypt costs ~50 ms per check
}

// NewAuth checks against a hash made by HashPassword.
func NewAuth(hash []byte) (*Auth, error) {
	if _, err := bcrypt.Cost(hash); err != nil {
		return nil, fmt.Errorf("web: password hash: %w", err)
	}
	return &Auth{hash: hash, good: map[[32]byte]bool{}}, nil
}

// maxGood bounds the cache of verified passwords; the owner has one.
const maxGood = 8

// Check reports whether pw is the owner's password.
func (a *Auth) Check(pw string) bool {
	k := sha256.Sum256([]byte(pw))
	a.mu.Lock()
	ok := a.good[k]
	a.mu.Unlock()
	if ok {
		return true
	}
	if bcrypt.CompareHashAndPassword(a.hash, []byte(pw)) != nil {
		return false
	}
	a.mu.Lock()
	if len(a.good) >= maxGood {
		clear(a.good)
	}
	a.good[k] = true
	a.mu.Unlock()
	return true
}

// protect asks for the owner's password when an Auth is set (the
// interface is then reachable beyond this machine) on everything but
// /healthz, from every client but this machine's own: the cashier's screen
// on the till needs none (SPEC.md §5).
func (h *handler) protect(next http.Handler) http.Handler {
	if h.Auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || fromLoopback(r) {
			next.ServeHTTP(w, r)
			return
		}
		if _, pw, ok := r.BasicAuth(); ok && h.Auth.Check(pw) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="tillguard", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "需要店主密码 / the owner's password is required")
	})
}

// fromLoopback reports whether the request comes from this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
