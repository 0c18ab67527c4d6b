package console

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// FuzzQuery feeds any query string to every parameter parser: none may
// panic, each answers a query the store can take or a 400 naming a
// parameter, and what it accepts is within bounds.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"", "pharmacy=P1&till=T1&from_seq=3&limit=10", "behind=1&after=P1/T1", "after=/", "limit=99999999999999999999999",
		"kind=gap&since=2025-03-01&after_id=9223372036854775807", "since=2025-03-01T09:00:00%2B08:00",
		"from=2025-03-01&to=2025-02-01", "card=%20A123%20", "trace=1&card=2", "pharmacy=a&pharmacy=b", "%zz", "limit=0",
	} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		check := func(e *apiError, limit int) {
			t.Helper()
			if e != nil {
				if e.Status != http.StatusBadRequest || len(e.Code) < 5 || e.Code[:4] != "bad_" || e.ZH == "" || e.EN == "" {
					t.Fatalf("%q: error %+v", raw, e)
				}
				return
			}
			if limit <= 0 || limit > archive.MaxLimit {
				t.Fatalf("%q: limit %d", raw, limit)
			}
		}
		tq, e := tillQuery(q)
		check(e, tq.Limit)
		if e == nil && (tq.Pharmacy != "" && !feed.ValidID(tq.Pharmacy) || tq.AfterPharmacy != "" && !feed.ValidID(tq.AfterTill)) {
			t.Fatalf("%q: till query %+v", raw, tq)
		}
		rq, e := parseRecordsQuery(q)
		check(e, rq.Limit)
		if e == nil && (!feed.ValidID(rq.Pharmacy) || !feed.ValidID(rq.Till)) {
			t.Fatalf("%q: records query %+v", raw, rq)
		}
		aq, e := alarmQuery(q, now.Location())
		check(e, aq.Limit)
		if e == nil && (aq.AfterID < 0 || aq.Kind != "" && !validKind(aq.Kind)) {
			t.Fatalf("%q: alarm query %+v", raw, aq)
		}
		from, to, e := period(q, now)
		check(e, 1)
		if e == nil && !from.Before(to) {
			t.Fatalf("%q: period %v – %v", raw, from, to)
		}
		sq, e := searchQuery(q)
		check(e, sq.Limit)
		if e == nil && (sq.Card == "") == (sq.Trace == "") {
			t.Fatalf("%q: search %+v", raw, sq)
		}
	})
}
