package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/internal/browsertest"
)

// The browser tests drive chromium (internal/browsertest) against a real
// till: the simulator's card reader and scanner on ptys, the agent, its
// pages.

// tillDisplay is a small till display's size (the README's till screen:
// "laid out for an 800×480 till display").
const tillDisplayW, tillDisplayH = 800, 480

// TestBrowser_blockedShampoo follows one blocked attempt through the three
// pages: on /till a card read and a blocked shampoo appear while the page
// stays loaded (pushed over /api/events), masked and in Chinese; the
// dashboard counts it under non_drug; today's report lists it.
func TestBrowser_blockedShampoo(t *testing.T) {
	ctx := browsertest.Start(t, tillDisplayW, tillDisplayH)
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	start := time.Now()

	// The till screen, on a small till display.
	browsertest.Navigate(t, ctx, d.api+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "the live connection", `document.querySelector("#live.connected") !== null`)
	browsertest.WaitJS(t, ctx, "both devices shown connected", `document.querySelector("#dev-card.connected") !== null && document.querySelector("#dev-scanner.connected") !== null`)
	// Anything set now is gone if the page reloads.
	browsertest.Eval[chromedp.Void](t, ctx, `window.tillguardNoReload = true`)

	d.sim.Insert(sim.DemoHolders()[0]) // 王小明, A00000001
	browsertest.WaitJS(t, ctx, "the card holder", `document.getElementById("card").textContent.includes("王**")`)
	if card := browsertest.Eval[string](t, ctx, `document.getElementById("card").textContent`); !strings.Contains(card, "A0000****") || strings.Contains(card, "王小明") || strings.Contains(card, "A00000001") {
		t.Errorf("card shown as %q, want the masked name and number only", card)
	}

	if err := d.sim.Scan("]E0" + shampoo); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the blocked shampoo", `document.querySelector('#lines li.line.block[data-rule="non_drug"]') !== null`)
	line := browsertest.Eval[string](t, ctx, `document.querySelector('#lines li.line.block[data-rule="non_drug"]').innerText`)
	for _, want := range []string{"✘", "洗发水", "非药品", "insurance cannot pay"} {
		if !strings.Contains(line, want) {
			t.Errorf("blocked line reads %q, want %q in it", line, want)
		}
	}
	if !browsertest.Eval[bool](t, ctx, `window.tillguardNoReload === true`) {
		t.Error("the till screen reloaded: updates must be pushed")
	}
	// The shampoo is paid in cash: insurance pays nothing of it.
	if ins, cash := browsertest.Eval[string](t, ctx, `document.getElementById("t-ins").textContent`), browsertest.Eval[string](t, ctx, `document.getElementById("t-cash").textContent`); ins != "¥0.00" || cash != "¥59.90" {
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
	browsertest.WaitJS(t, ctx, "three lines", `document.querySelectorAll("#lines li.line").length === 3`)
	browsertest.WaitJS(t, ctx, "the held line awaiting the pharmacist", `!document.getElementById("held").hidden && document.querySelector("#lines li.line.hold") !== null`)
	browsertest.WaitJS(t, ctx, "the allowed line", `document.querySelector("#lines li.line.allow .mark").textContent === "✔"`)
	// Usable at 800×480: nothing wider than the screen, the totals on it.
	if fits := browsertest.Eval[bool](t, ctx, `document.documentElement.scrollWidth <= innerWidth && document.querySelector(".totals").getBoundingClientRect().bottom <= innerHeight`); !fits {
		t.Errorf("the till screen does not fit %d×%d", tillDisplayW, tillDisplayH)
	}
	browsertest.Screenshot(t, ctx, "till", false)
	t.Logf("till screen: %s", time.Since(start).Round(time.Millisecond))

	// The owner's dashboard: today's chart and the period's table.
	browsertest.Navigate(t, ctx, d.api+"/", 1280, 900)
	browsertest.WaitJS(t, ctx, "non_drug in today's chart", `document.querySelector('svg.chart g[data-rule="non_drug"]') !== null`)
	if n := browsertest.Eval[string](t, ctx, `document.querySelector('#period-rules tr[data-rule="non_drug"] td:nth-child(2)').textContent`); n != "1" {
		t.Errorf("dashboard: non_drug blocks = %q, want 1", n)
	}
	if n := browsertest.Eval[string](t, ctx, `document.getElementById("today-stopped").textContent`); n == "0" {
		t.Error("dashboard: no attempts today, want the blocked shampoo")
	}
	browsertest.Screenshot(t, ctx, "dashboard", true)

	// Today's self-inspection report.
	browsertest.Navigate(t, ctx, d.api+"/report", 1100, 900)
	browsertest.WaitJS(t, ctx, "the report's rule table", `document.querySelector('#rules tr[data-rule="non_drug"]') !== null`)
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("period").textContent`); !strings.Contains(got, time.Now().Format("2006-01-02")) {
		t.Errorf("report period = %q, want today", got)
	}
	if n := browsertest.Eval[string](t, ctx, `document.querySelector('#rules tr[data-rule="non_drug"] td:last-child').textContent`); n != "1" {
		t.Errorf("report: non_drug total = %q, want 1", n)
	}
	browsertest.Screenshot(t, ctx, "report", true)
	t.Logf("all three pages: %s", time.Since(start).Round(time.Millisecond))
}

// ibuprofenBox is a traceability code of one box of ibuprofen (trace prefix
// 8103317 in testdata/catalog.csv): over the counter, always allowed.
const ibuprofenBox = "81033170000000000019"
