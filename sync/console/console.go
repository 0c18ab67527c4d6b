package console

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/archive"
)

//go:embed assets
var assets embed.FS

// Opts configures the console. A nil *Opts means defaults: no password
// (loopback clients only), no receiver, logs discarded, time.Now.
type Opts struct {
	// Password is the bcrypt hash of the analysts' password
	// (HashPassword). With one, every path but /healthz needs it.
	Password []byte
	// Receiver returns the receiving process's own counters, served as
	// JSON at /api/receiver and shown on the page; nil when no receiver
	// runs in this process.
	Receiver func() any
	Log      *slog.Logger
	// Now is the clock: default periods, and the zone dates are read and
	// times shown in.
	Now func() time.Time
}

// HashPassword hashes the analysts' password for Opts.Password.
func HashPassword(pw string) ([]byte, error) { return password.Hash(pw) }

// CheckPassword reports whether hash can be Opts.Password, so a command
// can refuse a bad one at start rather than serve nothing.
func CheckPassword(hash []byte) error {
	_, err := password.NewGuard(hash, nil)
	return err
}

type server struct {
	st       archive.Store
	receiver func() any
	log      *slog.Logger
	now      func() time.Time

	guard   *password.Guard // nil: no password, loopback only
	badHash bool            // a password was given that is no hash: fail closed
	page    *template.Template
}

// New serves st's API and console page (see the package doc).
func New(st archive.Store, opts *Opts) http.Handler {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &server{st: st, receiver: o.Receiver, log: o.Log, now: o.Now, page: pageTemplate()}
	if o.Password != nil {
		g, err := password.NewGuard(o.Password, o.Now)
		if err != nil {
			s.log.Error("console: password: serving nothing but /healthz", "err", err)
			s.badHash = true
		}
		s.guard = g
	}

	mux := http.NewServeMux()
	mux.Handle("/healthz", only(http.HandlerFunc(healthz)))
	mux.Handle("/api/tills", only(http.HandlerFunc(s.apiTills)))
	mux.Handle("/api/records", only(http.HandlerFunc(s.apiRecords)))
	mux.Handle("/api/alarms", only(http.HandlerFunc(s.apiAlarms)))
	mux.Handle("/api/blocked", only(http.HandlerFunc(s.apiBlocked)))
	mux.Handle("/api/search", only(http.HandlerFunc(s.apiSearch)))
	mux.Handle("/api/receiver", only(http.HandlerFunc(s.apiReceiver)))
	mux.Handle("/static/console.css", only(http.HandlerFunc(css)))
	mux.Handle("/{$}", only(http.HandlerFunc(s.console), http.MethodPost))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) }))
	return headers(s.access(mux))
}

// only serves GET and HEAD, and the methods listed; anything else is 405.
// (Method patterns would have the mux answer 405 in plain text.)
func only(h http.Handler, also ...string) http.Handler {
	allow := "GET, HEAD"
	for _, m := range also {
		allow += ", " + m
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := r.Method == http.MethodGet || r.Method == http.MethodHead
		for _, m := range also {
			ok = ok || r.Method == m
		}
		if !ok {
			w.Header().Set("Allow", allow)
			writeError(w, errMethod)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// headers sets what every answer carries: records and searches hold
// personal data, so nothing is cached and no URL (a search's card number)
// leaves in a Referer; the page runs no script and is never framed.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

// access lets a request through when its client may be served (package
// doc, Access).
func (s *server) access(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
		case s.badHash:
			writeError(w, errAuthConfig)
			return
		case s.guard == nil:
			if !password.Loopback(r.RemoteAddr) {
				writeError(w, errLoopbackOnly)
				return
			}
		default:
			// A request without credentials is no guess: a browser's
			// first request never has any.
			_, pw, ok := r.BasicAuth()
			if !ok {
				writeError(w, errUnauthorized)
				return
			}
			ok, wait := s.guard.Check(r.RemoteAddr, pw)
			if wait > 0 {
				// Not logged: a locked-out client could fill the log.
				writeLockedOut(w, wait)
				return
			}
			if !ok {
				// At most password.MaxFailures a lockout per client.
				s.log.Warn("console: wrong password", "client", password.ClientKey(r.RemoteAddr))
				writeError(w, errUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func css(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("assets/console.css")
	if err != nil {
		writeError(w, errInternal)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}
