package gs1

import "testing"

func TestCheckDigit(t *testing.T) {
	for _, code := range []string{
		"6901234567892",  // EAN-13, the GS1 China sample
		"6920584471055",  // EAN-13 on a retail box
		"4006381333931",  // EAN-13
		"96385074",       // EAN-8
		"00012345600012", // GTIN-14
		"10614141000415", // GTIN-14 with indicator 1
	} {
		body, want := code[:len(code)-1], code[len(code)-1]
		if got := CheckDigit(body); got != want {
			t.Errorf("CheckDigit(%s) = %c, want %c", body, got, want)
		}
	}
}
