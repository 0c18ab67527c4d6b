// Package session is the counter session: one customer at the till, from
// the card read to the checkout.
//
// The session turns device events into lines, asks the policy for a
// decision on each line at once, and commits the sale to the ledger — on
// disk, fsync'd — before it reports the checkout done. Blocked and held
// attempts are ledger records of their own the moment they happen, so the
// bureau and the owner see them even when the sale is voided.
//
// The session holds no rules: every verdict comes from package policy. It
// holds no I/O either: the ledger and the beeper are interfaces the agent
// wires in.
package session
