package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/tillguard/tillguard/sync/feed"
)

const archiveFormat = "tillguard-archive/1"

var (
	bTills  = []byte("tills")
	bRecs   = []byte("recs")
	kContig = []byte("contig")
	kCount  = []byte("count")
)

// Outcome is what PutBatch did with one incoming record.
type Outcome int

const (
	Stored    Outcome = iota // new: stored
	Duplicate                // same till and seq, same bytes: already stored, nothing changed
	Conflict                 // same till and seq, other bytes: nothing stored; raise an alarm
)

func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Incoming is one record received from a till, already verified by the
// caller (signature, chain): the archive only stores and deduplicates.
type Incoming struct {
	Pharmacy, Till string
	Seq            uint64
	Rec, Sig       []byte
	// Parsed, when set, is Rec decoded (as feed.Open returns it): the
	// cross-till index reads it instead of decoding Rec a second time. It
	// must be Rec's own decoding; nil means the index decodes Rec.
	Parsed *feed.Record
}

// TillInfo summarises one till's records in the archive.
type TillInfo struct {
	Pharmacy, Till string
	Contiguous     uint64 // highest N with 1..N all stored
	Count          uint64 // records stored
}

// Archive is the bureau's store of records received from many tills. It is
// safe for concurrent use.
type Archive struct {
	db     *bolt.DB
	log    *slog.Logger
	mu     sync.Mutex // guards Close and cross
	closed atomic.Bool
	cross  func([]CrossHit) // archive_index.go: SetCrossHandler
}

// OpenArchive opens the archive at path, creating it if missing. A damaged
// file gives an error wrapping ErrCorrupt and is left in place.
func OpenArchive(path string, opts *Opts) (*Archive, error) {
	db, err := openStore(path, schema{
		format:  archiveFormat,
		buckets: [][]byte{bTills},
		check:   checkArchive,
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: open archive %s: %w", path, err)
	}
	a := &Archive{db: db, log: opts.logger()}
	a.log.Info("ledger: archive opened", "path", path)
	return a, nil
}

// checkArchive checks every till's counters: cheap per till, and the
// number of tills is small next to the number of records.
func checkArchive(tx *bolt.Tx) error {
	return tx.Bucket(bTills).ForEach(func(name, v []byte) error {
		if v != nil {
			return corruptf("tills holds a value %q", name)
		}
		tb := tx.Bucket(bTills).Bucket(name)
		_, _, err := tillCounters(tb, name)
		return err
	})
}

// tillCounters reads and sanity-checks one till bucket.
func tillCounters(tb *bolt.Bucket, name []byte) (contig, count uint64, err error) {
	contig, ok1 := getU64(tb.Get(kContig))
	count, ok2 := getU64(tb.Get(kCount))
	recs := tb.Bucket(bRecs)
	if !ok1 || !ok2 || recs == nil {
		return 0, 0, corruptf("till %s: missing counters or records", name)
	}
	if contig > count {
		return 0, 0, corruptf("till %s: contiguous %d beyond count %d", name, contig, count)
	}
	if (contig > 0 && recs.Get(u64(contig)) == nil) || recs.Get(u64(contig+1)) != nil {
		return 0, 0, corruptf("till %s: contiguous watermark %d is wrong", name, contig)
	}
	return contig, count, nil
}

func tillName(pharmacy, till string) []byte { return []byte(pharmacy + "/" + till) }

// Stored record values: uvarint(len sig) | sig | record.
func encodeArchived(rec, sig []byte) []byte {
	v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(sig)+len(rec)), uint64(len(sig)))
	v = append(v, sig...)
	return append(v, rec...)
}

// decodeArchived splits a stored value; the slices alias v.
func decodeArchived(v []byte) (rec, sig []byte, ok bool) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) || uint64(len(v)-w)-n == 0 {
		return nil, nil, false
	}
	sig = v[w : w+int(n) : w+int(n)]
	return v[w+int(n):], sig, true
}

