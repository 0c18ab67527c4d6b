// Command benchtable reads `go test -bench` output on stdin, passes it
// through, and ends with a table of docs/performance.md's budgets, each measured
// in the same run (ratios against baselines run beside it, memory and
// start time of the real binary): name, value, budget, ok, and the
// metrics the value was measured from. It exits 1 when a budget is missed
// or a budgeted benchmark did not report, so `make bench` fails.
//
//	go test -run='^$' -bench='^BenchmarkBudget' ./sync/ledger | go run ./internal/benchtable
package main
