package bureau

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
)

// The national platform's uploads (docs/national-platform.md).
const (
	Format3505 = "3505" // sales (商品销售): one selinfo per sold line
	Format3506 = "3506" // returns (商品销售退货): one selinfo per returned line
)

// platformZone is the platform's clock, China Standard Time: UTC+8 all
// year, so a fixed zone and no time zone database.
var platformZone = time.FixedZone("CST", 8*3600)

// The platform's layouts of dates and date-times.
const (
	platformDate     = "2006-01-02"
	platformDateTime = "2006-01-02 15:04:05"
)

// Upload is one line of a 3505 or 3506 export: the transaction number, the
// pharmacy's code (定点医药机构编号) and the input as the platform takes it,
// and where it comes from, which an uploader leaves out of what it sends.
type Upload struct {
	Infno         string      `json:"infno"`
	FixmedinsCode string      `json:"fixmedins_code"`
	Input         UploadInput `json:"input"`
	Source        Source      `json:"source"`
}

// UploadInput is the platform's input object.
type UploadInput struct {
	Selinfo Selinfo `json:"selinfo"`
}

// Source names the record line an upload comes from: Line from 1.
type Source struct {
	Pharmacy string `json:"pharmacy"`
	Till     string `json:"till"`
	Seq      uint64 `json:"seq"`
	ID       string `json:"id"`
	Line     int    `json:"line"`
}

// Selinfo is one line sold (3505) or returned (3506) under the platform's
// field names, in the order of its field list. A field the till does not
// know is absent, never an empty string: CheckUpload names each missing
// field a record needs, and why it is missing.
type Selinfo struct {
	MedListCodg         string      `json:"med_list_codg,omitempty"`
	FixmedinsHilistID   string      `json:"fixmedins_hilist_id,omitempty"`
	FixmedinsHilistName string      `json:"fixmedins_hilist_name,omitempty"`
	FixmedinsBchno      string      `json:"fixmedins_bchno,omitempty"`
	PrscDrName          string      `json:"prsc_dr_name,omitempty"`
	PharName            string      `json:"phar_name,omitempty"`
	PharPracCertNo      string      `json:"phar_prac_cert_no,omitempty"`
	HiFeesetlType       string      `json:"hi_feesetl_type,omitempty"`
	SetlID              string      `json:"setl_id,omitempty"`
	MdtrtSn             string      `json:"mdtrt_sn,omitempty"`
	PsnNo               string      `json:"psn_no,omitempty"`
	PsnCertType         string      `json:"psn_cert_type,omitempty"`
	ManuLotnum          string      `json:"manu_lotnum,omitempty"`
	ManuDate            string      `json:"manu_date,omitempty"`
	ExpyEnd             string      `json:"expy_end,omitempty"`
	RxFlag              string      `json:"rx_flag"`
	TrdnFlag            string      `json:"trdn_flag"`
	FinlTrnsPric        json.Number `json:"finl_trns_pric,omitempty"`
	Rxno                string      `json:"rxno,omitempty"`
	RtalDocno           string      `json:"rtal_docno,omitempty"`
	Drugtracinfo        []Drugtrac  `json:"drugtracinfo,omitempty"`
	DrugProdBarc        string      `json:"drug_prod_barc,omitempty"`
	SelRetnCnt          json.Number `json:"sel_retn_cnt"`
	SelRetnTime         string      `json:"sel_retn_time,omitempty"`
	SelRetnOpterName    string      `json:"sel_retn_opter_name,omitempty"`
	MdtrtSetlType       string      `json:"mdtrt_setl_type,omitempty"`
}

// Drugtrac is one box's traceability code.
type Drugtrac struct {
	DrugTracCodg string `json:"drug_trac_codg"`
}

// mapped is one sale or return record as its uploads: each line with the
// reason for every field the mapping could not fill, and the lines that
// are not uploaded at all.
type mapped struct {
	src     feed.Record
	lines   []mappedLine
	skipped []string // "line N: why"
}

type mappedLine struct {
	up      Upload
	missing map[string]string // field → why it is empty
}

