package archivetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// step is one record of a cross-till scenario.
type step struct {
	till  int // 0 = P1/T1, 1 = P2/T2
	day   int // days after 2025-03-01
	kind  string
	id    string // sale id; for a return, the sale's
	trace string
	card  string
	codg  string
	days  int // days the line supplies (qty 2)
	limit int // days_limit on the line
}

func (s step) apply(r *feed.Record) {
	r.At = time.Date(2025, 3, 1+s.day, 10, 0, 0, 0, cst).Format(time.RFC3339)
	r.Kind = s.kind
	l := feed.Line{Barcode: "6901234567892", MedListCodg: s.codg, Name: "药", Qty: 2, Days: s.days, DaysLimit: s.limit, PriceFen: 100, Decision: feed.Allow, Pay: "insurance"}
	if s.trace != "" {
		l.DrugTracCodg = []string{s.trace}
	}
	r.Lines = []feed.Line{l}
	r.Payment = nil
	if s.card != "" {
		r.Card = &feed.Card{Type: feed.CardSSC, No: s.card}
	}
	if s.kind == feed.KindReturn {
		r.Ref = s.id
	} else if s.id != "" {
		r.ID = s.id
	}
}

const (
	codeA = "XA01ABC123B001010100001"
	codeB = "XA01ABC123C002020200002" // same generic as codeA (first 10)
	codeC = "XN02BBB456B001010100001" // another generic
	card  = "330100000000001234"
	trace = "81234567890123456789"
)

func (s *suite) cross(t *testing.T) {
	sale := func(till, day int, trace string) step {
		return step{till: till, day: day, kind: feed.KindSale, trace: trace}
	}
	buy := func(till, day int, codg string, days, limit int) step {
		return step{till: till, day: day, kind: feed.KindSale, card: card, codg: codg, days: days, limit: limit}
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // alarm kinds
	}{
		{"trace sold at two pharmacies", []step{sale(0, 0, trace), sale(1, 1, trace)}, []string{archive.AlarmTraceDupCross}},
		{"trace sold, returned, sold elsewhere", []step{
			{till: 0, kind: feed.KindSale, id: "s1", trace: trace},
			{till: 0, day: 1, kind: feed.KindReturn, id: "s1", trace: trace},
			sale(1, 2, trace),
		}, nil},
		{"trace returned at another till does not free it", []step{
			sale(0, 0, trace),
			{till: 1, day: 1, kind: feed.KindReturn, trace: trace},
			sale(1, 2, trace),
		}, []string{archive.AlarmTraceDupCross}},
		{"trace sold twice at one till: the till's own rule", []step{sale(0, 0, trace), sale(0, 1, trace)}, nil},
		{"other traces", []step{sale(0, 0, trace), sale(1, 0, "81234567890123456780")}, nil},
		{"card over the limit across pharmacies", []step{buy(0, 0, codeA, 10, 15), buy(1, 1, codeB, 10, 15)}, []string{archive.AlarmDaysSupplyCross}},
		{"card at the limit exactly", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeB, 5, 15)}, nil},
		{"line's limit applies", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeB, 5, 14)}, []string{archive.AlarmDaysSupplyCross}},
		{"no limit on the line: the default", []step{buy(0, 0, codeA, 10, 0), buy(1, 0, codeB, 6, 0)}, []string{archive.AlarmDaysSupplyCross}},
		{"supply used up by then", []step{buy(0, 0, codeA, 10, 15), buy(1, 10, codeB, 10, 15)}, nil},
		{"partly used up", []step{buy(0, 0, codeA, 10, 15), buy(1, 4, codeB, 10, 15)}, []string{archive.AlarmDaysSupplyCross}},
		{"another drug", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeC, 10, 15)}, nil},
		{"one till over its own limit is not cross", []step{buy(0, 0, codeA, 10, 15), buy(0, 0, codeB, 10, 15)}, nil},
		{"returned before the second purchase", []step{
			{till: 0, kind: feed.KindSale, id: "s1", card: card, codg: codeA, days: 10, limit: 15},
			{till: 0, day: 1, kind: feed.KindReturn, id: "s1"},
			buy(1, 1, codeB, 10, 15),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := s.h.Open(t, &archive.Opts{DaysLimit: 15})
			chains := []*Chain{NewChain("P1", "T1"), NewChain("P2", "T2")}
			var first archive.Incoming
			for i, sp := range tt.steps {
				in := chains[sp.till].Next(sp.apply)
				if i == 0 {
					first = in
				}
				put(t, st, in)
			}
			as := alarms(t, st, archive.AlarmQuery{})
			if got := kinds(as); !slices.Equal(got, tt.want) {
				t.Fatalf("alarms %v, want %v (%+v)", got, tt.want, as)
			}
			for _, a := range as {
				if a.Pharmacy != "P2" || a.Till != "T2" || a.Seq == 0 {
					t.Errorf("alarm on %s/%s seq %d, want the second sale at P2/T2", a.Pharmacy, a.Till, a.Seq)
				}
				// Evidence: both sales.
				if len(a.Records) != 2 || a.Records[0].Pharmacy != "P2" || a.Records[1] != (archive.RecordRef{Pharmacy: "P1", Till: "T1", Seq: 1, ID: first.Parsed.ID}) {
					t.Errorf("evidence %+v, want the P2 sale and P1/T1 seq 1 (%s)", a.Records, first.Parsed.ID)
				}
				if strings.Contains(a.Detail, card) {
					t.Errorf("alarm detail %q holds the whole card number", a.Detail)
				}
			}
		})
	}
}

