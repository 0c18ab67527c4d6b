// Package session is the counter session: one customer at the till, from
// the card read to the checkout.
//
// The session turns device events into lines, asks the policy for a
// decision on each line at once, and commits the sale to the ledger — on
// disk, fsync'd — before it reports the checkout done. Blocked, held and
// flagged lines are ledger records of their own the moment they are
// decided (kinds blocked and flagged), so the bureau and the owner see
// them even when the sale is voided.
//
// The buyer's card follows the reader, the basket follows the cashier
// (card.go): a card left in the reader is the next sale's too, and a
// different card read while a basket is open never takes the basket
// unless the cashier confirms it (a card_change record).
//
// A licensed pharmacist signs in and out (pharmacist.go, each a record);
// with nobody on duty prescription drugs wait. Sales carry who was on
// duty, the prescriber, the boxes' lots and dates (batch.go) and the
// POS's settlement (settlement.go) for the national platform's upload,
// and a sale's receipt is read back from its record (receipt.go).
//
// The session holds no rules: every verdict comes from package policy. It
// holds no I/O either: the ledger and the beeper are interfaces the agent
// wires in. Its errors (errors.go) name each refusal, with a detail for
// the API; the API's codes for them are agent/web's.
package session
