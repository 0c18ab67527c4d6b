// Package policy decides, for one scanned item, whether it may go on a
// medical-insurance sale, and loads the catalogue those decisions read.
//
// It is pure: no files, network, storage or clocks. The caller passes the
// catalogue's bytes, the card's earlier purchases and the time, and gets a
// Decision with a stable rule id and a reason the cashier reads in Chinese
// with English beside it. The rules, their defaults and their sources are
// in RULES.md; each rule's doc comment cites the seed lines it
// rests on (seeds/<file>:<line>).
//
// Checks run in a fixed order and the first that fails decides:
//
//	unknown barcode       → not_covered (fail closed)
//	non-drug category     → non_drug
//	not covered / no code → not_covered
//	days of supply        → days_supply
//
// Every limit is a parameter (Limits), never a constant: regions differ and
// the bureau's policy bundle sets them.
package policy
