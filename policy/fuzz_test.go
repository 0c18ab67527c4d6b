package policy

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func FuzzLoadCatalog(f *testing.F) {
	if b, err := os.ReadFile("../testdata/catalog.csv"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(hdr + rowMetA + rowMetB + rowAmox + rowSham))
	f.Add([]byte("\ufeff" + strings.ReplaceAll(hdr+rowMetA, "\n", "\r\n")))
	f.Add([]byte("barcode,name,category,covered\n96385074,B,device,0\n"))
	f.Add([]byte(hdr + rowMetA + "6901234567892,,,\"多行\n名称\",device,0,0,,,,,990,\n"))
	f.Add([]byte(hdr + "6901234567891,8100010,XA10BAE054A0010101014,x,drug,1,2,Ep!,long,-1,0,9.9,\n,\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadCatalog(bytes.NewReader(data))
		if err != nil {
			if c != nil {
				t.Fatal("error with a catalogue")
			}
			if !errors.Is(err, ErrCatalog) {
				t.Fatalf("error does not wrap ErrCatalog: %v", err)
			}
			if head, list, ok := strings.Cut(err.Error(), "problems):\n"); ok {
				for _, p := range strings.Split(list, "\n") {
					if !strings.HasPrefix(p, "line ") {
						t.Fatalf("problem without a line number: %q (after %q)", p, head)
					}
				}
			}
			return
		}
		if c.Len() != len(c.items) {
			t.Fatalf("Len %d, %d items", c.Len(), len(c.items))
		}
		for _, it := range c.items {
			if msg := checkBarcode(it.Barcode); msg != "" {
				t.Fatalf("loaded bad barcode %q: %s", it.Barcode, msg)
			}
			if got, ok := c.Lookup(it.Barcode); !ok || got != it {
				t.Fatalf("Lookup(%s) = %+v, %v; want %+v", it.Barcode, got, ok, it)
			}
			if it.TracePrefix != "" {
				if got, ok := c.ByTrace(it.TracePrefix + "1234567890123"); !ok || got != it {
					t.Fatalf("ByTrace(%s…) = %+v, %v", it.TracePrefix, got, ok)
				}
			}
			if it.Category == CategoryDrug && it.Covered && len(it.MedListCodg) != MedListCodgLen {
				t.Fatalf("covered drug %q with code %q", it.Name, it.MedListCodg)
			}
			if it.PackUnits > 0 && (it.DailyUnits <= 0 || LineDays(it, 1) <= 0) {
				t.Fatalf("item %+v: pack without days", it)
			}
			if it.PriceFen < 0 || it.PriceCapFen < 0 || it.PackUnits < 0 || it.DailyUnits < 0 {
				t.Fatalf("negative number in %+v", it)
			}
			// Whatever loads must decide without panicking.
			_ = decide(&it, it.Barcode, 1, false, nil, DefaultLimits(), day(0))
		}
	})
}
