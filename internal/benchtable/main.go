package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// budget is one SPEC.md §8 ratio: a metric a benchmark reports with
// b.ReportMetric, and the bound it must keep.
type budget struct {
	name   string // as printed
	metric string // the ReportMetric unit
	atMost bool   // true: value ≤ bound; false: value ≥ bound
	bound  float64
}

var budgets = []budget{
	{"sale commit ÷ bare bbolt fsync'd Update", "commit/bare", true, 1.3},
	{"backlog drain ÷ bare paho QoS 1 windowed", "drain/paho", false, 0.5},
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
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "budget (SPEC.md §8)\tvalue\tbudget\tok?")
	ok = true
	for _, b := range budgets {
		v, seen := got[b.metric]
		bound := "≥ " + strconv.FormatFloat(b.bound, 'f', -1, 64)
		if b.atMost {
			bound = "≤ " + strconv.FormatFloat(b.bound, 'f', -1, 64)
		}
		switch {
		case !seen:
			ok = false
			fmt.Fprintf(tw, "%s\t-\t%s\tNOT RUN\n", b.name, bound)
		case b.atMost && v <= b.bound, !b.atMost && v >= b.bound:
			fmt.Fprintf(tw, "%s\t%.3f\t%s\tok\n", b.name, v, bound)
		default:
			ok = false
			fmt.Fprintf(tw, "%s\t%.3f\t%s\tOVER BUDGET\n", b.name, v, bound)
		}
	}
	return ok, tw.Flush()
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
