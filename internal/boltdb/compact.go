package boltdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds one copy transaction (copyBuckets). Its uncommitted
// values point into the source's mapping and are read again when it
// commits, so it is also what the source's mapping holds between two
// releases: ReleaseStep.
const compactTxSize = ReleaseStep

// Compaction reports what Compact did.
type Compaction struct {
	Before, After int64 // file size in bytes
	Done          bool  // false: less than minReclaim to gain, file untouched
}

// Compact rewrites the store file at path without its free pages when that
// would give back at least minReclaim bytes. The store must not be open.
// bbolt never shrinks a file (docs/field-notes.md), so the live pages are
// copied into a second file beside path, which is fsynced, checked as Open
// checks path (against s), compared with the original by same, and
// renamed over path: a crash at any instant leaves either the old file or
// the new one, both whole. A damaged file gives an error wrapping
// ErrCorrupt and is left as it is; a missing one is not an error. Copies
// left beside path by a crash during an earlier compaction are removed.
func Compact(path string, s Schema, minReclaim int64, same func(src, dst *DB) error) (Compaction, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	if stale, _ := filepath.Glob(filepath.Join(dir, base+".compact-*")); len(stale) > 0 {
		for _, f := range stale {
			_ = os.Remove(f)
		}
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Compaction{}, nil
	}
	if err != nil {
		return Compaction{}, err
	}
	res := Compaction{Before: fi.Size(), After: fi.Size()}
	src, err := Open(path, s)
	if err != nil {
		return res, err
	}
	defer src.Close()
	// What a copy gives back is the free pages below the high-water mark.
	// The file's tail past it is bbolt growing the file ahead of its
	// writes, by up to AllocSize, which the copy does as well: counting it
	// would compact a file with nothing to give on every start.
	var free int64
	if err := View(src, func(tx *Tx) error { free = tx.Size() - LiveBytes(tx); return nil }); err != nil {
		return res, err
	}
	if free < minReclaim {
		return res, nil
	}

	tmp, err := os.CreateTemp(dir, base+".compact-*")
	if err != nil {
		return res, err
	}
	tmpPath := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmpPath)
		}
	}()
	if err := tmp.Close(); err != nil {
		return res, err
	}
	if err := CopyLive(src, tmpPath); err != nil {
		return res, err
	}
	if err := checkCopy(src, tmpPath, s, same); err != nil {
		return res, fmt.Errorf("copy differs: %w", err)
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return res, err
	}
	renamed = true
	if err := SyncDir(dir); err != nil {
		return res, err
	}
	if fi, err := os.Stat(path); err == nil {
		res.After = fi.Size()
	}
	res.Done = true
	return res, nil
}

// checkCopy opens the copy at path read-only, checks it against s and
// compares it with src.
func checkCopy(src *DB, path string, s Schema, same func(src, dst *DB) error) error {
	dst, err := openReadOnly(path, s)
	if err != nil {
		return err
	}
	defer dst.Close()
	if same == nil {
		return nil
	}
	return Guard(func() error { return same(src, dst) })
}

// LiveBytes estimates the bytes a compacted copy needs: the pages below the
// high-water mark that are not on the free list (bbolt loads it when it
// opens a file for writing). Counting the buckets' pages instead
// (Bucket.Stats) would read every page of the file, and with it the whole
// file into resident memory.
func LiveBytes(tx *Tx) int64 {
	pageSize := int64(tx.DB().Info().PageSize)
	st := tx.DB().Stats()
	return max(tx.Size()/pageSize-int64(st.FreePageN+st.PendingPageN), 0) * pageSize
}

// CopyLive copies every bucket of src into a new bbolt file at dst and
// fsyncs it.
func CopyLive(src *DB, dst string) error {
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: LockTimeout, NoSync: true})
	if err != nil {
		return err
	}
	err = Guard(func() error { return copyBuckets(db, src) })
	if err == nil {
		// NoSync above: one fsync for the whole copy instead of one per
		// transaction.
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyBuckets copies every bucket of src, nested ones and sequences
// included, into dst, filling the copy's pages and committing every
// compactTxSize bytes: bbolt's Compact, but releasing src's mapping after
// each commit (release.go), so that compacting a large file does not take
// the whole of it into resident memory. bbolt's Put keeps the value, not a
// copy: dst's uncommitted nodes point into src's mapping until the commit
// copies them out, which is why the release follows the commit (a
// released page would fault back with the same bytes all the same: src
// has no writer).
func copyBuckets(dst, src *DB) error {
	tx, err := dst.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // the last one begun; a no-op once committed
	var size int64
	return src.View(func(stx *Tx) error {
		var copyBucket func(from *Bucket, path [][]byte) error
		copyBucket = func(from *Bucket, path [][]byte) error {
			c := from.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if sz := int64(len(k) + len(v)); size+sz > compactTxSize {
					if err := tx.Commit(); err != nil {
						return err
					}
					ReleaseMapped(stx)
					if tx, err = dst.Begin(true); err != nil {
						return err
					}
					size = 0
				}
				size += int64(len(k) + len(v))
				to := tx.Bucket(path[0])
				for _, name := range path[1:] {
					to = to.Bucket(name)
				}
				to.FillPercent = 1.0
				if v != nil {
					if err := to.Put(k, v); err != nil {
						return err
					}
					continue
				}
				sub := from.Bucket(k)
				if sub == nil {
					return corruptf("file structure: key %x has no value and is no bucket", k)
				}
				nb, err := to.CreateBucket(k)
				if err != nil {
					return err
				}
				if err := nb.SetSequence(sub.Sequence()); err != nil {
					return err
				}
				if err := copyBucket(sub, append(path[:len(path):len(path)], k)); err != nil {
					return err
				}
			}
			return nil
		}
		err := stx.ForEach(func(name []byte, b *Bucket) error {
			nb, err := tx.CreateBucket(name)
			if err != nil {
				return err
			}
			if err := nb.SetSequence(b.Sequence()); err != nil {
				return err
			}
			return copyBucket(b, [][]byte{name})
		})
		if err != nil {
			return err
		}
		err = tx.Commit()
		ReleaseMapped(stx)
		return err
	})
}

// KeyCounts counts the keys of every top-level bucket of tx, those of the
// buckets nested in it included, releasing the mapping as it reads: what a
// copy must have as many of as its original.
func KeyCounts(tx *Tx) map[string]int {
	var m ReadMeter
	n := map[string]int{}
	_ = tx.ForEach(func(name []byte, b *Bucket) error {
		n[string(name)] = countKeys(tx, b, &m)
		return nil
	})
	return n
}

func countKeys(tx *Tx, b *Bucket, m *ReadMeter) int {
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n++
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				n += countKeys(tx, sub, m)
			}
		}
		m.Read(tx, len(k)+len(v))
	}
	return n
}
