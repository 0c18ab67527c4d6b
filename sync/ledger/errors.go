package ledger

import "errors"

// Errors callers branch on. Every error the package returns wraps at most
// one of these (besides, for a fault in the file, internal/boltdb's own).
var (
	// ErrNotFound: no record with that seq.
	ErrNotFound = errors.New("ledger: not found")

	// ErrCorrupt: the file is not a ledger, is damaged, or its chain or
	// signatures do not verify. It is never repaired or replaced
	// automatically: the till must stop accepting insurance sales and raise
	// an alarm (README, "Durability").
	ErrCorrupt = errors.New("ledger: corrupt")

	// ErrAckBeyondHead: an acknowledgement for a seq the ledger never
	// produced — a confused or hostile bureau; nothing is changed.
	ErrAckBeyondHead = errors.New("ledger: ack beyond head")

	// ErrClosed: the ledger has been closed.
	ErrClosed = errors.New("ledger: closed")

	// ErrLocked: another process has the file open.
	ErrLocked = errors.New("ledger: file in use by another process")

	// ErrInvalidRecord: Append was given a record without pharmacy, till or
	// kind, or with an id that cannot travel in a topic; nothing is stored.
	ErrInvalidRecord = errors.New("ledger: invalid record")
)
