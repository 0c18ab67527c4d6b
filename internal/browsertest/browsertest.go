// Package browsertest drives Debian's chromium headless for the tests of
// tillguard's pages (the till's screen, dashboard and report; the bureau's
// console). Without chromium a test skips, unless TILLGUARD_REQUIRE_BROWSER
// is set (as `make test` and `make screenshots` do, after `make deps`
// installed it); TILLGUARD_SCREENSHOTS=DIR writes PNGs of pages there.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	EnvRequire     = "TILLGUARD_REQUIRE_BROWSER"
	EnvScreenshots = "TILLGUARD_SCREENSHOTS"
)

// Wait bounds each wait for a page; generous for a loaded 2-core machine.
const Wait = 30 * time.Second

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("chromium not found, and %s is set: `make deps` installs it (apt-get install chromium)", EnvRequire)
	}
	t.Skipf("chromium not found: skipping the browser test (`make deps` installs it; set %s=1 to fail instead)", EnvRequire)
	return ""
}

// Start starts a headless chromium with a w×h window for the test and stops
// it after.
func Start(t *testing.T, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests may run as root in a container
		chromedp.WindowSize(w, h),
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

// WaitJS waits until the JavaScript expression is truthy on the page.
func WaitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(Wait)))
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, text)
	}
}

// Eval evaluates expr on the page.
func Eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Navigate opens url in a w×h viewport.
func Navigate(t *testing.T, ctx context.Context, url string, w, h int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// Screenshot writes the page (the whole of it if full) as name.png into
// $TILLGUARD_SCREENSHOTS, if set.
func Screenshot(t *testing.T, ctx context.Context, name string, full bool) {
	t.Helper()
	dir := os.Getenv(EnvScreenshots)
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
