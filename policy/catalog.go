package policy

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tillguard/tillguard/internal/gs1"
)

// Catalog maps what the scanner reads to the items the rules need. It is
// read-only once loaded and safe for concurrent use.
type Catalog struct {
	items     []Item
	uploads   []UploadInfo   // beside items; nil when the file has none of the upload columns
	byBarcode map[string]int // index into items
	byTrace   map[string]int
}

// UploadInfo is what the national platform's 3505 upload takes of an item
// and the rules do not read: the optional columns named as the platform
// names its fields (docs/national-platform.md). Empty is "not given".
type UploadInfo struct {
	HilistID   string // fixmedins_hilist_id: the pharmacy's own item id; "" = the barcode stands in
	HilistName string // fixmedins_hilist_name: the pharmacy's own item name; "" = name stands in
	Lot        string // manu_lotnum: the lot on the shelf, for boxes whose code carries none
	ManuDate   string // manu_date of that lot, YYYY-MM-DD
	ExpyEnd    string // expy_end of that lot, YYYY-MM-DD
	Trdn       bool   // trdn_flag: sold by the unit, split from the pack (拆零)
}

// Lookup returns the item with this EAN-13 or EAN-8 barcode. The GTIN-14 a
// GS1 symbol carries (the EAN left-padded with zeros) finds the same item.
func (c *Catalog) Lookup(barcode string) (Item, bool) {
	if i, ok := c.index(barcode); ok {
		return c.items[i], true
	}
	return Item{}, false
}

// Upload returns the upload columns of the item with this barcode (as
// Lookup finds it); zero when it has none or is not in the catalogue.
func (c *Catalog) Upload(barcode string) UploadInfo {
	if i, ok := c.index(barcode); ok && c.uploads != nil {
		return c.uploads[i]
	}
	return UploadInfo{}
}

// index finds barcode's item as Lookup describes.
func (c *Catalog) index(barcode string) (int, bool) {
	if i, ok := c.byBarcode[barcode]; ok {
		return i, true
	}
	if len(barcode) == 14 {
		for _, pad := range []string{"0", "000000"} {
			if key, ok := strings.CutPrefix(barcode, pad); ok {
				if i, ok := c.byBarcode[key]; ok {
					return i, true
				}
			}
		}
	}
	return 0, false
}

// ByTrace returns the product of a 20-digit drug traceability code through
// its first seven digits (the catalogue's trace_prefix).
func (c *Catalog) ByTrace(code string) (Item, bool) {
	if len(code) != traceLen || !allDigits(code) {
		return Item{}, false
	}
	i, ok := c.byTrace[code[:tracePrefixLen]]
	if !ok {
		return Item{}, false
	}
	return c.items[i], true
}

// Len returns the number of items.
func (c *Catalog) Len() int { return len(c.items) }

const (
	traceLen       = 20 // digits in a drug traceability code
	tracePrefixLen = 7  // digits naming the product
)

// column is a catalogue column the rules read (docs/rules.md, Catalogue).
type column int

const (
	colBarcode column = iota
	colTracePrefix
	colMedListCodg
	colName
	colCategory
	colCovered
	colRx
	colControl
	colCourse
	colPackUnits
	colDailyUnits
	colPriceFen
	colPriceCapFen
	// The upload columns (UploadInfo), optional, named as the platform
	// names the fields.
	colHilistID
	colHilistName
	colLot
	colManuDate
	colExpyEnd
	colTrdn
	numColumns
)

// firstUploadColumn starts the columns of UploadInfo.
const firstUploadColumn = colHilistID

func (c column) String() string {
	return [numColumns]string{
		"barcode", "trace_prefix", "med_list_codg", "name", "category", "covered", "rx",
		"control", "course", "pack_units", "daily_units", "price_fen", "price_cap_fen",
		"fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "manu_date", "expy_end", "trdn_flag",
	}[c]
}

