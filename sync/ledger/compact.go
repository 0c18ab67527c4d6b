package ledger

import (
	"fmt"

	"github.com/tillguard/tillguard/internal/boltdb"
)

// Compaction reports what Compact did.
type Compaction = boltdb.Compaction

// Compact rewrites the ledger file at path without its free pages when that
// would give back at least minReclaim bytes. The ledger must not be open.
// bbolt never shrinks a file (docs/field-notes.md), so the live pages are copied
// into a second file beside path, which is fsynced, checked as a ledger
// with the same counters and record counts, and renamed over path: a crash
// at any instant leaves either the old file or the new one, both whole. A
// damaged file gives an error wrapping ErrCorrupt and is left as it is; a
// missing one is not an error.
func Compact(path string, minReclaim int64, opts *Opts) (Compaction, error) {
	var st state
	res, err := boltdb.Compact(path, ledgerSchema(&st), minReclaim, sameLedger)
	if err != nil {
		return res, fmt.Errorf("ledger: compact %s: %w", path, storeErr(err))
	}
	if res.Done {
		opts.logger().Info("ledger: compacted", "path", path, "before_bytes", res.Before, "after_bytes", res.After, "head_seq", st.head)
	}
	return res, nil
}

// ledgerSchema is the ledger's file schema; its check fills st.
func ledgerSchema(st *state) boltdb.Schema {
	return boltdb.Schema{
		Format:  ledgerFormat,
		Buckets: [][]byte{bRecords, bOutbox, bKeys},
		Check:   func(tx *boltdb.Tx) error { return checkLedger(tx, st) },
	}
}

// sameLedger checks that the copy dst has the same head, acked, anchor and
// number of entries in every bucket as src.
func sameLedger(src, dst *boltdb.DB) error {
	type summary struct {
		st   state
		a    anchor
		keys map[string]int
	}
	read := func(db *boltdb.DB) (s summary, err error) {
		err = db.View(func(tx *boltdb.Tx) error {
			if err := checkLedger(tx, &s.st); err != nil {
				return err
			}
			if s.a, err = readAnchor(tx.Bucket(bMeta)); err != nil {
				return err
			}
			s.keys = boltdb.KeyCounts(tx)
			return nil
		})
		return s, err
	}
	want, err := read(src)
	if err != nil {
		return err
	}
	got, err := read(dst)
	if err != nil {
		return err
	}
	if got.st != want.st || got.a != want.a {
		return corruptf("head/acked/anchor %d/%d/%d, want %d/%d/%d", got.st.head, got.st.acked, got.a.seq, want.st.head, want.st.acked, want.a.seq)
	}
	if fmt.Sprint(got.keys) != fmt.Sprint(want.keys) {
		return corruptf("bucket sizes %v, want %v", got.keys, want.keys)
	}
	return nil
}
