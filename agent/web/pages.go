package web

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/report"
)

//go:embed assets
var assets embed.FS

// site serves the pages: the owner's dashboard (/), the cashier's screen
// (/till), the self-inspection report (/report, /report.csv) and their
// static files.
type site struct {
	*handler
	dash *template.Template
}

// pages registers the pages, /metrics and /api/events.
func (h *handler) pages(mux *router) {
	if h.Now == nil {
		h.Now = time.Now
	}
	s := &site{
		handler: h,
		dash:    template.Must(template.New("dashboard.html").Funcs(report.Funcs()).ParseFS(assets, "assets/dashboard.html")),
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.handle("GET /{$}", http.HandlerFunc(s.dashboard))
	mux.handle("GET /till", http.HandlerFunc(s.till))
	mux.handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.handle("GET /report", http.HandlerFunc(s.report))
	mux.handle("GET /report.csv", http.HandlerFunc(s.reportCSV))
	mux.handle("GET /metrics", http.HandlerFunc(h.metrics))
	mux.handle("GET /api/events", http.HandlerFunc(h.events))
}

func (s *site) till(w http.ResponseWriter, _ *http.Request) {
	b, err := assets.ReadFile("assets/till.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// period reads ?from=&to= (YYYY-MM-DD, both days included); without
// both, def. A bad period is answered with 400 and ok false.
func (s *site) period(w http.ResponseWriter, r *http.Request, def report.Period) (p report.Period, given, ok bool) {
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	if from == "" && to == "" {
		return def, false, true
	}
	if from == "" || to == "" {
		writeError(w, http.StatusBadRequest, "give both from and to (YYYY-MM-DD)")
		return p, false, false
	}
	p, err := report.ParsePeriod(from, to, s.Now().Location())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return p, false, false
	}
	return p, true, true
}

// build runs the report, answering 500 itself on failure.
func (s *site) build(w http.ResponseWriter, p report.Period) (*report.Report, bool) {
	if s.Records == nil {
		writeError(w, http.StatusNotFound, "no ledger wired in")
		return nil, false
	}
	rep, err := report.Build(s.Records, p, s.Now())
	if err != nil {
		s.Log.Error("web: report", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return rep, true
}

func (s *site) report(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.period(w, r, report.Day(s.Now()))
	if !ok {
		return
	}
	rep, ok := s.build(w, p)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := report.WriteHTML(w, rep, report.HTMLOpts{Form: true}); err != nil {
		s.Log.Error("web: report page", "err", err)
	}
}

func (s *site) reportCSV(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.period(w, r, report.Day(s.Now()))
	if !ok {
		return
	}
	rep, ok := s.build(w, p)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="tillguard-report-%s-%s.csv"`, p.FromDate(), p.ToDate()))
	if err := report.WriteCSV(w, rep); err != nil {
		s.Log.Error("web: report csv", "err", err)
	}
}

// dashboardDays is the default chosen period: the last week, today included.
const dashboardDays = 7

// dashboardStopped bounds the period's stopped items on the dashboard,
// which reloads every minute; the report lists them all.
const dashboardStopped = 200

type dashboardData struct {
	Now          time.Time
	Status       Status
	Today        *report.Report
	Period       *report.Report
	Custom       bool
	TodayChart   template.HTML
	PeriodChart  template.HTML
	Chain        chainState
	Stopped      []report.Event // the period's newest stopped lines, newest first
	StoppedMore  int            // the period's stopped lines not in Stopped
	DrainPct     float64        // acked of head, 0–100
	Draining     bool           // connected with a backlog
	OldestUnsent string
}

func (s *site) dashboard(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	today := report.Day(now)
	def := report.Period{From: today.From.AddDate(0, 0, 1-dashboardDays), To: today.To}
	p, custom, ok := s.period(w, r, def)
	if !ok {
		return
	}
	d := dashboardData{Now: now, Status: s.Status(), Custom: custom}
	d.Chain = chainRow(d.Status.Chain)
	if d.Today, ok = s.build(w, today); !ok {
		return
	}
	if d.Period, ok = s.build(w, p); !ok {
		return
	}
	d.TodayChart = BarChart(d.Today.Blocked())
	d.PeriodChart = BarChart(d.Period.Blocked())
	d.Stopped, d.StoppedMore = d.Period.StoppedNewest(dashboardStopped)
	d.DrainPct = 100
	if d.Status.HeadSeq > 0 {
		d.DrainPct = 100 * float64(d.Status.AckedSeq) / float64(d.Status.HeadSeq)
	}
	d.Draining = d.Status.Uplink.Connected && d.Status.Outbox.Depth > 0
	if d.Status.Outbox.Depth > 0 {
		d.OldestUnsent = report.Duration(time.Duration(d.Status.Outbox.OldestAgeS * float64(time.Second)))
	}
	var b strings.Builder
	if err := s.dash.Execute(&b, d); err != nil {
		s.Log.Error("web: dashboard", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

// chainState is the chain row of the dashboard.
type chainState struct {
	Shown   bool // a chain check is wired in
	Known   bool // checked at least once
	OK      bool
	Error   string
	Checked time.Time
}

func chainRow(c *Chain) chainState {
	if c == nil {
		return chainState{}
	}
	st := chainState{Shown: true, Known: c.Checked != "", OK: c.OK, Error: c.Error}
	st.Checked, _ = time.Parse(time.RFC3339, c.Checked)
	return st
}
