package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// What one page shows; the API pages further.
const (
	pageTills      = 50
	pageAlarms     = 20
	pagePharmacies = 20 // pharmacies in the blocked table, most blocked first
	pageHits       = 50
	evidenceLines  = 4 // lines of a record shown as evidence
	sinceDays      = 30
	// maxTailPages bounds how many of archive.MaxLimit alarms the latest
	// view reads to reach the newest: the store lists oldest first.
	maxTailPages = 10
	maxForm      = 4 << 10
)

// alarmTitles names each alarm kind for a person.
var alarmTitles = map[string][2]string{
	archive.AlarmUnenrolled:       {"未登记的收银台", "unenrolled till"},
	archive.AlarmBadSignature:     {"签名无效", "bad signature"},
	archive.AlarmBadChain:         {"链校验失败", "broken chain"},
	archive.AlarmConflict:         {"同一序号记录冲突", "conflicting record"},
	archive.AlarmGap:              {"记录缺失", "gap in the records"},
	archive.AlarmBadPayload:       {"报文无法解析", "unreadable payload"},
	archive.AlarmTraceDupCross:    {"追溯码跨店重复销售", "trace code sold at two tills"},
	archive.AlarmDaysSupplyCross:  {"跨店超量购药", "days supply over the limit across tills"},
	archive.AlarmHeadContradicted: {"记录与收银台声明不符", "records contradict the till's announced head"},
	archive.AlarmHeadRegressed:    {"收银台账本回退", "the till's ledger went back"},
	archive.AlarmOutboxStale:      {"声明的记录长时间未到", "announced records long missing"},
	archive.AlarmBadStatus:        {"状态签名无效", "status with a bad signature"},
}

// alarmKinds is the kind filter's order: what an analyst looks for first.
var alarmKinds = []string{
	archive.AlarmTraceDupCross, archive.AlarmDaysSupplyCross, archive.AlarmGap, archive.AlarmConflict,
	archive.AlarmHeadRegressed, archive.AlarmHeadContradicted, archive.AlarmOutboxStale,
	archive.AlarmBadChain, archive.AlarmBadSignature, archive.AlarmUnenrolled, archive.AlarmBadPayload, archive.AlarmBadStatus,
}

var recordKinds = map[string]string{
	feed.KindSale: "销售", feed.KindBlocked: "拦截", feed.KindReturn: "退货",
	feed.KindOverride: "药师放行", feed.KindDevice: "设备", feed.KindPolicy: "政策",
	feed.KindFlagged: "提示", feed.KindCardChange: "换卡", feed.KindSettlement: "结算",
	feed.KindPharmacistOn: "药师签到", feed.KindPharmacistOff: "药师签退",
}

var decisions = map[string]string{feed.Allow: "通过", feed.Block: "拦截", feed.Hold: "待药师", feed.Flag: "提示"}

func pageTemplate() *template.Template {
	return template.Must(template.New("console.html").Funcs(template.FuncMap{
		"decisionZH": func(d string) string { return decisions[d] },
	}).ParseFS(assets, "assets/console.html"))
}

type pageData struct {
	Now    time.Time
	Filter filter
	Kinds  []option

	Tills      []tillRow
	TillsFirst string // "" on the first page
	TillsNext  string
	Late       int // of the tills shown, how many are behind

	Alarms       []alarmRow
	AlarmsLatest bool // newest first, rather than in id order from after_id
	AlarmsMore   bool // the latest view could not read to the end
	AlarmsNext   string
	AlarmsOther  string // the other view

	Blocked      []pharmacyBlocked
	BlockedMore  int // pharmacies not shown
	BlockedTotal int
	BlockedFrom  string
	BlockedTo    string // the last day included

	Search   *searchView
	Receiver *[]field // nil: no receiver wired in
}

type filter struct {
	Pharmacy string
	Behind   bool
	Kind     string
	Since    string
	From, To string
}

type option struct {
	Value, ZH, EN string
	Selected      bool
}

type tillRow struct {
	tillJSON
	Late      bool
	Head      string // the announced head, "—" without a status
	State     string // online, offline or unknown
	StatusAt  string
	LastSeen  string
	RecordsAt string
	KeyPrint  string // the key's first characters, "" when not enrolled
	KeyTitle  string // the whole key and when it was enrolled
}

