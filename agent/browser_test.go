package agent_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tillguard/tillguard/drivers/sim"
)

// The browser tests drive Debian's chromium headless against a real till:
// the simulator's card reader and scanner on ptys, the agent, its pages.
// Without chromium they skip, unless TILLGUARD_REQUIRE_BROWSER is set (as
// `make test` and `make screenshots` do, after `make deps` installed it).
// TILLGUARD_SCREENSHOTS=DIR writes a PNG of each page there.
const (
	envRequireBrowser = "TILLGUARD_REQUIRE_BROWSER"
	envScreenshots    = "TILLGUARD_SCREENSHOTS"
)

// browserWait bounds each wait for the page; generous for a loaded
// 2-core machine.
const browserWait = 30 * time.Second

// tillDisplay is a small till display's size (SPEC.md §5: "works on a small
// till display").
const tillDisplayW, tillDisplayH = 800, 480

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
	t.Skipf("chromium not found: skipping the browser tests (`make deps` installs it; set %s=1 to fail instead)", envRequireBrowser)
	return ""
}

// browser starts a headless chromium for the test and stops it after.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests may run as root in a container
		chromedp.WindowSize(tillDisplayW, tillDisplayH),
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
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, expr, err, html)
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

func navigate(t *testing.T, ctx context.Context, url string, w, h int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// screenshot writes the page as name.png into $TILLGUARD_SCREENSHOTS, if set.
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

// TestBrowser_blockedShampoo follows one blocked attempt through the three
// pages: on /till a card read and a blocked shampoo appear while the page
// stays loaded (pushed over /api/events), masked and in Chinese; the
// dashboard counts it under non_drug; today's report lists it.
func TestBrowser_blockedShampoo(t *testing.T) {
	ctx := browser(t)
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	start := time.Now()

	// The till screen, on a small till display.
	navigate(t, ctx, d.api+"/till", tillDisplayW, tillDisplayH)
	waitJS(t, ctx, "the live connection", `document.querySelector("#live.connected") !== null`)
	waitJS(t, ctx, "both devices shown connected", `document.querySelector("#dev-card.connected") !== null && document.querySelector("#dev-scanner.connected") !== null`)
	// Anything set now is gone if the page reloads.
	evalJS[chromedp.Void](t, ctx, `window.tillguardNoReload = true`)

	d.sim.Insert(sim.DemoHolders()[0]) // 王小明, A00000001
	waitJS(t, ctx, "the card holder", `document.getElementById("card").textContent.includes("王**")`)
	if card := evalJS[string](t, ctx, `document.getElementById("card").textContent`); !strings.Contains(card, "A0000****") || strings.Contains(card, "王小明") || strings.Contains(card, "A00000001") {
		t.Errorf("card shown as %q, want the masked name and number only", card)
	}

	if err := d.sim.Scan("]E0" + shampoo); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the blocked shampoo", `document.querySelector('#lines li.line.block[data-rule="non_drug"]') !== null`)
	line := evalJS[string](t, ctx, `document.querySelector('#lines li.line.block[data-rule="non_drug"]').innerText`)
	for _, want := range []string{"✘", "洗发水", "非药品", "insurance cannot pay"} {
		if !strings.Contains(line, want) {
			t.Errorf("blocked line reads %q, want %q in it", line, want)
		}
	}
	if !evalJS[bool](t, ctx, `window.tillguardNoReload === true`) {
		t.Error("the till screen reloaded: updates must be pushed")
	}
	// The shampoo is paid in cash: insurance pays nothing of it.
	if ins, cash := evalJS[string](t, ctx, `document.getElementById("t-ins").textContent`), evalJS[string](t, ctx, `document.getElementById("t-cash").textContent`); ins != "¥0.00" || cash != "¥59.90" {
		t.Errorf("totals insurance %s cash %s, want ¥0.00 and ¥59.90", ins, cash)
	}

	// A prescription drug without a prescription waits for the pharmacist,
	// and an over-the-counter drug scanned by its traceability code goes
	// through.
	for _, code := range []string{"]C0" + metforminBox, "]C0" + ibuprofenBox} {
		if err := d.sim.Scan(code); err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, ctx, "three lines", `document.querySelectorAll("#lines li.line").length === 3`)
	waitJS(t, ctx, "the held line awaiting the pharmacist", `!document.getElementById("held").hidden && document.querySelector("#lines li.line.hold") !== null`)
	waitJS(t, ctx, "the allowed line", `document.querySelector("#lines li.line.allow .mark").textContent === "✔"`)
	// Usable at 800×480: nothing wider than the screen, the totals on it.
	if fits := evalJS[bool](t, ctx, `document.documentElement.scrollWidth <= innerWidth && document.querySelector(".totals").getBoundingClientRect().bottom <= innerHeight`); !fits {
		t.Errorf("the till screen does not fit %d×%d", tillDisplayW, tillDisplayH)
	}
	screenshot(t, ctx, "till", false)
	t.Logf("till screen: %s", time.Since(start).Round(time.Millisecond))

	// The owner's dashboard: today's chart and the period's table.
	navigate(t, ctx, d.api+"/", 1280, 900)
	waitJS(t, ctx, "non_drug in today's chart", `document.querySelector('svg.chart g[data-rule="non_drug"]') !== null`)
	if n := evalJS[string](t, ctx, `document.querySelector('#period-rules tr[data-rule="non_drug"] td:nth-child(2)').textContent`); n != "1" {
		t.Errorf("dashboard: non_drug blocks = %q, want 1", n)
	}
	if n := evalJS[string](t, ctx, `document.getElementById("today-attempts").textContent`); n == "0" {
		t.Error("dashboard: no attempts today, want the blocked shampoo")
	}
	screenshot(t, ctx, "dashboard", true)

	// Today's self-inspection report.
	navigate(t, ctx, d.api+"/report", 1100, 900)
	waitJS(t, ctx, "the report's rule table", `document.querySelector('#rules tr[data-rule="non_drug"]') !== null`)
	if got := evalJS[string](t, ctx, `document.getElementById("period").textContent`); !strings.Contains(got, time.Now().Format("2006-01-02")) {
		t.Errorf("report period = %q, want today", got)
	}
	if n := evalJS[string](t, ctx, `document.querySelector('#rules tr[data-rule="non_drug"] td:last-child').textContent`); n != "1" {
		t.Errorf("report: non_drug total = %q, want 1", n)
	}
	screenshot(t, ctx, "report", true)
	t.Logf("all three pages: %s", time.Since(start).Round(time.Millisecond))
}

// ibuprofenBox is a traceability code of one box of ibuprofen (trace prefix
// 8103317 in testdata/catalog.csv): over the counter, always allowed.
const ibuprofenBox = "81033170000000000019"