// Why fields are missing, said so that whoever reads the check knows what
// to do about it.
const (
	whyNoSettlement    = "the POS sent no settlement for this sale: it sends one in the checkout, or later by POST /api/sales/%s/settlement"
	whySettlementLacks = "the POS's settlement did not send it"
	whyNoPharmacist    = "no pharmacist was signed in on duty at the till (POST /api/pharmacist/sign-in), or the one on duty was put there by an override, with no certificate number"
	whyNoPrescriber    = "the prescription was entered without its prescriber: the POS gives it with the reference (POST /api/session/rx, \"prescriber\"), or the uploader adds it from the prescription"
	whyNoLot           = "the box's code carries no lot (GS1 AI 10) and the catalogue has no manu_lotnum for the item: give the catalogue the lot on the shelf, or the pharmacist keys it in at upload"
	whyNoManuDate      = "the box's code carries no date of manufacture (GS1 AI 11) and the catalogue has no manu_date for its lot: give the catalogue the date, or the pharmacist keys it in at upload"
	whyNoCashier       = "the record names no cashier"
	whyNotCoded        = "the drug carries traceability codes but no box's code was scanned"
)

// settlementOf is the settlement that counts for a sale: its latest
// settlement record's, else its own; nil for none, or no sale.
func settlementOf(sale *feed.Record, late map[string]*feed.Settlement) *feed.Settlement {
	if sale == nil {
		return nil
	}
	if st := late[sale.ID]; st != nil {
		return st
	}
	return sale.Settlement
}

// mapSale maps a sale record onto 3505 uploads.
func mapSale(r *feed.Record, set *feed.Settlement) mapped {
	m := mapped{src: *r}
	for i, l := range r.Lines {
		if l.MedListCodg == "" {
			m.skipped = append(m.skipped, skippedLine(i, l))
			continue
		}
		ml := newLine(Format3505, r, i)
		s := &ml.up.Input.Selinfo
		ml.item(l)
		s.FixmedinsBchno = feed.BatchNo(r.ID, i)
		s.RtalDocno = r.ID
		ml.staff(r)
		ml.settlement(set, l, r.ID)
		ml.counted(r, l, false)
		m.lines = append(m.lines, ml)
	}
	return m
}

// mapReturn maps a return record onto 3506 uploads. Each line names the
// sale line it comes from by fixmedins_bchno (tills before it did not:
// then the sale's only line of its barcode is the one); the sale, when the
// archive holds it, gives the identity fields, the staff and the
// settlement, and the return its own count, time and cashier.
func mapReturn(r *feed.Record, sale *feed.Record, set *feed.Settlement) mapped {
	m := mapped{src: *r}
	for i, l := range r.Lines {
		if l.MedListCodg == "" {
			m.skipped = append(m.skipped, skippedLine(i, l))
			continue
		}
		ml := newLine(Format3506, r, i)
		s := &ml.up.Input.Selinfo
		sold, bchno, why := soldLine(sale, r.Ref, l)
		ml.item(sold)
		s.FixmedinsBchno, s.RtalDocno = bchno, r.Ref
		if bchno == "" {
			// What the sale line would say is not known either.
			for _, f := range []string{"fixmedins_bchno", "manu_lotnum", "manu_date", "prsc_dr_name"} {
				if _, lacks := ml.missing[f]; lacks || f == "fixmedins_bchno" {
					ml.missing[f] = why
				}
			}
		}
		if sale == nil {
			for _, f := range []string{"phar_name", "phar_prac_cert_no", "mdtrt_sn", "mdtrt_setl_type"} {
				ml.missing[f] = why
			}
		} else {
			ml.staff(sale)
			ml.settlement(set, sold, sale.ID)
		}
		ml.counted(r, l, coded(sold))
		m.lines = append(m.lines, ml)
	}
	return m
}

