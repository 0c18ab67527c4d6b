package bureau

import (
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

var cst = time.FixedZone("CST", 8*3600)

// nextWith appends a record built by edit to the chain and returns its tx
// message.
func (f *fakeTill) nextWith(t testing.TB, edit func(*feed.Record)) mqttclient.Message {
	t.Helper()
	r := f.record("c")
	edit(&r)
	rec := marshal(t, r)
	f.recs = append(f.recs, rec)
	return f.msg(t, rec, ed25519.Sign(f.key, rec))
}

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
)

func TestCross(t *testing.T) {
	sale := func(till, day int, trace string) step {
		return step{till: till, day: day, kind: feed.KindSale, trace: trace}
	}
	buy := func(till, day int, codg string, days, limit int) step {
		return step{till: till, day: day, kind: feed.KindSale, card: "330100000000001234", codg: codg, days: days, limit: limit}
	}
	tests := []struct {
		name  string
		steps []step
		want  []string // alarm kinds
	}{
		{"trace sold at two pharmacies", []step{sale(0, 0, "81234567890123456789"), sale(1, 1, "81234567890123456789")}, []string{AlarmTraceDupCross}},
		{"trace sold, returned, sold elsewhere", []step{
			{till: 0, kind: feed.KindSale, id: "s1", trace: "81234567890123456789"},
			{till: 0, day: 1, kind: feed.KindReturn, id: "s1", trace: "81234567890123456789"},
			sale(1, 2, "81234567890123456789"),
		}, nil},
		{"trace returned at another till does not free it", []step{
			sale(0, 0, "81234567890123456789"),
			{till: 1, day: 1, kind: feed.KindReturn, trace: "81234567890123456789"},
			sale(1, 2, "81234567890123456789"),
		}, []string{AlarmTraceDupCross}},
		{"trace sold twice at one till: the till's own rule", []step{sale(0, 0, "81234567890123456789"), sale(0, 1, "81234567890123456789")}, nil},
		{"other traces", []step{sale(0, 0, "81234567890123456789"), sale(1, 0, "81234567890123456780")}, nil},
		{"card over the limit across pharmacies", []step{buy(0, 0, codeA, 10, 15), buy(1, 1, codeB, 10, 15)}, []string{AlarmDaysSupplyCross}},
		{"card at the limit exactly", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeB, 5, 15)}, nil},
		{"line's limit applies", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeB, 5, 14)}, []string{AlarmDaysSupplyCross}},
		{"no limit on the line: the default", []step{buy(0, 0, codeA, 10, 0), buy(1, 0, codeB, 6, 0)}, []string{AlarmDaysSupplyCross}},
		{"supply used up by then", []step{buy(0, 0, codeA, 10, 15), buy(1, 10, codeB, 10, 15)}, nil},
		{"partly used up", []step{buy(0, 0, codeA, 10, 15), buy(1, 4, codeB, 10, 15)}, []string{AlarmDaysSupplyCross}},
		{"another drug", []step{buy(0, 0, codeA, 10, 15), buy(1, 0, codeC, 10, 15)}, nil},
		{"one till over its own limit is not cross", []step{buy(0, 0, codeA, 10, 15), buy(0, 0, codeB, 10, 15)}, nil},
		{"returned before the second purchase", []step{
			{till: 0, kind: feed.KindSale, id: "s1", card: "330100000000001234", codg: codeA, days: 10, limit: 15},
			{till: 0, day: 1, kind: feed.KindReturn, id: "s1"},
			buy(1, 1, codeB, 10, 15),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := openArchive(t)
			tills := []*fakeTill{newFakeTill(t, "P1", "T1"), newFakeTill(t, "P2", "T2")}
			b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tills[0].pub(), "P2/T2": tills[1].pub()}})
			for _, s := range tt.steps {
				b.process([]mqttclient.Message{tills[s.till].nextWith(t, s.apply)})
			}
			if got := alarmKinds(b); !slices.Equal(got, tt.want) {
				t.Fatalf("alarms %v, want %v (%+v)", got, tt.want, b.Alarms())
			}
			for _, a := range b.Alarms() {
				if a.Pharmacy != "P2" || a.Till != "T2" || a.Seq == 0 {
					t.Errorf("alarm on %s/%s seq %d, want the second sale at P2/T2", a.Pharmacy, a.Till, a.Seq)
				}
			}
		})
	}
}

// TestCross_sameBatch: the index sees earlier records of the same batch.
func TestCross_sameBatch(t *testing.T) {
	ar := openArchive(t)
	t1, t2 := newFakeTill(t, "P1", "T1"), newFakeTill(t, "P2", "T2")
	b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": t1.pub(), "P2/T2": t2.pub()}})
	s := step{kind: feed.KindSale, trace: "81234567890123456789"}
	b.process([]mqttclient.Message{t1.nextWith(t, s.apply), t2.nextWith(t, s.apply)})
	if got := alarmKinds(b); !slices.Equal(got, []string{AlarmTraceDupCross}) {
		t.Fatalf("alarms %v", got)
	}
	// A duplicate delivery of the second sale is not a new sale.
	b.process([]mqttclient.Message{t2.msg(t, t2.recs[0], ed25519.Sign(t2.key, t2.recs[0]))})
	if got := alarmKinds(b); len(got) != 1 {
		t.Fatalf("alarms after a duplicate %v", got)
	}
}

// TestCross_cardMasked: the alarm never carries the whole card number.
func TestCross_cardMasked(t *testing.T) {
	ar := openArchive(t)
	t1, t2 := newFakeTill(t, "P1", "T1"), newFakeTill(t, "P2", "T2")
	b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": t1.pub(), "P2/T2": t2.pub()}})
	s := step{kind: feed.KindSale, card: "330100000000009876", codg: codeA, days: 10, limit: 15}
	b.process([]mqttclient.Message{t1.nextWith(t, s.apply), t2.nextWith(t, s.apply)})
	al := b.Alarms()
	if len(al) != 1 || al[0].Kind != AlarmDaysSupplyCross {
		t.Fatalf("alarms %+v", al)
	}
	if d := al[0].Detail; !strings.Contains(d, "****9876") || strings.Contains(d, "330100000000009876") {
		t.Fatalf("detail %q", d)
	}
}
