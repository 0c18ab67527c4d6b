// Package systembench holds the benchmarks of whole pipelines that `make
// bench` reads docs/performance.md's budgets from: the drain of a till's backlog
// through a real mosquitto to the bureau, against a bare paho publisher
// and a mosquitto bridge; the till binary's start and memory; the bureau's
// ingest into PostgreSQL against the embedded archive. Each prints its
// ratios against baselines measured in the same run (internal/benchtable
// turns them into the table). It has no code of its own beside its tests.
package systembench
