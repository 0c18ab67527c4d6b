package console_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tillguard/tillguard/internal/browsertest"
	"github.com/tillguard/tillguard/sync/feed"
)

// An analyst's screen.
const screenW, screenH = 1280, 800

// TestBrowser_console loads the console in Chromium: a till behind its
// announced head, and an alarm with the records it concerns.
func TestBrowser_console(t *testing.T) {
	ctx := browsertest.Start(t, screenW, screenH)
	w := newWorld(t)
	srv := httptest.NewServer(w.handler(nil)) // loopback: no password needed
	t.Cleanup(srv.Close)

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(screenW, screenH), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("open the console: %v", err)
	}
	browsertest.WaitJS(t, ctx, "the tills", `document.querySelector('#tills tr[data-till="P1/T1"]') !== null`)

	// P1/T1 announced head 10 and has 4 stored: 6 behind, shown as late.
	row := browsertest.Eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#tills tr[data-till="P1/T1"] td')).map(td => td.innerText.trim())`)
	if len(row) < 6 || !strings.Contains(row[1], "在线") || row[2] != "4" || row[3] != "10" || row[4] != "6" || row[5] != "0" {
		t.Errorf("P1/T1 row %q, want online, watermark 4, head 10, 6 behind, 0 waiting", row)
	}
	if bg := browsertest.Eval[string](t, ctx, `getComputedStyle(document.querySelector('#tills tr[data-till="P1/T1"]')).backgroundColor`); bg == "rgba(0, 0, 0, 0)" {
		t.Error("the till behind does not stand out")
	}
	if n := browsertest.Eval[string](t, ctx, `document.getElementById("n-late").innerText`); n != "2" {
		t.Errorf("behind count %q, want 2 (P1/T1 behind, P3/T1 waiting)", n)
	}

	// The trace_dup_cross alarm names both sales, each a link to its record.
	alarm := `document.querySelector('#alarms .alarm[data-kind="trace_dup_cross"]')`
	browsertest.WaitJS(t, ctx, "the trace alarm", alarm+` !== null`)
	text := browsertest.Eval[string](t, ctx, alarm+`.innerText`)
	for _, want := range []string{"追溯码跨店重复销售", "P2/T2 #1", "P1/T1 #1", traceA, "维生素C片", feed.MaskCardNo(cardNo), feed.MaskName(holder)} {
		if !strings.Contains(text, want) {
			t.Errorf("alarm reads %q, want %q in it", text, want)
		}
	}
	if strings.Contains(text, cardNo) || strings.Contains(text, holder) {
		t.Errorf("alarm shows the card number or name whole: %q", text)
	}
	links := browsertest.Eval[[]string](t, ctx, alarm+`.querySelectorAll('.evidence a').length ? Array.from(`+alarm+`.querySelectorAll('.evidence a')).map(a => a.getAttribute('href')) : []`)
	want := []string{
		"/api/records?pharmacy=P2&till=T2&from_seq=1&limit=1",
		"/api/records?pharmacy=P1&till=T1&from_seq=1&limit=1",
	}
	if strings.Join(links, " ") != strings.Join(want, " ") {
		t.Errorf("evidence links %q, want %q", links, want)
	}
	// Blocked attempts with the rules' titles.
	if got := browsertest.Eval[string](t, ctx, `document.querySelector('#blocked tr[data-rule="non_drug"]').innerText`); !strings.Contains(got, "非药品不得医保支付") || !strings.Contains(got, "2") {
		t.Errorf("non_drug row %q", got)
	}
	// Nothing overflows the screen's width.
	if sw := browsertest.Eval[float64](t, ctx, `document.documentElement.scrollWidth`); sw > screenW {
		t.Errorf("page is %v px wide at %d", sw, screenW)
	}
	browsertest.Screenshot(t, ctx, "console", false)
	browsertest.Screenshot(t, ctx, "console-full", true)

	// A search by card, through the form.
	sctx, cancel := context.WithTimeout(ctx, browsertest.Wait)
	defer cancel()
	// WaitVisible, unlike a poll, outlives the navigation the form makes.
	if err := chromedp.Do(sctx,
		chromedp.SendKeys(chromedp.CSS(`form.search input[name="card"]`), cardNo),
		chromedp.Submit(chromedp.CSS(`form.search input[name="card"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#hits`)),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	if got := browsertest.Eval[int](t, ctx, `document.querySelectorAll('#hits tr').length`); got != 6 {
		t.Errorf("%d rows in the hits, want a header and 5 lines", got)
	}
	if url := browsertest.Eval[string](t, ctx, `location.href`); strings.Contains(url, cardNo) {
		t.Errorf("the card number is in the URL: %s", url)
	}
	browsertest.Screenshot(t, ctx, "console-search", true)
}
