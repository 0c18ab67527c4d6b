package console

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// The query parameters of the API and the page. Each parser returns the
// store's query or the 400 that names the parameter at fault. A parameter
// given twice is at fault too: which one was meant is a guess.

// defaultPeriod is how far back /api/blocked counts when not told.
const defaultPeriod = 30 // days, today included

// maxQueryLen bounds a search term: card numbers and traceability codes
// are a few dozen characters.
const maxQueryLen = 128

// one returns the single value of name ("" when absent).
func one(q url.Values, name string) (string, *apiError) {
	v := q[name]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", badParam(name, name+" 只能给一次", name+" is given more than once")
}

// idParam reads a pharmacy or till id; required says whether it may be
// absent.
func idParam(q url.Values, name string, required bool) (string, *apiError) {
	s, e := one(q, name)
	if e != nil {
		return "", e
	}
	if s == "" && !required {
		return "", nil
	}
	if !feed.ValidID(s) {
		what := map[string]string{"pharmacy": "药店编码", "till": "收银台编号"}[name]
		return "", badParam(name, what+"必填：1–64 位字母、数字、- 或 _",
			name+" is required: 1–64 letters, digits, '-' or '_'")
	}
	return s, nil
}

// limitParam reads limit: a positive integer, cut to archive.MaxLimit;
// absent, archive.DefaultLimit.
func limitParam(q url.Values) (int, *apiError) {
	s, e := one(q, "limit")
	if e != nil || s == "" {
		return archive.Limit(0), e
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil && !isRange(err) || n == 0 {
		return 0, badParam("limit", "limit 须为正整数", "limit must be a positive integer")
	}
	return archive.Limit(int(min(n, archive.MaxLimit))), nil
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func uintParam(q url.Values, name string) (uint64, bool, *apiError) {
	s, e := one(q, name)
	if e != nil || s == "" {
		return 0, false, e
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, badParam(name, name+" 须为非负整数", name+" must be an unsigned integer")
	}
	return n, true, nil
}

func boolParam(q url.Values, name string) (bool, *apiError) {
	s, e := one(q, name)
	if e != nil || s == "" {
		return false, e
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badParam(name, name+" 须为 1 或 0", name+" must be 1 or 0")
	}
	return b, nil
}

// timeParam reads an instant: RFC 3339, or a date (YYYY-MM-DD) meaning its
// first moment in loc, or with end its last (the next day's first), so
// that a date range includes both its days.
func timeParam(q url.Values, name string, loc *time.Location, end bool) (time.Time, bool, *apiError) {
	s, e := one(q, name)
	if e != nil || s == "" {
		return time.Time{}, false, e
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		return time.Time{}, false, badParam(name, name+" 须为日期 YYYY-MM-DD 或 RFC 3339 时间",
			name+" must be a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, true, nil
}

// tillQuery reads /api/tills' parameters.
func tillQuery(q url.Values) (archive.TillQuery, *apiError) {
	var tq archive.TillQuery
	var e *apiError
	if tq.Pharmacy, e = idParam(q, "pharmacy", false); e != nil {
		return tq, e
	}
	if tq.Behind, e = boolParam(q, "behind"); e != nil {
		return tq, e
	}
	if tq.Limit, e = limitParam(q); e != nil {
		return tq, e
	}
	after, e := one(q, "after")
	if e != nil || after == "" {
		return tq, e
	}
	p, t, ok := strings.Cut(after, "/")
	if !ok || !feed.ValidID(p) || !feed.ValidID(t) {
		return tq, badParam("after", "after 须为 药店编码/收银台编号", "after must be <pharmacy>/<till>")
	}
	tq.AfterPharmacy, tq.AfterTill = p, t
	return tq, nil
}

// recordsQuery reads /api/records' parameters; from_seq defaults to 1.
type recordsQuery struct {
	Pharmacy, Till string
	From           uint64
	Limit          int
}

func parseRecordsQuery(q url.Values) (recordsQuery, *apiError) {
	var rq recordsQuery
	var e *apiError
	if rq.Pharmacy, e = idParam(q, "pharmacy", true); e != nil {
		return rq, e
	}
	if rq.Till, e = idParam(q, "till", true); e != nil {
		return rq, e
	}
	from, given, e := uintParam(q, "from_seq")
	if e != nil {
		return rq, e
	}
	rq.From = 1
	if given {
		rq.From = from
	}
	rq.Limit, e = limitParam(q)
	return rq, e
}

// validKind accepts what an alarm kind looks like (archive's are lower
// case words joined by '_'), so a kind added to the store later can be
// asked for without a new console.
func validKind(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && c != '_' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// alarmQuery reads /api/alarms' parameters.
func alarmQuery(q url.Values, loc *time.Location) (archive.AlarmQuery, *apiError) {
	var aq archive.AlarmQuery
	var e *apiError
	kind, e := one(q, "kind")
	if e != nil {
		return aq, e
	}
	if kind != "" && !validKind(kind) {
		return aq, badParam("kind", "kind 不是告警类型", "kind is not an alarm kind")
	}
	aq.Kind = kind
	if aq.Pharmacy, e = idParam(q, "pharmacy", false); e != nil {
		return aq, e
	}
	if aq.Till, e = idParam(q, "till", false); e != nil {
		return aq, e
	}
	if aq.Since, _, e = timeParam(q, "since", loc, false); e != nil {
		return aq, e
	}
	id, _, e := uintParam(q, "after_id")
	if e != nil {
		return aq, e
	}
	if id > 1<<63-1 {
		return aq, badParam("after_id", "after_id 超出范围", "after_id is out of range")
	}
	aq.AfterID = int64(id)
	aq.Limit, e = limitParam(q)
	return aq, e
}

// period reads from= and to= into [from, to): by default the last
// defaultPeriod days, today included, in now's zone.
func period(q url.Values, now time.Time) (from, to time.Time, e *apiError) {
	loc := now.Location()
	from, fromGiven, e := timeParam(q, "from", loc, false)
	if e != nil {
		return from, to, e
	}
	to, toGiven, e := timeParam(q, "to", loc, true)
	if e != nil {
		return from, to, e
	}
	if !toGiven {
		y, m, d := now.Date()
		to = time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	if !fromGiven {
		from = to.AddDate(0, 0, -defaultPeriod)
	}
	if !from.Before(to) {
		return from, to, badParam("period", "from 须早于 to", "from must be before to")
	}
	return from, to, nil
}

// searchTerm checks a card number or traceability code: printable, short.
func searchTerm(s string) bool {
	if len(s) > maxQueryLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// searchQuery reads /api/search's parameters: exactly one of card and
// trace. Surrounding spaces, as a pasted number brings, are dropped.
func searchQuery(q url.Values) (archive.SearchQuery, *apiError) {
	var sq archive.SearchQuery
	card, e := one(q, "card")
	if e != nil {
		return sq, e
	}
	trace, e := one(q, "trace")
	if e != nil {
		return sq, e
	}
	card, trace = strings.TrimSpace(card), strings.TrimSpace(trace)
	if (card == "") == (trace == "") {
		return sq, badParam("search", "请给出卡号 card 或追溯码 trace 之一", "give one of card and trace")
	}
	if card != "" && !searchTerm(card) {
		return sq, badParam("card", "卡号格式不对", "card is not a card number")
	}
	if trace != "" && !searchTerm(trace) {
		return sq, badParam("trace", "追溯码格式不对", "trace is not a traceability code")
	}
	sq.Card, sq.Trace = card, trace
	sq.Limit, e = limitParam(q)
	return sq, e
}