// keyPrintLen is how much of a key the page shows: enough to tell keys
// apart at a glance, and to match what `tillguard keys show` printed at
// the till.
const keyPrintLen = 12

// keyPrint is the start of k's base64 (keys.PublicBase64), as the page
// shows a till's key.
func keyPrint(k string) string {
	if len(k) <= keyPrintLen {
		return k
	}
	return k[:keyPrintLen] + "…"
}

type alarmRow struct {
	archive.Alarm
	TitleZH, TitleEN string
	At, LastAt       string
	Evidence         []evidence
}

type evidence struct {
	Ref              archive.RecordRef
	URL              string
	Found            bool
	Kind, KindZH, At string
	Card, Holder     string // masked
	Lines            []feed.Line
	More             int
}

type pharmacyBlocked struct {
	Pharmacy string
	Total    int
	Rules    []ruleCount
}

type ruleCount struct {
	Rule, TitleZH, TitleEN string
	Count                  int
}

type searchView struct {
	ByCard bool
	Term   string // masked when a card
	Hits   []hitRow
}

type hitRow struct {
	archive.LineHit
	At, RuleZH, URL string
}

type field struct{ Key, Value string }

func (s *server) console(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			writeError(w, badParam("form", "表单无法解析", "the form does not parse"))
			return
		}
	}
	now := s.now()
	d, e := s.pageData(r.Context(), r.URL.Query(), r.PostForm, now)
	if e != nil {
		writeError(w, e)
		return
	}
	var b bytes.Buffer
	if err := s.page.Execute(&b, d); err != nil {
		s.log.Error("console: page", "err", err)
		writeError(w, errInternal)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// pageData reads what the page shows. q is the URL's query (filters and
// paging), form the search form's body.
func (s *server) pageData(ctx context.Context, q, form url.Values, now time.Time) (*pageData, *apiError) {
	loc := now.Location()
	d := &pageData{Now: now}
	tq, e := tillQuery(q)
	if e != nil {
		return nil, e
	}
	tq.Limit = pageTills
	aq, e := alarmQuery(q, loc)
	if e != nil {
		return nil, e
	}
	if _, given, _ := timeParam(q, "since", loc, false); !given {
		aq.Since = startOfDay(now).AddDate(0, 0, 1-sinceDays)
	}
	_, browsing := q["after_id"] // else the latest, newest first
	from, to, e := period(q, now)
	if e != nil {
		return nil, e
	}
	d.Filter = filter{Pharmacy: tq.Pharmacy, Behind: tq.Behind, Kind: aq.Kind, Since: aq.Since.In(loc).Format(time.DateOnly),
		From: from.In(loc).Format(time.DateOnly), To: to.In(loc).Add(-time.Nanosecond).Format(time.DateOnly)}
	d.Kinds = []option{{Value: "", ZH: "全部", EN: "all", Selected: aq.Kind == ""}}
	for _, k := range alarmKinds {
		d.Kinds = append(d.Kinds, option{Value: k, ZH: alarmTitles[k][0], EN: alarmTitles[k][1], Selected: aq.Kind == k})
	}
	var sq *archive.SearchQuery
	terms := url.Values{}
	for _, src := range []url.Values{q, form} {
		for _, k := range []string{"card", "trace"} {
			if v := src.Get(k); v != "" {
				terms.Add(k, v)
			}
		}
	}
	if len(terms) > 0 {
		search, e := searchQuery(terms)
		if e != nil {
			return nil, e
		}
		search.Limit = pageHits
		sq = &search
	}

	var err error
	if err = s.tillRows(ctx, d, q, tq, loc); err == nil {
		if err = s.alarmRows(ctx, d, q, aq, !browsing, loc); err == nil {
			if err = s.blockedRows(ctx, d, tq.Pharmacy, from, to); err == nil && sq != nil {
				err = s.searchRows(ctx, d, *sq, loc)
			}
		}
	}
	if err != nil {
		s.log.Error("console: store", "path", "/", "err", err)
		return nil, errStore
	}
	d.BlockedFrom, d.BlockedTo = d.Filter.From, d.Filter.To
	if s.receiver != nil {
		f := receiverFields(s.receiver())
		d.Receiver = &f
	}
	return d, nil
}

func startOfDay(t time.Time) time.Time {
	y, m, dd := t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, t.Location())
}

