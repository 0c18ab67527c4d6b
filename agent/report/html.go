package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
)

//go:embed templates/report.html
var templates embed.FS

// Funcs are the template helpers the report's HTML uses; the web pages
// share them so money and times read the same everywhere.
func Funcs() template.FuncMap {
	return template.FuncMap{
		"yuan":      Yuan,
		"pct":       func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"ts":        func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
		"dur":       Duration,
		"verdictZH": func(d string) string { return verdictWords[d][0] },
		"verdictEN": func(d string) string { return verdictWords[d][1] },
	}
}

// verdictWords name a line's decision for the owner, Chinese and English.
var verdictWords = map[string][2]string{
	feed.Allow: {"允许", "allowed"},
	feed.Block: {"拦截", "blocked"},
	feed.Hold:  {"待药师审核", "held for the pharmacist"},
	feed.Flag:  {"提示", "flagged"},
}

// Yuan writes fen as yuan: 1234 → ¥12.34.
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s¥%d.%02d", sign, fen/100, fen%100)
}

// Duration writes d to the second, briefly: 1h2m3s.
func Duration(d time.Duration) string { return d.Round(time.Second).String() }

// HTMLOpts shapes the printable page.
type HTMLOpts struct {
	// Form shows a period picker and links to the CSV (the /report page);
	// the command line's file has none.
	Form bool
}

// WriteHTML writes the report as one printable HTML page with its style
// inline, so the file stands alone.
func WriteHTML(w io.Writer, r *Report, o HTMLOpts) error {
	t, err := template.New("report.html").Funcs(Funcs()).ParseFS(templates, "templates/report.html")
	if err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	if err := t.Execute(w, struct {
		*Report
		Form bool
	}{r, o.Form}); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}
