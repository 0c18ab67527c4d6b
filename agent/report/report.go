package report

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Source is where records come from: the till's ledger.
type Source interface {
	Scan(from uint64, fn func(ledger.Entry) error) error
}

// Period is [From, To): whole local days, To the midnight after the last.
type Period struct {
	From, To time.Time
}

// dateLayout is how periods are written on command lines and in URLs.
const dateLayout = "2006-01-02"

// maxDays bounds a period: a year and a bit is more than any inspection asks.
const maxDays = 400

// ParsePeriod reads two dates (YYYY-MM-DD, both days included) in loc.
func ParsePeriod(from, to string, loc *time.Location) (Period, error) {
	f, err := time.ParseInLocation(dateLayout, from, loc)
	if err != nil {
		return Period{}, fmt.Errorf("%w: from %q: want YYYY-MM-DD", ErrPeriod, from)
	}
	t, err := time.ParseInLocation(dateLayout, to, loc)
	if err != nil {
		return Period{}, fmt.Errorf("%w: to %q: want YYYY-MM-DD", ErrPeriod, to)
	}
	if t.Before(f) {
		return Period{}, fmt.Errorf("%w: to %s is before from %s", ErrPeriod, to, from)
	}
	p := Period{From: f, To: t.AddDate(0, 0, 1)}
	if p.To.Sub(p.From) > maxDays*24*time.Hour+time.Hour { // +1h: a DST day
		return Period{}, fmt.Errorf("%w: %s to %s is longer than %d days", ErrPeriod, from, to, maxDays)
	}
	return p, nil
}

// Day is the local day of t.
func Day(t time.Time) Period {
	y, m, d := t.Date()
	f := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	return Period{From: f, To: f.AddDate(0, 0, 1)}
}

// FromDate and ToDate write the period as ParsePeriod reads it.
func (p Period) FromDate() string { return p.From.Format(dateLayout) }

// ToDate is the last day of the period.
func (p Period) ToDate() string { return p.To.AddDate(0, 0, -1).Format(dateLayout) }

func (p Period) contains(t time.Time) bool { return !t.Before(p.From) && t.Before(p.To) }

// Report is what a period's records say.
type Report struct {
	Period    Period
	Generated time.Time
	Pharmacy  string
	Till      string
	Records   int // records in the period
	Undecoded int // records in the period that could not be read (none, in a sound ledger)

	Sales Sales
	// Attempts is the lines decided other than allow (block, hold or
	// flag), each once however often it was re-decided (Lines).
	Attempts  int
	Flagged   int         // of Attempts, the lines flagged: they went through
	Rules     []RuleCount // every known rule in the order of docs/rules.md, then any other ids seen
	Stopped   []Event     // the lines blocked or held, in ledger order
	Overrides []Override
	Returns   []Return
	DenyHits  []Event // lines refused because the card is on the deny list
	Gaps      []Gap   // times a device was not connected
}

// Sales sums the period's completed sales, in fen.
type Sales struct {
	Count        int
	TotalFen     int64
	InsuranceFen int64
	CashFen      int64
}

// InsuranceShare is the insurance part of the sales' value, 0–1.
func (s Sales) InsuranceShare() float64 {
	if s.TotalFen == 0 {
		return 0
	}
	return float64(s.InsuranceFen) / float64(s.TotalFen)
}

// RuleCount is how often a rule decided a line, by verdict.
type RuleCount struct {
	Rule    string
	TitleZH string // "" for a rule this build does not know
	TitleEN string
	Block   int
	Hold    int
	Flag    int
}

// Total is every decision of the rule.
func (c RuleCount) Total() int { return c.Block + c.Hold + c.Flag }

// Event is one line decided other than allow.
type Event struct {
	Seq      uint64
	ID       string // of the record: an override's Ref names a hold's
	At       time.Time
	Card     string // masked
	Cashier  string // "" when the record names none
	Barcode  string
	Name     string
	Rule     string
	TitleZH  string // the rule's title; "" for a rule this build does not know
	TitleEN  string
	Decision string
	ReasonZH string
	ReasonEN string
	// ReleasedBy is the pharmacist who released a held line; "" if none
	// did (within the records read).
	ReleasedBy string
}

// Override is a pharmacist's release of a held line.
type Override struct {
	Seq        uint64
	At         time.Time
	Pharmacist string
	Reason     string
	Card       string // masked
	Barcode    string
	Name       string
	Rule       string // the rule that held the line
	Ref        string // id of the hold's record
}

