package ledger

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

const (
	metforminCode = "XA10BAE054A001010101445"
	traceA        = "81000100000000000001"
	traceB        = "81000100000000000002"
)

// saleRec is an insurance sale of packs of metformin (10 days a pack) on
// card at t, with one trace code per pack.
func saleRec(card string, at time.Time, packs int, traces ...string) *feed.Record {
	r := newRec(feed.KindSale)
	r.At = at.Format(time.RFC3339)
	r.Card = &feed.Card{Type: feed.CardSSC, No: card}
	r.Lines = []feed.Line{{
		Barcode: "6901234567892", MedListCodg: metforminCode, Qty: packs, Days: 10 * packs,
		DrugTracCodg: traces, Decision: feed.Allow, Pay: "insurance", PriceFen: 2580 * int64(packs),
	}}
	return r
}

func appendRec(t *testing.T, l *Ledger, r *feed.Record) *feed.Record {
	t.Helper()
	if _, err := l.Append(r); err != nil {
		t.Fatal(err)
	}
	return r
}

func history(t *testing.T, l *Ledger, q HistoryQuery) History {
	t.Helper()
	h, err := l.History(q)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestIndex_purchasesPerCardWithinWindow(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("i"), &Opts{Now: clk.Now})
	day0 := clk.Now()
	appendRec(t, l, saleRec("A1", day0.AddDate(0, 0, -200), 1)) // beyond any window
	appendRec(t, l, saleRec("A1", day0, 1))
	appendRec(t, l, saleRec("B2", day0, 1))
	cash := saleRec("A1", day0, 1)
	cash.Lines[0].Pay = "cash"
	appendRec(t, l, cash)
	blocked := saleRec("A1", day0, 1)
	blocked.Kind = feed.KindBlocked
	appendRec(t, l, blocked)

	h := history(t, l, HistoryQuery{Card: "A1", Since: day0.AddDate(0, 0, -85)})
	want := []Purchase{{MedListCodg: metforminCode, Days: 10, At: day0}}
	if len(h.Purchases) != 1 || h.Purchases[0].MedListCodg != want[0].MedListCodg || h.Purchases[0].Days != 10 || !h.Purchases[0].At.Equal(day0) {
		t.Fatalf("purchases = %+v, want %+v", h.Purchases, want)
	}
	if h := history(t, l, HistoryQuery{Card: "A", Since: day0.AddDate(-1, 0, 0)}); len(h.Purchases) != 0 {
		t.Errorf("card A (a prefix of A1) has purchases %+v", h.Purchases)
	}
	if h := history(t, l, HistoryQuery{}); h.Purchases != nil || h.SoldTraces != nil || h.RecentCards != nil {
		t.Errorf("empty query = %+v", h)
	}
}

func TestIndex_tracesFreedByReturn(t *testing.T) {
	l := openTest(t, "", testKey("i"), nil)
	now := time.Now()
	sale := appendRec(t, l, saleRec("A1", now, 2, traceA, traceB))
	q := HistoryQuery{Traces: []string{traceA, traceB, "81000100000000000009"}}
	if got := history(t, l, q).SoldTraces; !reflect.DeepEqual(got, []string{traceA, traceB}) {
		t.Fatalf("sold traces = %v, want both of the sale", got)
	}
	s, err := l.Sale(sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Seq != sale.Seq || !reflect.DeepEqual(s.OpenTraces, []string{traceA, traceB}) || !reflect.DeepEqual(s.Returned, []int{0}) {
		t.Fatalf("sale = %+v", s)
	}

	ret := newRec(feed.KindReturn)
	ret.Ref = sale.ID
	ret.Card = sale.Card
	ret.Lines = []feed.Line{{Barcode: "6901234567892", Qty: 1, DrugTracCodg: []string{traceA}, Decision: feed.Allow}}
	ret.Payment = &feed.Payment{Method: "fund", InsuranceFen: 2580}
	appendRec(t, l, ret)

	if got := history(t, l, q).SoldTraces; !reflect.DeepEqual(got, []string{traceB}) {
		t.Errorf("after the return sold traces = %v, want only %s", got, traceB)
	}
	h := history(t, l, HistoryQuery{Card: "A1", Since: now.AddDate(0, 0, -1)})
	if len(h.Purchases) != 1 || h.Purchases[0].Days != 10 {
		t.Errorf("after returning one of two packs purchases = %+v, want 10 days left", h.Purchases)
	}
	s, err = l.Sale(sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Returned, []int{1}) || !reflect.DeepEqual(s.OpenTraces, []string{traceB}) {
		t.Errorf("sale after return = returned %v open %v", s.Returned, s.OpenTraces)
	}
	ret2 := newRec(feed.KindReturn)
	ret2.Ref = sale.ID
	ret2.Lines = []feed.Line{{Barcode: "6901234567892", Qty: 1, DrugTracCodg: []string{traceB}}}
	appendRec(t, l, ret2)
	if h := history(t, l, HistoryQuery{Card: "A1", Since: now.AddDate(0, 0, -1)}); len(h.Purchases) != 0 {
		t.Errorf("after returning everything purchases = %+v, want none", h.Purchases)
	}

	// A trace code returned may be sold again, and is then sold.
	appendRec(t, l, saleRec("B2", now, 1, traceA))
	if got := history(t, l, q).SoldTraces; !reflect.DeepEqual(got, []string{traceA}) {
		t.Errorf("resold trace: sold = %v, want %s", got, traceA)
	}
	if _, err := l.Sale("no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sale(unknown) = %v, want ErrNotFound", err)
	}
}

