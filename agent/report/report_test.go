package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
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
