package boltarchive

import (
	"errors"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
)

// Errors callers branch on, besides the contract's (archive.ErrNotFound,
// ErrInvalid, ErrClosed, ErrSchema), which every method wraps as the
// contract says: a file of another format, an older archive's included,
// is archive.ErrSchema.
var (
	// ErrCorrupt: the file is damaged, or is not a bbolt file, or its
	// counters disagree with its records. It is never repaired or
	// replaced: Open leaves it as it found it, for an operator.
	ErrCorrupt = errors.New("boltarchive: corrupt")

	// ErrLocked: another process has the archive open (the embedded
	// archive serves one receiver; receivers that share a store use
	// pgarchive).
	ErrLocked = errors.New("boltarchive: file in use by another process")
)

// sentinels gives internal/boltdb's errors the archive's.
var sentinels = boltdb.Sentinels{Corrupt: ErrCorrupt, Format: archive.ErrSchema, Locked: ErrLocked, Closed: archive.ErrClosed}
