package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

const ledgerFormat = "tillguard-ledger/1"

var (
	bRecords = []byte("records")
	bOutbox  = []byte("outbox")
	bKeys    = []byte("keys")
	kHead    = []byte("head")
	kAcked   = []byte("acked")
)

// timeLayout is RFC 3339 with milliseconds and the offset, fixed width.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// scanChunk is how many entries Scan and Verify read per read transaction.
// Short transactions let Append grow the file while a long scan runs, and
// let callbacks append without deadlocking on bbolt's remap lock.
const scanChunk = 256

// Entry is one ledger entry as stored.
type Entry struct {
	Seq uint64
	Rec []byte    // the exact JSON bytes of the record
	Sig []byte    // Ed25519 over Rec
	At  time.Time // when appended
}

// Ledger is a till's ledger. It is safe for concurrent use.
type Ledger struct {
	db       *boltdb.DB
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	now      func() time.Time
	log      *slog.Logger
	appended chan struct{}

	mu       sync.Mutex // serialises writers; guards prevHash
	prevHash string     // feed.Hash of the head record, "" when empty

	// Read without mu so Head and Acked never wait behind an fsync.
	head, acked atomic.Uint64
	closed      atomic.Bool

	mapped boltdb.ReadMeter // bytes read through bbolt's mapping since its last release
}

// state is what a consistency check learns about a ledger file.
type state struct {
	head, acked uint64
	prevHash    string
}

// Open opens the ledger at path, creating it if missing, and checks it: the
// meta counters against the records and outbox buckets, and the head
// record's seq, signature and link to its predecessor. A damaged file gives
// an error wrapping ErrCorrupt and is left in place. key signs new records;
// if it differs from the key in force, it is recorded as in force from the
// next seq so that Verify still checks older records.
func Open(path string, key ed25519.PrivateKey, opts *Opts) (*Ledger, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ledger: open %s: signing key is %d bytes, want %d", path, len(key), ed25519.PrivateKeySize)
	}
	var st state
	db, err := openStore(path, ledgerSchema(&st))
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	l := &Ledger{
		db:       db,
		key:      key,
		pub:      key.Public().(ed25519.PublicKey),
		now:      opts.clock(),
		log:      opts.logger(),
		appended: make(chan struct{}, 1),
		prevHash: st.prevHash,
	}
	l.head.Store(st.head)
	l.acked.Store(st.acked)
	if err := l.recordKey(st.head); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	if err := l.ensureIndex(); err != nil { // index.go: older files have none
		_ = db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	boltdb.ReleaseDB(db) // what the checks and the index's catch-up read
	l.log.Info("ledger: opened", "path", path, "head_seq", st.head, "acked_seq", st.acked)
	return l, nil
}

// recordKey notes l.pub as the key in force from head+1 unless it already is.
func (l *Ledger) recordKey(head uint64) error {
	inForce := false
	err := l.view(func(tx *boltdb.Tx) error {
		_, v := tx.Bucket(bKeys).Cursor().Last()
		inForce = bytes.Equal(v, l.pub)
		return nil
	})
	if err != nil || inForce {
		return err // no write transaction: opening should not touch the disk
	}
	return l.update(func(tx *boltdb.Tx) error {
		kb := tx.Bucket(bKeys)
		k, v := kb.Cursor().Last()
		if k != nil {
			l.log.Warn("ledger: signing key changed", "from_seq", head+1,
				"old", base64.StdEncoding.EncodeToString(v), "new", base64.StdEncoding.EncodeToString(l.pub))
		}
		// A key recorded at head+1 signed nothing yet: replace it.
		return kb.Put(boltdb.U64(head+1), l.pub)
	})
}

