package policy

import (
	"bytes"
	"fmt"
	"testing"
	"time"
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
		bc := body + string(eanCheckDigit(body))
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
// a decision against a chronic patient's half year of purchases
// (SPEC.md §8: median under 20 µs with 100 000 items).
func BenchmarkDecide(b *testing.B) {
	c, barcodes := benchCatalog(b, 100_000)
	now := time.Date(2025, 6, 30, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	// Four chronic generics refilled about every ten days for six months,
	// plus a few acute courses: ~75 lines.
	var hist []Purchase
	for g := range 4 {
		it, _ := c.Lookup(barcodes[g*6])
		for d := 180; d > 0; d -= 10 {
			hist = append(hist, Purchase{Generic: it.Generic(), Days: 10, At: now.AddDate(0, 0, -d-g)})
		}
	}
	for k := range 3 {
		it, _ := c.Lookup(barcodes[1+k*6])
		hist = append(hist, Purchase{Generic: it.Generic(), Days: 3, At: now.AddDate(0, 0, -30*k-5)})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bc := barcodes[(i*7919)%len(barcodes)]
		i++
		it, ok := c.Lookup(bc)
		var p *Item
		if ok {
			p = &it
		}
		_ = Decide(Scan{Barcode: bc, Item: p, Qty: 1}, hist, DefaultLimits(), now)
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
		fmt.Fprintf(&buf, "%s%c,8%06d,XA%08d%013d,药%d,drug,1,1,,chronic,60,6,2580,3000\n", body, eanCheckDigit(body), i, i/3, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := LoadCatalog(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
