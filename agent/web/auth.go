package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tillguard/tillguard/internal/password"
)

// protect asks for the owner's password when one is set (the interface
// is then reachable beyond this machine) on everything but /healthz, from
// every client but this machine's own: the cashier's screen on the till
// needs none (README, "Pages and JSON API"). The password is checked by internal/password,
// as the bureau's console checks its own: a client that gives
// password.MaxFailures wrong ones is locked out for password.Lockout
// (429), and only one bcrypt runs at a time, so guessers from many
// addresses queue behind each other instead of taking every core from
// the counter.
func (h *handler) protect(next http.Handler) http.Handler {
	if h.Password == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || password.Loopback(r.RemoteAddr) {
			next.ServeHTTP(w, r)
			return
		}
		// A request without credentials is no guess: a browser's first
		// request never has any.
		_, pw, ok := r.BasicAuth()
		if !ok {
			challenge(w)
			return
		}
		ok, wait, err := h.checkPassword(r, pw)
		switch {
		case err != nil: // the client went away while waiting its turn
			return
		case wait > 0:
			// Not logged: a locked-out client could fill the log.
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, fmt.Sprintf("密码错误次数过多，请 %d 秒后再试 / too many wrong passwords: try again in %d s", secs, secs))
		case !ok:
			h.Log.Warn("web: wrong owner password", "client", password.ClientKey(r.RemoteAddr))
			challenge(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// checkPassword runs the guard's check when no other check is running.
func (h *handler) checkPassword(r *http.Request, pw string) (ok bool, wait time.Duration, err error) {
	select {
	case h.bcrypt <- struct{}{}:
	case <-r.Context().Done():
		return false, 0, r.Context().Err()
	}
	defer func() { <-h.bcrypt }()
	ok, wait = h.Password.Check(r.RemoteAddr, pw)
	return ok, wait, nil
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="tillguard", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, "需要店主密码 / the owner's password is required")
}
