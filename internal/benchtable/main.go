package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// op is how a measured value must compare with its bound.
type op string

const (
	below   op = "<"
	atMost  op = "≤"
	above   op = ">"
	atLeast op = "≥"
)

func (o op) holds(v, bound float64) bool {
	switch o {
	case below:
		return v < bound
	case atMost:
		return v <= bound
	case above:
		return v > bound
	case atLeast:
		return v >= bound
	}
	return false
}

// budget is one row of docs/performance.md's budgets: a metric a benchmark reports with
// b.ReportMetric, the bound it must keep, and the metrics that say what
// it was measured from (printed beside it, not judged).
type budget struct {
	name    string // as printed
	metric  string // the ReportMetric unit
	op      op
	bound   float64
	unit    string   // printed after value and bound
	context []string // ReportMetric units shown in the "measured" column
}

var budgets = []budget{
	{name: "decision per scan, median (100k items, 1M lines)", metric: "µs-median-1M-lines", op: below, bound: 20, unit: "µs",
		context: []string{"µs-median-1k-lines"}},
	{name: "decision ÷ 13-digit barcode at 9600 baud (14.58 ms)", metric: "%-of-wire", op: below, bound: 0.2, unit: "%"},
	// A decision reads the card's history through an index seek bounded
	// by its window, never a scan: 1k → 1M lines adds a level or two to
	// the B+tree and a bigger file to cache. 1.5 leaves room for that and
	// for a shared 2-core machine's noise; a cost growing with the ledger
	// would show as hundreds.
	{name: "decision 1M lines ÷ 1k lines (cost independent of ledger size)", metric: "ratio-1M/1k", op: atMost, bound: 1.5,
		context: []string{"s-build-1M-lines"}},
	{name: "sale commit ÷ bare bbolt fsync'd Update", metric: "commit/bare", op: atMost, bound: 1.3,
		context: []string{"commit-ns", "bare-ns"}},
	{name: "backlog drain ÷ bare paho QoS 1 windowed (100k)", metric: "drain/paho", op: atLeast, bound: 0.5,
		context: []string{"drain-rec/s", "paho-rec/s", "till-cpu-µs/rec", "bureau-cpu-µs/rec"}},
	{name: "backlog drain ÷ mosquitto bridge with persistence (100k)", metric: "drain/bridge", op: above, bound: 1,
		context: []string{"drain-rec/s", "bridge-rec/s"}},
	{name: "bureau ingest into PostgreSQL, backlog of 10 000 tills", metric: "pg-ingest-rec/s", op: atLeast, bound: 5000, unit: " rec/s",
		context: []string{"bolt-ingest-rec/s", "pg/bolt", "ms-ack-p50", "ms-ack-p99"}},
	{name: "resident memory of tillguard run, idle", metric: "MB-rss-idle", op: below, bound: 20, unit: "MB"},
	{name: "resident memory of tillguard run, peak draining 100k", metric: "MB-rss-peak-drain", op: below, bound: 60, unit: "MB",
		context: []string{"MB-anon-peak-drain"}},
	{name: "tillguard run: exec to /healthz answering (fresh data dir)", metric: "ms-start-to-ready", op: below, bound: 300, unit: "ms",
		context: []string{"ms-start-to-ready-100k"}},
}

func main() {
	ok, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run copies in to out, then writes the table; ok is false when a budget
// is missed or missing.
func run(in io.Reader, out io.Writer) (ok bool, err error) {
	got := map[string]float64{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		for unit, v := range parseLine(line) {
			got[unit] = v
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	fmt.Fprintln(out)
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "budget (docs/performance.md)\tvalue\tbudget\tok?\tmeasured")
	ok = true
	for _, b := range budgets {
		v, seen := got[b.metric]
		bound := string(b.op) + " " + strconv.FormatFloat(b.bound, 'f', -1, 64) + b.unit
		verdict := "ok"
		switch {
		case !seen:
			ok, verdict = false, "NOT RUN"
		case !b.op.holds(v, b.bound):
			ok, verdict = false, "OVER BUDGET"
		}
		value := "-"
		if seen {
			value = format(v) + b.unit
		}
		var ctx []string
		for _, m := range b.context {
			if cv, seen := got[m]; seen {
				ctx = append(ctx, m+" "+format(cv))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.name, value, bound, verdict, strings.Join(ctx, ", "))
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	// A row with nothing measured beside it ends in the padding of its
	// last column: trim it, the table is pasted into the README.
	for line := range strings.Lines(table.String()) {
		if _, err := fmt.Fprintln(out, strings.TrimRight(line, " \n")); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// format prints v with about four significant digits, without exponent.
func format(v float64) string {
	switch a := max(v, -v); {
	case a >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
}

// parseLine returns the metrics of one benchmark result line ("BenchmarkX-2
// 100 123 ns/op 1.04 commit/bare"), keyed by unit; nil for other lines.
func parseLine(line string) map[string]float64 {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return nil
	}
	if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
		return nil
	}
	m := map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil
		}
		m[f[i+1]] = v
	}
	return m
}
