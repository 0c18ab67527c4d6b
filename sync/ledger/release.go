package ledger

import (
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Reading a ledger pulls its pages into the process: bbolt reads the file
// through a memory mapping, and every page a reader touched stays mapped,
// counted in the till's resident memory (SPEC.md §8: under 60 MB while
// draining), although it is clean page cache. Readers that walk much of
// the file (the uplink draining a backlog, Scan, Verify, the index's
// catch-up, Prune, Compact) therefore count what they read and, every
// releaseStep bytes, hand the pages back with releaseMapped
// (release_linux.go): the next touch faults the same bytes back in from
// the page cache.
//
// releaseStep is 8 MiB: what the mapping may hold between two releases, a
// small part of the 60 MB budget beside the process's own memory (about
// 8 MB anonymous while draining), while one madvise per 8 MiB is nothing
// next to decoding the 6 000-odd records in it.
const releaseStep = 8 << 20

// readMeter counts the bytes read through bbolt's mapping since the last
// release. Concurrent readers share it; two of them releasing at once
// costs an madvise, nothing more.
type readMeter struct{ n atomic.Int64 }

// add counts n bytes and reports whether a release is due, starting the
// count again if so.
func (m *readMeter) add(n int) bool {
	if m.n.Add(int64(n)) < releaseStep {
		return false
	}
	m.n.Store(0)
	return true
}

// read counts n bytes read in the read transaction tx and releases its
// mapping when a release is due.
func (m *readMeter) read(tx *bolt.Tx, n int) {
	if m.add(n) {
		releaseMapped(tx)
	}
}

// readThrough counts n bytes read by a transaction that has ended and,
// when a release is due, releases the mapping in a read transaction of
// its own (releaseMapped must not run in a write transaction).
func (m *readMeter) readThrough(db *bolt.DB, n int) {
	if m.add(n) {
		releaseDB(db)
	}
}

// releaseDB releases db's mapping in a read transaction of its own.
func releaseDB(db *bolt.DB) {
	_ = guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			releaseMapped(tx)
			return nil
		})
	})
}
