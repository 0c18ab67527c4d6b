package session

import (
	"errors"
	"fmt"
)

// Errors the caller branches on. Every error the session returns wraps one
// of these classes; most wrap a finer error below as well, which names the
// exact refusal (the API gives each its own code).
var (
	// ErrConflict: the session or the sale cannot do what was asked in its
	// present state (empty basket, held items, no card for insurance, a
	// card change not confirmed, more returned than sold, a trace code not
	// of that sale).
	ErrConflict = errors.New("session: conflict")

	// ErrPersist: the ledger refused the record and nothing happened.
	ErrPersist = errors.New("session: ledger cannot persist")

	// ErrInvalid: the request itself is malformed (no pharmacist or
	// cashier, a bad prescription reference or barcode, a quantity below
	// one, an unknown payment or refund).
	ErrInvalid = errors.New("session: invalid request")

	// ErrNoLine: no line with that number in the basket.
	ErrNoLine = errors.New("session: no such line")

	// ErrNotOverridable: the line is not held; a block can never be
	// overridden (docs/rules.md: block-level rules cannot be released).
	ErrNotOverridable = errors.New("session: line cannot be overridden")

	// ErrNotFound: no sale with that id in this till's ledger.
	ErrNotFound = errors.New("session: sale not found")

	// ErrRefused: policy refuses the return as asked (cash_refund); the
	// attempt is recorded.
	ErrRefused = errors.New("session: return refused")
)

// Finer errors of ErrInvalid: what is wrong with the request.
var (
	ErrBadBarcode         = fmt.Errorf("%w: bad barcode", ErrInvalid)
	ErrBadQty             = fmt.Errorf("%w: bad quantity", ErrInvalid)
	ErrBadPayment         = fmt.Errorf("%w: bad payment method", ErrInvalid)
	ErrBadRx              = fmt.Errorf("%w: bad prescription reference", ErrInvalid)
	ErrBadPrescriber      = fmt.Errorf("%w: bad prescriber", ErrInvalid)
	ErrBadRefund          = fmt.Errorf("%w: bad refund", ErrInvalid)
	ErrCashierRequired    = fmt.Errorf("%w: cashier required", ErrInvalid)
	ErrPharmacistRequired = fmt.Errorf("%w: pharmacist required", ErrInvalid)
	ErrReasonRequired     = fmt.Errorf("%w: reason required", ErrInvalid)
	ErrSaleRequired       = fmt.Errorf("%w: sale id required", ErrInvalid)
	ErrLinesRequired      = fmt.Errorf("%w: lines required", ErrInvalid)
	ErrNameRequired       = fmt.Errorf("%w: pharmacist's name required", ErrInvalid)
	ErrBadName            = fmt.Errorf("%w: bad pharmacist's name", ErrInvalid)
	ErrPracCertRequired   = fmt.Errorf("%w: practising certificate number required", ErrInvalid)
	ErrBadPracCert        = fmt.Errorf("%w: bad practising certificate number", ErrInvalid)
)

// Finer errors of ErrConflict: why the session cannot do it now.
var (
	ErrEmptyBasket      = fmt.Errorf("%w: empty basket", ErrConflict)
	ErrNoPharmacist     = fmt.Errorf("%w: no pharmacist on duty", ErrConflict)
	ErrHeldLines        = fmt.Errorf("%w: lines await the pharmacist", ErrConflict)
	ErrCardRequired     = fmt.Errorf("%w: insurance needs the card in the reader", ErrConflict)
	ErrCardChanged      = fmt.Errorf("%w: another card was read", ErrConflict)
	ErrNoCardChange     = fmt.Errorf("%w: no card change to confirm", ErrConflict)
	ErrNothingInsurable = fmt.Errorf("%w: nothing insurance can pay", ErrConflict)
	ErrReturnTooMany    = fmt.Errorf("%w: more than is left of the sale", ErrConflict)
	ErrTraceNotInSale   = fmt.Errorf("%w: trace code not of the sale", ErrConflict)
)

// problem is a refusal and what exactly was wrong, in plain English for
// the API's "detail": the sentinel says which refusal it is, the detail
// what the caller sent or the basket holds.
type problem struct {
	kind   error
	detail string
}

func (p *problem) Error() string { return p.kind.Error() + ": " + p.detail }
func (p *problem) Unwrap() error { return p.kind }

func problemf(kind error, format string, args ...any) error {
	return &problem{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// Detail returns what exactly was wrong with a request the session
// refused, without the error's class; "" when err does not say.
func Detail(err error) string {
	if p, ok := errors.AsType[*problem](err); ok {
		return p.detail
	}
	return ""
}

// Refusal is a ledger's refusal of every write for a reason the cashier
// must read (a quarantined ledger): it wraps ErrPersist, and its Reason,
// Chinese first with English beside, replaces the generic cannot-persist
// message on the till screen.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return ErrPersist }