// pageURL is the page with q's parameters changed by set (a value of nil
// drops one).
func pageURL(q url.Values, set map[string][]string) string {
	out := url.Values{}
	for k, v := range q {
		if k != "card" && k != "trace" { // a search stays out of paging links
			out[k] = v
		}
	}
	for k, v := range set {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return "/"
	}
	return "/?" + out.Encode()
}

// recordsURL links to a till's records from seq on; the parameters in the
// order the API's doc lists them.
func recordsURL(pharmacy, till string, from uint64, limit int) string {
	u := "/api/records?pharmacy=" + url.QueryEscape(pharmacy) + "&till=" + url.QueryEscape(till) +
		"&from_seq=" + strconv.FormatUint(from, 10)
	if limit > 0 {
		u += "&limit=" + strconv.Itoa(limit)
	}
	return u
}

func ts(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format(time.DateTime)
}

// recordTime shows a record's or status's RFC 3339 time in loc.
func recordTime(s string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return ts(t, loc)
}

func (s *server) tillRows(ctx context.Context, d *pageData, q url.Values, tq archive.TillQuery, loc *time.Location) error {
	tills, err := s.st.Tills(ctx, tq)
	if err != nil {
		return err
	}
	for _, t := range tills {
		row := tillRow{tillJSON: tillOut(t), State: "unknown", Head: "—", LastSeen: ts(t.LastSeen, loc),
			RecordsAt: recordsURL(t.Pharmacy, t.Till, 1, 0)}
		if t.Status != nil {
			row.Head = strconv.FormatUint(t.Status.HeadSeq, 10)
			row.StatusAt = recordTime(t.Status.At, loc)
			if t.Status.State == feed.StateOnline || t.Status.State == feed.StateOffline {
				row.State = t.Status.State
			}
		}
		if row.Key != nil {
			row.KeyPrint = keyPrint(*row.Key)
			row.KeyTitle = *row.Key + " · " + ts(t.KeyAt, loc)
		}
		row.Late = row.Behind > 0 || row.Waiting > 0
		if row.Late {
			d.Late++
		}
		d.Tills = append(d.Tills, row)
	}
	if tq.AfterPharmacy != "" {
		d.TillsFirst = pageURL(q, map[string][]string{"after": nil})
	}
	if len(tills) == tq.Limit {
		last := tills[len(tills)-1]
		d.TillsNext = pageURL(q, map[string][]string{"after": {last.Pharmacy + "/" + last.Till}})
	}
	return nil
}

func (s *server) alarmRows(ctx context.Context, d *pageData, q url.Values, aq archive.AlarmQuery, latest bool, loc *time.Location) error {
	var alarms []archive.Alarm
	var err error
	d.AlarmsLatest = latest
	if latest {
		alarms, d.AlarmsMore, err = s.latestAlarms(ctx, aq, pageAlarms)
		d.AlarmsOther = pageURL(q, map[string][]string{"after_id": {"0"}})
	} else {
		aq.Limit = pageAlarms
		alarms, err = s.st.Alarms(ctx, aq)
		d.AlarmsOther = pageURL(q, map[string][]string{"after_id": nil})
		if len(alarms) == aq.Limit {
			d.AlarmsNext = pageURL(q, map[string][]string{"after_id": {strconv.FormatInt(alarms[len(alarms)-1].ID, 10)}})
		}
	}
	if err != nil {
		return err
	}
	for _, a := range alarms {
		row := alarmRow{Alarm: a, At: ts(a.At, loc), LastAt: ts(a.LastAt, loc)}
		if t, ok := alarmTitles[a.Kind]; ok {
			row.TitleZH, row.TitleEN = t[0], t[1]
		}
		for _, ref := range a.Records {
			ev, err := s.evidence(ctx, ref, loc)
			if err != nil {
				return err
			}
			row.Evidence = append(row.Evidence, ev)
		}
		d.Alarms = append(d.Alarms, row)
	}
	return nil
}

// latestAlarms returns the newest n alarms matching q, newest first. The
// store lists oldest first, so it reads to the end, at most maxTailPages
// pages; more says it stopped before.
func (s *server) latestAlarms(ctx context.Context, q archive.AlarmQuery, n int) (alarms []archive.Alarm, more bool, err error) {
	q.Limit = archive.MaxLimit
	for range maxTailPages {
		page, err := s.st.Alarms(ctx, q)
		if err != nil {
			return nil, false, err
		}
		if len(page) > 0 {
			alarms = append(alarms, page[max(len(page)-n, 0):]...)
			alarms = slices.Clone(alarms[max(len(alarms)-n, 0):])
			q.AfterID = page[len(page)-1].ID
		}
		if len(page) < q.Limit {
			slices.Reverse(alarms)
			return alarms, false, nil
		}
	}
	slices.Reverse(alarms)
	return alarms, true, nil
}