// soldLine is the sale line a returned line comes from and its
// fixmedins_bchno; the returned line itself, with why, when that is not
// known.
func soldLine(sale *feed.Record, saleID string, rl feed.Line) (feed.Line, string, string) {
	if sale == nil {
		why := fmt.Sprintf("sale %s is not in the archive (not received yet, or removed by retention)", saleID)
		return rl, rl.FixmedinsBchno, why
	}
	at, n := -1, 0
	for i, sl := range sale.Lines {
		switch {
		case rl.FixmedinsBchno != "" && feed.BatchNo(sale.ID, i) == rl.FixmedinsBchno:
			return sl, rl.FixmedinsBchno, ""
		case rl.FixmedinsBchno == "" && sl.Barcode == rl.Barcode:
			at, n = i, n+1
		}
	}
	if rl.FixmedinsBchno != "" {
		return rl, "", fmt.Sprintf("the return names line %s, which sale %s does not have", rl.FixmedinsBchno, sale.ID)
	}
	if n != 1 {
		return rl, "", fmt.Sprintf("the return record names no sale line, and sale %s has %d lines of %s", sale.ID, n, rl.Barcode)
	}
	return sale.Lines[at], feed.BatchNo(sale.ID, at), ""
}

func skippedLine(i int, l feed.Line) string {
	return fmt.Sprintf("line %d: not uploaded (%s %s has no med_list_codg: it is not on the national medical list)", i+1, l.Barcode, l.Name)
}

func newLine(format string, r *feed.Record, i int) mappedLine {
	return mappedLine{
		up: Upload{
			Infno: format, FixmedinsCode: r.Pharmacy,
			Source: Source{Pharmacy: r.Pharmacy, Till: r.Till, Seq: r.Seq, ID: r.ID, Line: i + 1},
		},
		missing: map[string]string{},
	}
}

// item fills what the catalogue and the box say of the line l: its codes
// and names, its batch, the flags and its prescription.
func (ml *mappedLine) item(l feed.Line) {
	s := &ml.up.Input.Selinfo
	s.MedListCodg = l.MedListCodg
	s.FixmedinsHilistID, s.FixmedinsHilistName = l.FixmedinsHilistID, l.FixmedinsHilistName
	if s.FixmedinsHilistID == "" {
		s.FixmedinsHilistID = l.Barcode
	}
	if s.FixmedinsHilistName == "" {
		s.FixmedinsHilistName = l.Name
	}
	s.DrugProdBarc = l.Barcode
	s.ManuLotnum, s.ManuDate, s.ExpyEnd = l.ManuLotnum, l.ManuDate, l.ExpyEnd
	if s.ManuLotnum == "" {
		ml.missing["manu_lotnum"] = whyNoLot
	}
	if s.ManuDate == "" {
		ml.missing["manu_date"] = whyNoManuDate
	}
	s.RxFlag, s.TrdnFlag = flag01(l.RxFlag), flag01(l.TrdnFlag)
	s.Rxno, s.PrscDrName = l.RxRef, l.PrscDrName
	if l.RxFlag && s.PrscDrName == "" {
		ml.missing["prsc_dr_name"] = whyNoPrescriber
	}
}

// staff fills the pharmacist on duty at the sale.
func (ml *mappedLine) staff(sale *feed.Record) {
	s := &ml.up.Input.Selinfo
	s.PharName, s.PharPracCertNo = sale.PharName, sale.PharPracCertNo
	for f, v := range map[string]string{"phar_name": s.PharName, "phar_prac_cert_no": s.PharPracCertNo} {
		if v == "" {
			ml.missing[f] = whyNoPharmacist
		}
	}
}

// settlement fills what the POS's settlement says. A line the till put on
// cash is self-paid whatever the settlement (mdtrt_setl_type 2).
func (ml *mappedLine) settlement(st *feed.Settlement, l feed.Line, saleID string) {
	s := &ml.up.Input.Selinfo
	why := fmt.Sprintf(whyNoSettlement, saleID)
	if st != nil {
		s.MdtrtSn, s.SetlID, s.PsnNo = st.MdtrtSn, st.SetlID, st.PsnNo
		s.HiFeesetlType, s.MdtrtSetlType, s.PsnCertType = st.HiFeesetlType, st.MdtrtSetlType, st.PsnCertType
		why = whySettlementLacks
	}
	if l.Pay == "cash" {
		s.MdtrtSetlType = feed.SetlSelfPaid
	}
	if s.MdtrtSn == "" {
		ml.missing["mdtrt_sn"] = why
	}
	if s.MdtrtSetlType == "" {
		ml.missing["mdtrt_setl_type"] = why
	}
	if s.MdtrtSetlType == feed.SetlPlatform && s.SetlID == "" {
		ml.missing["setl_id"] = "mdtrt_setl_type 1 (settled through the platform) needs the settlement's setl_id: " + why
	}
}

