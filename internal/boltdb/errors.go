package boltdb

import (
	"errors"
	"fmt"

	berrors "go.etcd.io/bbolt/errors"
)

// Errors callers branch on. Every error the package returns wraps at most
// one of these; callers give their own callers their own sentinels
// instead, with Sentinels.Map.
var (
	// ErrCorrupt: the file is damaged, or is not a bbolt file at all: bad
	// meta pages, a truncated file, a page that panics or faults bbolt. It
	// is never repaired or replaced: Open leaves the file as it found it.
	ErrCorrupt = errors.New("boltdb: corrupt")

	// ErrFormat: the file is a sound bbolt file but not of the schema
	// asked for: no meta bucket, or another format string (an older or
	// newer version, or another kind of store). The error is a
	// *FormatError saying what was found.
	ErrFormat = errors.New("boltdb: wrong format")

	// ErrLocked: another process has the file open.
	ErrLocked = errors.New("boltdb: file in use by another process")

	// ErrClosed: the database was closed.
	ErrClosed = errors.New("boltdb: closed")
)

// bbolt's errors that a caller's transaction function may meet and branch
// on; ErrDatabaseNotOpen and ErrTimeout come out of this package as
// ErrClosed and ErrLocked.
var (
	ErrBucketExists   = berrors.ErrBucketExists
	ErrBucketNotFound = berrors.ErrBucketNotFound
	ErrKeyTooLarge    = berrors.ErrKeyTooLarge
	ErrValueTooLarge  = berrors.ErrValueTooLarge
	ErrTxClosed       = berrors.ErrTxClosed
)

// FormatError is a file of another format than the schema's.
type FormatError struct {
	Found string // meta "format", "" when the file has no meta bucket
	Want  string
}

func (e *FormatError) Error() string {
	if e.Found == "" {
		return fmt.Sprintf("%v: no format recorded, want %q", ErrFormat, e.Want)
	}
	return fmt.Sprintf("%v: format %q, want %q", ErrFormat, e.Found, e.Want)
}

func (e *FormatError) Unwrap() error { return ErrFormat }

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// Sentinels are the errors a package built on this one gives its callers
// in place of this package's own. A nil field maps nothing.
type Sentinels struct {
	Corrupt error // for ErrCorrupt
	Format  error // for ErrFormat
	Locked  error // for ErrLocked
	Closed  error // for ErrClosed
}

// Map returns err so that it also wraps s's sentinel for the one of this
// package's it wraps; its message is unchanged. Any other error, and nil,
// is returned as is.
func (s Sentinels) Map(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range [...]struct{ from, to error }{
		{ErrCorrupt, s.Corrupt}, {ErrFormat, s.Format}, {ErrLocked, s.Locked}, {ErrClosed, s.Closed},
	} {
		if m.to != nil && errors.Is(err, m.from) {
			if errors.Is(err, m.to) {
				return err
			}
			return &mapped{to: m.to, err: err}
		}
	}
	return err
}

// mapped is an error of this package that also wraps a caller's sentinel.
type mapped struct{ to, err error }

func (m *mapped) Error() string   { return m.err.Error() }
func (m *mapped) Unwrap() []error { return []error{m.to, m.err} }