// Return is goods brought back.
type Return struct {
	Seq          uint64
	At           time.Time
	SaleID       string
	Refund       string // fund or cash
	Cashier      string
	Card         string // masked
	Items        string // "name ×qty, …"
	Qty          int
	InsuranceFen int64
	CashFen      int64
}

// Gap is a time a device was not connected, clipped to the period.
type Gap struct {
	Device string // card or scanner
	State  string // disconnected or missing
	Reason string
	From   time.Time
	To     time.Time
	Open   bool // not connected again by the end of the period (or now)
}

// Duration is how long the gap lasted inside the period.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

// Build reads every record of src and reports on those inside p. now ends
// a gap that is still open.
func Build(src Source, p Period, now time.Time) (*Report, error) {
	if !p.From.Before(p.To) {
		return nil, fmt.Errorf("%w: empty period", ErrPeriod)
	}
	b := newBuilder(p, now)
	err := src.Scan(1, func(e ledger.Entry) error {
		b.add(e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: read ledger: %w", err)
	}
	return b.finish(), nil
}

type builder struct {
	r     Report
	now   time.Time
	rules map[string]*RuleCount
	order []string
	down  map[string]*Gap // device → the gap it is in
	lines *Lines
	// released maps the first record of a held line to the pharmacist
	// who released it.
	released map[string]string
}

func newBuilder(p Period, now time.Time) *builder {
	b := &builder{
		r:     Report{Period: p, Generated: now},
		now:   now,
		rules: map[string]*RuleCount{},
		down:  map[string]*Gap{},
		lines: NewLines(),

		released: map[string]string{},
	}
	for _, info := range policy.Rules() {
		id := string(info.ID)
		b.rules[id] = &RuleCount{Rule: id, TitleZH: info.TitleZH, TitleEN: info.TitleEN}
		b.order = append(b.order, id)
	}
	return b
}

func (b *builder) add(e ledger.Entry) {
	var r feed.Record
	jerr := json.Unmarshal(e.Rec, &r)
	at := e.At
	if t, err := time.Parse(time.RFC3339, r.At); err == nil {
		at = t
	}
	if jerr != nil {
		if b.r.Period.contains(at) {
			b.r.Records++
			b.r.Undecoded++
		}
		return
	}
	// Device records before the period tell the state it starts in.
	if r.Kind == feed.KindDevice && r.Device != nil && at.Before(b.r.Period.To) {
		b.device(r, at)
	}
	// Every record passes Lines, so that a re-decision in the period of a
	// line first recorded before it is known as one.
	decided := b.lines.Decided(&r)
	if r.Kind == feed.KindOverride && r.Ref != "" {
		b.released[b.lines.First(r.Ref)] = r.Pharmacist
	}
	if !b.r.Period.contains(at) {
		return
	}
	b.r.Records++
	if b.r.Pharmacy == "" {
		b.r.Pharmacy, b.r.Till = r.Pharmacy, r.Till
	}
	card := ""
	if r.Card != nil {
		card = feed.MaskCardNo(r.Card.No)
	}
	switch r.Kind {
	case feed.KindSale:
		b.r.Sales.Count++
		if r.Payment != nil {
			b.r.Sales.InsuranceFen += r.Payment.InsuranceFen
			b.r.Sales.CashFen += r.Payment.CashFen
			b.r.Sales.TotalFen += r.Payment.InsuranceFen + r.Payment.CashFen
		}
	case feed.KindBlocked, feed.KindFlagged:
		for _, l := range decided {
			b.decided(e, r, at, card, l)
		}
	case feed.KindOverride:
		o := Override{Seq: e.Seq, At: at, Pharmacist: r.Pharmacist, Reason: r.Reason, Card: card, Ref: r.Ref}
		if len(r.Lines) > 0 {
			o.Barcode, o.Name, o.Rule = r.Lines[0].Barcode, r.Lines[0].Name, r.Lines[0].Rule
		}
		b.r.Overrides = append(b.r.Overrides, o)
	case feed.KindReturn:
		ret := Return{Seq: e.Seq, At: at, SaleID: r.Ref, Cashier: r.Cashier, Card: card}
		if r.Payment != nil {
			ret.Refund, ret.InsuranceFen, ret.CashFen = r.Payment.Method, r.Payment.InsuranceFen, r.Payment.CashFen
		}
		for i, l := range r.Lines {
			if i > 0 {
				ret.Items += ", "
			}
			name := l.Name
			if name == "" {
				name = l.Barcode
			}
			ret.Items += fmt.Sprintf("%s ×%d", name, l.Qty)
			ret.Qty += l.Qty
		}
		b.r.Returns = append(b.r.Returns, ret)
	}
}

// decided counts one line decided other than allow and lists it where
// it belongs: stopped, a deny-list hit.
func (b *builder) decided(e ledger.Entry, r feed.Record, at time.Time, card string, l feed.Line) {
	c := b.count(l.Rule, l.Decision)
	b.r.Attempts++
	ev := Event{
		Seq: e.Seq, ID: r.ID, At: at, Card: card, Cashier: r.Cashier, Barcode: l.Barcode, Name: l.Name,
		Rule: l.Rule, TitleZH: c.TitleZH, TitleEN: c.TitleEN,
		Decision: l.Decision, ReasonZH: l.ReasonZH, ReasonEN: l.ReasonEN,
	}
	if Stops(l.Decision) {
		b.r.Stopped = append(b.r.Stopped, ev)
	} else {
		b.r.Flagged++
	}
	if l.Rule == string(policy.RuleCardBlocked) || slices.Contains(l.Flags, string(policy.RuleCardBlocked)) {
		b.r.DenyHits = append(b.r.DenyHits, ev)
	}
}

func (b *builder) count(rule, decision string) *RuleCount {
	if rule == "" {
		rule = "(none)"
	}
	c, ok := b.rules[rule]
	if !ok {
		c = &RuleCount{Rule: rule}
		b.rules[rule] = c
		b.order = append(b.order, rule)
	}
	switch decision {
	case feed.Block:
		c.Block++
	case feed.Hold:
		c.Hold++
	default:
		c.Flag++
	}
	return c
}

// device follows one device's state; a gap runs from leaving connected to
// the next connected record.
func (b *builder) device(r feed.Record, at time.Time) {
	name := r.Device.Name
	g, down := b.down[name]
	switch {
	case r.Device.State == "connected" && down:
		delete(b.down, name)
		b.close(g, at)
	case r.Device.State != "connected" && !down:
		b.down[name] = &Gap{Device: name, State: r.Device.State, Reason: r.Reason, From: at}
	}
}

// close ends g at `to` and keeps the part of it inside the period.
func (b *builder) close(g *Gap, to time.Time) {
	p := b.r.Period
	if g.From.Before(p.From) {
		g.From = p.From
	}
	if to.After(p.To) {
		to = p.To
	}
	if !to.After(g.From) {
		return
	}
	g.To = to
	b.r.Gaps = append(b.r.Gaps, *g)
}

func (b *builder) finish() *Report {
	for _, name := range []string{"card", "scanner"} {
		if g, ok := b.down[name]; ok {
			g.Open = true
			b.close(g, b.now)
			delete(b.down, name)
		}
	}
	for name, g := range b.down { // devices this build does not name
		g.Open = true
		b.close(g, b.now)
		delete(b.down, name)
	}
	slices.SortStableFunc(b.r.Gaps, func(x, y Gap) int { return x.From.Compare(y.From) })
	// An override may come after the period: every record was read.
	for i, ev := range b.r.Stopped {
		if ev.Decision == feed.Hold && ev.ID != "" {
			b.r.Stopped[i].ReleasedBy = b.released[ev.ID]
		}
	}
	for _, id := range b.order {
		b.r.Rules = append(b.r.Rules, *b.rules[id])
	}
	return &b.r
}

// Blocked is the rules that decided at least one line, for charts.
func (r *Report) Blocked() []RuleCount {
	var out []RuleCount
	for _, c := range r.Rules {
		if c.Total() > 0 {
			out = append(out, c)
		}
	}
	return out
}

// StoppedNewest is the last n stopped lines, newest first, and how many
// more there are: the dashboard shows a bounded list.
func (r *Report) StoppedNewest(n int) (newest []Event, more int) {
	k := min(n, len(r.Stopped))
	for i := len(r.Stopped) - 1; i >= len(r.Stopped)-k; i-- {
		newest = append(newest, r.Stopped[i])
	}
	return newest, len(r.Stopped) - k
}
