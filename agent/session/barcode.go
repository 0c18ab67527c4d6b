package session

import (
	"strings"

	"github.com/tillguard/tillguard/drivers/scanner"
)

// maxKeyed bounds a keyed-in barcode: the longest product code the scanner
// reads (a GS1 element string with every AI tillguard knows) is under it.
const maxKeyed = 128

// productCode reads a keyed-in barcode as the scanner reads a scanned one
// (scanner.Classify: lengths, check digits, character set) and returns the
// catalogue key it names. Only a code that names a retail product becomes
// a line: what the scanner would call unreadable is refused here too, so it
// never reaches the ledger.
func productCode(barcode string) (string, error) {
	switch {
	case barcode == "":
		return "", problemf(ErrBadBarcode, "the barcode is empty")
	case len(barcode) > maxKeyed:
		return "", problemf(ErrBadBarcode, "the barcode is %d bytes, longer than %d", len(barcode), maxKeyed)
	}
	c, err := scanner.Classify([]byte(barcode))
	if err != nil {
		why := strings.TrimPrefix(err.Error(), scanner.ErrUnreadable.Error()+": ")
		return "", problemf(ErrBadBarcode, "%q is not a product barcode: %s", barcode, why)
	}
	if c.Product != "" {
		return c.Product, nil
	}
	what, ok := notProduct[c.Kind]
	if !ok {
		what = "a code of kind " + c.Kind.String()
	}
	return "", problemf(ErrBadBarcode, "%q is %s, not a product barcode", barcode, what)
}

// notProduct says what a code that classifies but names no product is.
var notProduct = map[scanner.Kind]string{
	scanner.KindGS1:     "the GTIN of a case or bundle",
	scanner.KindTrace:   "a traceability code (scan the box)",
	scanner.KindRx:      "a prescription reference (enter it as the prescription)",
	scanner.KindVoucher: "an insurance voucher (scan it)",
}