// LoadCatalog reads a catalogue: UTF-8 CSV with a header row, columns in
// any order, unknown columns ignored, an optional UTF-8 byte-order mark.
// The columns barcode, name, category and covered are required.
//
// It loads all or nothing. On a bad file it returns an error wrapping
// ErrCatalog that lists every problem found, each with its CSV line number,
// so one round of fixes is enough. A file that is not UTF-8 is one problem,
// which says how to save it as UTF-8.
func LoadCatalog(r io.Reader) (*Catalog, error) {
	// A catalogue is read whole: it arrives whole in a policy bundle, and
	// knowing its size lets the tables be sized once (100 000 items load
	// noticeably faster than with growing tables).
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("policy: read catalogue: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		// One problem, not one per row: the whole file needs saving again.
		return nil, joinProblems([]error{notUTF8(data)})
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // a short row is reported with its line, not fatal
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty, no header row", ErrCatalog)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrCatalog, err)
	}
	nfields := len(header)
	hline, _ := cr.FieldPos(0) // 1 unless blank lines come first
	at, problems := readHeader(header, hline)
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}

	// Rows are at least minRowBytes long, which bounds what a hostile file
	// of newlines can make us allocate.
	const minRowBytes = 20
	rows := min(bytes.Count(data, []byte("\n")), len(data)/minRowBytes) + 1
	c := &Catalog{
		items:     make([]Item, 0, rows),
		byBarcode: make(map[string]int, rows),
		byTrace:   make(map[string]int, rows),
	}
	if hasUploadColumns(at) {
		c.uploads = make([]UploadInfo, 0, rows)
	}
	lines := make([]int, 0, rows) // CSV line of each item, for duplicate reports
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("policy: read catalogue: %w", err)
			}
			// The reader resumes after the bad record: carry on so every
			// problem is reported.
			problems = append(problems, fmt.Errorf("line %d: %w", pe.StartLine, pe.Err))
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != nfields {
			problems = append(problems, fmt.Errorf("line %d: %d fields, header has %d", line, len(rec), nfields))
			continue
		}
		rw := row{at: at, rec: rec}
		it, errs := parseRow(rw)
		up, upErrs := parseUpload(rw, it)
		errs = append(errs, upErrs...)
		if i, dup := c.byBarcode[it.Barcode]; dup {
			errs = append(errs, fmt.Sprintf("barcode %s already on line %d", it.Barcode, lines[i]))
			it.Barcode = ""
		}
		if i, dup := c.byTrace[it.TracePrefix]; dup && it.TracePrefix != "" {
			errs = append(errs, fmt.Sprintf("trace_prefix %s already on line %d", it.TracePrefix, lines[i]))
			it.TracePrefix = ""
		}
		for _, e := range errs {
			problems = append(problems, fmt.Errorf("line %d: %s", line, e))
		}
		if it.Barcode == "" {
			continue // no key: nothing later can collide with it
		}
		// A row with problems is kept until the end too, so that a later
		// duplicate of it is reported; nothing loads if any problem is found.
		c.byBarcode[it.Barcode] = len(c.items)
		if it.TracePrefix != "" {
			c.byTrace[it.TracePrefix] = len(c.items)
		}
		c.items = append(c.items, it)
		if c.uploads != nil {
			c.uploads = append(c.uploads, up)
		}
		lines = append(lines, line)
	}
	if len(problems) > 0 {
		return nil, joinProblems(problems)
	}
	return c, nil
}

// joinProblems heads the list of problems with ErrCatalog and their count.
func joinProblems(problems []error) error {
	return fmt.Errorf("%w (%d problems):\n%w", ErrCatalog, len(problems), errors.Join(problems...))
}

// notUTF8 is the problem of a file that is not UTF-8, on the line of its
// first bad byte. Chinese spreadsheets (Excel, WPS) save "CSV" as GBK, a
// part of GB18030, by default; a file that reads as GB18030 is named so,
// with how to save it as UTF-8. It is refused rather than decoded: Big5 and
// a file mixing UTF-8 with GBK read as GB18030 too, and a wrongly decoded
// name would be signed into the ledger for good.
func notUTF8(data []byte) error {
	bad := 0
	for bad < len(data) {
		r, n := utf8.DecodeRune(data[bad:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		bad += n
	}
	line := 1 + bytes.Count(data[:bad], []byte("\n"))
	if readsAsGB18030(data) {
		return fmt.Errorf("line %d: not valid UTF-8: 目录文件是 GBK/GB18030 编码（中文 Excel、WPS 另存 CSV 时的默认编码），请另存为 UTF-8，例如 Excel 另存为“CSV UTF-8(逗号分隔)” / "+
			"the catalogue is GBK/GB18030, what Chinese Excel and WPS save as CSV by default: save it as UTF-8 (Excel: Save As \"CSV UTF-8 (Comma delimited)\")", line)
	}
	return fmt.Errorf("line %d: not valid UTF-8: 目录文件不是 UTF-8 编码，请另存为 UTF-8 / the catalogue is not UTF-8: save it as UTF-8", line)
}

// readsAsGB18030 reports whether data is well-formed GB18030: ASCII,
// two-byte codes (lead 81–FE, trail 40–7E or 80–FE) and four-byte codes
// (81–FE, 30–39, 81–FE, 30–39).
func readsAsGB18030(data []byte) bool {
	in := func(i int, lo, hi byte) bool { return i < len(data) && data[i] >= lo && data[i] <= hi }
	for i := 0; i < len(data); {
		switch {
		case data[i] < 0x80:
			i++
		case !in(i, 0x81, 0xfe):
			return false
		case in(i+1, 0x40, 0x7e) || in(i+1, 0x80, 0xfe):
			i += 2
		case in(i+1, 0x30, 0x39) && in(i+2, 0x81, 0xfe) && in(i+3, 0x30, 0x39):
			i += 4
		default:
			return false
		}
	}
	return true
}

// readHeader finds each known column's index (-1 when absent). Names are
// matched without surrounding spaces and case; unknown columns are ignored.
func readHeader(header []string, line int) ([numColumns]int, []error) {
	var problems []error
	seen := make(map[string]bool, len(header))
	for _, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if name != "" && seen[name] {
			problems = append(problems, fmt.Errorf("line %d: column %q appears twice", line, name))
		}
		seen[name] = true
	}
	var at [numColumns]int
	for c := range numColumns {
		at[c] = slices.IndexFunc(header, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), c.String()) })
	}
	for _, req := range []column{colBarcode, colName, colCategory, colCovered} {
		if at[req] < 0 {
			problems = append(problems, fmt.Errorf("line %d: required column %q is missing", line, req))
		}
	}
	return at, problems
}

