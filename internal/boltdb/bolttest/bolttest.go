// Package bolttest helps test the stores built on internal/boltdb: it
// edits a closed store file as someone with the disk could (Edit), and
// measures how much of a file's mapping is resident (MappedKB, Peak), so
// that tests can hold readers to boltdb.ReleaseStep.
package bolttest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/internal/boltdb"
)

// Edit changes the closed store file at path directly, in one write
// transaction, without any of boltdb.Open's checks.
func Edit(t testing.TB, path string, fn func(tx *boltdb.Tx) error) {
	t.Helper()
	db, err := boltdb.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// MappedKB is the resident size of this process's mappings of the file at
// path, from /proc/self/smaps (Linux): what bbolt's mmap of it holds in
// memory. Unlike the process's RSS it counts nothing else, so it can be
// asserted. A file that is not mapped at all is a failure: the test would
// prove nothing.
func MappedKB(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kb, in, found := 0, false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			// A mapping's header: range perms offset dev inode [path].
			in = len(fields) == 6 && fields[5] == path
			found = found || in
		case in && len(fields) == 3 && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no mapping of %s in /proc/self/smaps", path)
	}
	return kb
}

// BoundKB is how much of a store's mapping may be resident: what readers
// may read between two releases, and room for the pages every read
// touches again (meta, branch pages, a ledger's outbox).
const BoundKB = (boltdb.ReleaseStep + 4<<20) >> 10

// Peak samples MappedKB of one file and keeps the highest sample.
type Peak struct {
	T      testing.TB
	Path   string
	FileKB int64 // the file's size, for the log

	kb   int
	when string
}

// Sample measures now; when says where, for the failure message.
func (p *Peak) Sample(when string) {
	p.T.Helper()
	if kb := MappedKB(p.T, p.Path); kb > p.kb {
		p.kb, p.when = kb, when
	}
}

// Check fails the test if the peak passed BoundKB.
func (p *Peak) Check() {
	p.T.Helper()
	if p.kb > BoundKB {
		p.T.Errorf("%d kB of the %d kB file resident %s, want at most %d kB", p.kb, p.FileKB, p.when, BoundKB)
	}
	p.T.Logf("file %d kB, its mapping peaked at %d kB resident (%s)", p.FileKB, p.kb, p.when)
}