// checkLedger checks what can be checked in O(1) and fills st.
func checkLedger(tx *boltdb.Tx, st *state) error {
	meta := tx.Bucket(bMeta)
	head, ok := boltdb.GetU64(meta.Get(kHead))
	if !ok && meta.Get(kHead) != nil {
		return corruptf("meta head is %d bytes", len(meta.Get(kHead)))
	}
	acked, ok := boltdb.GetU64(meta.Get(kAcked))
	if !ok && meta.Get(kAcked) != nil {
		return corruptf("meta acked is %d bytes", len(meta.Get(kAcked)))
	}
	if acked > head {
		return corruptf("acked %d beyond head %d", acked, head)
	}
	a, err := readAnchor(meta)
	if err != nil {
		return err
	}
	if a.seq != 0 && (a.seq >= head || a.seq > acked) {
		return corruptf("anchor %d not below head %d and within acked %d", a.seq, head, acked)
	}
	rc := tx.Bucket(bRecords).Cursor()
	lastK, lastV := rc.Last()
	oc := tx.Bucket(bOutbox).Cursor()
	firstO, _ := oc.First()
	lastO, _ := oc.Last()
	if head == 0 {
		if lastK != nil {
			return corruptf("head 0 but records stored")
		}
		if firstO != nil {
			return corruptf("head 0 but outbox not empty")
		}
		*st = state{}
		return nil
	}
	if last, _ := boltdb.GetU64(lastK); lastK == nil || last != head {
		return corruptf("head %d but last record is %x", head, lastK)
	}
	if first, _ := boltdb.GetU64(mustFirst(rc)); first != a.seq+1 {
		return corruptf("first record is %d, want %d", first, a.seq+1)
	}
	if head == acked {
		if firstO != nil {
			return corruptf("everything acked but outbox not empty")
		}
	} else {
		f, _ := boltdb.GetU64(firstO)
		la, _ := boltdb.GetU64(lastO)
		if firstO == nil || f != acked+1 || la != head {
			return corruptf("outbox %x..%x, want %d..%d", firstO, lastO, acked+1, head)
		}
	}
	e, err := decodeEntry(head, lastV)
	if err != nil {
		return err
	}
	prev := a.hash // the pruned predecessor, or "" before seq 1
	if head-1 > a.seq {
		v := tx.Bucket(bRecords).Get(boltdb.U64(head - 1))
		if v == nil {
			return corruptf("record %d missing", head-1)
		}
		pe, err := decodeEntry(head-1, v)
		if err != nil {
			return err
		}
		prev = feed.Hash(pe.Rec)
	}
	if err := checkLink(e, prev, keyFor(tx.Bucket(bKeys), head)); err != nil {
		return err
	}
	*st = state{head: head, acked: acked, prevHash: feed.Hash(e.Rec)}
	return nil
}

func mustFirst(c *boltdb.Cursor) []byte {
	k, _ := c.First()
	return k
}

// chainFields are the fields a chain check reads from a record.
type chainFields struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
}

// checkLink checks that e's record carries its own seq, links to prev and
// is signed by pub.
func checkLink(e Entry, prev string, pub ed25519.PublicKey) error {
	var c chainFields
	if err := json.Unmarshal(e.Rec, &c); err != nil {
		return corruptf("record %d: %v", e.Seq, err)
	}
	if c.Seq != e.Seq {
		return corruptf("record %d: stored under seq %d", c.Seq, e.Seq)
	}
	if c.Prev != prev {
		return corruptf("record %d: prev %q does not match record %d", e.Seq, c.Prev, e.Seq-1)
	}
	if pub == nil {
		return corruptf("record %d: no signing key recorded", e.Seq)
	}
	if !ed25519.Verify(pub, e.Rec, e.Sig) {
		return corruptf("record %d: bad signature", e.Seq)
	}
	return nil
}

// keyFor returns the key in force for seq: the one recorded at the greatest
// seq ≤ seq.
func keyFor(kb *boltdb.Bucket, seq uint64) ed25519.PublicKey {
	c := kb.Cursor()
	k, v := c.Seek(boltdb.U64(seq))
	if k == nil {
		k, v = c.Last()
	} else if s, _ := boltdb.GetU64(k); s > seq {
		k, v = c.Prev()
	}
	if k == nil || len(v) != ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey(bytes.Clone(v))
}

