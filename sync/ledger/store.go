package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Opts configures a Ledger or an Archive. A nil *Opts means defaults.
type Opts struct {
	Now func() time.Time // append times and record "at"; nil = time.Now (the Archive keeps no times)
	Log *slog.Logger     // nil = discard
}

func (o *Opts) clock() func() time.Time {
	if o == nil || o.Now == nil {
		return time.Now
	}
	return o.Now
}

func (o *Opts) logger() *slog.Logger {
	if o == nil || o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// lockTimeout bounds the wait for another process's lock on the file, so a
// second daemon on the same data dir fails instead of hanging.
const lockTimeout = time.Second

var (
	bMeta   = []byte("meta")
	kFormat = []byte("format")
)

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// guard runs fn and turns a panic or memory fault into ErrCorrupt: bbolt
// panics on a damaged page, and touching a page past the end of a
// truncated file faults.
func guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if p := recover(); p != nil {
			err = corruptf("%v", p)
		}
	}()
	return fn()
}

// closedErr maps bbolt's "not open" to ErrClosed for a call that raced Close.
func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// schema describes one kind of store file.
type schema struct {
	format  string   // value of meta/format
	buckets [][]byte // top-level buckets besides meta
	check   func(tx *bolt.Tx) error
}

// openStore opens the store at path, creating it if missing, and checks it
// with s.check. An existing file is first checked read-only so that a
// damaged one is never written to: it stays exactly as found.
func openStore(path string, s schema) (*bolt.DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := createStore(path, s); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, corruptf("not a regular file")
	case fi.Size() == 0:
		// createStore never leaves an empty file behind, so this is damage,
		// not a fresh start; bbolt would silently initialise it.
		return nil, corruptf("empty file")
	default:
		db, err := openBolt(path, true)
		if err != nil {
			return nil, err
		}
		err = checkStore(db, s)
		if cerr := db.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	if err := checkStore(db, s); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// createStore builds a new, initialised store beside path and links it into
// place, so a crash during creation never leaves a half-made file at path.
func createStore(path string, s schema) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := openBolt(tmpPath, false)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(kFormat, []byte(s.format)); err != nil {
			return err
		}
		for _, name := range s.buckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Link, not rename: if another process created path meanwhile, keep
	// theirs and open it.
	if err := os.Link(tmpPath, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly})
		return err
	})
	var pathErr *fs.PathError
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, ErrCorrupt):
		return nil, err
	case errors.Is(err, berrors.ErrTimeout):
		return nil, ErrLocked
	case errors.As(err, &pathErr):
		return nil, err
	default:
		// Invalid or mismatched meta pages, a bad checksum, a file too
		// small to hold them: not a bbolt file we can trust.
		return nil, corruptf("%v", err)
	}
}

func checkStore(db *bolt.DB, s schema) error {
	return guard(func() error {
		return db.View(func(tx *bolt.Tx) error {
			fi, err := os.Stat(db.Path())
			if err != nil {
				return err
			}
			// bbolt grows the file before it commits pages beyond its end,
			// so a high-water mark past the end means the file was cut.
			if tx.Size() > fi.Size() {
				return corruptf("file is %d bytes, its pages need %d (truncated)", fi.Size(), tx.Size())
			}
			meta := tx.Bucket(bMeta)
			if meta == nil {
				return corruptf("no meta bucket: not a %s file", s.format)
			}
			if got := string(meta.Get(kFormat)); got != s.format {
				return corruptf("format %q, want %q", got, s.format)
			}
			for _, name := range s.buckets {
				if tx.Bucket(name) == nil {
					return corruptf("no %s bucket", name)
				}
			}
			return s.check(tx)
		})
	})
}

// appendFill is the fill of buckets whose keys only ever grow (records by
// seq). bbolt splits a full page at its default 50 %, and with keys
// appended at the end the left half is never filled again: the records
// would take twice their size on disk and in the page cache.
const appendFill = 0.95
