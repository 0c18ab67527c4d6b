package agent_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/internal/browsertest"
)

// Goods from testdata/catalog.csv that every till refuses or holds, so
// that each scan is a line of its own (only lines that go through take
// the next pack of the same product).
var eightLines = []struct{ code, decision string }{
	{"]E0" + shampoo, "block"},
	{"]E06926300110536", "block"}, // masks: a device outside the catalogue
	{"]E06904005001915", "block"}, // vitamin C: not covered
	{"]E06932265100154", "block"}, // water
	{"]E0" + metformin, "hold"},   // prescription, none given
	{"]E06901007002322", "block"}, // cream
	{"]E06935422001868", "block"}, // protein powder
	{"]E06937215000782", "hold"},  // amoxicillin: prescription, none given
}

// newestVisible is true when the last line is wholly on the screen: below
// the banners, above the totals bar.
const newestVisible = `(() => {
	const ls = document.querySelectorAll("#lines li.line");
	if (!ls.length) return false;
	const r = ls[ls.length - 1].getBoundingClientRect();
	const main = document.getElementById("main").getBoundingClientRect();
	const totals = document.querySelector(".totals").getBoundingClientRect();
	return r.height > 0 && r.top >= main.top - 1 && r.bottom <= totals.top + 1 && r.bottom <= innerHeight;
})()`

// TestBrowser_newestLineVisible scans eight lines on an 800×480 till
// screen: after each, the newest line is on the screen and not under the
// totals bar, and a held line's reason is printed once (on its line; the
// banner names the line).
func TestBrowser_newestLineVisible(t *testing.T) {
	ctx := browsertest.Start(t, tillDisplayW, tillDisplayH)
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	browsertest.Navigate(t, ctx, d.api+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "the live connection", `document.querySelector("#live.connected") !== null`)
	d.sim.Insert(sim.DemoHolders()[0])
	browsertest.WaitJS(t, ctx, "the card holder", `document.getElementById("card").textContent.includes("A0000****")`)

	for i, l := range eightLines {
		if err := d.sim.Scan(l.code); err != nil {
			t.Fatal(err)
		}
		browsertest.WaitJS(t, ctx, fmt.Sprintf("line %d (%s)", i+1, l.decision),
			fmt.Sprintf(`document.querySelectorAll("#lines li.line").length === %d && document.querySelector("#lines li.line:last-child").dataset.decision === %q`, i+1, l.decision))
		browsertest.WaitJS(t, ctx, fmt.Sprintf("line %d in view", i+1), newestVisible)
	}
	if scrolls := browsertest.Eval[bool](t, ctx, `document.getElementById("main").scrollHeight > document.getElementById("main").clientHeight`); !scrolls {
		t.Error("eight lines fit without scrolling: the test shows nothing")
	}
	if fits := browsertest.Eval[bool](t, ctx, `document.documentElement.scrollWidth <= innerWidth && document.querySelector(".totals").getBoundingClientRect().bottom <= innerHeight`); !fits {
		t.Errorf("the till screen does not fit %d×%d", tillDisplayW, tillDisplayH)
	}

	// One reason per line: the banner names the held lines, each reason
	// is printed once, on its line.
	v := d.view(t)
	banner := browsertest.Eval[string](t, ctx, `document.getElementById("held").innerText`)
	text := browsertest.Eval[string](t, ctx, `document.body.innerText`)
	for i, l := range v.Lines {
		if l.Decision != "hold" {
			continue
		}
		if n := strings.Count(text, l.ReasonZH); n != 1 {
			t.Errorf("line %d's reason %q is on the screen %d times, want once", i+1, l.ReasonZH, n)
		}
		if !strings.Contains(banner, fmt.Sprint(i+1)) {
			t.Errorf("held banner %q does not name line %d", banner, i+1)
		}
	}
	browsertest.Screenshot(t, ctx, "till-eight-lines", false)

	// A banner that comes later (the scanner unplugged) does not push the
	// newest line out of view either.
	if err := d.sim.Unplug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the scanner banner", `!document.getElementById("devdown").hidden`)
	browsertest.WaitJS(t, ctx, "the newest line in view under the banner", newestVisible)
}

// deviceBanner is the text of the banner of a device not connected, "" if
// there is none.
func deviceBanner(dev string) string {
	return fmt.Sprintf(`(() => {
		const b = document.getElementById("devdown");
		const row = b.hidden ? null : b.querySelector('[data-device=%q]');
		return row ? row.innerText : "";
	})()`, dev)
}

// bannerUnmissable is true when the device banner is on the screen, above
// the lines, at least as tall as a line of large text.
const bannerUnmissable = `(() => {
	const r = document.getElementById("devdown").getBoundingClientRect();
	const main = document.getElementById("main").getBoundingClientRect();
	return r.height >= 24 && r.top >= 0 && r.bottom <= main.top + 1;
})()`

