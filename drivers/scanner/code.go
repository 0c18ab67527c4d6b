package scanner

import "strconv"

// Kind is what a scanned line means (docs/devices.md, What a line means).
type Kind int

// Kinds of code. The zero value is KindUnknown, so a Code from a failed
// classification never passes for an item.
const (
	KindUnknown Kind = iota
	KindEAN13        // retail product code, 13 digits
	KindEAN8         // retail product code, 8 digits
	KindTrace        // 20-digit drug traceability code: one box
	KindGS1          // GS1 element string (DataMatrix, GS1-128, GS1 QR) or GS1 Digital Link (QR)
	KindRx           // prescription reference "RX…"
	KindVoucher      // medical-insurance electronic voucher QR: an opaque token, no pack's code
)

var kindNames = [...]string{
	KindUnknown: "unknown",
	KindEAN13:   "ean13",
	KindEAN8:    "ean8",
	KindTrace:   "trace",
	KindGS1:     "gs1",
	KindRx:      "rx",
	KindVoucher: "voucher",
}

// String returns a short lower-case name: "ean13", "trace", "voucher"…
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Code is one classified line.
type Code struct {
	Kind Kind
	AIM  string // "]E0" etc., "" when the scanner sent none
	Data string // the line without AIM id and terminator

	// Product is the catalogue key: the EAN-13 or EAN-8. For a GS1 code
	// (element string or Digital Link) it is the GTIN-14 in the form the
	// catalogue keys on: the EAN-8 of a GTIN-14 with indicator 0 and six
	// leading zeros (00000012345670 → 12345670), otherwise the GTIN-14
	// without its leading 0 (the EAN-13). A GTIN-14 with another indicator
	// digit names a case or bundle, not a retail pack, so it maps to no
	// product and Product stays "".
	Product string
	Trace   string // the 20 digits, for KindTrace
	Serial  string // GS1 AI 21
	Lot     string // GS1 AI 10
	Expiry  string // GS1 AI 17, YYMMDD as scanned (DD may be 00)
	Rx      string // the whole "RX…" text, for KindRx

	// The rest of a GS1 code, for the ledger line.
	GTIN         string // AI 01, 14 digits as scanned
	Variant      string // AI 22, consumer product variant
	Produced     string // AI 11, YYMMDD as scanned
	ExpiryDate   string // AI 17 as "YYYY-MM-DD", day 00 resolved to the month's last day
	ProducedDate string // AI 11 as "YYYY-MM-DD"
}

// Box reports whether the code identifies one physical box rather than a
// product: a traceability code, or a GS1 symbol with a product (AI 01) and
// a serial (AI 21). A GS1 symbol whose GTIN maps to no product is not a box
// here: it names a case, and the session could not key it anyway.
func (c Code) Box() bool {
	switch c.Kind {
	case KindTrace:
		return c.Trace != ""
	case KindGS1:
		return c.Product != "" && c.Serial != ""
	}
	return false
}
