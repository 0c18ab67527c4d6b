package console_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/console"
	"github.com/tillguard/tillguard/sync/feed"
)

type till struct {
	Pharmacy   string       `json:"pharmacy"`
	Till       string       `json:"till"`
	Contiguous uint64       `json:"contiguous"`
	Count      uint64       `json:"count"`
	Waiting    int          `json:"waiting"`
	LastSeen   *time.Time   `json:"last_seen"`
	Behind     uint64       `json:"behind"`
	Status     *feed.Status `json:"status"`
	Key        *string      `json:"key"`
	KeyAt      *time.Time   `json:"key_at"`
}

func names(ts []till) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Pharmacy+"/"+t.Till)
	}
	return out
}

func TestAPI_healthz(t *testing.T) {
	w := newWorld(t)
	if res := get(t, w.handler(nil), "/healthz"); res.code != 200 || res.body != "ok\n" {
		t.Fatalf("healthz %d %q", res.code, res.body)
	}
}

func TestAPI_tills(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	tests := []struct {
		url  string
		want []string
		next string // the Link header's target, "" for none
	}{
		{"/api/tills", []string{"P1/T1", "P2/T2", "P3/T1"}, ""},
		{"/api/tills?pharmacy=P2", []string{"P2/T2"}, ""},
		{"/api/tills?behind=1", []string{"P1/T1", "P3/T1"}, ""},
		{"/api/tills?behind=0", []string{"P1/T1", "P2/T2", "P3/T1"}, ""},
		{"/api/tills?limit=2", []string{"P1/T1", "P2/T2"}, "/api/tills?after=P2%2FT2&limit=2"},
		{"/api/tills?limit=2&after=P2/T2", []string{"P3/T1"}, ""},
		{"/api/tills?after=P1/T1&limit=99999999999999999999", []string{"P2/T2", "P3/T1"}, ""},
	}
	for _, tt := range tests {
		res := get(t, h, tt.url)
		got := decode[[]till](t, res)
		if !slices.Equal(names(got), tt.want) {
			t.Errorf("%s: %v, want %v", tt.url, names(got), tt.want)
		}
		if link := res.hdr.Get("Link"); tt.next == "" && link != "" || tt.next != "" && link != "<"+tt.next+`>; rel="next"` {
			t.Errorf("%s: Link %q, want next %q", tt.url, link, tt.next)
		}
	}

	tills := decode[[]till](t, get(t, h, "/api/tills"))
	p1, p2, p3 := tills[0], tills[1], tills[2]
	if p1.Contiguous != 4 || p1.Count != 4 || p1.Behind != 6 || p1.Waiting != 0 || p1.Status == nil || p1.Status.HeadSeq != 10 || p1.Status.State != "online" {
		t.Errorf("P1/T1 %+v (status %+v), want 4 stored, head 10, 6 behind", p1, p1.Status)
	}
	if p1.LastSeen == nil || p1.LastSeen.IsZero() {
		t.Errorf("P1/T1 last seen %v", p1.LastSeen)
	}
	if p2.Behind != 0 || p2.Status == nil || p2.Status.State != "offline" {
		t.Errorf("P2/T2 %+v", p2)
	}
	if p3.Contiguous != 0 || p3.Waiting != 1 || p3.Status != nil || p3.Behind != 0 {
		t.Errorf("P3/T1 %+v, want record 3 waiting", p3)
	}
	// The enrolled keys, in base64 as `tillguard keys show` prints them.
	enrolledAt := newClock().Now()
	for _, tt := range []struct {
		got  till
		want ed25519.PublicKey
	}{{p1, w.c1.Pub()}, {p2, w.c2.Pub()}} {
		if k := tt.got.Key; k == nil || *k != base64.StdEncoding.EncodeToString(tt.want) || tt.got.KeyAt == nil || !tt.got.KeyAt.Equal(enrolledAt) {
			t.Errorf("%s/%s key %v at %v, want %s at %v", tt.got.Pharmacy, tt.got.Till, tt.got.Key, tt.got.KeyAt,
				base64.StdEncoding.EncodeToString(tt.want), enrolledAt)
		}
	}
	if p3.Key != nil || p3.KeyAt != nil {
		t.Errorf("P3/T1 key %v at %v, want none: never enrolled", p3.Key, p3.KeyAt)
	}
	// The shape integrators read: every field, status and key null
	// without one.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(get(t, h, "/api/tills").body), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pharmacy", "till", "contiguous", "count", "waiting", "last_seen", "behind", "status", "key", "key_at"} {
		if _, ok := raw[2][k]; !ok {
			t.Errorf("till JSON %v lacks %q", raw[2], k)
		}
	}
	for _, k := range []string{"status", "key", "key_at"} {
		if raw[2][k] != nil {
			t.Errorf("P3/T1 %s %v, want null", k, raw[2][k])
		}
	}
}

