package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/console"
	"github.com/tillguard/tillguard/sync/feed"
)

var ctx = context.Background()

// cst is the offset tills record in.
var cst = time.FixedZone("CST", 8*3600)

// clock is a settable time for the store and the console.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 2, 10, 0, 0, 0, cst)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openStore opens an empty embedded archive (a real bbolt file) for the
// test, closed when it ends.
func openStore(t *testing.T, now func() time.Time) archive.Store {
	t.Helper()
	st, err := boltarchive.Open(filepath.Join(t.TempDir(), "a.db"), &archive.Opts{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the archive: %v", err)
		}
	})
	return st
}

func put(t *testing.T, st archive.Store, in ...archive.Incoming) archive.Result {
	t.Helper()
	res, err := st.Put(ctx, in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

// The fixture's people and goods.
const (
	cardNo   = "330100199001011234"
	holder   = "王小明"
	traceA   = "81234567890123456789"
	shampoo  = "6920000000001"
	vitaminC = "6901234567892"
)

// world is a store with the tills every test looks at:
//
//	P1/T1  records 1–4 stored, its status announces head 10: 6 behind, online
//	P2/T2  sells P1/T1's traceability code again: trace_dup_cross
//	P3/T1  only record 3 came: it waits, watermark 0; never enrolled (P1/T1
//	       and P2/T2 are, at the clock's start)
//	P4/T9  a bad signature raised by the receiver, no records
type world struct {
	st     archive.Store
	clk    *clock
	c1, c2 *archivetest.Chain
	c3     *archivetest.Chain
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{clk: newClock(), c1: archivetest.NewChain("P1", "T1"), c2: archivetest.NewChain("P2", "T2"), c3: archivetest.NewChain("P3", "T1")}
	w.c2.Start = time.Date(2025, 3, 2, 9, 0, 0, 0, cst) // the day after P1/T1's sale
	w.st = openStore(t, w.clk.Now)
	if err := w.st.Enroll(ctx, []archive.EnrolledKey{
		{Pharmacy: "P1", Till: "T1", Key: w.c1.Pub()}, {Pharmacy: "P2", Till: "T2", Key: w.c2.Pub()},
	}); err != nil {
		t.Fatal(err)
	}
	card := &feed.Card{Type: feed.CardSSC, No: cardNo, Region: "330100", Name: holder}
	sale := func(r *feed.Record) {
		r.Card = card
		r.Lines = []feed.Line{{Barcode: vitaminC, MedListCodg: "XA01ABC123B001010100001", Name: "维生素C片", Qty: 2, Days: 5,
			PriceFen: 990, DrugTracCodg: []string{traceA}, Decision: feed.Allow, Pay: "insurance"}}
		r.Payment = &feed.Payment{Method: "insurance", InsuranceFen: 1980}
	}
	blocked := func(rules ...string) func(r *feed.Record) {
		return func(r *feed.Record) {
			r.Kind, r.Card, r.Payment, r.Lines = feed.KindBlocked, card, nil, nil
			for _, rule := range rules {
				r.Lines = append(r.Lines, feed.Line{Barcode: shampoo, Name: "洗发水", Qty: 1, PriceFen: 3500, Decision: feed.Block, Rule: rule})
			}
		}
	}
	w.c1.Next(sale)
	w.c1.Next(blocked("non_drug"))
	w.c1.Next(blocked("non_drug", "not_covered"))
	w.c1.Next(nil)
	put(t, w.st, w.c1.Records(1, 4)...)
	w.clk.Add(time.Minute)
	if res := put(t, w.st, w.c2.Next(sale)); len(res.Alarms) != 1 || res.Alarms[0].Kind != archive.AlarmTraceDupCross {
		t.Fatalf("the second sale of %s raised %+v, want trace_dup_cross", traceA, res.Alarms)
	}
	w.c3.Add(3)
	put(t, w.st, w.c3.Record(3))
	at := w.clk.Now().Format(time.RFC3339)
	for _, s := range []struct {
		p, t string
		st   feed.Status
	}{
		{"P1", "T1", feed.Status{State: feed.StateOnline, HeadSeq: 10, AckedSeq: 4, At: at}},
		{"P2", "T2", feed.Status{State: feed.StateOffline, HeadSeq: 1, AckedSeq: 1, At: at}},
	} {
		if err := w.st.SetStatus(ctx, s.p, s.t, s.st); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.Raise(ctx, []archive.Alarm{{At: w.clk.Now(), Pharmacy: "P4", Till: "T9", Seq: 7,
		Kind: archive.AlarmBadSignature, Detail: "signature does not verify", Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// handler is the console over w's store, as a loopback client reaches it.
func (w *world) handler(o *console.Opts) http.Handler {
	if o == nil {
		o = &console.Opts{}
	}
	if o.Now == nil {
		o.Now = w.clk.Now
	}
	return console.New(w.st, o)
}

type response struct {
	code int
	hdr  http.Header
	body string
}

// do serves one request from addr ("" is loopback).
func do(t *testing.T, h http.Handler, method, target, addr string, edit func(r *http.Request)) response {
	t.Helper()
	var body io.Reader
	if i := strings.IndexByte(target, ' '); i >= 0 { // "url body": a form
		target, body = target[:i], strings.NewReader(target[i+1:])
	}
	r := httptest.NewRequest(method, target, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.RemoteAddr = "127.0.0.1:40000"
	if addr != "" {
		r.RemoteAddr = addr
	}
	if edit != nil {
		edit(r)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, r)
	return response{rr.Code, rr.Header(), rr.Body.String()}
}

func get(t *testing.T, h http.Handler, target string) response {
	t.Helper()
	return do(t, h, http.MethodGet, target, "", nil)
}

// apiErr is an error answer's body.
type apiErr struct {
	Error     string `json:"error"`
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
}

// wantError checks that res is the JSON error code with status.
func wantError(t *testing.T, res response, status int, code string) {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal([]byte(res.body), &e); err != nil || res.code != status || e.Error != code ||
		e.MessageZH == "" || e.MessageEN == "" || !strings.HasPrefix(res.hdr.Get("Content-Type"), "application/json") {
		t.Errorf("got %d %q (%s), want %d {error: %q, message_zh, message_en}", res.code, res.body, res.hdr.Get("Content-Type"), status, code)
	}
}

func decode[T any](t *testing.T, res response) T {
	t.Helper()
	var v T
	if res.code != http.StatusOK {
		t.Fatalf("status %d: %s", res.code, res.body)
	}
	if err := json.Unmarshal([]byte(res.body), &v); err != nil {
		t.Fatalf("decode %q: %v", res.body, err)
	}
	return v
}
