package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// WriteCSV writes the report as CSV for spreadsheets: one section after
// another, each row's first field naming its section, each section opened
// by its own header row (so rows have different lengths).
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	seq := func(n uint64) string { return strconv.FormatUint(n, 10) }
	rows := [][]string{
		{"section", "pharmacy", "till", "from", "to", "generated", "records", "undecoded"},
		{"period", r.Pharmacy, r.Till, r.Period.FromDate(), r.Period.ToDate(), ts(r.Generated), strconv.Itoa(r.Records), strconv.Itoa(r.Undecoded)},
		{"section", "count", "total_fen", "insurance_fen", "cash_fen", "attempts", "stopped", "flagged"},
		{"sales", strconv.Itoa(r.Sales.Count), fen(r.Sales.TotalFen), fen(r.Sales.InsuranceFen), fen(r.Sales.CashFen), strconv.Itoa(r.Attempts), strconv.Itoa(len(r.Stopped)), strconv.Itoa(r.Flagged)},
		{"section", "rule", "title_zh", "title_en", "block", "hold", "flag", "total"},
	}
	for _, c := range r.Rules {
		rows = append(rows, []string{"rule", c.Rule, c.TitleZH, c.TitleEN, strconv.Itoa(c.Block), strconv.Itoa(c.Hold), strconv.Itoa(c.Flag), strconv.Itoa(c.Total())})
	}
	rows = append(rows, []string{"section", "seq", "at", "barcode", "name", "rule", "decision", "reason_zh", "reason_en", "cashier", "card", "released_by"})
	for _, x := range r.Stopped {
		rows = append(rows, []string{"stopped", seq(x.Seq), ts(x.At), x.Barcode, x.Name, x.Rule, x.Decision, x.ReasonZH, x.ReasonEN, x.Cashier, x.Card, x.ReleasedBy})
	}
	rows = append(rows, []string{"section", "seq", "at", "pharmacist", "reason", "card", "barcode", "name", "rule", "ref"})
	for _, o := range r.Overrides {
		rows = append(rows, []string{"override", seq(o.Seq), ts(o.At), o.Pharmacist, o.Reason, o.Card, o.Barcode, o.Name, o.Rule, o.Ref})
	}
	rows = append(rows, []string{"section", "seq", "at", "sale_id", "refund", "cashier", "card", "items", "qty", "insurance_fen", "cash_fen"})
	for _, x := range r.Returns {
		rows = append(rows, []string{"return", seq(x.Seq), ts(x.At), x.SaleID, x.Refund, x.Cashier, x.Card, x.Items, strconv.Itoa(x.Qty), fen(x.InsuranceFen), fen(x.CashFen)})
	}
	rows = append(rows, []string{"section", "seq", "at", "card", "barcode", "name", "rule", "decision", "reason_zh"})
	for _, d := range r.DenyHits {
		rows = append(rows, []string{"deny_hit", seq(d.Seq), ts(d.At), d.Card, d.Barcode, d.Name, d.Rule, d.Decision, d.ReasonZH})
	}
	rows = append(rows, []string{"section", "device", "state", "from", "to", "seconds", "open", "reason"})
	for _, g := range r.Gaps {
		rows = append(rows, []string{"device_gap", g.Device, g.State, ts(g.From), ts(g.To), strconv.FormatInt(int64(g.Duration()/time.Second), 10), strconv.FormatBool(g.Open), g.Reason})
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	return nil
}

func fen(n int64) string { return strconv.FormatInt(n, 10) }