// TestAPI_tillsEnrolledNeverSeen: a till enrolled that has sent nothing
// is listed, with its key and nothing stored.
func TestAPI_tillsEnrolledNeverSeen(t *testing.T) {
	w := newWorld(t)
	c := archivetest.NewChain("P0", "T1")
	w.clk.Add(time.Hour)
	if err := w.st.Enroll(ctx, []archive.EnrolledKey{{Pharmacy: "P0", Till: "T1", Key: c.Pub()}}); err != nil {
		t.Fatal(err)
	}
	tills := decode[[]till](t, get(t, w.handler(nil), "/api/tills?pharmacy=P0"))
	if len(tills) != 1 {
		t.Fatalf("tills %+v, want P0/T1", tills)
	}
	p0 := tills[0]
	if p0.Key == nil || *p0.Key != base64.StdEncoding.EncodeToString(c.Pub()) || p0.KeyAt == nil || !p0.KeyAt.Equal(w.clk.Now()) ||
		p0.Count != 0 || p0.Contiguous != 0 || p0.LastSeen != nil || p0.Status != nil {
		t.Errorf("P0/T1 %+v, want its key at %v and nothing else", p0, w.clk.Now())
	}
}

func TestAPI_tillsEmpty(t *testing.T) {
	clk := newClock()
	h := console.New(openStore(t, clk.Now), &console.Opts{Now: clk.Now})
	for _, url := range []string{"/api/tills", "/api/alarms", "/api/search?card=x"} {
		if res := get(t, h, url); res.code != 200 || strings.TrimSpace(res.body) != "[]" {
			t.Errorf("%s on an empty store: %d %q, want []", url, res.code, res.body)
		}
	}
	if res := get(t, h, "/api/records?pharmacy=P1&till=T1"); res.code != 200 || res.body != "" {
		t.Errorf("records of an unknown till: %d %q", res.code, res.body)
	}
}

type recordLine struct {
	Rec json.RawMessage `json:"rec"`
	Sig string          `json:"sig"`
}

func TestAPI_records(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	tests := []struct {
		url  string
		want []uint64
	}{
		{"/api/records?pharmacy=P1&till=T1", []uint64{1, 2, 3, 4}},
		{"/api/records?pharmacy=P1&till=T1&from_seq=2", []uint64{2, 3, 4}},
		{"/api/records?pharmacy=P1&till=T1&from_seq=0", []uint64{1, 2, 3, 4}},
		{"/api/records?pharmacy=P1&till=T1&from_seq=3&limit=1", []uint64{3}},
		{"/api/records?pharmacy=P1&till=T1&from_seq=5", nil},
		{"/api/records?pharmacy=P3&till=T1", nil}, // record 3 waits: not served
	}
	for _, tt := range tests {
		res := get(t, h, tt.url)
		if res.code != 200 || res.hdr.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %s %q", tt.url, res.code, res.hdr.Get("Content-Type"), res.body)
		}
		var got []uint64
		sc := bufio.NewScanner(strings.NewReader(res.body))
		for sc.Scan() {
			var l recordLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: line %q: %v", tt.url, sc.Bytes(), err)
			}
			var r feed.Record
			if err := json.Unmarshal(l.Rec, &r); err != nil {
				t.Fatal(err)
			}
			want := w.c1.Record(r.Seq)
			sig, _ := base64.StdEncoding.DecodeString(l.Sig)
			if !bytes.Equal(l.Rec, want.Rec) || !ed25519.Verify(w.c1.Pub(), l.Rec, sig) {
				t.Fatalf("%s: record %d not served as signed: %s", tt.url, r.Seq, l.Rec)
			}
			// The line is the tx payload's layout, byte for byte.
			if sealed, _ := feed.Seal(want.Rec, want.Sig); !bytes.Equal(sc.Bytes(), sealed) {
				t.Errorf("%s: line %q, want feed.Seal's %q", tt.url, sc.Bytes(), sealed)
			}
			got = append(got, r.Seq)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: seqs %v, want %v", tt.url, got, tt.want)
		}
	}
	// The API serves records as signed: the card number and name too.
	if res := get(t, h, "/api/records?pharmacy=P1&till=T1&limit=1"); !strings.Contains(res.body, cardNo) || !strings.Contains(res.body, holder) {
		t.Errorf("record 1 served as %q, want it whole", res.body)
	}
}

