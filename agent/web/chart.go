package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/tillguard/tillguard/agent/report"
)

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartWidth  = 640
	chartLabel  = 230 // room for the rule's title
	chartBarMax = 340
	chartRow    = 30
	chartBar    = 20
)

// BarChart draws decisions per rule as horizontal bars, stacked block
// (red), hold (amber) and flag (blue), as inline SVG: no script, no
// library, prints as it shows.
func BarChart(rows []report.RuleCount) template.HTML {
	if len(rows) == 0 {
		return `<p class="none">无拦截 <span class="en">nothing blocked, held or flagged</span></p>`
	}
	most := 1
	for _, r := range rows {
		most = max(most, r.Total())
	}
	h := len(rows)*chartRow + 28
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="按规则统计 decisions per rule">`, chartWidth, h)
	for i, r := range rows {
		y := i * chartRow
		title := r.TitleZH
		if title == "" {
			title = r.Rule
		}
		fmt.Fprintf(&b, `<g data-rule="%s"><text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`,
			template.HTMLEscapeString(r.Rule), chartLabel-8, y+chartBar-5, template.HTMLEscapeString(title))
		x := float64(chartLabel)
		for _, part := range []struct {
			n     int
			class string
		}{{r.Block, "block"}, {r.Hold, "hold"}, {r.Flag, "flag"}} {
			if part.n == 0 {
				continue
			}
			w := float64(part.n) / float64(most) * chartBarMax
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" class="%s"><title>%s %s: %d</title></rect>`,
				x, y+2, w, chartBar, part.class, template.HTMLEscapeString(r.Rule), part.class, part.n)
			x += w
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="num">%d</text></g>`, x+6, y+chartBar-5, r.Total())
	}
	ly := len(rows)*chartRow + 14
	for i, l := range []struct{ class, zh, en string }{{"block", "拦截", "block"}, {"hold", "待药师", "hold"}, {"flag", "提示", "flag"}} {
		x := chartLabel + i*110
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" class="%s"/><text x="%d" y="%d" class="leg">%s %s</text>`,
			x, ly-10, l.class, x+16, ly, l.zh, l.en)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
