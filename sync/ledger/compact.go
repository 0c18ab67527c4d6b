package ledger

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
// releases: releaseStep.
const compactTxSize = releaseStep

// Compaction reports what Compact did.
type Compaction struct {
	Before, After int64 // file size in bytes
	Done          bool  // false: less than minReclaim to gain, file untouched
}

// Compact rewrites the ledger file at path without its free pages when that
// would give back at least minReclaim bytes. The ledger must not be open.
// bbolt never shrinks a file (FIELD-NOTES.md), so the live pages are copied
// into a second file beside path, which is fsynced, checked as a ledger
// with the same counters and record counts, and renamed over path: a crash
// at any instant leaves either the old file or the new one, both whole. A
// damaged file gives an error wrapping ErrCorrupt and is left as it is; a
// missing one is not an error.
func Compact(path string, minReclaim int64, opts *Opts) (Compaction, error) {
	log := opts.logger()
	dir, base := filepath.Dir(path), filepath.Base(path)
	// Copies left by a crash during an earlier compaction.
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
		return Compaction{}, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	res := Compaction{Before: fi.Size(), After: fi.Size()}
	var st state
	src, err := openStore(path, ledgerSchema(&st))
	if err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	defer src.Close()
	var used int64
	if err := guard(func() error {
		return src.View(func(tx *bolt.Tx) error { used = liveBytes(tx); return nil })
	}); err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	if fi.Size()-used < minReclaim {
		return res, nil
	}

	tmp, err := os.CreateTemp(dir, base+".compact-*")
	if err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	tmpPath := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			_ = os.Remove(tmpPath)
		}
	}()
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	if err := copyLive(src, tmpPath); err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	if err := sameLedger(src, tmpPath); err != nil {
		return res, fmt.Errorf("ledger: compact %s: copy differs: %w", path, err)
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		res.After = fi.Size()
	}
	res.Done = true
	log.Info("ledger: compacted", "path", path, "before_bytes", res.Before, "after_bytes", res.After, "head_seq", st.head)
	return res, nil
}

// ledgerSchema is the ledger's file schema; its check fills st.
func ledgerSchema(st *state) schema {
	return schema{
		format:  ledgerFormat,
		buckets: [][]byte{bRecords, bOutbox, bKeys},
		check:   func(tx *bolt.Tx) error { return checkLedger(tx, st) },
	}
}

// liveBytes estimates the bytes a compacted copy needs: the pages below the
// high-water mark that are not on the free list (bbolt loads it when it
// opens a file for writing). Counting the buckets' pages instead
// (Bucket.Stats) would read every page of the file at each start, and
// with it the whole file into the till's resident memory.
func liveBytes(tx *bolt.Tx) int64 {
	pageSize := int64(tx.DB().Info().PageSize)
	st := tx.DB().Stats()
	return max(tx.Size()/pageSize-int64(st.FreePageN+st.PendingPageN), 0) * pageSize
}

// copyLive copies every bucket of src into a new bbolt file at dst and
// fsyncs it.
func copyLive(src *bolt.DB, dst string) error {
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: lockTimeout, NoSync: true})
	if err != nil {
		return err
	}
	err = guard(func() error { return copyBuckets(db, src) })
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
// each commit (release.go), so that compacting a large ledger at start
// does not take the whole file into resident memory. bbolt's Put keeps the
// value, not a copy: dst's uncommitted nodes point into src's mapping
// until the commit copies them out, which is why the release follows the
// commit (a released page would fault back with the same bytes all the
// same: src has no writer).
func copyBuckets(dst, src *bolt.DB) error {
	tx, err := dst.Begin(true)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // the last one begun; a no-op once committed
	var size int64
	return src.View(func(stx *bolt.Tx) error {
		var copyBucket func(from *bolt.Bucket, path [][]byte) error
		copyBucket = func(from *bolt.Bucket, path [][]byte) error {
			c := from.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if sz := int64(len(k) + len(v)); size+sz > compactTxSize {
					if err := tx.Commit(); err != nil {
						return err
					}
					releaseMapped(stx)
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
				} else {
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
			}
			return nil
		}
		err := stx.ForEach(func(name []byte, b *bolt.Bucket) error {
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
		releaseMapped(stx)
		return err
	})
}

// countKeys counts the keys of b and of the buckets nested in it, releasing
// the mapping as it reads (release.go).
func countKeys(tx *bolt.Tx, b *bolt.Bucket, m *readMeter) int {
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n++
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				n += countKeys(tx, sub, m)
			}
		}
		m.read(tx, len(k)+len(v))
	}
	return n
}

// sameLedger opens the copy at path as a ledger and checks that it has the
// same head, acked, anchor and number of entries in every bucket as src.
func sameLedger(src *bolt.DB, path string) error {
	var want, got state
	var wantN, gotN map[string]int
	var wantA, gotA anchor
	read := func(db *bolt.DB, st *state, n *map[string]int, a *anchor) error {
		return guard(func() error {
			return db.View(func(tx *bolt.Tx) error {
				if err := checkLedger(tx, st); err != nil {
					return err
				}
				var err error
				if *a, err = readAnchor(tx.Bucket(bMeta)); err != nil {
					return err
				}
				*n = map[string]int{}
				var m readMeter
				return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
					(*n)[string(name)] = countKeys(tx, b, &m)
					return nil
				})
			})
		})
	}
	if err := read(src, &want, &wantN, &wantA); err != nil {
		return err
	}
	dst, err := openBolt(path, true)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := checkStore(dst, ledgerSchema(&got)); err != nil {
		return err
	}
	if err := read(dst, &got, &gotN, &gotA); err != nil {
		return err
	}
	if got != want || gotA != wantA {
		return corruptf("head/acked/anchor %d/%d/%d, want %d/%d/%d", got.head, got.acked, gotA.seq, want.head, want.acked, wantA.seq)
	}
	if fmt.Sprint(gotN) != fmt.Sprint(wantN) {
		return corruptf("bucket sizes %v, want %v", gotN, wantN)
	}
	return nil
}
