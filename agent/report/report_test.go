package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// entries is a Source over records given in order (seq = position + 1).
type entries []ledger.Entry

func (es entries) Scan(from uint64, fn func(ledger.Entry) error) error {
	for _, e := range es {
		if e.Seq < from {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

var cst = time.FixedZone("CST", 8*3600)

func at(day, hhmm string) string { return day + "T" + hhmm + ":00+08:00" }

func source(t *testing.T, recs ...feed.Record) entries {
	t.Helper()
	var out entries
	for i, r := range recs {
		r.Seq, r.Pharmacy, r.Till = uint64(i+1), "H1", "T1"
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ledger.Entry{Seq: r.Seq, Rec: b})
	}
	return out
}

func blocked(when, rule, decision string, flags ...string) feed.Record {
	return feed.Record{Kind: feed.KindBlocked, At: when, Card: &feed.Card{Type: "03", No: "A12345678"},
		Lines: []feed.Line{{Barcode: "6901", Name: "洗发水", Qty: 1, Decision: decision, Rule: rule, Flags: flags}}}
}

func sale(when string, ins, cash int64) feed.Record {
	return feed.Record{Kind: feed.KindSale, At: when, Payment: &feed.Payment{Method: "split", InsuranceFen: ins, CashFen: cash}}
}

func device(when, name, state string) feed.Record {
	return feed.Record{Kind: feed.KindDevice, At: when, Device: &feed.Device{Name: name, State: state}}
}

func ruleCount(r *Report, id string) RuleCount {
	for _, c := range r.Rules {
		if c.Rule == id {
			return c
		}
	}
	return RuleCount{}
}

func TestBuild_counts(t *testing.T) {
	day := "2025-03-10"
	tests := []struct {
		name      string
		recs      []feed.Record
		sales     Sales
		attempts  int
		rules     map[string][3]int // block, hold, flag
		overrides int
		returns   int
		deny      int
		records   int
	}{
		{name: "empty", records: 0},
		{
			name: "sales and blocks in the day",
			recs: []feed.Record{
				sale(at(day, "09:00"), 1000, 500),
				blocked(at(day, "09:01"), "non_drug", "block"),
				blocked(at(day, "09:02"), "non_drug", "block"),
				blocked(at(day, "09:03"), "rx_required", "hold"),
				blocked(at(day, "09:04"), "manual_entry", "flag"),
				sale(at(day, "10:00"), 0, 300),
			},
			sales:    Sales{Count: 2, TotalFen: 1800, InsuranceFen: 1000, CashFen: 800},
			attempts: 4,
			rules:    map[string][3]int{"non_drug": {2, 0, 0}, "rx_required": {0, 1, 0}, "manual_entry": {0, 0, 1}, "days_supply": {}},
			records:  6,
		},
		{
			name: "records outside the period are left out",
			recs: []feed.Record{
				blocked(at("2025-03-09", "23:59"), "non_drug", "block"),
				blocked(at(day, "00:00"), "non_drug", "block"),
				blocked(at("2025-03-11", "00:00"), "non_drug", "block"),
				sale("2025-03-10T16:30:00Z", 100, 0), // 00:30 on the 11th in +08:00
			},
			attempts: 1,
			rules:    map[string][3]int{"non_drug": {1, 0, 0}},
			records:  1,
		},
		{
			name: "overrides, returns and deny-list hits",
			recs: []feed.Record{
				blocked(at(day, "11:00"), "card_blocked", "block"),
				blocked(at(day, "11:01"), "non_drug", "block", "card_blocked"),
				{Kind: feed.KindOverride, At: at(day, "11:02"), Pharmacist: "P01", Reason: "凭处方", Lines: []feed.Line{{Barcode: "6902", Rule: "rx_required", Decision: "hold"}}},
				{Kind: feed.KindReturn, At: at(day, "11:03"), Ref: "sale-1", Payment: &feed.Payment{Method: "fund", InsuranceFen: 200}, Lines: []feed.Line{{Barcode: "6903", Name: "阿莫西林", Qty: 2}}},
			},
			attempts:  2,
			rules:     map[string][3]int{"card_blocked": {1, 0, 0}, "non_drug": {1, 0, 0}},
			overrides: 1, returns: 1, deny: 2, records: 4,
		},
		{
			name:     "unknown rule ids are kept",
			recs:     []feed.Record{blocked(at(day, "12:00"), "future_rule", "block")},
			attempts: 1, rules: map[string][3]int{"future_rule": {1, 0, 0}}, records: 1,
		},
		{
			name: "allowed lines of a refused return are not attempts",
			recs: []feed.Record{{Kind: feed.KindBlocked, At: at(day, "13:00"), Lines: []feed.Line{
				{Barcode: "1", Decision: "block", Rule: "cash_refund"}, {Barcode: "2", Decision: "allow"}}}},
			attempts: 1, rules: map[string][3]int{"cash_refund": {1, 0, 0}}, records: 1,
		},
	}
	p, err := ParsePeriod(day, day, cst)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(source(t, tt.recs...), p, time.Date(2025, 3, 12, 0, 0, 0, 0, cst))
			if err != nil {
				t.Fatal(err)
			}
			if r.Sales != tt.sales {
				t.Errorf("sales = %+v, want %+v", r.Sales, tt.sales)
			}
			if r.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", r.Attempts, tt.attempts)
			}
			for id, want := range tt.rules {
				c := ruleCount(r, id)
				if got := [3]int{c.Block, c.Hold, c.Flag}; got != want {
					t.Errorf("rule %s = %v, want %v", id, got, want)
				}
			}
			if len(r.Overrides) != tt.overrides || len(r.Returns) != tt.returns || len(r.DenyHits) != tt.deny {
				t.Errorf("overrides, returns, deny hits = %d, %d, %d; want %d, %d, %d",
					len(r.Overrides), len(r.Returns), len(r.DenyHits), tt.overrides, tt.returns, tt.deny)
			}
			if r.Records != tt.records {
				t.Errorf("records = %d, want %d", r.Records, tt.records)
			}
			if len(r.Rules) < 15 {
				t.Errorf("%d rules listed, want every known rule", len(r.Rules))
			}
		})
	}
}

