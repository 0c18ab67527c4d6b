package console_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tillguard/tillguard/sync/feed"
)

// The browser test drives Debian's chromium headless against the console
// over a real store, as agent/browser_test.go does the till's pages.
// Without chromium it skips, unless TILLGUARD_REQUIRE_BROWSER is set.
// TILLGUARD_SCREENSHOTS=DIR writes PNGs of the page there.
const (
	envRequireBrowser = "TILLGUARD_REQUIRE_BROWSER"
	envScreenshots    = "TILLGUARD_SCREENSHOTS"
)

// browserWait bounds each wait for the page; generous for a loaded
// 2-core machine.
const browserWait = 30 * time.Second

// An analyst's screen.
const screenW, screenH = 1280, 800

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envRequireBrowser) != "" {
		t.Fatalf("chromium not found, and %s is set: `make deps` installs it (apt-get install chromium)", envRequireBrowser)
	}
	t.Skipf("chromium not found: skipping the browser test (`make deps` installs it; set %s=1 to fail instead)", envRequireBrowser)
	return ""
}

func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests may run as root in a container
		chromedp.WindowSize(screenW, screenH),
		chromedp.Flag("lang", "zh-CN"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitJS waits until the JavaScript expression is truthy on the page.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	dir := os.Getenv(envScreenshots)
	if dir == "" {
		return
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100) // 100 = PNG
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// TestBrowser_console loads the console in Chromium: a till behind its
// announced head, and an alarm with the records it concerns.
func TestBrowser_console(t *testing.T) {
	ctx := browser(t)
	w := newWorld(t)
	srv := httptest.NewServer(w.handler(nil)) // loopback: no password needed
	t.Cleanup(srv.Close)

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	waitJS(t, ctx, "the tills", `document.querySelector('#tills tr[data-till="P1/T1"]') !== null`)

	// P1/T1 announced head 10 and has 4 stored: 6 behind, shown as late.
	row := evalJS[[]string](t, ctx, `Array.from(document.querySelectorAll('#tills tr[data-till="P1/T1"] td')).map(td => td.innerText.trim())`)
	if len(row) < 6 || !strings.Contains(row[1], "在线") || row[2] != "4" || row[3] != "10" || row[4] != "6" || row[5] != "0" {
		t.Errorf("P1/T1 row %q, want online, watermark 4, head 10, 6 behind, 0 waiting", row)
	}
	if bg := evalJS[string](t, ctx, `getComputedStyle(document.querySelector('#tills tr[data-till="P1/T1"]')).backgroundColor`); bg == "rgba(0, 0, 0, 0)" {
		t.Error("the till behind does not stand out")
	}
	if n := evalJS[string](t, ctx, `document.getElementById("n-late").innerText`); n != "2" {
		t.Errorf("behind count %q, want 2 (P1/T1 behind, P3/T1 waiting)", n)
	}

	// The trace_dup_cross alarm names both sales, each a link to its record.
	alarm := `document.querySelector('#alarms .alarm[data-kind="trace_dup_cross"]')`
	waitJS(t, ctx, "the trace alarm", alarm+` !== null`)
	text := evalJS[string](t, ctx, alarm+`.innerText`)
	for _, want := range []string{"追溯码跨店重复销售", "P2/T2 #1", "P1/T1 #1", traceA, "维生素C片", feed.MaskCardNo(cardNo), feed.MaskName(holder)} {
		if !strings.Contains(text, want) {
			t.Errorf("alarm reads %q, want %q in it", text, want)
		}
	}
	if strings.Contains(text, cardNo) || strings.Contains(text, holder) {
		t.Errorf("alarm shows the card number or name whole: %q", text)
	}
	links := evalJS[[]string](t, ctx, alarm+`.querySelectorAll('.evidence a').length ? Array.from(`+alarm+`.querySelectorAll('.evidence a')).map(a => a.getAttribute('href')) : []`)
	want := []string{
		"/api/records?pharmacy=P2&till=T2&from_seq=1&limit=1",
		"/api/records?pharmacy=P1&till=T1&from_seq=1&limit=1",
	}
	if strings.Join(links, " ") != strings.Join(want, " ") {
		t.Errorf("evidence links %q, want %q", links, want)
	}
	// Blocked attempts with the rules' titles.
	if got := evalJS[string](t, ctx, `document.querySelector('#blocked tr[data-rule="non_drug"]').innerText`); !strings.Contains(got, "非药品不得医保支付") || !strings.Contains(got, "2") {
		t.Errorf("non_drug row %q", got)
	}
	// Nothing overflows the screen's width.
	if sw := evalJS[float64](t, ctx, `document.documentElement.scrollWidth`); sw > screenW {
		t.Errorf("page is %v px wide at %d", sw, screenW)
	}
	screenshot(t, ctx, "console", false)
	screenshot(t, ctx, "console-full", true)

	// A search by card, through the form.
	sctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	// WaitVisible, unlike a poll, outlives the navigation the form makes.
	if err := chromedp.Do(sctx,
		chromedp.SendKeys(chromedp.CSS(`form.search input[name="card"]`), cardNo),
		chromedp.Submit(chromedp.CSS(`form.search input[name="card"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#hits`)),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	if got := evalJS[int](t, ctx, `document.querySelectorAll('#hits tr').length`); got != 6 {
		t.Errorf("%d rows in the hits, want a header and 5 lines", got)
	}
	if url := evalJS[string](t, ctx, `location.href`); strings.Contains(url, cardNo) {
		t.Errorf("the card number is in the URL: %s", url)
	}
	screenshot(t, ctx, "console-search", true)
}
