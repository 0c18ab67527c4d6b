package policy

import (
	"strings"
	"testing"
	"time"
)

// An insured medical consumable carries a 27-character C-code: it loads
// as a device, is paid like a drug (covered, under its price cap), and
// counts its days where the catalogue gives a daily use.
func TestConsumable_paidLikeADrug(t *testing.T) {
	const (
		strips = "6901234000016" // blood glucose test strips, 50 a box
		codg   = "C1404010010000000000000001A"
	)
	row := strips + ",," + codg + ",血糖试纸 50片,device,1,0,,chronic,50,4,6800,7000\n"
	c, err := LoadCatalog(strings.NewReader(hdr + row))
	if err != nil {
		t.Fatal(err)
	}
	it, ok := c.Lookup(strips)
	if !ok || it.MedListCodg != codg || it.Generic() != codg[:GenericLen] {
		t.Fatalf("strips = %+v, %v", it, ok)
	}
	card := &Card{Type: "03", No: "A12345678", Expires: "2030-12-31"}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, cst)
	d := Decide(Line{Barcode: strips, Item: &it, Qty: 1}, card, Basket{}, History{}, DefaultLimits(), nil, now)
	if d.Verdict != Allow || d.Days != 13 {
		t.Fatalf("strips on a card: %+v, want allowed, 13 days (50 strips at 4 a day)", d)
	}
}

// A consumable's code is refused on a drug, and a C-code must be 27.
func TestConsumable_codes(t *testing.T) {
	for _, tc := range []struct{ row, want string }{
		{"6901234000016,,C1404010010000000000000001A,试纸,drug,1,0,,,,,100,\n", "want 23 characters"},
		{"6901234000016,,C14040100100000000000000,试纸,device,1,0,,,,,100,\n", "or a consumable's 27 starting with C"},
		{"6901234000016,,X1404010010000000000000001A,试纸,device,1,0,,,,,100,\n", "or a consumable's 27 starting with C"},
	} {
		if _, err := LoadCatalog(strings.NewReader(hdr + tc.row)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.row, err, tc.want)
		}
	}
}