// crossSameBatch: the index sees earlier records of the same batch, and a
// duplicate delivery is not a new sale.
func (s *suite) crossSameBatch(t *testing.T) {
	st := s.h.Open(t, nil)
	t1, t2 := NewChain("P1", "T1"), NewChain("P2", "T2")
	sp := step{kind: feed.KindSale, trace: trace}
	a, b := t1.Next(sp.apply), t2.Next(sp.apply)
	res := put(t, st, a, b)
	if got := kinds(res.Alarms); !slices.Equal(got, []string{archive.AlarmTraceDupCross}) {
		t.Fatalf("Put's alarms %v", got)
	}
	put(t, st, b)
	if as := alarms(t, st, archive.AlarmQuery{}); len(as) != 1 || as[0].Count != 1 {
		t.Fatalf("alarms after a duplicate %+v", as)
	}
}

func (s *suite) blockedAndSearch(t *testing.T) {
	st := s.h.Open(t, nil)
	c1, c2 := NewChain("P1", "T1"), NewChain("P2", "T1")
	day := func(d int) time.Time { return time.Date(2025, 3, d, 10, 0, 0, 0, cst) }
	blocked := func(d int, rules ...string) func(r *feed.Record) {
		return func(r *feed.Record) {
			r.Kind, r.At, r.Payment = feed.KindBlocked, day(d).Format(time.RFC3339), nil
			r.Card = &feed.Card{Type: feed.CardSSC, No: card}
			r.Lines = nil
			for _, rule := range rules {
				r.Lines = append(r.Lines, feed.Line{Barcode: "6901234567892", Name: "洗发水", Qty: 1, Decision: feed.Block, Rule: rule})
			}
		}
	}
	put(t, st,
		c1.Next(blocked(1, "non_drug", "non_drug")),
		c1.Next(blocked(2, "qty_limit")),
		c1.Next(blocked(9, "non_drug")), // outside the range
		c2.Next(blocked(2, "non_drug")),
		c2.Next(func(r *feed.Record) { // a sale: not a blocked attempt
			step{day: 1, kind: feed.KindSale, card: card, codg: codeA, days: 5, trace: trace}.apply(r)
		}),
	)
	cardless := func(d int, ref string, lines ...feed.Line) func(r *feed.Record) {
		return func(r *feed.Record) {
			blocked(d)(r)
			r.Card, r.Ref, r.Lines = nil, ref, lines
		}
	}
	line := func(decision, rule string) feed.Line {
		return feed.Line{Barcode: "6901234567892", Name: "阿托伐他汀", Qty: 1, Decision: decision, Rule: rule}
	}
	put(t, st,
		// The qty_limit line decided again (a card read): its record refs
		// the line's first, and the line has been counted.
		c1.Next(cardless(2, "P1-T1-2", line(feed.Block, "price_cap"))),
		// A flag is no stop, even in a blocked record (tills before the
		// flagged kind wrote them so); a hold is.
		c1.Next(cardless(2, "", line(feed.Flag, "trace_missing"), line(feed.Hold, "rx_required"))),
		// A refused return refs its sale, and is a stop.
		c2.Next(cardless(2, "P2-T1-2", line(feed.Block, "cash_refund"))),
	)
	got, err := st.Blocked(ctx, day(1).Add(-time.Hour), day(5))
	if err != nil {
		t.Fatalf("Blocked: %v", err)
	}
	slices.SortFunc(got, func(a, b archive.RuleCount) int { return strings.Compare(a.Pharmacy+a.Rule, b.Pharmacy+b.Rule) })
	want := []archive.RuleCount{{Pharmacy: "P1", Rule: "non_drug", Count: 2}, {Pharmacy: "P1", Rule: "qty_limit", Count: 1},
		{Pharmacy: "P1", Rule: "rx_required", Count: 1}, {Pharmacy: "P2", Rule: "cash_refund", Count: 1}, {Pharmacy: "P2", Rule: "non_drug", Count: 1}}
	if !slices.Equal(got, want) {
		t.Fatalf("Blocked %+v, want %+v", got, want)
	}

	hits, err := st.Search(ctx, archive.SearchQuery{Trace: trace})
	if err != nil || len(hits) != 1 || hits[0].Pharmacy != "P2" || hits[0].Seq != 2 || hits[0].Kind != feed.KindSale || hits[0].Line != 0 {
		t.Fatalf("Search by trace: %+v %v", hits, err)
	}
	hits, err = st.Search(ctx, archive.SearchQuery{Card: card})
	if err != nil || len(hits) != 6 {
		t.Fatalf("Search by card: %d hits %v, want 6 lines", len(hits), err)
	}
	for i, h := range hits {
		if strings.Contains(h.Card, card) || h.Card == "" {
			t.Errorf("hit %d shows card %q: want it masked", i, h.Card)
		}
		if i > 0 && h.At.After(hits[i-1].At) {
			t.Errorf("hits not newest first: %v after %v", h.At, hits[i-1].At)
		}
	}
	if hits, err := st.Search(ctx, archive.SearchQuery{Card: card, Limit: 2}); err != nil || len(hits) != 2 {
		t.Fatalf("Search with a limit: %d %v", len(hits), err)
	}
	if hits, err := st.Search(ctx, archive.SearchQuery{Trace: "nothing"}); err != nil || len(hits) != 0 {
		t.Fatalf("Search for nothing: %+v %v", hits, err)
	}
}
