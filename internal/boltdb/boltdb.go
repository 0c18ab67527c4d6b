package boltdb

import (
	"encoding/binary"
	"errors"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bbolt's types, for packages that must not import bbolt.
type (
	DB      = bolt.DB
	Tx      = bolt.Tx
	Bucket  = bolt.Bucket
	Cursor  = bolt.Cursor
	Options = bolt.Options
)

// LockTimeout bounds the wait for another process's lock on a file, so a
// second daemon on the same data dir fails instead of hanging.
const LockTimeout = time.Second

// AppendFill is the fill of buckets whose keys only ever grow (records by
// seq). bbolt splits a full page at its default 50 %, and with keys
// appended at the end the left half is never filled again: the records
// would take twice their size on disk and in the page cache.
const AppendFill = 0.95

// U64 encodes v big-endian, so that bbolt's byte order is numeric order.
func U64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// GetU64 decodes what U64 encodes; false when b is not 8 bytes.
func GetU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// Guard runs fn and turns a panic or memory fault into ErrCorrupt: bbolt
// panics on a damaged page, and touching a page past the end of a
// truncated file faults.
func Guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			err = corruptf("%v", p)
		}
	}()
	return fn()
}

// View runs fn in a read transaction of db, guarded; a db closed
// meanwhile gives ErrClosed.
func View(db *DB, fn func(tx *Tx) error) error {
	return closedErr(Guard(func() error { return db.View(fn) }))
}

// Update runs fn in a write transaction of db, guarded, and returns once
// it is committed and (unless db was opened NoSync) fsynced; a db closed
// meanwhile gives ErrClosed.
func Update(db *DB, fn func(tx *Tx) error) error {
	return closedErr(Guard(func() error { return db.Update(fn) }))
}

// closedErr maps bbolt's "not open" to ErrClosed for a call that raced Close.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// OpenFile opens path as a bare bbolt file, creating it if missing, with
// none of Open's checks: for benchmarks against bare bbolt, for tests
// that damage a file on purpose, and for tools that look inside one.
func OpenFile(path string, opts *Options) (*DB, error) {
	return bolt.Open(path, 0o600, opts)
}