func TestSale_take(t *testing.T) {
	s := Sale{Record: feed.Record{Lines: []feed.Line{
		{Barcode: "a", Qty: 2}, {Barcode: "b", Qty: 1}, {Barcode: "a", Qty: 1},
	}}, Returned: []int{1, 0, 0}}
	tests := []struct {
		barcode string
		qty     int
		want    []Portion
		ok      bool
	}{
		{"a", 3, nil, false}, // only 2 left
		{"a", 0, nil, false},
		{"c", 1, nil, false},
		{"a", 2, []Portion{{0, 1}, {2, 1}}, true},
		{"a", 1, nil, false}, // all returned now
		{"b", 1, []Portion{{1, 1}}, true},
	}
	for _, tt := range tests {
		got, ok := s.Take(tt.barcode, tt.qty)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Take(%s, %d) = %v %v, want %v %v", tt.barcode, tt.qty, got, ok, tt.want, tt.ok)
		}
	}
	if !reflect.DeepEqual(s.Returned, []int{2, 1, 1}) {
		t.Errorf("returned = %v", s.Returned)
	}
}

func TestIndex_recentCards(t *testing.T) {
	clk := newClock()
	l := openTest(t, "", testKey("i"), &Opts{Now: clk.Now})
	now := clk.Now()
	for i, c := range []struct {
		no  string
		ago time.Duration
	}{{"OLD", 11 * time.Minute}, {"C1", 9 * time.Minute}, {"C2", 5 * time.Minute}, {"C1", time.Minute}, {"ME", 0}} {
		r := newRec(feed.KindBlocked)
		r.At = now.Add(-c.ago).Format(time.RFC3339)
		r.Card = &feed.Card{Type: feed.CardSSC, No: c.no}
		appendRec(t, l, r)
		_ = i
	}
	appendRec(t, l, newRec(feed.KindDevice)) // no card
	h := history(t, l, HistoryQuery{Card: "ME", CardsSince: now.Add(-10 * time.Minute)})
	want := []CardSeen{{"C1", now.Add(-time.Minute)}, {"C2", now.Add(-5 * time.Minute)}}
	if len(h.RecentCards) != len(want) {
		t.Fatalf("recent cards = %+v, want %+v", h.RecentCards, want)
	}
	for i := range want {
		if h.RecentCards[i].No != want[i].No || !h.RecentCards[i].At.Equal(want[i].At) {
			t.Errorf("recent card %d = %+v, want %+v", i, h.RecentCards[i], want[i])
		}
	}
}