func TestAPI_alarms(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	since := url.QueryEscape(w.clk.Now().Add(-time.Second).Format(time.RFC3339))
	tests := []struct {
		url  string
		want []string // kinds
	}{
		{"/api/alarms", []string{archive.AlarmTraceDupCross, archive.AlarmBadSignature}},
		{"/api/alarms?kind=trace_dup_cross", []string{archive.AlarmTraceDupCross}},
		{"/api/alarms?kind=gap", nil},
		{"/api/alarms?pharmacy=P4", []string{archive.AlarmBadSignature}},
		{"/api/alarms?pharmacy=P2&till=T2", []string{archive.AlarmTraceDupCross}},
		{"/api/alarms?pharmacy=P2&till=T1", nil},
		{"/api/alarms?since=" + since, []string{archive.AlarmTraceDupCross, archive.AlarmBadSignature}},
		{"/api/alarms?since=2025-03-03", nil},
		{"/api/alarms?since=2025-03-02", []string{archive.AlarmTraceDupCross, archive.AlarmBadSignature}},
		{"/api/alarms?limit=1", []string{archive.AlarmTraceDupCross}},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range decode[[]archive.Alarm](t, get(t, h, tt.url)) {
			got = append(got, a.Kind)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.url, got, tt.want)
		}
	}

	all := decode[[]archive.Alarm](t, get(t, h, "/api/alarms"))
	dup := all[0]
	if dup.Pharmacy != "P2" || dup.Till != "T2" || dup.Seq != 1 || dup.Count != 1 || len(dup.Records) != 2 ||
		dup.Records[0].Pharmacy != "P2" || dup.Records[1] != (archive.RecordRef{Pharmacy: "P1", Till: "T1", Seq: 1, ID: w.c1.Record(1).Parsed.ID}) {
		t.Errorf("trace_dup_cross %+v, want P2/T2 #1 with both sales as evidence", dup)
	}
	res := get(t, h, "/api/alarms?limit=1")
	want := `</api/alarms?after_id=` + jsonInt(dup.ID) + `&limit=1>; rel="next"`
	if res.hdr.Get("Link") != want {
		t.Errorf("Link %q, want %q", res.hdr.Get("Link"), want)
	}
	if page := decode[[]archive.Alarm](t, get(t, h, "/api/alarms?limit=1&after_id="+jsonInt(dup.ID))); len(page) != 1 || page[0].Kind != archive.AlarmBadSignature {
		t.Errorf("second page %+v", page)
	}
	var raw []map[string]any
	_ = json.Unmarshal([]byte(get(t, h, "/api/alarms").body), &raw)
	for _, k := range []string{"id", "at", "pharmacy", "till", "seq", "kind", "detail", "records", "count", "last_at"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("alarm JSON %v lacks %q", raw[0], k)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

type blockedAnswer struct {
	From, To time.Time
	Counts   []archive.RuleCount
}

func TestAPI_blocked(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	all := []archive.RuleCount{{Pharmacy: "P1", Rule: "non_drug", Count: 2}, {Pharmacy: "P1", Rule: "not_covered", Count: 1}}
	tests := []struct {
		url      string
		want     []archive.RuleCount
		from, to string
	}{
		{"/api/blocked", all, "2025-02-01T00:00:00+08:00", "2025-03-03T00:00:00+08:00"},
		{"/api/blocked?from=2025-03-01&to=2025-03-01", all, "2025-03-01T00:00:00+08:00", "2025-03-02T00:00:00+08:00"},
		{"/api/blocked?from=2025-03-02", nil, "2025-03-02T00:00:00+08:00", "2025-03-03T00:00:00+08:00"},
		{"/api/blocked?to=2025-02-28", nil, "2025-01-30T00:00:00+08:00", "2025-03-01T00:00:00+08:00"},
		// Record 2 is at 09:00:02, record 3 at 09:00:03.
		{"/api/blocked?from=2025-03-01T09:00:03%2B08:00&to=2025-03-01T01:00:04Z", []archive.RuleCount{{Pharmacy: "P1", Rule: "non_drug", Count: 1}, {Pharmacy: "P1", Rule: "not_covered", Count: 1}}, "2025-03-01T09:00:03+08:00", "2025-03-01T01:00:04Z"},
	}
	for _, tt := range tests {
		got := decode[blockedAnswer](t, get(t, h, tt.url))
		if len(tt.want) == 0 && len(got.Counts) != 0 || len(tt.want) > 0 && !slices.Equal(got.Counts, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.url, got.Counts, tt.want)
		}
		if from, _ := time.Parse(time.RFC3339, tt.from); !got.From.Equal(from) {
			t.Errorf("%s: from %v, want %v", tt.url, got.From, from)
		}
		if to, _ := time.Parse(time.RFC3339, tt.to); !got.To.Equal(to) {
			t.Errorf("%s: to %v, want %v", tt.url, got.To, to)
		}
	}
	if res := get(t, h, "/api/blocked?from=2025-03-02"); !strings.Contains(res.body, `"counts":[]`) {
		t.Errorf("no counts: %q, want an empty list", res.body)
	}
}