// coded reports whether a line's drug carries traceability codes: some
// were scanned, or the rules found them missing.
func coded(l feed.Line) bool {
	if l.Rule == "trace_missing" || len(l.DrugTracCodg) > 0 {
		return true
	}
	for _, f := range l.Flags {
		if f == "trace_missing" {
			return true
		}
	}
	return false
}

// counted fills what the record r itself says of its line l: how many,
// at what price, when, by whom, and the boxes' traceability codes, one
// for each box when the drug is coded (or, for a return, was sold so:
// soldCoded).
func (ml *mappedLine) counted(r *feed.Record, l feed.Line, soldCoded bool) {
	s := &ml.up.Input.Selinfo
	s.SelRetnCnt = json.Number(strconv.Itoa(l.Qty))
	if l.Qty > 0 {
		s.FinlTrnsPric = unitPrice(l.PriceFen, l.Qty)
	}
	if at, err := time.Parse(time.RFC3339, r.At); err == nil {
		s.SelRetnTime = at.In(platformZone).Format(platformDateTime)
	} else {
		ml.missing["sel_retn_time"] = fmt.Sprintf("the record's at %.40q is not an RFC 3339 time", r.At)
	}
	if s.SelRetnOpterName = r.Cashier; s.SelRetnOpterName == "" {
		ml.missing["sel_retn_opter_name"] = whyNoCashier
	}
	for _, c := range l.DrugTracCodg {
		s.Drugtracinfo = append(s.Drugtracinfo, Drugtrac{DrugTracCodg: c})
	}
	switch n := len(l.DrugTracCodg); {
	case !coded(l) && !soldCoded || l.TrdnFlag || n >= l.Qty:
	case n == 0:
		ml.missing["drugtracinfo"] = whyNotCoded
	default:
		ml.missing["drugtracinfo"] = fmt.Sprintf("%d traceability codes for %d boxes: every box's code is required from 2026-01-01", n, l.Qty)
	}
}

// unitPrice is fen÷qty÷100 yuan, to the platform's six decimals, rounded
// half up, without trailing zeros: exact from the integer fen.
func unitPrice(fen int64, qty int) json.Number {
	micro := fen * 10000 // 1 fen is 10 000 millionths of a yuan
	neg := micro < 0
	if neg {
		micro = -micro
	}
	q := (micro + int64(qty)/2) / int64(qty)
	s := strconv.FormatInt(q/1e6, 10)
	if frac := q % 1e6; frac != 0 {
		f := fmt.Sprintf("%06d", frac)
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		s += "." + f
	}
	if neg {
		s = "-" + s
	}
	return json.Number(s)
}

func flag01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// UploadSummary counts what an export or check of 3505 or 3506 found.
type UploadSummary struct {
	Format     string
	Records    int // sales (3505) or returns (3506)
	Complete   int // every line with every field the platform requires
	Incomplete int // some field missing or over the platform's length
	Empty      int // no line to upload (none on the national medical list)
	Lines      int // lines uploaded
	Skipped    int // lines not uploaded: no med_list_codg
}

// String is the summary as the check ends with it.
func (s UploadSummary) String() string {
	what := map[string]string{Format3505: "sale", Format3506: "return"}[s.Format]
	return fmt.Sprintf("%s: %s, %d complete for upload, %d incomplete, %d with nothing to upload; %s to upload, %d not (not on the national medical list)",
		s.Format, plural(s.Records, what), s.Complete, s.Incomplete, s.Empty, plural(s.Lines, "line"), s.Skipped)
}

func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + one + "s"
}

func checkFormat(format string) error {
	if format != Format3505 && format != Format3506 {
		return fmt.Errorf("bureau: upload: format %q: want %s (sales) or %s (returns)", format, Format3505, Format3506)
	}
	return nil
}

