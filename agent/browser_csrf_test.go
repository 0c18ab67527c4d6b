package agent_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/internal/browsertest"
)

// syncBuffer is a log the till writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// attackPage posts to the till from another origin as the page
// did: no-cors fetches (the browser sends them as text/plain, with Origin
// and Sec-Fetch-Site), and a JSON fetch, which needs a preflight the till
// never grants.
const attackPage = `<!doctype html><title>shop offers</title><script>
(async () => {
  const till = %q;
  const noCors = b => ({method: "POST", mode: "no-cors", body: JSON.stringify(b)});
  for (const [path, body] of [["/api/session/lines", {barcode: %q, qty: 1}], ["/api/session/checkout", {payment: "cash", cashier: "csrf"}]]) {
    try { await fetch(till + path, noCors(body)); } catch (e) {}
  }
  try {
    await fetch(till + "/api/session/lines", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({barcode: %q, qty: 1})});
  } catch (e) {}
  document.title = "done";
})();
</script>`

// TestBrowser_crossSitePageCannotSell opens a page on another localhost
// port in a real browser; its posts reach the till and are refused, and
// nothing is in the ledger. The till's own screen, in the same browser,
// still goes live.
func TestBrowser_crossSitePageCannotSell(t *testing.T) {
	ctx := browsertest.Start(t, tillDisplayW, tillDisplayH)
	logs := &syncBuffer{}
	cfg := offlineTill(filepath.Join(t.TempDir(), "till"), 0)
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tl, _, _ := runTill(t, cfg)
	_, port, _ := strings.Cut(tl.Addr(), ":")
	till := "http://localhost:" + port // same site as the page: sites ignore ports

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, attackPage, till, shampoo, shampoo)
	}))
	t.Cleanup(evil.Close)
	_, evilPort, _ := strings.Cut(evil.Listener.Addr().String(), ":")
	browsertest.Navigate(t, ctx, "http://localhost:"+evilPort+"/", 800, 600)
	browsertest.WaitJS(t, ctx, "the page's posts", `document.title === "done"`)
	// The no-cors posts reached the till and were refused there.
	waitUntil(t, "the till refusing both posts", func() bool {
		return strings.Count(logs.String(), "cross-site request refused") >= 2
	})
	if h := tl.Ledger().Head(); h != 0 {
		t.Errorf("ledger head %d after the page's posts, want nothing recorded\n%s", h, logs)
	}
	var v session.View
	getJSON(t, "http://"+tl.Addr()+"/api/session", &v)
	if len(v.Lines) != 0 {
		t.Errorf("session %+v after the page's posts, want empty", v.Lines)
	}

	browsertest.Navigate(t, ctx, till+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "the till screen's live connection", `document.querySelector("#live.connected") !== null`)
}
