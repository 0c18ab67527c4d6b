package report

import "testing"

// FuzzParsePeriod: dates come from URLs and command lines.
func FuzzParsePeriod(f *testing.F) {
	f.Add("2025-03-10", "2025-03-10")
	f.Add("2025-03-10", "2024-03-10")
	f.Add("2025-02-29", "2025-13-01")
	f.Fuzz(func(t *testing.T, from, to string) {
		p, err := ParsePeriod(from, to, cst)
		if err != nil {
			return
		}
		if !p.From.Before(p.To) {
			t.Fatalf("%q..%q gives an empty period", from, to)
		}
		q, err := ParsePeriod(p.FromDate(), p.ToDate(), cst)
		if err != nil || !q.From.Equal(p.From) || !q.To.Equal(p.To) {
			t.Fatalf("round trip of %q..%q: %v %v", from, to, q, err)
		}
	})
}
