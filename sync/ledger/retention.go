package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

// kAnchor holds the last pruned record: seq (u64) | feed.Hash of its bytes
// (64 hex characters). The chain is checked from the record after it.
var kAnchor = []byte("anchor")

const anchorLen = 8 + 64

// pruneChunk bounds one prune transaction, so appends are not held up
// behind a long delete.
const pruneChunk = 2048

// anchor is where the retained chain starts: the seq and hash of the last
// pruned record, zero and "" when nothing was pruned.
type anchor struct {
	seq  uint64
	hash string
}

func readAnchor(meta *boltdb.Bucket) (anchor, error) {
	v := meta.Get(kAnchor)
	if v == nil {
		return anchor{}, nil
	}
	seq, ok := boltdb.GetU64(v[:min(len(v), 8)])
	if len(v) != anchorLen || !ok || seq == 0 || !isHex(v[8:]) {
		return anchor{}, corruptf("meta anchor is %d bytes", len(v))
	}
	return anchor{seq: seq, hash: string(v[8:])}, nil
}

func encodeAnchor(a anchor) []byte {
	return append(boltdb.U64(a.seq), a.hash...)
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// First returns the seq of the first record still stored: 1 until Prune
// drops records, 0 when the ledger is empty.
func (l *Ledger) First() uint64 {
	var first uint64
	_ = l.view(func(tx *boltdb.Tx) error {
		k, _ := tx.Bucket(bRecords).Cursor().First()
		first, _ = boltdb.GetU64(k)
		return nil
	})
	return first
}

// Prune drops the records appended before `before` that the bureau has
// acknowledged, oldest first, and returns how many it dropped. It stops at
// the first record too young or not yet acknowledged, and never drops the
// head record, which the next record links to. The seq and hash of the
// last dropped record stay in meta as the anchor from which Open and
// Verify check the chain. bbolt reuses the freed pages for later appends,
// so the file stops growing; Compact gives them back to the file system.
func (l *Ledger) Prune(before time.Time) (int, error) {
	total := 0
	for {
		n, read, err := l.pruneChunk(before)
		l.mapped.ReadThrough(l.db, read)
		total += n
		if err != nil {
			return total, fmt.Errorf("ledger: prune: %w", err)
		}
		if n < pruneChunk {
			if total > 0 {
				l.log.Info("ledger: pruned", "records", total, "first_seq", l.First())
			}
			return total, nil
		}
	}
}

// pruneChunk also returns how many bytes of records it read.
func (l *Ledger) pruneChunk(before time.Time) (n, read int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, 0, ErrClosed
	}
	// The head record stays: Open and the next Append link to it.
	limit := min(l.acked.Load(), l.head.Load()-min(l.head.Load(), 1))
	err = l.update(func(tx *boltdb.Tx) error {
		meta := tx.Bucket(bMeta)
		a, err := readAnchor(meta)
		if err != nil {
			return err
		}
		recs := tx.Bucket(bRecords)
		var drop [][]byte
		last := a
		c := recs.Cursor()
		for k, v := c.First(); k != nil && len(drop) < pruneChunk; k, v = c.Next() {
			seq, ok := boltdb.GetU64(k)
			if !ok {
				return corruptf("record key %x", k)
			}
			if seq != last.seq+1 {
				return corruptf("first record is %d, anchor is %d", seq, a.seq)
			}
			if seq > limit {
				break
			}
			read += len(k) + len(v)
			e, err := decodeEntry(seq, v)
			if err != nil {
				return err
			}
			if !e.At.Before(before) {
				break
			}
			drop = append(drop, k)
			last = anchor{seq: seq, hash: feed.Hash(e.Rec)}
		}
		if len(drop) == 0 {
			return errNothingToPrune // roll back: no commit, no fsync
		}
		// Deleting under a moving cursor skips keys in bbolt: collect, then delete.
		for _, k := range drop {
			if err := recs.Delete(k); err != nil {
				return err
			}
		}
		n = len(drop)
		return meta.Put(kAnchor, encodeAnchor(last))
	})
	if errors.Is(err, errNothingToPrune) {
		return 0, read, nil
	}
	if err != nil {
		return 0, read, err
	}
	return n, read, nil
}

var errNothingToPrune = errors.New("ledger: nothing to prune")