// ExportUpload writes the archive's sales (3505) or returns (3506), till
// by till in seq order, as the platform's uploads: one JSON line per line
// of a record (Upload), in the platform's shape, dates and codes. A sale
// is joined with its latest settlement record, a return with its sale.
// Incomplete records are written as far as the till knows them; the
// summary counts them, and CheckUpload says what each lacks.
func ExportUpload(ctx context.Context, w io.Writer, ar exporter, format string, f ExportFilter) (UploadSummary, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	sum, err := eachMapped(ctx, ar, format, f, func(m *mapped) error {
		for _, ml := range m.lines {
			if err := enc.Encode(ml.up); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("bureau: upload: %w", err)
	}
	return sum, nil
}

// eachMapped calls fn with every sale (3505) or return (3506) of the
// tills f selects, mapped, and counts them. Each till is read twice: first
// for its settlement records (and the sales its returns name), then for
// the records to map, so a settlement that came after its sale joins it.
func eachMapped(ctx context.Context, ar exporter, format string, f ExportFilter, fn func(*mapped) error) (UploadSummary, error) {
	sum := UploadSummary{Format: format}
	if err := checkFormat(format); err != nil {
		return sum, err
	}
	if (f.Pharmacy == "") != (f.Till == "") {
		return sum, errors.New("bureau: upload: pharmacy and till go together")
	}
	tills, err := selectTills(ctx, ar, f)
	if err != nil {
		return sum, fmt.Errorf("bureau: upload: %w", err)
	}
	from := max(f.FromSeq, 1)
	for _, t := range tills {
		late, wanted, err := firstPass(ctx, ar, t.Pharmacy, t.Till, from)
		if err != nil {
			return sum, fmt.Errorf("bureau: upload %s/%s: %w", t.Pharmacy, t.Till, err)
		}
		sales := map[string]*feed.Record{}
		start := from
		if format == Format3506 {
			start = 1 // a return's sale comes before it, maybe before from
		}
		err = ar.Scan(ctx, t.Pharmacy, t.Till, start, 0, func(seq uint64, rec, _ []byte) error {
			var r feed.Record
			if err := json.Unmarshal(rec, &r); err != nil {
				return fmt.Errorf("seq %d does not decode: %w", seq, err)
			}
			var m mapped
			switch {
			case format == Format3506 && r.Kind == feed.KindSale && wanted[r.ID]:
				sales[r.ID] = &r
				return nil
			case seq < from:
				return nil
			case format == Format3505 && r.Kind == feed.KindSale:
				m = mapSale(&r, settlementOf(&r, late))
			case format == Format3506 && r.Kind == feed.KindReturn:
				sale := sales[r.Ref]
				m = mapReturn(&r, sale, settlementOf(sale, late))
			default:
				return nil
			}
			sum.count(&m)
			return fn(&m)
		})
		if err != nil {
			return sum, fmt.Errorf("bureau: upload %s/%s: %w", t.Pharmacy, t.Till, err)
		}
	}
	return sum, nil
}

func (s *UploadSummary) count(m *mapped) {
	s.Records++
	s.Lines += len(m.lines)
	s.Skipped += len(m.skipped)
	switch {
	case len(m.lines) == 0:
		s.Empty++
	case len(problems(m)) > 0:
		s.Incomplete++
	default:
		s.Complete++
	}
}

// firstPass reads a till's settlement records, the latest of each sale
// winning, and the sales its returns from seq from on name.
func firstPass(ctx context.Context, ar exporter, pharmacy, till string, from uint64) (map[string]*feed.Settlement, map[string]bool, error) {
	late, wanted := map[string]*feed.Settlement{}, map[string]bool{}
	err := ar.Scan(ctx, pharmacy, till, 1, 0, func(seq uint64, rec, _ []byte) error {
		// Only a settlement or a return matters here; each holds its
		// kind's name, so the rest is not decoded.
		if !bytes.Contains(rec, []byte(`"`+feed.KindSettlement+`"`)) && !bytes.Contains(rec, []byte(`"`+feed.KindReturn+`"`)) {
			return nil
		}
		var r feed.Record
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("seq %d does not decode: %w", seq, err)
		}
		switch {
		case r.Kind == feed.KindSettlement && r.Settlement != nil && r.Ref != "":
			late[r.Ref] = r.Settlement
		case r.Kind == feed.KindReturn && seq >= from:
			wanted[r.Ref] = true
		}
		return nil
	})
	return late, wanted, err
}
