package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds one copy transaction of bbolt's Compact.
const compactTxSize = 16 << 20

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

// liveBytes estimates the bytes a compacted copy needs: the pages of every
// bucket, plus the two meta pages and the free list.
func liveBytes(tx *bolt.Tx) int64 {
	pages := 4
	_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
		s := b.Stats()
		pages += s.BranchPageN + s.BranchOverflowN + s.LeafPageN + s.LeafOverflowN
		return nil
	})
	return int64(pages) * int64(tx.DB().Info().PageSize)
}

// copyLive copies every bucket of src into a new bbolt file at dst and
// fsyncs it.
func copyLive(src *bolt.DB, dst string) error {
	db, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: lockTimeout, NoSync: true})
	if err != nil {
		return err
	}
	err = guard(func() error { return bolt.Compact(db, src, compactTxSize) })
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
				return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
					(*n)[string(name)] = b.Stats().KeyN
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
