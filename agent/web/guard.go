package web

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The till's API drives sales, so it must answer only the till's own
// screen and the POS software on this machine, never a page that the
// till's browser happens to open. Three checks see to it:
//
//   - Host: only the till's own address (and the names configured in
//     Deps.Hosts) is served. A page on a name the attacker controls that
//     resolves to this machine (DNS rebinding) carries its own name in
//     Host and gets 421.
//   - Cross-site: a state-changing request (anything but GET, HEAD and
//     OPTIONS) that a browser marks as coming from another site
//     (Sec-Fetch-Site), or whose Origin is not the till's own, gets 403.
//     A page on localhost:18555 is "same-site" to localhost:8080 — sites
//     ignore ports — so same-site is refused too.
//   - JSON only: a state-changing request must say Content-Type:
//     application/json, or it gets 415. A browser sends that type
//     cross-origin only after a CORS preflight, which the till never
//     grants, so a no-cors form or fetch (text/plain, form types) is
//     refused even by a browser that sends neither header above.

// guard applies the Host and cross-site checks to every request.
func (h *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		if !h.ownHost(r) {
			h.Log.Warn("web: request for another host refused", "host", r.Host, "client", r.RemoteAddr)
			writeError(w, http.StatusMisdirectedRequest, "请求的主机名不是本收银机 / host "+quoteHost(r.Host)+" is not this till's address")
			return
		}
		if unsafeMethod(r.Method) {
			if why := crossSite(r); why != "" {
				h.Log.Warn("web: cross-site request refused", "method", r.Method, "path", r.URL.Path, "why", why, "client", r.RemoteAddr)
				writeError(w, http.StatusForbidden, "拒绝来自其他网站的请求 / cross-site request refused: "+why)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// quoteHost keeps a hostile Host header short in the answer.
func quoteHost(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + s + `"`
}

// unsafeMethod reports whether a request of this method may change state.
func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// crossSite says why r comes from another site, or "" if it does not.
// A client that is no browser sends neither header and passes; it must
// still send JSON (needJSON).
func crossSite(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "cross-site", "same-site":
		return "Sec-Fetch-Site: " + site
	}
	origin := r.Header.Values("Origin")
	if len(origin) == 0 {
		return ""
	}
	if len(origin) > 1 {
		return "more than one Origin"
	}
	u, err := url.Parse(origin[0])
	// "null" (a sandboxed frame, a file, a redirect across origins) is
	// no origin of the till's.
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
		return "Origin " + quoteHost(origin[0])
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return "Origin " + quoteHost(origin[0]) + " is not this till's"
	}
	return ""
}

// needJSON refuses a state-changing request that is not JSON with 415.
func needJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "请求须为 JSON / want Content-Type: application/json")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ownHost reports whether r is addressed to this till: its Host is the
// address the connection came in on (a loopback one also as localhost,
// 127.0.0.1 or [::1]), or one of Deps.Hosts. An IP address is never a
// rebound name, but any other one could be. Without the connection's
// address (a handler called outside an http.Server) only Deps.Hosts pass.
func (h *handler) ownHost(r *http.Request) bool {
	host, port := splitHost(r.Host)
	if host == "" {
		return false
	}
	for _, n := range h.hosts {
		if n.host == host && (n.port == "" || n.port == port) {
			return true
		}
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lhost, lport, err := net.SplitHostPort(local.String())
	if err != nil || port != lport {
		return false
	}
	ip := net.ParseIP(lhost)
	if ip == nil {
		return false
	}
	if hip := net.ParseIP(host); hip != nil && hip.Equal(ip) {
		return true
	}
	if !ip.IsLoopback() {
		return false
	}
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// hostName is one of Deps.Hosts: a name, and a port or "" for any.
type hostName struct{ host, port string }

// CheckHost reports whether s can be one of Deps.Hosts: a name or an
// address, "till.shop.example" (any port) or "till.shop.example:8443".
func CheckHost(s string) error {
	_, err := parseHost(s)
	return err
}

func parseHost(s string) (hostName, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		h, p = s, ""
	}
	if _, err := strconv.ParseUint(p, 10, 16); p != "" && err != nil {
		return hostName{}, fmt.Errorf("web: host %q: bad port", s)
	}
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")), ".")
	if h == "" || strings.ContainsAny(h, "/ \\@[]") {
		return hostName{}, fmt.Errorf("web: host %q: want a name or an address, with a port or without", s)
	}
	return hostName{h, p}, nil
}

// splitHost splits a Host header into a lower-case host, without IPv6
// brackets or a trailing dot, and its port: "80" when none is given, as
// a browser leaves the default port out.
func splitHost(hostport string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, "80"
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if strings.ContainsAny(host, "/ \\@") {
		return "", ""
	}
	return strings.TrimSuffix(strings.ToLower(host), "."), port
}
