package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillguard/tillguard/sync/feed"
)

// AppendBatch appends rs as Append would, but in one transaction: tests and
// benchmarks build backlogs of 100 000 records with it in seconds rather
// than one fsync per record. It is not part of the API: Append alone
// decides what a committed sale is.
func AppendBatch(l *Ledger, rs []*feed.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, prev := l.head.Load(), l.prevHash
	type kv struct{ k, v, o []byte }
	puts := make([]kv, 0, len(rs))
	now := l.now()
	at := time.Unix(0, now.UnixNano())
	for _, r := range rs {
		seq++
		r.Seq, r.Prev = seq, prev
		if r.ID == "" {
			id, err := newUUID(now)
			if err != nil {
				return err
			}
			r.ID = id
		}
		if r.At == "" {
			r.At = now.Format(timeLayout)
		}
		rec, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sig := ed25519.Sign(l.key, rec)
		puts = append(puts, kv{u64(seq), encodeEntry(at, sig, rec), u64(uint64(at.UnixNano()))})
		prev = feed.Hash(rec)
	}
	err := l.update(func(tx *bolt.Tx) error {
		recs, out := tx.Bucket(bRecords), tx.Bucket(bOutbox)
		recs.FillPercent = appendFill // as Append
		for _, p := range puts {
			if err := recs.Put(p.k, p.v); err != nil {
				return err
			}
			if err := out.Put(p.k, p.o); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kHead, u64(seq))
	})
	if err != nil {
		return fmt.Errorf("ledger: append batch: %w", err)
	}
	l.head.Store(seq)
	l.prevHash = prev
	select {
	case l.appended <- struct{}{}:
	default:
	}
	return nil
}
