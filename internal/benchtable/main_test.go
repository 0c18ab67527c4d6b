package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want map[string]float64
	}{
		{"BenchmarkBudgetCommit-2   \t    2000\t   3919246 ns/op\t   0.10 MB/s\t   1.308 commit/bare",
			map[string]float64{"ns/op": 3919246, "MB/s": 0.10, "commit/bare": 1.308}},
		{"BenchmarkX 1 5 ns/op", map[string]float64{"ns/op": 5}},
		{"PASS", nil},
		{"ok  \tgithub.com/x\t7.9s", nil},
		{"BenchmarkX 1 5", nil},
		{"BenchmarkX many 5 ns/op", nil},
		{"BenchmarkX 1 fast ns/op", nil},
		{"--- FAIL: BenchmarkX", nil},
	}
	for _, tc := range tests {
		got := parseLine(tc.line)
		if len(got) != len(tc.want) {
			t.Errorf("parseLine(%q) = %v, want %v", tc.line, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("parseLine(%q)[%s] = %v, want %v", tc.line, k, got[k], v)
			}
		}
	}
}

// allWithin is one line per benchmark of `make bench`, every budget kept.
const allWithin = `BenchmarkBudgetDecision-2 100 9000 ns/op 8.1 µs-median-1k-lines 8.4 µs-median-1M-lines 0.0576 %-of-wire 1.037 ratio-1M/1k
BenchmarkBudgetCommit-2 10 1 ns/op 1.10 commit/bare
BenchmarkBudgetDrain-2 1 1 ns/op 0.61 drain/paho 1.8 drain/bridge 7000 drain-rec/s 11000 paho-rec/s 3900 bridge-rec/s
BenchmarkBudgetProcess-2 1 1 ns/op 11.2 MB-rss-idle 31.5 MB-rss-peak-drain 42 ms-start-to-ready
BenchmarkBudgetIngest-2 1 1 ns/op 6100 pg-ingest-rec/s 9000 bolt-ingest-rec/s 0.68 pg/bolt 9 ms-ack-p50 30 ms-ack-p99
`

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		ok     bool
		report []string
	}{
		{"all within", allWithin, true,
			[]string{"8.400µs", "< 20µs", "0.0576%", "< 0.2%", "1.037", "≤ 1.5", "1.100", "≤ 1.3", "0.6100", "≥ 0.5", "1.800", "> 1",
				"11.200MB", "< 20MB", "31.500MB", "< 60MB", "42.000ms", "< 300ms", "≥ 5000 rec/s", "ms-ack-p99 30", "drain-rec/s 7000, paho-rec/s 11000", "µs-median-1k-lines 8.100"}},
		{"commit over", strings.Replace(allWithin, "1.10 commit/bare", "1.31 commit/bare", 1), false, []string{"1.310", "OVER BUDGET"}},
		{"drain under", strings.Replace(allWithin, "0.61 drain/paho", "0.2 drain/paho", 1), false, []string{"0.2000", "OVER BUDGET"}},
		{"bridge level is not faster", strings.Replace(allWithin, "1.8 drain/bridge", "1 drain/bridge", 1), false, []string{"OVER BUDGET"}},
		{"rss at the bound", strings.Replace(allWithin, "11.2 MB-rss-idle", "20 MB-rss-idle", 1), false, []string{"OVER BUDGET"}},
		{"ingest too slow", strings.Replace(allWithin, "6100 pg-ingest-rec/s", "4999 pg-ingest-rec/s", 1), false, []string{"4999", "OVER BUDGET"}},
		{"one missing", strings.Replace(allWithin, "42 ms-start-to-ready", "", 1), false, []string{"NOT RUN"}},
		{"nothing ran", "PASS\n", false, []string{"NOT RUN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ok, err := run(strings.NewReader(tc.in), &out)
			if err != nil || ok != tc.ok {
				t.Fatalf("run = %v, %v; want ok %v\n%s", ok, err, tc.ok, out.String())
			}
			if !strings.HasPrefix(out.String(), tc.in) {
				t.Errorf("input not passed through:\n%s", out.String())
			}
			for _, s := range tc.report {
				if !strings.Contains(out.String(), s) {
					t.Errorf("table lacks %q:\n%s", s, out.String())
				}
			}
			for _, line := range strings.Split(strings.TrimPrefix(out.String(), tc.in), "\n") {
				if strings.TrimRight(line, " ") != line {
					t.Errorf("trailing blanks: %q", line)
				}
			}
			if got := strings.Count(out.String(), "\n") - strings.Count(tc.in, "\n"); got != len(budgets)+2 {
				t.Errorf("table has %d lines, want a blank line, a header and %d rows", got, len(budgets))
			}
		})
	}
}

func TestOpHolds(t *testing.T) {
	tests := []struct {
		o     op
		v     float64
		holds bool
	}{
		{below, 0.9, true}, {below, 1, false},
		{atMost, 1, true}, {atMost, 1.1, false},
		{above, 1.1, true}, {above, 1, false},
		{atLeast, 1, true}, {atLeast, 0.9, false},
		{op("?"), 1, false},
	}
	for _, tc := range tests {
		if got := tc.o.holds(tc.v, 1); got != tc.holds {
			t.Errorf("%v 1 for %v = %v, want %v", tc.o, tc.v, got, tc.holds)
		}
	}
}

func TestBudgets_metricsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range budgets {
		if seen[b.metric] {
			t.Errorf("metric %q judged twice", b.metric)
		}
		seen[b.metric] = true
		switch b.op {
		case below, atMost, above, atLeast:
		default:
			t.Errorf("%s: unknown op %q", b.name, b.op)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("BenchmarkBudgetCommit-2 2000 3919246 ns/op 0.10 MB/s 1.308 commit/bare")
	f.Add("BenchmarkX 1 NaN x")
	f.Add("PASS")
	f.Fuzz(func(t *testing.T, line string) {
		m := parseLine(line)
		// Every unit found is a field of the line.
		for unit := range m {
			if !strings.Contains(line, unit) {
				t.Fatalf("unit %q not in %q", unit, line)
			}
		}
	})
}
