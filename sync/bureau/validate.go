package bureau

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// uploadField is a selinfo field as the platform's field list bounds it
// (docs/national-platform.md): its most characters and when it is
// required; need nil is optional.
type uploadField struct {
	name string
	get  func(*Selinfo) string
	max  int
	need func(*Selinfo) bool
	date string // the layout a date or date-time must have; "" = none
}

func always(*Selinfo) bool { return true }

// uploadFields are the fields CheckUpload holds each line to. Lines of a
// prescription drug need the prescriber; a sale settled through the
// platform needs its setl_id.
var uploadFields = []uploadField{
	{"med_list_codg", func(s *Selinfo) string { return s.MedListCodg }, 50, always, ""},
	{"fixmedins_hilist_id", func(s *Selinfo) string { return s.FixmedinsHilistID }, 30, always, ""},
	{"fixmedins_hilist_name", func(s *Selinfo) string { return s.FixmedinsHilistName }, 200, always, ""},
	{"fixmedins_bchno", func(s *Selinfo) string { return s.FixmedinsBchno }, 30, always, ""},
	{"prsc_dr_name", func(s *Selinfo) string { return s.PrscDrName }, 50, func(s *Selinfo) bool { return s.RxFlag == "1" }, ""},
	{"phar_name", func(s *Selinfo) string { return s.PharName }, 50, always, ""},
	{"phar_prac_cert_no", func(s *Selinfo) string { return s.PharPracCertNo }, 50, always, ""},
	{"hi_feesetl_type", func(s *Selinfo) string { return s.HiFeesetlType }, 6, nil, ""},
	{"setl_id", func(s *Selinfo) string { return s.SetlID }, 30, func(s *Selinfo) bool { return s.MdtrtSetlType == "1" }, ""},
	{"mdtrt_sn", func(s *Selinfo) string { return s.MdtrtSn }, 30, always, ""},
	{"psn_no", func(s *Selinfo) string { return s.PsnNo }, 30, nil, ""},
	{"psn_cert_type", func(s *Selinfo) string { return s.PsnCertType }, 6, nil, ""},
	{"manu_lotnum", func(s *Selinfo) string { return s.ManuLotnum }, 30, always, ""},
	{"manu_date", func(s *Selinfo) string { return s.ManuDate }, 10, always, platformDate},
	{"expy_end", func(s *Selinfo) string { return s.ExpyEnd }, 10, nil, platformDate},
	{"rx_flag", func(s *Selinfo) string { return s.RxFlag }, 3, always, ""},
	{"trdn_flag", func(s *Selinfo) string { return s.TrdnFlag }, 3, always, ""},
	{"rxno", func(s *Selinfo) string { return s.Rxno }, 40, nil, ""},
	{"rtal_docno", func(s *Selinfo) string { return s.RtalDocno }, 40, always, ""},
	{"drug_prod_barc", func(s *Selinfo) string { return s.DrugProdBarc }, 30, nil, ""},
	{"sel_retn_cnt", func(s *Selinfo) string { return string(s.SelRetnCnt) }, 0, always, ""},
	{"sel_retn_time", func(s *Selinfo) string { return s.SelRetnTime }, 19, always, platformDateTime},
	{"sel_retn_opter_name", func(s *Selinfo) string { return s.SelRetnOpterName }, 50, always, ""},
	{"mdtrt_setl_type", func(s *Selinfo) string { return s.MdtrtSetlType }, 6, always, ""},
}

// whyUnknown is the reason of a required field the mapping left empty
// without saying why: the record does not carry it.
const whyUnknown = "the record does not carry it"

// problem is one thing the platform would refuse, and the field it is
// about.
type problem struct{ field, msg string }

// recordFields are the fields a line takes from its record rather than
// from itself: a problem with one of them on every line is the record's.
var recordFields = map[string]bool{
	"phar_name": true, "phar_prac_cert_no": true, "hi_feesetl_type": true, "setl_id": true, "mdtrt_sn": true,
	"psn_no": true, "psn_cert_type": true, "mdtrt_setl_type": true, "rtal_docno": true, "sel_retn_time": true, "sel_retn_opter_name": true,
}

