package boltarchive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
)

// Format is the file format this package reads and writes.
const Format = "tillguard-archive/2"

var (
	bTills     = []byte("tills")
	bWaiting   = []byte("waiting")
	bAlarms    = []byte("alarms")
	bAlarmKeys = []byte("alarmkeys")
	bXTrace    = []byte("xtrace")
	bXSale     = []byte("xsale")
	bXCard     = []byte("xcard")
	bXBlocked  = []byte("xblocked")
	bXSearch   = []byte("xsearch")

	bRecs   = []byte("recs")
	bWait   = []byte("wait")
	kState  = []byte("state")
	kStatus = []byte("status")
)

// scanChunk is how many records Scan reads per read transaction, so fn
// may call the store and writers are not held up behind a long scan.
const scanChunk = 256

// Archive is the embedded archive.Store. It is safe for concurrent use.
type Archive struct {
	db     *boltdb.DB
	path   string
	opts   archive.Opts
	mu     sync.Mutex // guards Close
	closed atomic.Bool
}

var _ archive.Store = (*Archive)(nil)

// Open opens the archive at path, creating it if missing. A damaged file
// gives an error wrapping ErrCorrupt, one of another format (an older
// archive's included) archive.ErrSchema; both are left as they are.
// Another process holding the file gives ErrLocked.
func Open(path string, opts *archive.Opts) (*Archive, error) {
	o := opts.Defaults()
	tills := 0
	db, err := boltdb.Open(path, boltdb.Schema{
		Format:  Format,
		Buckets: [][]byte{bTills, bWaiting, bAlarms, bAlarmKeys, bXTrace, bXSale, bXCard, bXBlocked, bXSearch},
		Check:   func(tx *boltdb.Tx) error { return checkArchive(tx, &tills) },
	})
	if err != nil {
		var fe *boltdb.FormatError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("boltarchive: open %s: %w", path, schemaError(fe))
		}
		return nil, fmt.Errorf("boltarchive: open %s: %w", path, sentinels.Map(err))
	}
	o.Log.Info("boltarchive: opened", "path", path, "tills", tills)
	return &Archive{db: db, path: path, opts: o}, nil
}

// schemaError says what the file is and what to do about it.
func schemaError(fe *boltdb.FormatError) error {
	const what = "tillguard-archive/"
	found, ok := strings.CutPrefix(fe.Found, what)
	want, _ := strings.CutPrefix(Format, what)
	fv, err1 := strconv.Atoi(found)
	wv, err2 := strconv.Atoi(want)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return fmt.Errorf("%w: not an archive (format %q, want %q): give the bureau another file", archive.ErrSchema, fe.Found, Format)
	case fv < wv:
		return fmt.Errorf("%w: an archive of the older format %q, which this tillguard neither reads nor converts (it writes %q): "+
			"for a demo or a test, remove the file; otherwise keep it, export it with the tillguard that wrote it, "+
			"and start the bureau on a new file (tills resend only what the old one never acknowledged)", archive.ErrSchema, fe.Found, Format)
	default:
		return fmt.Errorf("%w: an archive of the format %q, written by a newer tillguard (this one reads %q): run that tillguard",
			archive.ErrSchema, fe.Found, Format)
	}
}

