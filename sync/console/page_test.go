package console_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/console"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
)

// The page as HTML, without a browser: what it holds and what it must not.
// browser_test.go looks at it in Chromium.

func page(t *testing.T, h http.Handler, target string) string {
	t.Helper()
	res := get(t, h, target)
	if res.code != 200 || !strings.HasPrefix(res.hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("%s: %d %s", target, res.code, res.body)
	}
	return res.body
}

func wantIn(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestPage_shows(t *testing.T) {
	w := newWorld(t)
	body := page(t, w.handler(nil), "/")
	wantIn(t, body,
		"医保局 分析台", "Bureau console",
		// P1/T1: watermark 4, head 10, 6 behind, online.
		`<tr class="late" data-till="P1/T1" data-behind="6">`, "在线",
		// P3/T1: record 3 waiting.
		`data-till="P3/T1" data-behind="0"`,
		`data-till="P2/T2"`, "离线",
		// The alarm and both sales as evidence, each linking to its record.
		`data-kind="trace_dup_cross"`, "追溯码跨店重复销售",
		`href="/api/records?pharmacy=P2&amp;till=T2&amp;from_seq=1&amp;limit=1"`,
		`href="/api/records?pharmacy=P1&amp;till=T1&amp;from_seq=1&amp;limit=1"`,
		traceA, "维生素C片",
		// A raised alarm without a stored record.
		`data-kind="bad_signature"`, "签名无效",
		// Blocked attempts by rule, with the policy's titles.
		`data-pharmacy="P1" data-rule="non_drug"`, "非药品不得医保支付", "目录外商品",
		// Search forms post, keeping card numbers out of URLs.
		`<form method="post" action="/" class="search">`,
	)
	// Names and card numbers masked.
	for _, secret := range []string{cardNo, holder} {
		if strings.Contains(body, secret) {
			t.Errorf("the page shows %q", secret)
		}
	}
	wantIn(t, body, feed.MaskCardNo(cardNo), feed.MaskName(holder))
	if strings.Contains(body, "<script") {
		t.Error("the page has a script")
	}
	// Latest first: the bad signature came after the trace alarm.
	if strings.Index(body, `data-kind="bad_signature"`) > strings.Index(body, `data-kind="trace_dup_cross"`) {
		t.Error("alarms not newest first")
	}
}

// TestPage_keys: the tills table shows the start of each enrolled key,
// the whole of it on hover, and says which till is not enrolled.
func TestPage_keys(t *testing.T) {
	w := newWorld(t)
	body := html.UnescapeString(page(t, w.handler(nil), "/")) // base64's + and = are escaped
	for _, c := range []*archivetest.Chain{w.c1, w.c2} {
		k := keys.PublicBase64(c.Pub())
		wantIn(t, body, `<code title="`+k+` · 2025-03-02 10:00:00">`+k[:12]+`…</code>`)
	}
	row := regexp.MustCompile(`(?s)data-till="P3/T1".*?</tr>`).FindString(body)
	if !strings.Contains(row, "未登记") || !strings.Contains(row, "not enrolled") {
		t.Errorf("P3/T1 row %q, want it marked not enrolled", row)
	}
}

func TestPage_filters(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	body := page(t, h, "/?behind=1")
	if strings.Contains(body, `data-till="P2/T2"`) || !strings.Contains(body, `data-till="P1/T1"`) {
		t.Error("behind=1 shows a till that is not behind, or hides one that is")
	}
	wantIn(t, body, `name="behind" value="1" checked`)
	body = page(t, h, "/?pharmacy=P1")
	if strings.Contains(body, `data-till="P2/T2"`) || strings.Contains(body, `data-kind="trace_dup_cross"`) {
		t.Error("pharmacy=P1 shows P2's till or alarm")
	}
	body = page(t, h, "/?kind=bad_signature")
	if strings.Contains(body, `data-kind="trace_dup_cross"`) || !strings.Contains(body, `data-kind="bad_signature"`) {
		t.Error("kind filter")
	}
	wantIn(t, body, `<option value="bad_signature" selected>`)
	body = page(t, h, "/?from=2025-03-02&to=2025-03-02")
	if strings.Contains(body, `data-rule="non_drug"`) {
		t.Error("a period without blocked attempts shows some")
	}
	wantIn(t, body, `name="from" value="2025-03-02"`, `name="to" value="2025-03-02"`)
	body = page(t, h, "/?since=2025-03-03")
	if strings.Contains(body, `class="alarm"`) {
		t.Error("alarms before since")
	}
}

// TestPage_paging: next-page links carry the filters and after=/after_id=.
func TestPage_paging(t *testing.T) {
	clk := newClock()
	st := openStore(t, clk.Now)
	h := console.New(st, &console.Opts{Now: clk.Now})
	var want []string
	for i := range 55 { // more than a page of tills
		c := archivetest.NewChain("P"+string(rune('A'+i/26))+string(rune('A'+i%26)), "T1")
		c.Add(1)
		put(t, st, c.Record(1))
		want = append(want, c.Pharmacy)
	}
	var alarms []archive.Alarm
	for i := range 25 {
		alarms = append(alarms, archive.Alarm{At: clk.Now(), Pharmacy: "PA", Till: "T1", Seq: uint64(i + 1), Kind: archive.AlarmGap, Detail: "hole"})
	}
	if _, err := st.Raise(ctx, alarms); err != nil {
		t.Fatal(err)
	}
	next := regexp.MustCompile(`href="([^"]*)" id="tills-next"`)
	body := page(t, h, "/?kind=gap")
	m := next.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no next page of tills")
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	if link != "/?after="+want[49]+"%2FT1&kind=gap" {
		t.Errorf("next link %q", link)
	}
	body = page(t, h, link)
	if !strings.Contains(body, `data-till="`+want[50]+`/T1"`) || strings.Contains(body, `data-till="`+want[49]+`/T1"`) || strings.Contains(body, `id="tills-next"`) {
		t.Errorf("second page of tills wrong")
	}
	if n := strings.Count(body, `class="alarm"`); n != 20 {
		t.Errorf("latest alarms: %d shown, want 20", n)
	}
	if !strings.Contains(body, `data-id="25"`) || strings.Contains(body, `data-id="5"`) {
		t.Errorf("latest alarms are not the newest 20")
	}
	// Alarms in order, from the start, then the next page.
	body = page(t, h, "/?after_id=0")
	if !strings.Contains(body, `data-id="1"`) || strings.Contains(body, `data-id="21"`) {
		t.Error("alarms in order: first page wrong")
	}
	am := regexp.MustCompile(`href="([^"]*)" id="alarms-next"`).FindStringSubmatch(body)
	if am == nil {
		t.Fatal("no next page of alarms")
	}
	body = page(t, h, strings.ReplaceAll(am[1], "&amp;", "&"))
	if !strings.Contains(body, `data-id="21"`) || strings.Contains(body, `data-id="20"`) || strings.Contains(body, `id="alarms-next"`) {
		t.Error("alarms in order: second page wrong")
	}
}

func TestPage_search(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	for _, req := range []struct{ method, target string }{
		{"POST", "/ card=" + cardNo},
		{"GET", "/?card=" + cardNo},
	} {
		res := do(t, h, req.method, req.target, "", nil)
		if res.code != 200 {
			t.Fatalf("%s %s: %d %s", req.method, req.target, res.code, res.body)
		}
		wantIn(t, res.body, `id="hits"`, "5 行", feed.MaskCardNo(cardNo), "洗发水", "非药品不得医保支付")
		if strings.Contains(res.body, cardNo) {
			t.Errorf("%s search shows the card number whole", req.method)
		}
		if strings.Contains(res.body, `http-equiv="refresh"`) {
			t.Error("a search result reloads itself, losing the search")
		}
	}
	res := do(t, h, "POST", "/ trace="+traceA, "", nil)
	wantIn(t, res.body, "2 行", traceA)
	res = do(t, h, "POST", "/ trace=none", "", nil)
	wantIn(t, res.body, "没有找到")
}

func TestPage_emptyStore(t *testing.T) {
	clk := newClock()
	body := page(t, console.New(openStore(t, clk.Now), &console.Opts{Now: clk.Now}), "/")
	wantIn(t, body, "没有收银台", "没有告警", "无 <span")
}