func TestBuild_masksCards(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	r, err := Build(source(t, blocked(at(day, "11:00"), "card_blocked", "block")), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var csvOut, htmlOut bytes.Buffer
	if err := WriteCSV(&csvOut, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&htmlOut, r, HTMLOpts{}); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"csv": csvOut.String(), "html": htmlOut.String()} {
		if strings.Contains(out, "A12345678") {
			t.Errorf("%s shows the card number unmasked", name)
		}
		if !strings.Contains(out, "A1234****") {
			t.Errorf("%s lacks the masked card number", name)
		}
	}
}

func TestBuild_deviceGaps(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	now := time.Date(2025, 3, 10, 18, 0, 0, 0, cst)
	tests := []struct {
		name string
		recs []feed.Record
		want []Gap
	}{
		{name: "no device records", want: nil},
		{
			name: "a gap inside the day",
			recs: []feed.Record{
				device(at(day, "08:00"), "card", "connected"),
				device(at(day, "09:00"), "card", "disconnected"),
				device(at(day, "09:30"), "card", "connected"),
			},
			want: []Gap{{Device: "card", State: "disconnected", From: time.Date(2025, 3, 10, 9, 0, 0, 0, cst), To: time.Date(2025, 3, 10, 9, 30, 0, 0, cst)}},
		},
		{
			name: "a gap from the day before is clipped",
			recs: []feed.Record{
				device(at("2025-03-09", "22:00"), "scanner", "disconnected"),
				device(at(day, "01:00"), "scanner", "connected"),
			},
			want: []Gap{{Device: "scanner", State: "disconnected", From: time.Date(2025, 3, 10, 0, 0, 0, 0, cst), To: time.Date(2025, 3, 10, 1, 0, 0, 0, cst)}},
		},
		{
			name: "a gap still open ends now",
			recs: []feed.Record{device(at(day, "17:00"), "card", "disconnected")},
			want: []Gap{{Device: "card", State: "disconnected", From: time.Date(2025, 3, 10, 17, 0, 0, 0, cst), To: now, Open: true}},
		},
		{
			name: "a gap closed before the period is not shown",
			recs: []feed.Record{
				device(at("2025-03-09", "10:00"), "card", "disconnected"),
				device(at("2025-03-09", "11:00"), "card", "connected"),
			},
			want: nil,
		},
		{
			name: "repeated disconnects are one gap",
			recs: []feed.Record{
				device(at(day, "09:00"), "card", "disconnected"),
				device(at(day, "09:10"), "card", "missing"),
				device(at(day, "09:20"), "card", "connected"),
			},
			want: []Gap{{Device: "card", State: "disconnected", From: time.Date(2025, 3, 10, 9, 0, 0, 0, cst), To: time.Date(2025, 3, 10, 9, 20, 0, 0, cst)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(source(t, tt.recs...), p, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Gaps) != len(tt.want) {
				t.Fatalf("gaps = %+v, want %+v", r.Gaps, tt.want)
			}
			for i, g := range r.Gaps {
				w := tt.want[i]
				if g.Device != w.Device || g.State != w.State || !g.From.Equal(w.From) || !g.To.Equal(w.To) || g.Open != w.Open {
					t.Errorf("gap %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
		days     int
	}{
		{"2025-03-10", "2025-03-10", true, 1},
		{"2025-03-01", "2025-03-31", true, 31},
		{"2025-03-10", "2025-03-09", false, 0},
		{"2025-3-10", "2025-03-10", false, 0},
		{"", "2025-03-10", false, 0},
		{"2025-03-10", "yesterday", false, 0},
		{"2020-01-01", "2025-01-01", false, 0},
	}
	for _, tt := range tests {
		p, err := ParsePeriod(tt.from, tt.to, cst)
		if (err == nil) != tt.ok {
			t.Errorf("ParsePeriod(%q, %q) error = %v, want ok %v", tt.from, tt.to, err, tt.ok)
			continue
		}
		if !tt.ok {
			if !errors.Is(err, ErrPeriod) {
				t.Errorf("error %v does not wrap ErrPeriod", err)
			}
			continue
		}
		if got := int(p.To.Sub(p.From) / (24 * time.Hour)); got != tt.days {
			t.Errorf("ParsePeriod(%q, %q) spans %d days, want %d", tt.from, tt.to, got, tt.days)
		}
		if p.FromDate() != tt.from || p.ToDate() != tt.to {
			t.Errorf("round trip = %s..%s, want %s..%s", p.FromDate(), p.ToDate(), tt.from, tt.to)
		}
	}
}

func TestWriteCSV_parses(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	r, err := Build(source(t, blocked(at(day, "11:00"), "non_drug", "block"), sale(at(day, "12:00"), 100, 0)), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&b)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range rows {
		if row[0] == "rule" && row[1] == "non_drug" {
			found = row[4] == "1" && row[7] == "1"
		}
	}
	if !found {
		t.Errorf("no rule row for non_drug with one block in\n%s", b.String())
	}
}

func TestBuild_undecodable(t *testing.T) {
	p := Day(time.Now())
	src := entries{{Seq: 1, Rec: []byte("{not json"), At: time.Now()}}
	r, err := Build(src, p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Undecoded != 1 || r.Records != 1 {
		t.Errorf("undecoded, records = %d, %d; want 1, 1", r.Undecoded, r.Records)
	}
}

// redecided is a record of a line re-decided with another verdict or
// rule: its Ref names the line's earlier record (agent/session).
func redecided(when, ref, rule, decision string) feed.Record {
	r := blocked(when, rule, decision)
	r.Ref = ref
	return r
}

// withID gives a record the id the ledger would.
func withID(r feed.Record, id string) feed.Record {
	r.ID = id
	return r
}

func TestBuild_lineCountsOnce(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	tests := []struct {
		name     string
		recs     []feed.Record
		attempts int
		rules    map[string][3]int
		stopped  []string // rules of the stopped lines, in order
	}{
		{
			name: "a re-decision with another rule is not counted again",
			recs: []feed.Record{
				withID(blocked(at(day, "09:00"), "rx_required", "hold"), "r1"),
				redecided(at(day, "09:01"), "r1", "trace_missing", "hold"),
				redecided(at(day, "09:02"), "r1", "days_supply", "block"),
			},
			attempts: 1,
			rules:    map[string][3]int{"rx_required": {0, 1, 0}, "trace_missing": {}, "days_supply": {}},
			stopped:  []string{"rx_required"},
		},
		{
			name: "a chain through a re-decision is one line",
			recs: []feed.Record{
				withID(blocked(at(day, "09:00"), "rx_required", "hold"), "r1"),
				withID(redecided(at(day, "09:01"), "r1", "trace_missing", "hold"), "r2"),
				redecided(at(day, "09:02"), "r2", "days_supply", "block"),
			},
			attempts: 1,
			rules:    map[string][3]int{"rx_required": {0, 1, 0}},
			stopped:  []string{"rx_required"},
		},
		{
			name: "a line first recorded the day before counts that day",
			recs: []feed.Record{
				withID(blocked(at("2025-03-09", "23:59"), "non_drug", "block"), "r1"),
				redecided(at(day, "00:01"), "r1", "card_blocked", "block"),
			},
			attempts: 0,
			rules:    map[string][3]int{"non_drug": {}, "card_blocked": {}},
		},
		{
			name: "a refused return refers to a sale: it counts",
			recs: []feed.Record{
				withID(sale(at(day, "09:00"), 100, 0), "s1"),
				redecided(at(day, "10:00"), "s1", "cash_refund", "block"),
			},
			attempts: 1,
			rules:    map[string][3]int{"cash_refund": {1, 0, 0}},
			stopped:  []string{"cash_refund"},
		},
		{
			name: "flagged lines are counted, not stopped",
			recs: []feed.Record{
				blocked(at(day, "09:00"), "manual_entry", "flag"),
				blocked(at(day, "09:01"), "non_drug", "block"),
				blocked(at(day, "09:02"), "rx_required", "hold"),
			},
			attempts: 3,
			rules:    map[string][3]int{"manual_entry": {0, 0, 1}, "non_drug": {1, 0, 0}, "rx_required": {0, 1, 0}},
			stopped:  []string{"non_drug", "rx_required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(source(t, tt.recs...), p, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if r.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", r.Attempts, tt.attempts)
			}
			for id, want := range tt.rules {
				c := ruleCount(r, id)
				if got := [3]int{c.Block, c.Hold, c.Flag}; got != want {
					t.Errorf("rule %s = %v, want %v", id, got, want)
				}
			}
			var got []string
			for _, ev := range r.Stopped {
				got = append(got, ev.Rule)
			}
			if strings.Join(got, ",") != strings.Join(tt.stopped, ",") {
				t.Errorf("stopped = %v, want %v", got, tt.stopped)
			}
			if r.Flagged+len(r.Stopped) != r.Attempts {
				t.Errorf("flagged %d + stopped %d != attempts %d", r.Flagged, len(r.Stopped), r.Attempts)
			}
		})
	}
}

// TestLines_bounded: Lines forgets the oldest ids past its bound, and
// still knows the newest.
func TestLines_bounded(t *testing.T) {
	s := NewLines()
	for i := range rememberIDs + 10 {
		s.Decided(&feed.Record{Kind: feed.KindBlocked, ID: fmt.Sprint("r", i)})
	}
	if len(s.first) != rememberIDs {
		t.Errorf("remembers %d ids, want %d", len(s.first), rememberIDs)
	}
	line := []feed.Line{{Decision: feed.Block, Rule: "non_drug"}}
	if got := s.Decided(&feed.Record{Kind: feed.KindBlocked, Ref: fmt.Sprint("r", rememberIDs+9), Lines: line}); got != nil {
		t.Errorf("a re-decision of the newest record counted: %v", got)
	}
	if got := s.Decided(&feed.Record{Kind: feed.KindBlocked, Ref: "r0", Lines: line}); len(got) != 1 {
		t.Errorf("a record naming a forgotten id = %v, want it counted", got)
	}
}

// TestStopped_listed: the stopped list carries when, what, the rule and
// its title, the reason, the cashier and who released a hold, in the
// HTML and the CSV; the dashboard's bound takes the newest first.
func TestStopped_listed(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	hold := withID(blocked(at(day, "09:00"), "rx_required", "hold"), "h1")
	hold.Lines[0].Name, hold.Lines[0].Barcode, hold.Lines[0].ReasonZH = "阿莫西林胶囊", "6937215000782", "处方药需凭处方"
	hold.Cashier = "c07"
	block := blocked(at(day, "09:05"), "non_drug", "block")
	block.Lines[0].ReasonZH = "非药品不能用医保支付"
	recs := []feed.Record{
		hold, block,
		{Kind: feed.KindOverride, At: at(day, "09:06"), Pharmacist: "药师李", Reason: "纸质处方", Ref: "h1"},
		blocked(at(day, "09:07"), "manual_entry", "flag"),
	}
	r, err := Build(source(t, recs...), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stopped) != 2 {
		t.Fatalf("stopped = %+v, want the hold and the block", r.Stopped)
	}
	h := r.Stopped[0]
	if h.Cashier != "c07" || h.ReleasedBy != "药师李" || h.TitleZH != "处方药无处方" || h.Card != "A1234****" {
		t.Errorf("held line = %+v", h)
	}
	// Released after a re-decision: the override names the re-decision's
	// record, the list shows the line's first.
	held := withID(blocked(at(day, "10:00"), "rx_required", "hold"), "h2")
	again := withID(redecided(at(day, "10:01"), "h2", "trace_missing", "hold"), "h3")
	rel := feed.Record{Kind: feed.KindOverride, At: at(day, "10:02"), Pharmacist: "药师王", Reason: "处方已核", Ref: "h3"}
	r2, err := Build(source(t, held, again, rel), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Stopped) != 1 || r2.Stopped[0].ReleasedBy != "药师王" {
		t.Errorf("re-decided and released: stopped = %+v, want one line released by 药师王", r2.Stopped)
	}

	newest, more := r.StoppedNewest(1)
	if len(newest) != 1 || newest[0].Rule != "non_drug" || more != 1 {
		t.Errorf("StoppedNewest(1) = %+v, %d; want the block and 1 more", newest, more)
	}
	if all, more := r.StoppedNewest(10); len(all) != 2 || all[0].Rule != "non_drug" || more != 0 {
		t.Errorf("StoppedNewest(10) = %+v, %d", all, more)
	}

	var html bytes.Buffer
	if err := WriteHTML(&html, r, HTMLOpts{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<table id="stopped">`, "阿莫西林胶囊", "6937215000782", "处方药需凭处方", "待药师审核", "药师已放行", "药师李", "c07", "非药品不能用医保支付", `<td class="n" id="stopped-count">2</td>`} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("report HTML lacks %q", want)
		}
	}
	if strings.Count(html.String(), `data-decision="flag"`) != 0 {
		t.Error("a flagged line is listed as stopped")
	}

	var out bytes.Buffer
	if err := WriteCSV(&out, r); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&out)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var stopped [][]string
	for _, row := range rows {
		switch row[0] {
		case "stopped":
			stopped = append(stopped, row)
		case "sales":
			if row[5] != "3" || row[6] != "2" || row[7] != "1" {
				t.Errorf("sales row %v: want 3 attempts, 2 stopped, 1 flagged", row)
			}
		}
	}
	if len(stopped) != 2 {
		t.Fatalf("csv stopped rows = %v, want 2", stopped)
	}
	if got := stopped[0]; got[3] != "6937215000782" || got[5] != "rx_required" || got[6] != "hold" || got[9] != "c07" || got[11] != "药师李" {
		t.Errorf("csv stopped row %v", got)
	}
}

// TestBuild_flaggedKind: a flagged line in a record of its own kind
// counts as a flag and is not stopped, as one recorded as blocked by
// tills before that kind; a card change's lines are not counted.
func TestBuild_flaggedKind(t *testing.T) {
	day := "2025-03-10"
	p, _ := ParsePeriod(day, day, cst)
	flagged := blocked(at(day, "09:00"), "trace_missing", "flag")
	flagged.Kind = feed.KindFlagged
	old := blocked(at(day, "09:01"), "manual_entry", "flag")
	change := blocked(at(day, "09:02"), "non_drug", "block")
	change.Kind = feed.KindCardChange
	r, err := Build(source(t, flagged, old, change), p, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != 2 || r.Flagged != 2 || len(r.Stopped) != 0 {
		t.Errorf("attempts %d, flagged %d, stopped %d; want 2, 2, 0", r.Attempts, r.Flagged, len(r.Stopped))
	}
	if c := ruleCount(r, "trace_missing"); c.Flag != 1 {
		t.Errorf("trace_missing = %+v, want one flag", c)
	}
	if c := ruleCount(r, "non_drug"); c.Total() != 0 {
		t.Errorf("non_drug = %+v: a card change's lines counted", c)
	}
}