// lineProblems is what the platform would refuse in one line: a
// required field missing and why, a value over its length or not in its
// layout, an incomplete list of traceability codes.
func lineProblems(ml *mappedLine) []problem {
	s := &ml.up.Input.Selinfo
	var out []problem
	add := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	for _, f := range uploadFields {
		v := f.get(s)
		if v == "" {
			if f.need != nil && f.need(s) {
				why, ok := ml.missing[f.name]
				if !ok {
					why = whyUnknown
				}
				add(f.name, "missing %s (%s)", f.name, why)
			}
			continue
		}
		if n := utf8.RuneCountInString(v); f.max > 0 && n > f.max {
			add(f.name, "%s is %d characters, the platform takes at most %d", f.name, n, f.max)
		}
		if _, err := time.Parse(f.date, v); f.date != "" && err != nil {
			add(f.name, "%s %.40q is not in the platform's layout %s", f.name, v, f.date)
		}
	}
	switch s.MdtrtSetlType {
	case "", "1", "2":
	default:
		add("mdtrt_setl_type", "mdtrt_setl_type %.10q: want 1 (through the platform) or 2 (self-paid)", s.MdtrtSetlType)
	}
	if why, ok := ml.missing["drugtracinfo"]; ok {
		what := "missing"
		if len(s.Drugtracinfo) > 0 {
			what = "incomplete"
		}
		add("drugtracinfo", "%s drugtracinfo (%s)", what, why)
	}
	for _, d := range s.Drugtracinfo {
		if n := utf8.RuneCountInString(d.DrugTracCodg); n > 30 {
			add("drugtracinfo", "drug_trac_codg %.40q is %d characters, the platform takes at most 30", d.DrugTracCodg, n)
		}
	}
	return out
}

// problems are a record's problems, each "line N: …", or without the line
// when it is about a field of the record (a missing settlement, say) and
// every line has it, so that it is said once.
func problems(m *mapped) []string {
	per := make([][]problem, len(m.lines))
	seen := map[problem]int{} // problem → lines that have it
	var order []problem
	for i := range m.lines {
		per[i] = lineProblems(&m.lines[i])
		for _, p := range per[i] {
			if seen[p] == 0 {
				order = append(order, p)
			}
			seen[p]++
		}
	}
	ofRecord := func(p problem) bool { return recordFields[p.field] && seen[p] == len(m.lines) }
	var out []string
	for _, p := range order {
		if ofRecord(p) {
			out = append(out, p.msg)
		}
	}
	for i, ps := range per {
		for _, p := range ps {
			if !ofRecord(p) {
				out = append(out, fmt.Sprintf("line %d: %s", m.lines[i].up.Source.Line, p.msg))
			}
		}
	}
	return out
}

// CheckUpload checks the records ExportUpload would write against the
// platform's field list and writes, per record, every problem, one a
// line: "H33010200001/T01 7: missing mdtrt_sn (…why…)", and the lines it
// does not upload. It ends with the summary, which it returns; a record
// with any problem counts as incomplete.
func CheckUpload(ctx context.Context, w io.Writer, ar exporter, format string, f ExportFilter) (UploadSummary, error) {
	bw := bufio.NewWriter(w)
	sum, err := eachMapped(ctx, ar, format, f, func(m *mapped) error {
		at := fmt.Sprintf("%s/%s %d", m.src.Pharmacy, m.src.Till, m.src.Seq)
		for _, p := range problems(m) {
			fmt.Fprintf(bw, "%s: %s\n", at, p)
		}
		for _, s := range m.skipped {
			fmt.Fprintf(bw, "%s: %s\n", at, s)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	fmt.Fprintln(bw, sum)
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("bureau: upload check: %w", err)
	}
	return sum, nil
}
