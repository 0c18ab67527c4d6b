// Package archivetest is the conformance suite every archive.Store passes
// (Run), and Chain, which makes a till's signed, chained records for tests
// of the bureau and its stores.
package archivetest
