package ledger

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tillguard/tillguard/sync/feed"
)

// TestArchive_crossIndexFromParsed checks that the index finds the same
// hits whether PutBatch decodes the records or is handed them decoded.
func TestArchive_crossIndexFromParsed(t *testing.T) {
	card := &feed.Card{Type: feed.CardSSC, No: "330100********1234"}
	sale := func(till string, seq uint64, id, trace string) *feed.Record {
		return &feed.Record{
			Seq: seq, ID: id, Pharmacy: "P1", Till: till, Kind: feed.KindSale, At: "2026-03-02T10:00:00+08:00", Card: card,
			Lines: []feed.Line{{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Qty: 1, Days: 30, PriceFen: 100,
				DrugTracCodg: []string{trace}, Decision: feed.Allow, Pay: "insurance"}},
		}
	}
	ret := &feed.Record{Seq: 2, ID: "r1", Pharmacy: "P1", Till: "T1", Kind: feed.KindReturn, At: "2026-03-02T11:00:00+08:00", Ref: "s1",
		Lines: []feed.Line{{Barcode: "6901234567892", Qty: 1, DrugTracCodg: []string{"81000000000000000001"}}}}
	batches := [][]*feed.Record{
		{sale("T1", 1, "s1", "81000000000000000001"), sale("T2", 1, "s2", "81000000000000000002")},
		{sale("T2", 2, "s3", "81000000000000000001"), ret, sale("T3", 1, "s4", "81000000000000000002")},
		{sale("T3", 2, "s5", "81000000000000000001")},
	}
	hitsOf := func(parsed bool) []CrossHit {
		a := openTestArchive(t, "")
		var hits []CrossHit
		a.SetCrossHandler(func(h []CrossHit) { hits = append(hits, h...) })
		for _, batch := range batches {
			var items []Incoming
			for _, r := range batch {
				rec, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				it := Incoming{Pharmacy: r.Pharmacy, Till: r.Till, Seq: r.Seq, Rec: rec, Sig: []byte("sig")}
				if parsed {
					it.Parsed = r
				}
				items = append(items, it)
			}
			put(t, a, items...)
		}
		return hits
	}
	fromBytes, fromParsed := hitsOf(false), hitsOf(true)
	if len(fromBytes) < 4 {
		t.Fatalf("only %d hits from the records' bytes: %+v", len(fromBytes), fromBytes)
	}
	if !reflect.DeepEqual(fromParsed, fromBytes) {
		t.Errorf("hits from parsed records:\n%+v\nfrom their bytes:\n%+v", fromParsed, fromBytes)
	}
}