func TestAPI_search(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	tests := []struct {
		url  string
		want []string // pharmacy/till#seq:line, newest first
	}{
		{"/api/search?trace=" + traceA, []string{"P2/T2#1:0", "P1/T1#1:0"}},
		{"/api/search?card=" + cardNo, []string{"P2/T2#1:0", "P1/T1#3:0", "P1/T1#3:1", "P1/T1#2:0", "P1/T1#1:0"}},
		{"/api/search?card=%20" + cardNo + "%20&limit=1", []string{"P2/T2#1:0"}},
		{"/api/search?trace=nothing", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, hit := range decode[[]archive.LineHit](t, get(t, h, tt.url)) {
			got = append(got, hit.Pharmacy+"/"+hit.Till+"#"+jsonInt(int64(hit.Seq))+":"+jsonInt(int64(hit.Line)))
			if hit.Card != "" && hit.Card == cardNo {
				t.Errorf("%s: hit shows the card number whole", tt.url)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.url, got, tt.want)
		}
	}
}

func TestAPI_receiver(t *testing.T) {
	w := newWorld(t)
	wantError(t, get(t, w.handler(nil), "/api/receiver"), 404, "no_receiver")
	nothing := w.handler(&console.Opts{Receiver: func() any { return nil }})
	if res := get(t, nothing, "/api/receiver"); res.code != 200 || strings.TrimSpace(res.body) != "null" {
		t.Errorf("nil counters: %d %q, want null", res.code, res.body)
	}
	type counters struct {
		Connected bool   `json:"connected"`
		Received  uint64 `json:"received"`
		Stored    uint64 `json:"stored"`
		Acks      uint64 `json:"acks"`
	}
	some := w.handler(&console.Opts{Receiver: func() any { return counters{true, 9, 8, 7} }})
	if got := decode[counters](t, get(t, some, "/api/receiver")); got != (counters{true, 9, 8, 7}) {
		t.Errorf("counters %+v", got)
	}
	if res := get(t, some, "/"); !strings.Contains(res.body, `id="receiver"`) || !strings.Contains(res.body, "received") {
		t.Errorf("the page does not show the receiver's counters")
	}
}

// TestAPI_errors: every parameter at fault has its code, every answer the
// error's JSON shape.
func TestAPI_errors(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	tests := []struct {
		method, url string
		status      int
		code        string
	}{
		{"GET", "/nope", 404, "not_found"},
		{"GET", "/api", 404, "not_found"},
		{"GET", "/static/other.css", 404, "not_found"},
		{"POST", "/api/tills", 405, "method_not_allowed"},
		{"DELETE", "/api/records?pharmacy=P1&till=T1", 405, "method_not_allowed"},
		{"PUT", "/", 405, "method_not_allowed"},
		{"POST", "/healthz", 405, "method_not_allowed"},

		{"GET", "/api/tills?pharmacy=a/b", 400, "bad_pharmacy"},
		{"GET", "/api/tills?pharmacy=P1&pharmacy=P2", 400, "bad_pharmacy"},
		{"GET", "/api/tills?behind=maybe", 400, "bad_behind"},
		{"GET", "/api/tills?after=P1", 400, "bad_after"},
		{"GET", "/api/tills?after=P1/T1/x", 400, "bad_after"},
		{"GET", "/api/tills?limit=0", 400, "bad_limit"},
		{"GET", "/api/tills?limit=-3", 400, "bad_limit"},
		{"GET", "/api/tills?limit=ten", 400, "bad_limit"},

		{"GET", "/api/records", 400, "bad_pharmacy"},
		{"GET", "/api/records?pharmacy=P1", 400, "bad_till"},
		{"GET", "/api/records?pharmacy=P1&till=a/b", 400, "bad_till"},
		{"GET", "/api/records?pharmacy=P1&till=T1&from_seq=-1", 400, "bad_from_seq"},
		{"GET", "/api/records?pharmacy=P1&till=T1&from_seq=1.5", 400, "bad_from_seq"},
		{"GET", "/api/records?pharmacy=P1&till=T1&limit=0", 400, "bad_limit"},

		{"GET", "/api/alarms?kind=Trace", 400, "bad_kind"},
		{"GET", "/api/alarms?kind=a%20b", 400, "bad_kind"},
		{"GET", "/api/alarms?till=%2B", 400, "bad_till"},
		{"GET", "/api/alarms?since=yesterday", 400, "bad_since"},
		{"GET", "/api/alarms?after_id=x", 400, "bad_after_id"},
		{"GET", "/api/alarms?after_id=9223372036854775808", 400, "bad_after_id"},

		{"GET", "/api/blocked?from=2025-13-01", 400, "bad_from"},
		{"GET", "/api/blocked?to=03/01/2025", 400, "bad_to"},
		{"GET", "/api/blocked?from=2025-03-05&to=2025-03-01", 400, "bad_period"},

		{"GET", "/api/search", 400, "bad_search"},
		{"GET", "/api/search?card=1&trace=2", 400, "bad_search"},
		{"GET", "/api/search?card=%20", 400, "bad_search"},
		{"GET", "/api/search?card=a%00b", 400, "bad_card"},
		{"GET", "/api/search?trace=" + strings.Repeat("8", 200), 400, "bad_trace"},
		{"GET", "/api/search?trace=1&limit=x", 400, "bad_limit"},

		{"GET", "/?pharmacy=a%20b", 400, "bad_pharmacy"},
		{"GET", "/?since=x", 400, "bad_since"},
		{"GET", "/?card=1&trace=2", 400, "bad_search"},
		{"POST", "/ card=1&trace=2", 400, "bad_search"},
		{"POST", "/ card=%zz", 400, "bad_form"},
		{"POST", "/ card=" + strings.Repeat("1", 8<<10), 400, "bad_form"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			res := do(t, h, tt.method, tt.url, "", nil)
			wantError(t, res, tt.status, tt.code)
			if tt.status == 405 && !strings.Contains(res.hdr.Get("Allow"), "GET") {
				t.Errorf("405 with Allow %q", res.hdr.Get("Allow"))
			}
		})
	}
}

