//go:build linux

package boltdb

import (
	"os"

	"golang.org/x/sys/unix"
)

// ReleaseMapped drops this process's page-table entries for the pages of
// bbolt's data mapping, with madvise(MADV_DONTNEED). tx must be a read
// transaction; a write transaction is ignored.
//
// Why no data can be lost: bbolt v1.5.0 maps the file PROT_READ and
// MAP_SHARED (bolt_unix.go, mmap) and writes only with pwrite, so every
// mapped page is a clean page of the file's page cache. MADV_DONTNEED on a
// shared file mapping only unmaps it from this process; the next access,
// by any goroutine or cursor still inside a transaction, faults the same
// bytes back from the page cache (or the disk). It never zeroes anything,
// unlike on private or anonymous memory.
//
// Why the range is certainly bbolt's mapping, never memory the Go runtime
// may have placed after it (where MADV_DONTNEED would zero live heap):
//   - A read transaction holds bbolt's mmaplock for reading from Begin to
//     Rollback; the only remap (DB.mmap, on Open and when a write
//     transaction allocates past the mapping) and the munmap in Close take
//     it for writing. So db.Info().Data, read here, is the current
//     mapping's start and stays so until tx ends.
//   - The mapping is mmapSize(max(file size, minsz)) bytes: at Open at
//     least the file's size then, and a write transaction remaps before it
//     moves the high-water mark (meta pgid) to minsz or beyond, so every
//     committed meta's pgid × page size — tx.Size() — lies within the
//     mapping. Open's check has refused a file whose tx.Size() passes its
//     end. The file itself may be longer than the
//     mapping (bbolt grows it ahead, by up to AllocSize), so its size is
//     only a second, lower bound: min(tx.Size(), file size).
//   - Rounded down to the OS page size: the mapping starts on a page
//     boundary, so [Data, Data+n) lies inside it.
//
// It is advice: a failure is ignored, and nothing is logged.
func ReleaseMapped(tx *Tx) {
	if tx.Writable() {
		return
	}
	db := tx.DB()
	n := tx.Size()
	fi, err := os.Stat(db.Path())
	if err != nil {
		return
	}
	n = min(n, fi.Size())
	n -= n % int64(os.Getpagesize())
	if n <= 0 {
		return
	}
	// A raw syscall on the address: the mapping is bbolt's, outside the
	// Go heap, and is not turned into a Go pointer here.
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(n), unix.MADV_DONTNEED)
}