func (a *Archive) view(fn func(tx *bolt.Tx) error) error {
	if a.closed.Load() {
		return ErrClosed
	}
	return closedErr(guard(func() error { return a.db.View(fn) }))
}

func (a *Archive) update(fn func(tx *bolt.Tx) error) error {
	if a.closed.Load() {
		return ErrClosed
	}
	return closedErr(guard(func() error { return a.db.Update(fn) }))
}

// batchTill is one till's state during a PutBatch.
type batchTill struct {
	tb, recs *bolt.Bucket
	count    uint64
	added    bool
}

// PutBatch stores a batch in one fsynced transaction and reports, item by
// item, whether it was stored, a duplicate or a conflict (which stores
// nothing for that item). Items may come in any order and from any tills;
// each till's contiguous watermark advances past every seq now filled.
// An item with a bad id, seq 0 or no record fails the whole batch with
// ErrInvalidIncoming before anything is written.
func (a *Archive) PutBatch(in []Incoming) ([]Outcome, error) {
	for i, it := range in {
		if !feed.ValidID(it.Pharmacy) || !feed.ValidID(it.Till) || it.Seq == 0 || len(it.Rec) == 0 {
			return nil, fmt.Errorf("ledger: archive put: item %d (%q/%q seq %d): %w", i, it.Pharmacy, it.Till, it.Seq, ErrInvalidIncoming)
		}
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]Outcome, len(in))
	var hits []CrossHit // archive_index.go
	err := a.update(func(tx *bolt.Tx) error {
		tills := tx.Bucket(bTills)
		seen := make(map[string]*batchTill)
		for i, it := range in {
			name := tillName(it.Pharmacy, it.Till)
			bt := seen[string(name)]
			if bt == nil {
				var err error
				if bt, err = openBatchTill(tills, name); err != nil {
					return err
				}
				seen[string(name)] = bt
			}
			key := u64(it.Seq)
			if v := bt.recs.Get(key); v != nil {
				rec, _, ok := decodeArchived(v)
				if !ok {
					return corruptf("till %s record %d: bad stored value", name, it.Seq)
				}
				if bytes.Equal(rec, it.Rec) {
					out[i] = Duplicate
				} else {
					out[i] = Conflict
				}
				continue
			}
			if err := bt.recs.Put(key, encodeArchived(it.Rec, it.Sig)); err != nil {
				return err
			}
			bt.count++
			bt.added = true
			out[i] = Stored
			if err := indexArchived(tx, it, &hits); err != nil { // archive_index.go
				return err
			}
		}
		for name, bt := range seen {
			if !bt.added {
				continue
			}
			contig, _ := getU64(bt.tb.Get(kContig))
			for bt.recs.Get(u64(contig+1)) != nil {
				contig++
			}
			if err := bt.tb.Put(kContig, u64(contig)); err != nil {
				return fmt.Errorf("till %s: %w", name, err)
			}
			if err := bt.tb.Put(kCount, u64(bt.count)); err != nil {
				return fmt.Errorf("till %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: archive put %d records: %w", len(in), err)
	}
	if fn := a.crossHandler(); fn != nil && len(hits) > 0 {
		fn(hits)
	}
	return out, nil
}

func openBatchTill(tills *bolt.Bucket, name []byte) (*batchTill, error) {
	if tb := tills.Bucket(name); tb != nil {
		_, count, err := tillCounters(tb, name)
		if err != nil {
			return nil, err
		}
		recs := tb.Bucket(bRecs)
		recs.FillPercent = appendFill // per till, seqs mostly arrive in order
		return &batchTill{tb: tb, recs: recs, count: count}, nil
	}
	tb, err := tills.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	recs, err := tb.CreateBucket(bRecs)
	if err != nil {
		return nil, err
	}
	if err := tb.Put(kContig, u64(0)); err != nil {
		return nil, err
	}
	if err := tb.Put(kCount, u64(0)); err != nil {
		return nil, err
	}
	recs.FillPercent = appendFill
	return &batchTill{tb: tb, recs: recs}, nil
}

// Get returns a stored record's bytes and signature, or an error wrapping
// ErrNotFound.
func (a *Archive) Get(pharmacy, till string, seq uint64) (rec, sig []byte, err error) {
	err = a.view(func(tx *bolt.Tx) error {
		name := tillName(pharmacy, till)
		tb := tx.Bucket(bTills).Bucket(name)
		if tb == nil || tb.Bucket(bRecs) == nil {
			return ErrNotFound
		}
		v := tb.Bucket(bRecs).Get(u64(seq))
		if v == nil {
			return ErrNotFound
		}
		r, s, ok := decodeArchived(v)
		if !ok {
			return corruptf("till %s record %d: bad stored value", name, seq)
		}
		rec, sig = bytes.Clone(r), bytes.Clone(s)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: archive get %s/%s %d: %w", pharmacy, till, seq, err)
	}
	return rec, sig, nil
}

// Contiguous returns the highest N such that records 1..N of the till are
// all stored (0 for a till never seen): what the bureau may acknowledge.
func (a *Archive) Contiguous(pharmacy, till string) (uint64, error) {
	var n uint64
	err := a.view(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bTills).Bucket(tillName(pharmacy, till))
		if tb == nil {
			return nil
		}
		var ok bool
		if n, ok = getU64(tb.Get(kContig)); !ok {
			return corruptf("till %s/%s: contiguous watermark", pharmacy, till)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: archive contiguous %s/%s: %w", pharmacy, till, err)
	}
	return n, nil
}

// Tills lists every till with records, ordered by pharmacy then till.
func (a *Archive) Tills() ([]TillInfo, error) {
	var out []TillInfo
	err := a.view(func(tx *bolt.Tx) error {
		tills := tx.Bucket(bTills)
		return tills.ForEach(func(name, v []byte) error {
			p, t, ok := strings.Cut(string(name), "/")
			if v != nil || !ok {
				return corruptf("tills holds %q", name)
			}
			contig, count, err := tillCounters(tills.Bucket(name), name)
			if err != nil {
				return err
			}
			out = append(out, TillInfo{Pharmacy: p, Till: t, Contiguous: contig, Count: count})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: archive tills: %w", err)
	}
	return out, nil
}

// archived is one record read by Scan.
type archived struct {
	seq      uint64
	rec, sig []byte
}

// Scan calls fn for each stored record of the till with seq ≥ from, in
// ascending order (gaps skipped), and stops at fn's first error, which it
// returns as is. It reads in short transactions, so fn may PutBatch.
func (a *Archive) Scan(pharmacy, till string, from uint64, fn func(seq uint64, rec, sig []byte) error) error {
	name := tillName(pharmacy, till)
	for {
		batch := make([]archived, 0, scanChunk)
		err := a.view(func(tx *bolt.Tx) error {
			tb := tx.Bucket(bTills).Bucket(name)
			if tb == nil || tb.Bucket(bRecs) == nil {
				return nil
			}
			c := tb.Bucket(bRecs).Cursor()
			for k, v := c.Seek(u64(from)); k != nil && len(batch) < scanChunk; k, v = c.Next() {
				seq, ok := getU64(k)
				rec, sig, ok2 := decodeArchived(v)
				if !ok || !ok2 {
					return corruptf("till %s record %x: bad stored value", name, k)
				}
				batch = append(batch, archived{seq, bytes.Clone(rec), bytes.Clone(sig)})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("ledger: archive scan %s from %d: %w", name, from, err)
		}
		for _, r := range batch {
			if err := fn(r.seq, r.rec, r.sig); err != nil {
				return err
			}
		}
		if len(batch) < scanChunk || batch[len(batch)-1].seq == math.MaxUint64 {
			return nil
		}
		from = batch[len(batch)-1].seq + 1
	}
}

// Close closes the file. Later calls return ErrClosed; Close itself may be
// called again.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Swap(true) {
		return nil
	}
	if err := a.db.Close(); err != nil {
		return fmt.Errorf("ledger: archive close: %w", err)
	}
	return nil
}
