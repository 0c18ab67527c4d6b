// Package policy decides, for one scanned line, whether it may go on a
// medical-insurance sale, and loads the catalogue and the policy file
// those decisions read.
//
// It is pure: no files, network, storage or clocks. The caller passes the
// line, the card, the rest of the basket, the history the ledger index
// returns for this card and till (History), the region's Limits and the
// time, and gets a Decision: every finding of the seventeen rules of docs/rules.md
// (Rules lists them with their ids, severities and sources; each rule's
// doc comment cites its source lines, <document>:<line>, which
// docs/rules.md quotes), the most severe
// deciding (block > hold > flag; the order of docs/rules.md between equals), each
// with a reason the cashier reads in Chinese with English beside it and
// the numbers behind it. A hold can be overridden by a pharmacist
// (Overridable); a block cannot. Returns are decided by DecideReturn.
//
// Decide's cost depends on the card's own history and the basket only:
// the ledger's size never reaches it.
//
// Every limit is a parameter (Limits), never a constant: regions differ
// and the bureau's policy bundle sets them. LoadPolicy reads them from a
// strict JSON policy file (testdata/policy.json at the repository's top is
// a documented sample); the scenario cases in testdata/<case>/ show every
// rule at every severity it can have.
package policy