// failing is a store whose every read fails, as a database that went away.
type failing struct{ archive.Store }

var errDown = errors.New("connection refused")

func (failing) Tills(context.Context, archive.TillQuery) ([]archive.TillInfo, error) {
	return nil, errDown
}
func (failing) Alarms(context.Context, archive.AlarmQuery) ([]archive.Alarm, error) {
	return nil, errDown
}
func (failing) Blocked(context.Context, time.Time, time.Time) ([]archive.RuleCount, error) {
	return nil, errDown
}
func (failing) Search(context.Context, archive.SearchQuery) ([]archive.LineHit, error) {
	return nil, errDown
}
func (failing) Scan(context.Context, string, string, uint64, int, func(uint64, []byte, []byte) error) error {
	return errDown
}

func TestAPI_storeUnavailable(t *testing.T) {
	w := newWorld(t)
	var logs bytes.Buffer
	h := console.New(failing{w.st}, &console.Opts{Now: w.clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for _, url := range []string{"/api/tills", "/api/records?pharmacy=P1&till=T1", "/api/alarms", "/api/blocked", "/api/search?card=" + cardNo, "/"} {
		wantError(t, get(t, h, url), 500, "store_unavailable")
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the store's error is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), cardNo) {
		t.Errorf("the log holds the card number searched for:\n%s", logs.String())
	}
	if res := get(t, h, "/healthz"); res.code != 200 {
		t.Errorf("healthz %d with the store down", res.code)
	}
}

// TestAPI_headers: nothing personal is cached or leaks in a Referer.
func TestAPI_headers(t *testing.T) {
	w := newWorld(t)
	h := w.handler(nil)
	for _, url := range []string{"/", "/api/records?pharmacy=P1&till=T1", "/api/tills", "/nope"} {
		res := get(t, h, url)
		for k, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := res.hdr.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", url, k, got, want)
			}
		}
		if !strings.Contains(res.hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", url, res.hdr.Get("Content-Security-Policy"))
		}
	}
	if res := get(t, h, "/static/console.css"); res.code != 200 || !strings.HasPrefix(res.hdr.Get("Content-Type"), "text/css") {
		t.Errorf("css %d %s", res.code, res.hdr.Get("Content-Type"))
	}
	if res := do(t, h, http.MethodHead, "/api/tills", "", nil); res.code != 200 {
		t.Errorf("HEAD %d", res.code)
	}
}