// TestBrowser_deviceBanner unplugs the scanner, then the card reader (the
// simulator closes the pty and removes the by-id link): each shows as a
// banner in Chinese, the scanner's in place of "等待扫码" too, and goes
// when the device is plugged back.
func TestBrowser_deviceBanner(t *testing.T) {
	ctx := browsertest.Start(t, tillDisplayW, tillDisplayH)
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")
	browsertest.Navigate(t, ctx, d.api+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "both devices shown connected", `document.querySelector("#dev-card.connected") !== null && document.querySelector("#dev-scanner.connected") !== null`)
	// Who is on duty shows beside the devices: nobody at first.
	browsertest.WaitJS(t, ctx, "nobody on duty", `document.querySelector("#duty.off") !== null && document.getElementById("duty").innerText.includes("无药师在岗")`)
	if r := post(t, d.api+"/api/pharmacist/sign-in", `{"name":"王药师","prac_cert_no":"ZY-2024-0315"}`); r.code != 200 {
		t.Fatalf("sign-in = %d %s", r.code, r.body)
	}
	browsertest.WaitJS(t, ctx, "the pharmacist on duty", `document.querySelector("#duty.off") === null && document.getElementById("duty").innerText.includes("药师 王药师")`)
	if !browsertest.Eval[bool](t, ctx, `document.getElementById("devdown").hidden`) {
		t.Error("a device banner with both devices connected")
	}
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("empty").innerText`); !strings.Contains(got, "等待扫码") {
		t.Errorf("prompt %q, want 等待扫码", got)
	}

	if err := d.sim.Unplug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the scanner banner", deviceBanner("scanner")+`.startsWith("⚠ 扫码枪未连接")`)
	browsertest.WaitJS(t, ctx, "the prompt saying the scanner is gone", `(() => { const e = document.getElementById("empty").innerText; return !e.includes("等待扫码") && e.includes("扫码枪未连接"); })()`)
	if got := browsertest.Eval[string](t, ctx, deviceBanner("scanner")); !strings.Contains(got, "Scanner not connected") {
		t.Errorf("scanner banner %q, want the English beside the Chinese", got)
	}
	if !browsertest.Eval[bool](t, ctx, bannerUnmissable) {
		t.Error("the scanner banner is not on the screen above the lines, or too small")
	}
	// The till's alarm for the scanner says the same: the banner is
	// enough, the dashboard has the alarm's detail.
	if text := browsertest.Eval[string](t, ctx, `document.body.innerText`); strings.Count(text, "扫码枪未连接") != 2 { // the banner and the prompt
		t.Errorf("扫码枪未连接 is on the screen %d times, want the banner and the prompt:\n%s", strings.Count(text, "扫码枪未连接"), text)
	}
	browsertest.Screenshot(t, ctx, "till-scanner-unplugged", false)

	if err := d.sim.Replug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the scanner banner gone", `document.getElementById("devdown").hidden && document.getElementById("empty").innerText.includes("等待扫码")`)

	if err := d.sim.Unplug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the card reader banner", deviceBanner("card")+`.startsWith("⚠ 读卡器未连接")`)
	browsertest.WaitJS(t, ctx, "the card prompt saying the reader is gone", `document.getElementById("card").innerText.includes("读卡器未连接")`)
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("empty").innerText`); !strings.Contains(got, "等待扫码") {
		t.Errorf("prompt %q with only the card reader gone, want 等待扫码: scanning still works", got)
	}
	if err := d.sim.Replug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, "the card reader banner gone", `document.getElementById("devdown").hidden && document.getElementById("card").innerText.includes("请刷医保卡")`)

	// Still there after the page reloads: it comes from /api/status.
	if err := d.sim.Unplug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	d.waitScanner(t, "disconnected")
	browsertest.Navigate(t, ctx, d.api+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "the scanner banner after a reload", deviceBanner("scanner")+`.startsWith("⚠ 扫码枪未连接")`)
}

// TestBrowser_deviceBannerMissing: a till set up without a card reader
// (no port: the reader is "missing") says so in a banner from the start,
// and its card prompt says no card can be read.
func TestBrowser_deviceBannerMissing(t *testing.T) {
	ctx := browsertest.Start(t, tillDisplayW, tillDisplayH)
	dir := t.TempDir()
	devs, err := sim.Start(&sim.Opts{LinkDir: filepath.Join(dir, "by-id")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devs.Close() })
	_, api, _ := runTill(t, agent.Config{
		DataDir: filepath.Join(dir, "till"), ScannerPort: devs.ScannerPath(), Baud: agent.DefaultBaud,
		Pharmacy: pharmacy, Till: till, Region: "330100", Catalog: "../testdata/catalog.csv", HTTP: "127.0.0.1:0",
	})
	browsertest.Navigate(t, ctx, api+"/till", tillDisplayW, tillDisplayH)
	browsertest.WaitJS(t, ctx, "the card reader banner", deviceBanner("card")+`.startsWith("⚠ 本收银台未配置读卡器")`)
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("card").innerText`); !strings.Contains(got, "未配置读卡器") || strings.Contains(got, "请刷医保卡") {
		t.Errorf("card prompt %q, want it to say no card reader is configured", got)
	}
	browsertest.WaitJS(t, ctx, "the scanner connected, no banner for it", `document.querySelector("#dev-scanner.connected") !== null && `+deviceBanner("scanner")+` === ""`)
	if got := browsertest.Eval[string](t, ctx, `document.getElementById("empty").innerText`); !strings.Contains(got, "等待扫码") {
		t.Errorf("prompt %q, want 等待扫码: the scanner is there", got)
	}
}

// waitScanner polls /api/status until the scanner is in state.
func (d *deviceTill) waitScanner(t *testing.T, state string) {
	t.Helper()
	waitUntil(t, "scanner "+state, func() bool { return d.devices(t)["scanner"].State == state })
}