// row is one record seen through the header.
type row struct {
	at  [numColumns]int // index of each column in rec; -1 when absent
	rec []string
}

// get returns the trimmed value of a column, "" when the column is absent.
func (r row) get(c column) string {
	if r.at[c] < 0 {
		return ""
	}
	return strings.TrimSpace(r.rec[r.at[c]])
}

// parseRow turns one record into an item and the problems it has. The item
// is filled as far as it parses, so duplicate checks can use its keys.
func parseRow(r row) (Item, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	it := Item{
		Barcode:     r.get(colBarcode),
		TracePrefix: r.get(colTracePrefix),
		MedListCodg: r.get(colMedListCodg),
		Name:        r.get(colName),
		Category:    Category(r.get(colCategory)),
		Control:     r.get(colControl),
		Course:      Course(r.get(colCourse)),
	}
	if msg := checkBarcode(it.Barcode); msg != "" {
		bad("barcode %q: %s", it.Barcode, msg)
		it.Barcode = "" // not a key: no duplicate report against it
	}
	if it.TracePrefix != "" && (len(it.TracePrefix) != tracePrefixLen || !allDigits(it.TracePrefix)) {
		bad("trace_prefix %q: want %d digits", it.TracePrefix, tracePrefixLen)
		it.TracePrefix = ""
	}
	if it.MedListCodg != "" && !validCodg(it.MedListCodg, it.Category) {
		if it.Category == CategoryDevice {
			bad("med_list_codg %q: want %d characters A–Z, 0–9, or a consumable's %d starting with C", it.MedListCodg, MedListCodgLen, ConsumableCodgLen)
		} else {
			bad("med_list_codg %q: want %d characters A–Z, 0–9", it.MedListCodg, MedListCodgLen)
		}
	}
	switch {
	case it.Name == "":
		bad("name is empty")
	case !utf8.ValidString(it.Name):
		bad("name is not valid UTF-8")
	}
	if !it.Category.valid() {
		bad("category %q: want drug, device, daily_goods, health_food, cosmetic, food or other", it.Category)
	}
	if it.Course != "" && it.Course != CourseAcute && it.Course != CourseChronic {
		bad("course %q: want acute, chronic or empty", it.Course)
	}
	if it.Control != "" && !controlName(it.Control) {
		bad("control %q: want a lower-case class name such as ephedrine", it.Control)
	}

	var ok bool
	if it.Covered, ok = flag01(r.get(colCovered), false); !ok {
		bad("covered %q: want 1 or 0", r.get(colCovered))
	}
	if it.Rx, ok = flag01(r.get(colRx), true); !ok {
		bad("rx %q: want 1, 0 or empty", r.get(colRx))
	}
	num := func(col column) int64 {
		v, ok := count(r.get(col))
		if !ok {
			bad("%s %q: want a whole number from 0 to %d", col, r.get(col), int64(maxCount))
		}
		return v
	}
	it.PackUnits = int(num(colPackUnits))
	it.DailyUnits = int(num(colDailyUnits))
	it.PriceFen = num(colPriceFen)
	it.PriceCapFen = num(colPriceCapFen)

	if it.Category == CategoryDrug && it.Covered && it.MedListCodg == "" {
		bad("covered drug has no med_list_codg")
	}
	if it.PackUnits > 0 && it.DailyUnits == 0 {
		bad("pack_units %d needs daily_units > 0 (days of supply)", it.PackUnits)
	}
	if it.PackUnits > 0 && it.Course == "" && !it.Category.nonDrug() {
		bad("pack_units %d needs a course (acute or chronic) for the days limit", it.PackUnits)
	}
	return it, errs
}

