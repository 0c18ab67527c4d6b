package feed

// Record kinds.
const (
	KindSale     = "sale"     // a completed sale (insurance, cash or split)
	KindBlocked  = "blocked"  // an item refused or held at the counter (see below)
	KindFlagged  = "flagged"  // an item let through with a flag (trace_missing, manual_entry…)
	KindReturn   = "return"   // goods brought back
	KindOverride = "override" // a pharmacist released a held item
	KindDevice   = "device"   // a device connected, disconnected or failed
	KindPolicy   = "policy"   // the policy in force changed
	// KindCardChange: the cashier confirmed that the open basket is the
	// holder's of Card, a card read while the basket was another's.
	// Reason names that other card, "from <type> <no>"; Lines are the
	// basket as it stood, before it was decided again for Card.
	KindCardChange = "card_change"
	// KindSettlement: the POS's settlement of a sale, told after the
	// checkout (POST /api/sales/{id}/settlement). Ref is the sale's id;
	// Settlement replaces the sale's own, if it had one, for the upload.
	KindSettlement = "settlement"
	// KindPharmacistOn: a licensed pharmacist signed in on duty at the
	// till (POST /api/pharmacist/sign-in); PharName and PharPracCertNo say
	// who. One signing in while another is on duty takes over.
	// KindPharmacistOff: the pharmacist on duty signed out; PharName and
	// PharPracCertNo say who left. Duty does not survive a restart: a till
	// starts with nobody on duty.
	KindPharmacistOn  = "pharmacist_on"
	KindPharmacistOff = "pharmacist_off"
)

// Tills before KindFlagged recorded flagged items as KindBlocked: a reader
// that counts attempts takes both kinds and goes by each line's Decision.

// Card types, as the national platform codes them (mdtrt_cert_type).
const (
	CardSSC     = "03" // social-security card
	CardVoucher = "01" // medical-insurance electronic voucher
)

// Line decisions.
const (
	Allow = "allow"
	Block = "block"
	Hold  = "hold"
	Flag  = "flag"
)

// Record is one ledger entry. Seq, ID, Prev, Pharmacy, Till, Kind and At are
// present in every record; the body fields depend on Kind.
//
// The bytes a till signs and chains are the JSON encoding of the record as
// stored in its ledger; receivers keep and verify those exact bytes and
// never re-encode a record they received.
type Record struct {
	Seq      uint64 `json:"seq"`
	ID       string `json:"id"`   // a UUID; the ledger makes version 7 ones, in time order
	Prev     string `json:"prev"` // hex SHA-256 of the previous record's bytes; "" for seq 1
	Pharmacy string `json:"pharmacy"`
	Till     string `json:"till"`
	Kind     string `json:"kind"`
	At       string `json:"at"` // RFC 3339 with offset

	Card       *Card    `json:"card,omitempty"`
	Lines      []Line   `json:"lines,omitempty"`
	Payment    *Payment `json:"payment,omitempty"`
	Cashier    string   `json:"cashier,omitempty"`
	Pharmacist string   `json:"pharmacist,omitempty"`
	Reason     string   `json:"reason,omitempty"` // override reason, device event detail
	Ref        string   `json:"ref,omitempty"`    // id of the record this one refers to (a return's sale)
	Device     *Device  `json:"device,omitempty"`

	// What the national platform's 3505 upload takes of a sale that the
	// till is told rather than knows (docs/national-platform.md).
	Settlement *Settlement `json:"settlement,omitempty"` // the POS's settlement: on a sale, or a settlement record
	// PharName and PharPracCertNo are the pharmacist on duty at the sale
	// and the number of their practising certificate (执业药师注册证).
	PharName       string `json:"phar_name,omitempty"`
	PharPracCertNo string `json:"phar_prac_cert_no,omitempty"`
}

// Card identifies the buyer. Name is masked before it is recorded (张*).
type Card struct {
	Type   string `json:"type"` // CardSSC or CardVoucher
	No     string `json:"no"`
	Region string `json:"region,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Line is one item as decided at the counter.
type Line struct {
	Barcode      string   `json:"barcode"`
	MedListCodg  string   `json:"med_list_codg,omitempty"`
	Name         string   `json:"name"`
	Qty          int      `json:"qty"`
	Days         int      `json:"days,omitempty"`
	PriceFen     int64    `json:"price_fen"`
	DrugTracCodg []string `json:"drug_trac_codg,omitempty"`
	RxFlag       bool     `json:"rx_flag,omitempty"`
	RxRef        string   `json:"rx_ref,omitempty"`
	Manual       bool     `json:"manual,omitempty"`
	Decision     string   `json:"decision"`
	Rule         string   `json:"rule,omitempty"`
	ReasonZH     string   `json:"reason_zh,omitempty"`
	ReasonEN     string   `json:"reason_en,omitempty"`
	Flags        []string `json:"flags,omitempty"`      // rule ids of the other findings on the line
	Overridden   bool     `json:"overridden,omitempty"` // a pharmacist released the hold (see the override record)
	DaysLimit    int      `json:"days_limit,omitempty"` // the days-supply limit that applied
	Pay          string   `json:"pay,omitempty"`        // "insurance" or "cash" on a sale

	// The 3505/3506 fields of the line under the platform's names
	// (docs/national-platform.md). FixmedinsHilistID and
	// FixmedinsHilistName are the catalogue's when it names them; absent,
	// Barcode and Name stand in. FixmedinsBchno is set on a return's line
	// only: the sale line's BatchNo, which names the line returned.
	FixmedinsHilistID   string `json:"fixmedins_hilist_id,omitempty"`
	FixmedinsHilistName string `json:"fixmedins_hilist_name,omitempty"`
	FixmedinsBchno      string `json:"fixmedins_bchno,omitempty"`
	ManuLotnum          string `json:"manu_lotnum,omitempty"`  // the box's lot: its GS1 AI 10, else the catalogue's
	ManuDate            string `json:"manu_date,omitempty"`    // date of manufacture, YYYY-MM-DD
	ExpyEnd             string `json:"expy_end,omitempty"`     // expiry, YYYY-MM-DD
	TrdnFlag            bool   `json:"trdn_flag,omitempty"`    // split pack (拆零): Qty counts units, not packs
	PrscDrName          string `json:"prsc_dr_name,omitempty"` // the prescriber, on a prescription drug's line
}

// Payment is the split of a sale's total, in fen.
type Payment struct {
	Method       string `json:"method"` // insurance, cash or split
	InsuranceFen int64  `json:"insurance_fen"`
	CashFen      int64  `json:"cash_fen"`
}

// Device is the body of a device record.
type Device struct {
	Name  string `json:"name"`  // card or scanner
	State string `json:"state"` // connected, disconnected, missing
}
