// Package report builds the self-inspection report (自查报告) of a period
// from a till's ledger: sales and the insurance share, decisions per rule,
// every line stopped (blocked or held: when, what, which rule, why, who),
// every pharmacist override, every return, deny-list hits and the gaps in
// device availability. The owner's dashboard (/), the printable report
// (/report) and `tillguard report` all read it from here, and /metrics
// counts decided lines through the same Lines, so they agree: a line
// counts once, under its first recorded decision, however often it is
// re-decided.
//
// Build reads records through Source (the ledger's Scan); it never writes.
// Card numbers are masked in everything it returns.
package report