// evidence reads the record an alarm concerns, for the page: masked.
func (s *server) evidence(ctx context.Context, ref archive.RecordRef, loc *time.Location) (evidence, error) {
	ev := evidence{Ref: ref, URL: recordsURL(ref.Pharmacy, ref.Till, ref.Seq, 1)}
	rec, _, err := s.st.Get(ctx, ref.Pharmacy, ref.Till, ref.Seq)
	if errors.Is(err, archive.ErrNotFound) {
		return ev, nil // a gap's or a conflict's record may be stored nowhere
	}
	if err != nil {
		return ev, err
	}
	var r feed.Record
	if json.Unmarshal(rec, &r) != nil {
		return ev, nil
	}
	ev.Found, ev.Kind, ev.KindZH, ev.At = true, r.Kind, recordKinds[r.Kind], recordTime(r.At, loc)
	if r.Card != nil {
		ev.Card, ev.Holder = feed.MaskCardNo(r.Card.No), feed.MaskName(r.Card.Name)
	}
	ev.Lines = r.Lines
	if len(ev.Lines) > evidenceLines {
		ev.Lines, ev.More = ev.Lines[:evidenceLines], len(ev.Lines)-evidenceLines
	}
	return ev, nil
}

func (s *server) blockedRows(ctx context.Context, d *pageData, pharmacy string, from, to time.Time) error {
	counts, err := s.blocked(ctx, from, to)
	if err != nil {
		return err
	}
	var all []pharmacyBlocked
	for _, c := range counts {
		if pharmacy != "" && c.Pharmacy != pharmacy {
			continue
		}
		if len(all) == 0 || all[len(all)-1].Pharmacy != c.Pharmacy {
			all = append(all, pharmacyBlocked{Pharmacy: c.Pharmacy})
		}
		p := &all[len(all)-1]
		rc := ruleCount{Rule: c.Rule, Count: c.Count}
		if info, ok := policy.RuleID(c.Rule).Info(); ok {
			rc.TitleZH, rc.TitleEN = info.TitleZH, info.TitleEN
		}
		p.Rules = append(p.Rules, rc)
		p.Total += c.Count
		d.BlockedTotal += c.Count
	}
	for _, p := range all {
		slices.SortStableFunc(p.Rules, func(a, b ruleCount) int { return cmp.Compare(b.Count, a.Count) })
	}
	slices.SortStableFunc(all, func(a, b pharmacyBlocked) int { return cmp.Compare(b.Total, a.Total) })
	if len(all) > pagePharmacies {
		d.BlockedMore = len(all) - pagePharmacies
		all = all[:pagePharmacies]
	}
	d.Blocked = all
	return nil
}

func (s *server) searchRows(ctx context.Context, d *pageData, q archive.SearchQuery, loc *time.Location) error {
	hits, err := s.st.Search(ctx, q)
	if err != nil {
		return err
	}
	v := &searchView{ByCard: q.Card != "", Term: q.Trace}
	if v.ByCard {
		v.Term = feed.MaskCardNo(q.Card)
	}
	for _, h := range hits {
		h.Card = feed.MaskCardNo(h.Card)
		row := hitRow{LineHit: h, At: ts(h.At, loc), URL: recordsURL(h.Pharmacy, h.Till, h.Seq, 1)}
		if info, ok := policy.RuleID(h.Rule).Info(); ok {
			row.RuleZH = info.TitleZH
		}
		v.Hits = append(v.Hits, row)
	}
	d.Search = v
	return nil
}

// receiverFields lists the receiver's counters, whatever their type, as
// its JSON shows them: one row per top-level field.
func receiverFields(v any) []field {
	b, err := json.Marshal(v)
	if err != nil {
		return []field{{"error", err.Error()}}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return []field{{"", string(b)}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]field, 0, len(keys))
	for _, k := range keys {
		val := string(m[k])
		var str string
		if json.Unmarshal(m[k], &str) == nil {
			val = str
		}
		out = append(out, field{k, val})
	}
	return out
}