// Record values: version | append time (unix ns) | signature | record.
const (
	entryVersion = 1
	entryHeader  = 1 + 8 + ed25519.SignatureSize
)

func encodeEntry(at time.Time, sig, rec []byte) []byte {
	v := make([]byte, entryHeader+len(rec))
	v[0] = entryVersion
	binary.BigEndian.PutUint64(v[1:9], uint64(at.UnixNano()))
	copy(v[9:entryHeader], sig)
	copy(v[entryHeader:], rec)
	return v
}

// decodeEntry parses a stored record value, copying it out of bbolt's memory.
func decodeEntry(seq uint64, v []byte) (Entry, error) {
	if len(v) <= entryHeader || v[0] != entryVersion {
		return Entry{}, corruptf("record %d: bad stored value (%d bytes)", seq, len(v))
	}
	v = bytes.Clone(v)
	return Entry{
		Seq: seq,
		At:  time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))),
		Sig: v[9:entryHeader:entryHeader],
		Rec: v[entryHeader:],
	}, nil
}

func decodeAt(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

func (l *Ledger) view(fn func(tx *boltdb.Tx) error) error {
	if l.closed.Load() {
		return ErrClosed
	}
	return storeErr(boltdb.View(l.db, fn))
}

func (l *Ledger) update(fn func(tx *boltdb.Tx) error) error {
	if l.closed.Load() {
		return ErrClosed
	}
	return storeErr(boltdb.Update(l.db, fn))
}

// Append completes r and stores it: r.Seq = Head()+1, r.Prev = the hash of
// the previous record's bytes ("" for seq 1), r.ID a UUIDv7 if empty,
// r.At the clock's time if empty. Pharmacy, Till and Kind must be set. The
// record, its signature and its outbox entry are committed in one fsynced
// transaction: when Append returns nil, the record is on disk. On error
// nothing is stored, Head is unchanged and r is restored.
func (l *Ledger) Append(r *feed.Record) (Entry, error) {
	es, err := l.AppendBatch([]*feed.Record{r})
	if err != nil {
		return Entry{}, err
	}
	return es[0], nil
}

// AppendBatch appends rs in order, each as Append would, in one fsynced
// transaction: all of them are on disk when it returns, or none. It fills
// in each record's seq, prev, id and at as Append does.
func (l *Ledger) AppendBatch(rs []*feed.Record) ([]Entry, error) {
	for _, r := range rs {
		if r == nil {
			return nil, fmt.Errorf("ledger: append: %w: nil record", ErrInvalidRecord)
		}
		if !feed.ValidID(r.Pharmacy) || !feed.ValidID(r.Till) || r.Kind == "" {
			return nil, fmt.Errorf("ledger: append: %w: pharmacy %q, till %q, kind %q", ErrInvalidRecord, r.Pharmacy, r.Till, r.Kind)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, fmt.Errorf("ledger: append: %w", ErrClosed)
	}
	saved := make([]feed.Record, len(rs))
	for i, r := range rs {
		saved[i] = *r
	}
	es, err := l.append(rs)
	if err != nil {
		for i, r := range rs {
			*r = saved[i]
		}
		if !errors.Is(err, ErrClosed) {
			l.log.Error("ledger: append failed", "seq", l.head.Load()+1, "records", len(rs), "err", err)
			l.resync()
		}
		return nil, fmt.Errorf("ledger: append: %w", err)
	}
	select {
	case l.appended <- struct{}{}:
	default:
	}
	return es, nil
}

func (l *Ledger) append(rs []*feed.Record) ([]Entry, error) {
	seq, prev := l.head.Load(), l.prevHash
	now := l.now()
	at := time.Unix(0, now.UnixNano())
	es := make([]Entry, len(rs))
	for i, r := range rs {
		seq++
		r.Seq, r.Prev = seq, prev
		if r.ID == "" {
			id, err := newUUID(now)
			if err != nil {
				return nil, err
			}
			r.ID = id
		}
		if r.At == "" {
			r.At = now.Format(timeLayout)
		}
		rec, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if len(rec) > feed.MaxRecord {
			return nil, fmt.Errorf("%w: %d bytes, more than a bureau takes (%d): split the sale", ErrInvalidRecord, len(rec), feed.MaxRecord)
		}
		es[i] = Entry{Seq: seq, Rec: rec, Sig: ed25519.Sign(l.key, rec), At: at}
		prev = feed.Hash(rec)
	}
	err := l.update(func(tx *boltdb.Tx) error {
		recs, out := tx.Bucket(bRecords), tx.Bucket(bOutbox)
		recs.FillPercent = boltdb.AppendFill
		for i, e := range es {
			key := boltdb.U64(e.Seq)
			if recs.Get(key) != nil {
				return corruptf("record %d already stored", e.Seq)
			}
			if err := recs.Put(key, encodeEntry(at, e.Sig, e.Rec)); err != nil {
				return err
			}
			if err := out.Put(key, boltdb.U64(uint64(at.UnixNano()))); err != nil {
				return err
			}
			if err := indexRecord(tx, e.Seq, rs[i], at); err != nil { // index.go: same transaction, never out of step
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kHead, boltdb.U64(seq))
	})
	if err != nil {
		return nil, err
	}
	l.head.Store(seq)
	l.prevHash = prev
	return es, nil
}

// resync reloads head, acked and the chain hash from the file after a
// failed commit: a commit that failed in its last fsync may still have
// reached the file, and the next Append must follow what is there.
func (l *Ledger) resync() {
	var st state
	if err := l.view(func(tx *boltdb.Tx) error { return checkLedger(tx, &st) }); err != nil {
		l.log.Error("ledger: reload after failed append", "err", err)
		return
	}
	l.head.Store(st.head)
	l.acked.Store(st.acked)
	l.prevHash = st.prevHash
}

// newUUID returns a version 7 UUID (RFC 9562 §5.7) for a record made at
// now: 48 bits of Unix milliseconds, then 74 random bits. Ids in time
// order keep the indexes keyed by id append-mostly (the bureau's sale
// index takes every till's records): a batch of records dirties the last
// page or two, not a random page each.
func newUUID(now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		return "", err
	}
	ms := uint64(max(now.UnixMilli(), 0))
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// Head returns the seq of the last record, 0 when empty.
func (l *Ledger) Head() uint64 { return l.head.Load() }

// Acked returns the highest seq the bureau has acknowledged.
func (l *Ledger) Acked() uint64 { return l.acked.Load() }

// Appended signals after each Append. It is buffered (1) and sent to
// without blocking, so a slow reader sees one signal for many appends: on
// a signal, read everything Pending. It is never closed.
func (l *Ledger) Appended() <-chan struct{} { return l.appended }

// PublicKey returns the public half of the key signing new records.
func (l *Ledger) PublicKey() ed25519.PublicKey { return l.pub }

// Pending returns up to max outbox entries with seq > after, in ascending
// order: what the uplink still owes the bureau.
func (l *Ledger) Pending(after uint64, max int) ([]Entry, error) {
	if max <= 0 {
		return nil, fmt.Errorf("ledger: pending: max %d, want > 0", max)
	}
	if after == math.MaxUint64 {
		return nil, nil
	}
	var out []Entry
	err := l.view(func(tx *boltdb.Tx) error {
		// The outbox's seqs are consecutive, and so are the records': a
		// second cursor walks the records in step instead of searching
		// the tree for each one.
		recs := tx.Bucket(bRecords).Cursor()
		var rk, v []byte
		read := 0
		defer func() { l.mapped.Read(tx, read) }()
		c := tx.Bucket(bOutbox).Cursor()
		for k, _ := c.Seek(boltdb.U64(after + 1)); k != nil && len(out) < max; k, _ = c.Next() {
			seq, ok := boltdb.GetU64(k)
			if !ok {
				return corruptf("outbox key %x", k)
			}
			if rk != nil {
				rk, v = recs.Next()
			}
			if rk == nil || !bytes.Equal(rk, k) {
				rk, v = recs.Seek(k)
			}
			if rk == nil || !bytes.Equal(rk, k) || v == nil {
				return corruptf("outbox entry %d has no record", seq)
			}
			read += 2*len(k) + 8 + len(v) // the outbox entry and the record
			e, err := decodeEntry(seq, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: pending: %w", err)
	}
	return out, nil
}

// Ack records that the bureau has stored every record ≤ upto, removing
// them from the outbox. It is idempotent and monotonic: an ack at or below
// Acked() changes nothing. An ack beyond Head() is refused with
// ErrAckBeyondHead.
func (l *Ledger) Ack(upto uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return fmt.Errorf("ledger: ack %d: %w", upto, ErrClosed)
	}
	head, acked := l.head.Load(), l.acked.Load()
	if upto > head {
		return fmt.Errorf("ledger: ack %d (head %d): %w", upto, head, ErrAckBeyondHead)
	}
	if upto <= acked {
		return nil
	}
	err := l.update(func(tx *boltdb.Tx) error {
		out := tx.Bucket(bOutbox)
		// The outbox holds exactly (acked, head], so delete by seq rather
		// than deleting under a moving cursor.
		for seq := acked + 1; seq <= upto; seq++ {
			if err := out.Delete(boltdb.U64(seq)); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(kAcked, boltdb.U64(upto))
	})
	if err != nil {
		return fmt.Errorf("ledger: ack %d: %w", upto, err)
	}
	l.acked.Store(upto)
	return nil
}

// Outbox reports how many records await the bureau's ack and when the
// oldest of them was appended (zero time when none).
func (l *Ledger) Outbox() (depth int, oldest time.Time, err error) {
	err = l.view(func(tx *boltdb.Tx) error {
		meta := tx.Bucket(bMeta)
		head, _ := boltdb.GetU64(meta.Get(kHead))
		acked, _ := boltdb.GetU64(meta.Get(kAcked))
		depth = int(head - acked)
		k, v := tx.Bucket(bOutbox).Cursor().First()
		if k == nil {
			return nil
		}
		at, ok := decodeAt(v)
		if !ok {
			return corruptf("outbox value for %x", k)
		}
		oldest = at
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("ledger: outbox: %w", err)
	}
	return depth, oldest, nil
}

// Get returns the entry with that seq, or an error wrapping ErrNotFound.
func (l *Ledger) Get(seq uint64) (Entry, error) {
	var e Entry
	err := l.view(func(tx *boltdb.Tx) error {
		v := tx.Bucket(bRecords).Get(boltdb.U64(seq))
		if v == nil {
			return ErrNotFound
		}
		var err error
		e, err = decodeEntry(seq, v)
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("ledger: get %d: %w", seq, err)
	}
	return e, nil
}

// Scan calls fn for every entry with seq ≥ from, in ascending order, and
// stops at fn's first error, which it returns as is. It reads in short
// transactions, so fn may Append; entries appended during the scan may or
// may not be visited.
func (l *Ledger) Scan(from uint64, fn func(Entry) error) error {
	for {
		batch, err := l.readRange(from, scanChunk)
		if err != nil {
			return fmt.Errorf("ledger: scan from %d: %w", from, err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < scanChunk || batch[len(batch)-1].Seq == math.MaxUint64 {
			return nil
		}
		from = batch[len(batch)-1].Seq + 1
	}
}

func (l *Ledger) readRange(from uint64, n int) ([]Entry, error) {
	out := make([]Entry, 0, n)
	err := l.view(func(tx *boltdb.Tx) error {
		read := 0
		defer func() { l.mapped.Read(tx, read) }()
		c := tx.Bucket(bRecords).Cursor()
		for k, v := c.Seek(boltdb.U64(from)); k != nil && len(out) < n; k, v = c.Next() {
			seq, ok := boltdb.GetU64(k)
			if !ok {
				return corruptf("record key %x", k)
			}
			read += len(k) + len(v)
			e, err := decodeEntry(seq, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Verify checks the whole ledger: seqs from the first retained record (1,
// or the prune anchor + 1) to head without gaps, each record
// carrying its seq and the hash of its predecessor, every signature against
// the key in force for it, the outbox holding exactly (acked, head], and
// bbolt's own page and free-list structure. It reads everything, so it is
// for audits and tests, not for the hot path. A failure wraps ErrCorrupt
// and names the first bad record.
func (l *Ledger) Verify() error {
	if err := l.verify(); err != nil {
		return fmt.Errorf("ledger: verify: %w", err)
	}
	// bbolt's own check catches what the chain cannot see, such as a live
	// page on the free list that a later write would overwrite.
	if err := l.view(boltdb.CheckStructure); err != nil {
		return fmt.Errorf("ledger: verify: %w", err)
	}
	return nil
}

type keyRange struct {
	from uint64
	pub  ed25519.PublicKey
}

func (l *Ledger) verify() error {
	var head uint64
	var keys []keyRange
	var a anchor
	err := l.view(func(tx *boltdb.Tx) error {
		var ok bool
		if head, ok = boltdb.GetU64(tx.Bucket(bMeta).Get(kHead)); !ok && tx.Bucket(bMeta).Get(kHead) != nil {
			return corruptf("meta head")
		}
		var err error
		if a, err = readAnchor(tx.Bucket(bMeta)); err != nil {
			return err
		}
		if a.seq != 0 && a.seq >= head {
			return corruptf("anchor %d not below head %d", a.seq, head)
		}
		return tx.Bucket(bKeys).ForEach(func(k, v []byte) error {
			from, ok := boltdb.GetU64(k)
			if !ok || len(v) != ed25519.PublicKeySize {
				return corruptf("keys entry %x", k)
			}
			keys = append(keys, keyRange{from, ed25519.PublicKey(bytes.Clone(v))})
			return nil
		})
	})
	if err != nil {
		return err
	}
	// Records are checked against the head seen at the start; later
	// appends are for the next Verify.
	// The chain is checked from the first retained record, linked to the
	// hash of the last pruned one.
	want, prev, ki := a.seq+1, a.hash, -1
	for want <= head {
		batch, err := l.readRange(want, scanChunk)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return corruptf("record %d missing (head %d)", want, head)
		}
		for _, e := range batch {
			// Missing first: a batch that starts past head with want still
			// due would otherwise be read again and again.
			if e.Seq != want {
				return corruptf("record %d missing", want)
			}
			if e.Seq > head {
				break
			}
			for ki+1 < len(keys) && keys[ki+1].from <= e.Seq {
				ki++
			}
			var pub ed25519.PublicKey
			if ki >= 0 {
				pub = keys[ki].pub
			}
			if err := checkLink(e, prev, pub); err != nil {
				return err
			}
			prev = feed.Hash(e.Rec)
			want++
		}
	}
	return l.view(func(tx *boltdb.Tx) error {
		meta := tx.Bucket(bMeta)
		head, _ := boltdb.GetU64(meta.Get(kHead))
		acked, ok := boltdb.GetU64(meta.Get(kAcked))
		if !ok && meta.Get(kAcked) != nil {
			return corruptf("meta acked")
		}
		if acked > head {
			return corruptf("acked %d beyond head %d", acked, head)
		}
		if a.seq > acked {
			return corruptf("anchor %d beyond acked %d: unacknowledged records pruned", a.seq, acked)
		}
		next := acked + 1
		err := tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			seq, ok := boltdb.GetU64(k)
			if !ok || seq != next {
				return corruptf("outbox holds %x, want %d", k, next)
			}
			if _, ok := decodeAt(v); !ok {
				return corruptf("outbox value for %d", seq)
			}
			next++
			return nil
		})
		if err != nil {
			return err
		}
		if next != head+1 {
			return corruptf("outbox ends at %d, want %d", next-1, head)
		}
		return nil
	})
}

// Close closes the file. Later calls return ErrClosed; Close itself may be
// called again.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	return nil
}
