package agent_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
)

func TestMeasure(t *testing.T) {
	dir := "/tmp/meas"
	key, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for l.Head() < 100000 {
		rs := make([]*feed.Record, 1000)
		for j := range rs {
			i := int(l.Head()) + j
			rs[j] = &feed.Record{
				Pharmacy: "H1", Till: "T1", Kind: feed.KindSale,
				Card:    &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
				Cashier: "c01",
				Lines: []feed.Line{
					{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
					{Barcode: fmt.Sprintf("69%011d", i), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
				},
				Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
			}
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		start := time.Now()
		if err := l.Verify(); err != nil {
			t.Fatal(err)
		}
		t.Logf("Verify: %v", time.Since(start))
		start = time.Now()
		n := 0
		l.Scan(1, func(e ledger.Entry) error { n += len(e.Rec); return nil })
		t.Logf("Scan: %v (%d bytes)", time.Since(start), n)
		start = time.Now()
		prev := ""
		l.Scan(1, func(e ledger.Entry) error {
			var c struct {
				Seq  uint64 `json:"seq"`
				Prev string `json:"prev"`
			}
			json.Unmarshal(e.Rec, &c)
			if c.Prev != prev {
				t.Fatal("link")
			}
			prev = feed.Hash(e.Rec)
			return nil
		})
		t.Logf("Scan+json+sha: %v", time.Since(start))
		start = time.Now()
		prev = ""
		l.Scan(1, func(e ledger.Entry) error {
			if e.Seq > 1 && !bytes.Contains(e.Rec, []byte(`"prev":"`+prev+`"`)) {
				t.Fatal("link")
			}
			prev = feed.Hash(e.Rec)
			return nil
		})
		t.Logf("Scan+contains+sha: %v", time.Since(start))
		start = time.Now()
		pub := key.Public().(ed25519.PublicKey)
		l.Scan(1, func(e ledger.Entry) error { ed25519.Verify(pub, e.Rec, e.Sig); return nil })
		t.Logf("Scan+ed25519: %v", time.Since(start))
	}
}