// TestIndex_rebuiltWhenMissing: a ledger written before the index existed
// (here: the index removed from a closed file) gets it back at open, the
// same as it was, and it keeps up across reopen.
func TestIndex_rebuiltWhenMissing(t *testing.T) {
	l := openTest(t, "", testKey("i"), nil)
	now := time.Now()
	sale := appendRec(t, l, saleRec("A1", now, 1, traceA))
	for range indexBatch + 5 { // more than one rebuild batch
		r := newRec(feed.KindBlocked)
		r.Card = &feed.Card{Type: feed.CardSSC, No: "Z9"}
		appendRec(t, l, r)
	}
	ret := newRec(feed.KindReturn)
	ret.Ref = sale.ID
	ret.Lines = []feed.Line{{Barcode: "6901234567892", Qty: 1, DrugTracCodg: []string{traceA}}}
	appendRec(t, l, ret)
	appendRec(t, l, saleRec("A1", now, 1, traceB))
	q := HistoryQuery{Card: "A1", Since: now.AddDate(0, 0, -1), Traces: []string{traceA, traceB}, CardsSince: now.Add(-time.Hour)}
	before := history(t, l, q)
	if len(before.Purchases) != 1 || !reflect.DeepEqual(before.SoldTraces, []string{traceB}) || len(before.RecentCards) != 1 {
		t.Fatalf("history = %+v", before)
	}

	path := pathOf(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	editBolt(t, path, func(tx *boltdb.Tx) error {
		if err := tx.DeleteBucket(bIndex); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Delete(kIndexed)
	})
	l = openTest(t, path, testKey("i"), nil)
	if after := history(t, l, q); !reflect.DeepEqual(after, before) {
		t.Fatalf("rebuilt index answers %+v, want %+v", after, before)
	}
	appendRec(t, l, saleRec("A1", now, 1))
	l = reopen(t, l, nil)
	if h := history(t, l, q); len(h.Purchases) != 2 {
		t.Errorf("after append and reopen purchases = %+v, want 2", h.Purchases)
	}
}

// TestIndex_catchesUpOnRecordsItMissed: records stored by a path that
// bypassed the index (a lagging marker) are indexed by the next Append, in
// its transaction.
func TestIndex_catchesUpOnRecordsItMissed(t *testing.T) {
	l := openTest(t, "", testKey("i"), nil)
	now := time.Now()
	appendRec(t, l, saleRec("A1", now, 1))
	appendRec(t, l, saleRec("A1", now, 1, traceA))
	if err := l.update(func(tx *boltdb.Tx) error { return tx.Bucket(bMeta).Put(kIndexed, boltdb.U64(1)) }); err != nil {
		t.Fatal(err)
	}
	// Undo what the index holds of record 2, as if it was never indexed.
	if err := l.update(func(tx *boltdb.Tx) error {
		idx := tx.Bucket(bIndex)
		if err := idx.Bucket(bIdxTraces).Delete([]byte(traceA)); err != nil {
			return err
		}
		c := idx.Bucket(bIdxPurchases).Cursor()
		k, _ := c.Last()
		return idx.Bucket(bIdxPurchases).Delete(k)
	}); err != nil {
		t.Fatal(err)
	}
	appendRec(t, l, newRec(feed.KindDevice))
	h := history(t, l, HistoryQuery{Card: "A1", Since: now.AddDate(0, 0, -1), Traces: []string{traceA}})
	if len(h.Purchases) != 2 || len(h.SoldTraces) != 1 {
		t.Errorf("after catch-up history = %+v, want 2 purchases and the trace", h)
	}
}

func TestIndex_closed(t *testing.T) {
	l := openTest(t, "", testKey("i"), nil)
	l.Close()
	if _, err := l.History(HistoryQuery{Card: "A1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("History on a closed ledger = %v, want ErrClosed", err)
	}
	if _, err := l.Sale("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Sale on a closed ledger = %v, want ErrClosed", err)
	}
}

// FuzzDecodePurchase: an index value from a file never panics the decoder,
// and whatever decodes re-encodes to the same bytes.
func FuzzDecodePurchase(f *testing.F) {
	f.Add(encodePurchase(10, metforminCode))
	f.Add([]byte{0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		days, code, ok := decodePurchase(v)
		if !ok {
			return
		}
		if got := encodePurchase(days, code); !bytes.Equal(got, v) && len(v) > 0 && v[0]&0x80 == 0 {
			t.Fatalf("re-encoded %x, stored %x", got, v)
		}
	})
}
