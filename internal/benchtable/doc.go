// Command benchtable reads `go test -bench` output on stdin, passes it
// through, and ends with a table of SPEC.md §8's budgets as ratios measured
// in the same run: name, value, budget, ok. It exits 1 when a budget is
// missed or a budgeted benchmark did not report, so `make bench` fails.
//
//	go test -run='^$' -bench='^BenchmarkBudget' ./sync/ledger | go run ./internal/benchtable
package main
