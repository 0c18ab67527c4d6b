package boltdb

import "sync/atomic"

// Reading a store pulls its pages into the process: bbolt reads the file
// through a memory mapping, and every page a reader touched stays mapped,
// counted in the process's resident memory (docs/performance.md: a till under
// 60 MB while draining), although it is clean page cache. Readers that
// walk much of a file (the uplink draining a backlog, scans, checks, a
// ledger's index catch-up, pruning, Compact) therefore count what they
// read with a ReadMeter and, every ReleaseStep bytes, hand the pages back
// with ReleaseMapped (release_linux.go): the next touch faults the same
// bytes back in from the page cache.
//
// ReleaseStep is 8 MiB: what the mapping may hold between two releases, a
// small part of the 60 MB budget beside the process's own memory (about
// 8 MB anonymous while draining), while one madvise per 8 MiB is nothing
// next to decoding the 6 000-odd records in it.
const ReleaseStep = 8 << 20

// ReadMeter counts the bytes read through bbolt's mapping since the last
// release. Concurrent readers share one; two of them releasing at once
// costs an madvise, nothing more. The zero value is ready.
type ReadMeter struct{ n atomic.Int64 }

// add counts n bytes and reports whether a release is due, starting the
// count again if so.
func (m *ReadMeter) add(n int) bool {
	if m.n.Add(int64(n)) < ReleaseStep {
		return false
	}
	m.n.Store(0)
	return true
}

// Read counts n bytes read in the read transaction tx and releases its
// mapping when a release is due.
func (m *ReadMeter) Read(tx *Tx, n int) {
	if m.add(n) {
		ReleaseMapped(tx)
	}
}

// ReadThrough counts n bytes read by a transaction that has ended and,
// when a release is due, releases the mapping in a read transaction of
// its own (ReleaseMapped must not run in a write transaction).
func (m *ReadMeter) ReadThrough(db *DB, n int) {
	if m.add(n) {
		ReleaseDB(db)
	}
}

// ReleaseDB releases db's mapping in a read transaction of its own.
func ReleaseDB(db *DB) {
	_ = Guard(func() error {
		return db.View(func(tx *Tx) error {
			ReleaseMapped(tx)
			return nil
		})
	})
}