// hasUploadColumns reports whether the header names an upload column:
// a catalogue without any keeps no UploadInfo per item.
func hasUploadColumns(at [numColumns]int) bool {
	for c := firstUploadColumn; c < numColumns; c++ {
		if at[c] >= 0 {
			return true
		}
	}
	return false
}

// The platform's lengths of the upload columns, in characters.
const (
	maxHilistID   = 30
	maxHilistName = 200
	maxLot        = 30
)

// parseUpload reads a row's upload columns and the problems they have.
// Each is optional; a lot's dates may be given without it, for stock
// whose lot the box's code carries.
func parseUpload(r row, it Item) (UploadInfo, []string) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	up := UploadInfo{
		HilistID:   r.get(colHilistID),
		HilistName: r.get(colHilistName),
		Lot:        r.get(colLot),
		ManuDate:   r.get(colManuDate),
		ExpyEnd:    r.get(colExpyEnd),
	}
	for _, f := range []struct {
		col column
		v   string
		max int
	}{{colHilistID, up.HilistID, maxHilistID}, {colHilistName, up.HilistName, maxHilistName}, {colLot, up.Lot, maxLot}} {
		switch n := utf8.RuneCountInString(f.v); {
		case n > f.max:
			bad("%s is %d characters, the national platform takes at most %d", f.col, n, f.max)
		case strings.IndexFunc(f.v, isControl) >= 0:
			bad("%s has a control character", f.col)
		}
	}
	for _, f := range []struct {
		col column
		v   string
	}{{colManuDate, up.ManuDate}, {colExpyEnd, up.ExpyEnd}} {
		if _, err := time.Parse(time.DateOnly, f.v); f.v != "" && err != nil {
			bad("%s %q: want a date YYYY-MM-DD", f.col, f.v)
		}
	}
	if up.ManuDate != "" && up.ExpyEnd != "" && up.ExpyEnd < up.ManuDate {
		bad("expy_end %s is before manu_date %s", up.ExpyEnd, up.ManuDate)
	}
	var ok bool
	if up.Trdn, ok = flag01(r.get(colTrdn), true); !ok {
		bad("trdn_flag %q: want 1, 0 or empty", r.get(colTrdn))
	}
	if up.Trdn && it.PackUnits == 0 {
		bad("trdn_flag 1 (sold by the unit) needs pack_units, the units in a pack")
	}
	return up, errs
}

// isControl is unicode.IsControl (C0, DEL and C1), without the import.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// maxCount bounds catalogue integers: more than any pack, dose or price
// (¥100 million), and small enough that no product of two overflows.
const maxCount = 1e10

// count parses a non-negative decimal integer; "" is 0.
func count(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if len(s) > 11 || !allDigits(s) {
		return 0, false
	}
	var v int64
	for _, c := range []byte(s) {
		v = v*10 + int64(c-'0')
	}
	return v, v <= maxCount
}

// flag01 parses a 0/1 column; empty is allowed (as 0) only when optional.
func flag01(s string, optional bool) (bool, bool) {
	switch s {
	case "1":
		return true, true
	case "0":
		return false, true
	case "":
		return false, optional
	}
	return false, false
}

// checkBarcode returns what is wrong with an EAN-13 or EAN-8 code, or "".
func checkBarcode(s string) string {
	switch {
	case s == "":
		return "empty"
	case !allDigits(s):
		return "not all digits"
	case len(s) != 13 && len(s) != 8:
		return fmt.Sprintf("%d digits, want 13 (EAN-13) or 8 (EAN-8)", len(s))
	}
	if want := gs1.CheckDigit(s[:len(s)-1]); s[len(s)-1] != want {
		return fmt.Sprintf("check digit %c, want %c", s[len(s)-1], want)
	}
	return ""
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// validCodg reports whether code is a national insurance code an item of
// category cat may carry: a drug code of MedListCodgLen, or, for a
// device, also a consumable's code of ConsumableCodgLen.
func validCodg(code string, cat Category) bool {
	switch {
	case !upperAlnum(code):
		return false
	case len(code) == MedListCodgLen:
		return true
	default:
		return cat == CategoryDevice && len(code) == ConsumableCodgLen && code[0] == 'C'
	}
}

func upperAlnum(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// controlName accepts a short lower-case identifier (ephedrine, …).
func controlName(s string) bool {
	if len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
