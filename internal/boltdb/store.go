package boltdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Schema describes one kind of store file.
type Schema struct {
	Format  string   // meta "format": names the kind of file and its version
	Buckets [][]byte // top-level buckets besides meta, created with the file
	// Check runs in a read transaction after the format and buckets are
	// found; it checks what the kind of file can check cheaply. nil: none.
	Check func(tx *Tx) error
}

// Names in every store file.
var (
	BucketMeta = []byte("meta")
	KeyFormat  = []byte("format")
)

// Open opens the store at path, creating it if missing, and checks it
// against s. An existing file is first checked read-only, so that a
// damaged or foreign one is never written to: it stays exactly as found.
// Errors: ErrCorrupt (damaged, or not bbolt), a *FormatError (ErrFormat),
// ErrLocked, or what the file system or s.Check returned.
func Open(path string, s Schema) (*DB, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := create(path, s); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, corruptf("not a regular file")
	case fi.Size() == 0:
		// create never leaves an empty file behind, so this is damage,
		// not a fresh start; bbolt would silently initialise it.
		return nil, corruptf("empty file")
	default:
		db, err := openReadOnly(path, s)
		if err != nil {
			return nil, err
		}
		if err := db.Close(); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, false)
	if err != nil {
		return nil, err
	}
	if err := check(db, s); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openReadOnly opens an existing store at path read-only and checks it
// against s, as Open does before it writes.
func openReadOnly(path string, s Schema) (*DB, error) {
	db, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	if err := check(db, s); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// create builds a new, initialised store beside path and links it into
// place, so a crash during creation never leaves a half-made file at path.
func create(path string, s Schema) error {
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
		meta, err := tx.CreateBucket(BucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(KeyFormat, []byte(s.Format)); err != nil {
			return err
		}
		for _, name := range s.Buckets {
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
	return SyncDir(dir)
}

// SyncDir fsyncs the directory dir, so that a file created, linked or
// renamed in it is still there after a power cut.
func SyncDir(dir string) error {
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
	err := Guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout, ReadOnly: readOnly})
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

func check(db *bolt.DB, s Schema) error {
	return Guard(func() error {
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
			meta := tx.Bucket(BucketMeta)
			if meta == nil {
				return &FormatError{Want: s.Format}
			}
			if got := string(meta.Get(KeyFormat)); got != s.Format {
				return &FormatError{Found: got, Want: s.Format}
			}
			for _, name := range s.Buckets {
				if tx.Bucket(name) == nil {
					return corruptf("no %s bucket", name)
				}
			}
			if s.Check == nil {
				return nil
			}
			return s.Check(tx)
		})
	})
}
