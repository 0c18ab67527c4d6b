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

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		ok     bool
		report []string
	}{
		{"both within", "BenchmarkBudgetCommit-2 10 1 ns/op 1.10 commit/bare\nBenchmarkBudgetDrain-2 1 1 ns/op 0.61 drain/paho\n",
			true, []string{"1.100", "0.610", "≤ 1.3", "≥ 0.5"}},
		{"commit over", "BenchmarkBudgetCommit-2 10 1 ns/op 1.31 commit/bare\nBenchmarkBudgetDrain-2 1 1 ns/op 0.61 drain/paho\n",
			false, []string{"OVER BUDGET"}},
		{"drain under", "BenchmarkBudgetCommit-2 10 1 ns/op 1.0 commit/bare\nBenchmarkBudgetDrain-2 1 1 ns/op 0.2 drain/paho\n",
			false, []string{"0.200", "OVER BUDGET"}},
		{"one missing", "BenchmarkBudgetCommit-2 10 1 ns/op 1.0 commit/bare\n", false, []string{"NOT RUN"}},
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
		})
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
