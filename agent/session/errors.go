package session

import "errors"

// Errors the caller branches on; every error the session returns wraps at
// most one of them.
var (
	// ErrConflict: the session or the sale cannot do what was asked in its
	// present state (empty basket, held items, no card for insurance, more
	// returned than sold, a trace code not of that sale).
	ErrConflict = errors.New("session: conflict")

	// ErrPersist: the ledger refused the record and nothing happened.
	ErrPersist = errors.New("session: ledger cannot persist")

	// ErrInvalid: the request itself is malformed (no pharmacist, a bad
	// prescription reference, a quantity below one, an unknown refund).
	ErrInvalid = errors.New("session: invalid request")

	// ErrNoLine: no line with that number in the basket.
	ErrNoLine = errors.New("session: no such line")

	// ErrNotOverridable: the line is not held; a block can never be
	// overridden (RULES.md: block-level rules cannot be released).
	ErrNotOverridable = errors.New("session: line cannot be overridden")

	// ErrNotFound: no sale with that id in this till's ledger.
	ErrNotFound = errors.New("session: sale not found")

	// ErrRefused: policy refuses the return as asked (cash_refund); the
	// attempt is recorded.
	ErrRefused = errors.New("session: return refused")
)

// Refusal is a ledger's refusal of every write for a reason the cashier
// must read (a quarantined ledger): it wraps ErrPersist, and its Reason,
// Chinese first with English beside, replaces the generic cannot-persist
// message on the till screen.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return ErrPersist }