// checkArchive checks every till's state against its buckets: cheap per
// till, and tills are few next to records.
func checkArchive(tx *boltdb.Tx, tills *int) error {
	waiting, awaited := tx.Bucket(bWaiting), tx.Bucket(bAwaited) // awaited: nil until a head is announced
	return tx.Bucket(bTills).ForEach(func(name, v []byte) error {
		*tills++
		if v != nil {
			return corruptf("tills holds a value %q", name)
		}
		t, err := loadTill(tx.Bucket(bTills), name)
		if err != nil {
			return err
		}
		if (waiting.Get(name) != nil) != (t.st.waiting > 0) {
			return corruptf("till %s: waiting index disagrees with %d records waiting", t, t.st.waiting)
		}
		last, _ := t.recs.Cursor().Last()
		if n, _ := boltdb.GetU64(last); n != t.st.contig || (last == nil) != (t.st.contig == 0) {
			return corruptf("till %s: watermark %d, last record %x", t, t.st.contig, last)
		}
		if t.st.contig > 0 {
			rec, _, ok := decodeStored(t.recs.Get(last))
			if !ok || sha256.Sum256(rec) != t.st.hash {
				return corruptf("till %s: record %d does not hash as its watermark says", t, t.st.contig)
			}
		}
		first, _ := t.wait.Cursor().First()
		if n, _ := boltdb.GetU64(first); (first == nil) != (t.st.waiting == 0) || first != nil && n <= t.st.contig+1 {
			return corruptf("till %s: %d waiting, first waiting %x, watermark %d", t, t.st.waiting, first, t.st.contig)
		}
		if (awaited != nil && awaited.Get(name) != nil) != t.st.awaited() {
			return corruptf("till %s: awaited index disagrees with head %d announced, watermark %d", t, t.st.ann.seq, t.st.contig)
		}
		return nil
	})
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func (a *Archive) view(ctx context.Context, fn func(tx *boltdb.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.closed.Load() {
		return archive.ErrClosed
	}
	return sentinels.Map(boltdb.View(a.db, fn))
}

func (a *Archive) update(ctx context.Context, fn func(tx *boltdb.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.closed.Load() {
		return archive.ErrClosed
	}
	return sentinels.Map(boltdb.Update(a.db, fn))
}

// Close closes the file. Later calls return archive.ErrClosed; Close
// itself may be called again.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Swap(true) {
		return nil
	}
	if err := a.db.Close(); err != nil {
		return fmt.Errorf("boltarchive: close: %w", err)
	}
	return nil
}

// tillName is a till's key: pharmacy, NUL, till.
func tillName(pharmacy, till string) []byte {
	return append(append(append(make([]byte, 0, len(pharmacy)+1+len(till)), pharmacy...), 0), till...)
}

func cutName(name []byte) (pharmacy, till string, ok bool) {
	p, t, ok := bytes.Cut(name, []byte{0})
	return string(p), string(t), ok && len(p) > 0 && len(t) > 0
}

// tillState is a till's "state" value.
type tillState struct {
	contig   uint64
	hash     [sha256.Size]byte // of record contig; zero for 0
	waiting  uint32
	lastSeen int64     // unix ns; 0 = never
	ann      announced // the highest head the till announced; seq 0: none
}

// announced is the highest head a till announced in a signed status
// (Announce).
type announced struct {
	seq  uint64
	hash [sha256.Size]byte // of record seq, as the till announced it
	// at is the status's own time, learned when the archive learned it
	// (the outbox_stale clock runs from it); unix ns, 0 = the zero time.
	at, learned int64
}

// stateLen is the state of a till that never announced a head, the whole
// state of archives written before heads were announced; announcedLen is
// what a till that did has after it.
const (
	stateLen     = 8 + sha256.Size + 4 + 8
	announcedLen = 8 + sha256.Size + 8 + 8
)

// encode writes the announced head only when there is one: the state of a
// till that never announced one stays what older archives hold.
func (s tillState) encode() []byte {
	v := make([]byte, 0, stateLen+announcedLen)
	v = binary.BigEndian.AppendUint64(v, s.contig)
	v = append(v, s.hash[:]...)
	v = binary.BigEndian.AppendUint32(v, s.waiting)
	v = binary.BigEndian.AppendUint64(v, uint64(s.lastSeen))
	if s.ann.seq == 0 {
		return v
	}
	v = binary.BigEndian.AppendUint64(v, s.ann.seq)
	v = append(v, s.ann.hash[:]...)
	v = binary.BigEndian.AppendUint64(v, uint64(s.ann.at))
	return binary.BigEndian.AppendUint64(v, uint64(s.ann.learned))
}

// decodeState reads a state with or without an announced head.
func decodeState(v []byte) (tillState, bool) {
	if len(v) != stateLen && len(v) != stateLen+announcedLen {
		return tillState{}, false
	}
	var s tillState
	s.contig = binary.BigEndian.Uint64(v)
	copy(s.hash[:], v[8:])
	s.waiting = binary.BigEndian.Uint32(v[8+sha256.Size:])
	s.lastSeen = int64(binary.BigEndian.Uint64(v[8+sha256.Size+4:]))
	if len(v) == stateLen {
		return s, true
	}
	a := v[stateLen:]
	s.ann.seq = binary.BigEndian.Uint64(a)
	copy(s.ann.hash[:], a[8:])
	s.ann.at = int64(binary.BigEndian.Uint64(a[8+sha256.Size:]))
	s.ann.learned = int64(binary.BigEndian.Uint64(a[8+sha256.Size+8:]))
	return s, s.ann.seq > 0 // encode writes no head of seq 0
}

// awaited reports whether the till announced records not stored yet.
func (s tillState) awaited() bool { return s.ann.seq > s.contig }

// prev is what the next record's prev must be.
func (s tillState) prev() string {
	if s.contig == 0 {
		return ""
	}
	return hex.EncodeToString(s.hash[:])
}

func (s tillState) lastSeenTime() time.Time {
	if s.lastSeen == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.lastSeen)
}

