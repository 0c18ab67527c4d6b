package policy

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/gs1"
)

// benchCatalog builds an n-item catalogue as CSV: drugs in groups of three
// brands per generic, with a sprinkling of non-drugs.
func benchCatalog(tb testing.TB, n int) (*Catalog, []string) {
	tb.Helper()
	var buf bytes.Buffer
	buf.WriteString(hdr)
	barcodes := make([]string, 0, n)
	for i := range n {
		body := fmt.Sprintf("69%010d", i)
		bc := body + string(gs1.CheckDigit(body))
		barcodes = append(barcodes, bc)
		trace := ""
		if i < 1_000_000 {
			trace = fmt.Sprintf("8%06d", i)
		}
		switch {
		case i%10 == 9:
			fmt.Fprintf(&buf, "%s,,,日用品%d,daily_goods,0,0,,,,,990,\n", bc, i)
		case i%2 == 0:
			fmt.Fprintf(&buf, "%s,%s,XA%08d%013d,慢病药%d,drug,1,1,,chronic,60,6,2580,3000\n", bc, trace, i/3, i, i)
		default:
			fmt.Fprintf(&buf, "%s,%s,XJ%08d%013d,急病药%d,drug,1,1,,acute,36,16,1250,\n", bc, trace, i/3, i, i)
		}
	}
	c, err := LoadCatalog(&buf)
	if err != nil {
		tb.Fatal(err)
	}
	if c.Len() != n {
		tb.Fatalf("Len = %d, want %d", c.Len(), n)
	}
	return c, barcodes
}

// BenchmarkDecide measures one scan at the counter: a catalogue lookup and
// a decision with everything the ledger index returns for the card: a
// chronic patient's half year of purchases (~75 lines), the cards seen at
// the till in the burst window, and a basket of three lines (docs/performance.md:
// median under 20 µs with 100 000 items). Decide sees only the card's own
// history, so the ledger's size cannot change this number;
// BenchmarkDecide_cardHistory shows how it grows with that history alone.
func BenchmarkDecide(b *testing.B) {
	c, barcodes := benchCatalog(b, 100_000)
	benchDecide(b, c, barcodes, benchHistory(c, barcodes, 180))
}

// BenchmarkDecide_cardHistory decides against one card's history of
// growing length (a chronic patient refilling for months to years).
func BenchmarkDecide_cardHistory(b *testing.B) {
	c, barcodes := benchCatalog(b, 100_000)
	for _, days := range []int{30, 180, 720} {
		h := benchHistory(c, barcodes, days)
		b.Run(fmt.Sprintf("purchases=%d", len(h.Purchases)), func(b *testing.B) {
			benchDecide(b, c, barcodes, h)
		})
	}
}

var benchNow = time.Date(2025, 6, 30, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// benchHistory is what the index returns for one card that has refilled
// four chronic generics every ten days for the last span days, plus a few
// acute courses, and for a till that saw three other cards lately.
func benchHistory(c *Catalog, barcodes []string, span int) History {
	var h History
	for g := range 4 {
		it, _ := c.Lookup(barcodes[g*6])
		for d := span; d > 0; d -= 10 {
			h.Purchases = append(h.Purchases, Purchase{Generic: it.Generic(), Days: 10, At: benchNow.AddDate(0, 0, -d-g)})
		}
	}
	for k := range 3 {
		it, _ := c.Lookup(barcodes[1+k*6])
		h.Purchases = append(h.Purchases, Purchase{Generic: it.Generic(), Days: 3, At: benchNow.AddDate(0, 0, -30*k-5)})
	}
	for k := range 3 {
		h.RecentCards = append(h.RecentCards, CardSeen{No: fmt.Sprintf("B%08d", k), At: benchNow.Add(-time.Duration(k+1) * time.Minute)})
	}
	return h
}

func benchDecide(b *testing.B, c *Catalog, barcodes []string, h History) {
	lim := DefaultLimits()
	lim.Hours = &Hours{Open: "08:00", Close: "22:00"}
	card := &Card{Type: "03", No: "A12345678", Expires: "2030-12-31"}
	basket := Basket{RxRef: "RX1", PharmacistOnDuty: true}
	for k := range 3 {
		it, _ := c.Lookup(barcodes[10+k])
		basket.Others = append(basket.Others, Line{Barcode: it.Barcode, Item: &it, Qty: 1,
			Traces: []string{it.TracePrefix + fmt.Sprintf("%013d", k)}})
	}
	deny := map[string]bool{"X0000001": true}
	denied := func(no string) bool { return deny[no] }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bc := barcodes[(i*7919)%len(barcodes)]
		i++
		it, ok := c.Lookup(bc)
		var p *Item
		var traces []string
		if ok {
			p = &it
			if it.TracePrefix != "" {
				traces = []string{it.TracePrefix + "0000000000001"}
			}
		}
		_ = Decide(Line{Barcode: bc, Item: p, Qty: 1, Traces: traces}, card, basket, h, lim, denied, benchNow)
	}
}

// BenchmarkLoadCatalog measures loading a 100 000-item catalogue, as a
// till does on start and on every policy bundle.
func BenchmarkLoadCatalog(b *testing.B) {
	_, _ = benchCatalog(b, 10) // fail fast on a broken generator
	var buf bytes.Buffer
	buf.WriteString(hdr)
	for i := range 100_000 {
		body := fmt.Sprintf("69%010d", i)
		fmt.Fprintf(&buf, "%s%c,8%06d,XA%08d%013d,药%d,drug,1,1,,chronic,60,6,2580,3000\n", body, gs1.CheckDigit(body), i, i/3, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := LoadCatalog(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