// tillData is one till's buckets and state, as read in a transaction.
type tillData struct {
	name           []byte
	pharmacy, till string
	b, recs, wait  *boltdb.Bucket
	st             tillState
}

func (t *tillData) String() string { return t.pharmacy + "/" + t.till }

func (t *tillData) watermark() archive.Watermark {
	w := archive.Watermark{Pharmacy: t.pharmacy, Till: t.till, Seq: t.st.contig}
	if t.st.contig > 0 {
		w.Hash = t.st.prev()
	}
	if t.st.waiting > 0 && t.wait != nil {
		if k, _ := t.wait.Cursor().First(); k != nil {
			w.WaitingFrom, _ = boltdb.GetU64(k)
		}
	}
	return w
}

// loadTill reads the till named name from tills; nil, nil if none.
func loadTill(tills *boltdb.Bucket, name []byte) (*tillData, error) {
	b := tills.Bucket(name)
	if b == nil {
		return nil, nil
	}
	p, tl, ok := cutName(name)
	st, ok2 := decodeState(b.Get(kState))
	t := &tillData{name: name, pharmacy: p, till: tl, b: b, recs: b.Bucket(bRecs), wait: b.Bucket(bWait), st: st}
	if !ok || !ok2 || t.recs == nil || t.wait == nil {
		return nil, corruptf("till %q: bad name, state or buckets", name)
	}
	return t, nil
}

// createTill makes a new till's buckets and state.
func createTill(tills *boltdb.Bucket, pharmacy, tl string) (*tillData, error) {
	name := tillName(pharmacy, tl)
	b, err := tills.CreateBucket(name)
	if err != nil {
		return nil, err
	}
	t := &tillData{name: name, pharmacy: pharmacy, till: tl, b: b}
	if t.recs, err = b.CreateBucket(bRecs); err != nil {
		return nil, err
	}
	if t.wait, err = b.CreateBucket(bWait); err != nil {
		return nil, err
	}
	return t, b.Put(kState, t.st.encode())
}

// Stored record values: uvarint len sig | sig | record.
func encodeStored(rec, sig []byte) []byte {
	v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(sig)+len(rec)), uint64(len(sig)))
	v = append(v, sig...)
	return append(v, rec...)
}

// decodeStored splits a stored value; the slices alias v.
func decodeStored(v []byte) (rec, sig []byte, ok bool) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) || uint64(len(v)-w)-n == 0 {
		return nil, nil, false
	}
	sig = v[w : w+int(n) : w+int(n)]
	return v[w+int(n):], sig, true
}

// waited is a record in wait.
type waited struct {
	arrived  int64 // unix ns
	prev, id string
	rec, sig []byte
}

func encodeWaited(w waited) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+3*binary.MaxVarintLen64+len(w.prev)+len(w.id)+len(w.sig)+len(w.rec)), uint64(w.arrived))
	v = binary.AppendUvarint(v, uint64(len(w.prev)))
	v = append(v, w.prev...)
	v = binary.AppendUvarint(v, uint64(len(w.id)))
	v = append(v, w.id...)
	return append(v, encodeStored(w.rec, w.sig)...)
}

// decodeWaited splits a wait value; rec and sig alias v.
func decodeWaited(v []byte) (waited, bool) {
	if len(v) < 8 {
		return waited{}, false
	}
	w := waited{arrived: int64(binary.BigEndian.Uint64(v))}
	rest := v[8:]
	var ok bool
	if w.prev, rest, ok = cutStr(rest); !ok {
		return waited{}, false
	}
	if w.id, rest, ok = cutStr(rest); !ok {
		return waited{}, false
	}
	w.rec, w.sig, ok = decodeStored(rest)
	return w, ok
}

// cutStr reads a uvarint-length-prefixed string.
func cutStr(v []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) {
		return "", nil, false
	}
	return string(v[w : w+int(n)]), v[w+int(n):], true
}

// Path is the archive's file.
func (a *Archive) Path() string { return a.path }
