package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

// The history index lives in the ledger file, in bucket "index", and is
// written in the same transaction as each record, so it can never disagree
// with the records (docs/rules.md: days_supply, trace_dup, card_burst):
//
//	purchases  u16 len | card | at (unix ns) | seq | u16 line → uvarint days | med_list_codg
//	traces     trace code → seq of the sale that sold it (deleted by its return)
//	sales      sale id → seq
//	returned   seq | u16 line → u32 packs returned so far
//	cards      at (unix ns) | seq → card number
//
// meta "index/1" holds the highest seq indexed. Every lookup is a seek on a
// per-card or per-time key plus a walk bounded by a time window, so its cost
// does not grow with the ledger.
var (
	bIndex        = []byte("index")
	bIdxPurchases = []byte("purchases")
	bIdxTraces    = []byte("traces")
	bIdxSales     = []byte("sales")
	bIdxReturned  = []byte("returned")
	bIdxCards     = []byte("cards")
	kIndexed      = []byte("index/1")
)

// payInsurance is how a sale line paid by the fund says so (feed.Line.Pay).
const payInsurance = "insurance"

// indexBatch is how many records one rebuild transaction indexes.
const indexBatch = 2000

// Purchase is one earlier insurance line of a card: what the days-supply
// rule counts. Days shrink when packs of the line are returned.
type Purchase struct {
	MedListCodg string
	Days        int
	At          time.Time
}

// CardSeen is a card that appeared in a record at this till.
type CardSeen struct {
	No string
	At time.Time // the latest record with it in the window
}

// HistoryQuery asks the index about one scan.
type HistoryQuery struct {
	Card       string    // the buyer's card; "" = none, no purchases
	Since      time.Time // purchases at or after this time (the longest days window)
	Traces     []string  // trace codes of the line
	CardsSince time.Time // cards seen at or after this time; zero = do not ask
}

// History is what the index knows for a HistoryQuery.
type History struct {
	Purchases   []Purchase // the card's insurance purchases since Since, oldest first
	SoldTraces  []string   // those of Traces sold at this till and not returned
	RecentCards []CardSeen // distinct cards other than Card seen since CardsSince
}

// History answers q from the index in one read transaction.
func (l *Ledger) History(q HistoryQuery) (History, error) {
	var h History
	err := l.view(func(tx *boltdb.Tx) error {
		idx := tx.Bucket(bIndex)
		if idx == nil {
			return nil
		}
		if q.Card != "" && len(q.Card) <= 0xffff {
			prefix := cardPrefix(q.Card)
			c := idx.Bucket(bIdxPurchases).Cursor()
			for k, v := c.Seek(append(bytes.Clone(prefix), boltdb.U64(timeKey(q.Since))...)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				days, code, ok := decodePurchase(v)
				if !ok || len(k) < len(prefix)+8 {
					return corruptf("index purchase %x", k)
				}
				ns, _ := boltdb.GetU64(k[len(prefix) : len(prefix)+8])
				h.Purchases = append(h.Purchases, Purchase{MedListCodg: code, Days: days, At: time.Unix(0, int64(ns))})
			}
		}
		tr := idx.Bucket(bIdxTraces)
		for _, t := range q.Traces {
			if t != "" && tr.Get([]byte(t)) != nil {
				h.SoldTraces = append(h.SoldTraces, t)
			}
		}
		if !q.CardsSince.IsZero() {
			seen := map[string]int{}
			c := idx.Bucket(bIdxCards).Cursor()
			for k, v := c.Seek(boltdb.U64(timeKey(q.CardsSince))); k != nil; k, v = c.Next() {
				no := string(v)
				if no == q.Card || len(k) < 8 {
					continue
				}
				ns, _ := boltdb.GetU64(k[:8])
				at := time.Unix(0, int64(ns))
				if i, ok := seen[no]; ok {
					h.RecentCards[i].At = at
					continue
				}
				seen[no] = len(h.RecentCards)
				h.RecentCards = append(h.RecentCards, CardSeen{No: no, At: at})
			}
		}
		return nil
	})
	if err != nil {
		return History{}, fmt.Errorf("ledger: history: %w", err)
	}
	return h, nil
}

// Sale is a sale record as a return needs it.
type Sale struct {
	Seq        uint64
	Record     feed.Record
	Returned   []int    // packs already returned, per line of Record
	OpenTraces []string // trace codes of the sale not returned yet
}

// Portion is part of a return taken from one line of a sale.
type Portion struct {
	Line int // index into Sale.Record.Lines
	Qty  int
}

// Take allocates qty packs of barcode to the sale's lines in order, from
// what is still to be returned, and counts them in s.Returned. It reports
// false, changing nothing, when the sale has fewer packs of barcode left.
// The index replays the same allocation for each line of a return record.
func (s *Sale) Take(barcode string, qty int) ([]Portion, bool) {
	if qty <= 0 {
		return nil, false
	}
	var out []Portion
	left := qty
	for i, l := range s.Record.Lines {
		if left == 0 {
			break
		}
		if l.Barcode != barcode || i >= len(s.Returned) {
			continue
		}
		if n := min(l.Qty-s.Returned[i], left); n > 0 {
			out = append(out, Portion{Line: i, Qty: n})
			left -= n
		}
	}
	if left > 0 {
		return nil, false
	}
	for _, p := range out {
		s.Returned[p.Line] += p.Qty
	}
	return out, true
}

// Sale returns the sale record with that id and what of it was returned,
// or an error wrapping ErrNotFound.
func (l *Ledger) Sale(id string) (Sale, error) {
	var s Sale
	err := l.view(func(tx *boltdb.Tx) error {
		idx := tx.Bucket(bIndex)
		if idx == nil {
			return ErrNotFound
		}
		var err error
		s, err = loadSale(tx, idx, id)
		return err
	})
	if err != nil {
		return Sale{}, fmt.Errorf("ledger: sale %q: %w", id, err)
	}
	return s, nil
}

func loadSale(tx *boltdb.Tx, idx *boltdb.Bucket, id string) (Sale, error) {
	seq, ok := boltdb.GetU64(idx.Bucket(bIdxSales).Get([]byte(id)))
	if !ok {
		return Sale{}, ErrNotFound
	}
	v := tx.Bucket(bRecords).Get(boltdb.U64(seq))
	if v == nil {
		return Sale{}, ErrNotFound // pruned by retention
	}
	e, err := decodeEntry(seq, v)
	if err != nil {
		return Sale{}, err
	}
	s := Sale{Seq: seq}
	if err := json.Unmarshal(e.Rec, &s.Record); err != nil {
		return Sale{}, corruptf("record %d: %v", seq, err)
	}
	s.Returned = make([]int, len(s.Record.Lines))
	ret, tr := idx.Bucket(bIdxReturned), idx.Bucket(bIdxTraces)
	for i, l := range s.Record.Lines {
		if v := ret.Get(lineKey(seq, i)); len(v) == 4 {
			s.Returned[i] = int(binary.BigEndian.Uint32(v))
		}
		for _, t := range l.DrugTracCodg {
			if got, _ := boltdb.GetU64(tr.Get([]byte(t))); got == seq {
				s.OpenTraces = append(s.OpenTraces, t)
			}
		}
	}
	return s, nil
}

// ensureIndex brings the index up to the head at open: a file written by
// an older tillguard has none, and one written by a tool that bypassed
// Append may lag. It works in batches so a crash keeps what was done.
func (l *Ledger) ensureIndex() error {
	for {
		var upto, head uint64
		err := l.view(func(tx *boltdb.Tx) error {
			upto, _ = boltdb.GetU64(tx.Bucket(bMeta).Get(kIndexed))
			head, _ = boltdb.GetU64(tx.Bucket(bMeta).Get(kHead))
			return nil
		})
		if err != nil {
			return err
		}
		if upto >= head {
			return nil
		}
		if upto == 0 {
			l.log.Info("ledger: building the history index", "head_seq", head)
		}
		err = l.update(func(tx *boltdb.Tx) error {
			idx, err := openIndex(tx)
			if err != nil {
				return err
			}
			return catchUp(tx, idx, min(upto+indexBatch, head))
		})
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		boltdb.ReleaseDB(l.db) // a batch read about 2 MB of records
	}
}

// openIndex returns the index bucket, creating it. A missing marker with
// leftovers of an index means it cannot be trusted: it is dropped.
func openIndex(tx *boltdb.Tx) (*boltdb.Bucket, error) {
	if tx.Bucket(bMeta).Get(kIndexed) == nil && tx.Bucket(bIndex) != nil {
		if err := tx.DeleteBucket(bIndex); err != nil {
			return nil, err
		}
	}
	idx, err := tx.CreateBucketIfNotExists(bIndex)
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bIdxPurchases, bIdxTraces, bIdxSales, bIdxReturned, bIdxCards} {
		if _, err := idx.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

// catchUp indexes the stored records after the marker up to and including
// upto, then moves the marker there. Records pruned by retention are gone
// and skipped.
func catchUp(tx *boltdb.Tx, idx *boltdb.Bucket, upto uint64) error {
	from, _ := boltdb.GetU64(tx.Bucket(bMeta).Get(kIndexed))
	if from >= upto {
		return nil
	}
	c := tx.Bucket(bRecords).Cursor()
	for k, v := c.Seek(boltdb.U64(from + 1)); k != nil; k, v = c.Next() {
		seq, ok := boltdb.GetU64(k)
		if !ok {
			return corruptf("record key %x", k)
		}
		if seq > upto {
			break
		}
		e, err := decodeEntry(seq, v)
		if err != nil {
			return err
		}
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return corruptf("record %d: %v", seq, err)
		}
		if err := indexOne(tx, idx, seq, &r, e.At); err != nil {
			return err
		}
	}
	return tx.Bucket(bMeta).Put(kIndexed, boltdb.U64(upto))
}

// indexRecord indexes r, just stored as seq at append time at, inside the
// append's own transaction. Records the index missed (appended by a path
// that bypassed it) are indexed first, so the index never skips one.
func indexRecord(tx *boltdb.Tx, seq uint64, r *feed.Record, at time.Time) error {
	idx, err := openIndex(tx)
	if err != nil {
		return err
	}
	if seq > 1 {
		if err := catchUp(tx, idx, seq-1); err != nil {
			return err
		}
	}
	if err := indexOne(tx, idx, seq, r, at); err != nil {
		return err
	}
	return tx.Bucket(bMeta).Put(kIndexed, boltdb.U64(seq))
}

func indexOne(tx *boltdb.Tx, idx *boltdb.Bucket, seq uint64, r *feed.Record, appended time.Time) error {
	at := recordTime(r.At, appended)
	if r.Card != nil && r.Card.No != "" {
		k := append(boltdb.U64(timeKey(at)), boltdb.U64(seq)...)
		if err := idx.Bucket(bIdxCards).Put(k, []byte(r.Card.No)); err != nil {
			return err
		}
	}
	switch r.Kind {
	case feed.KindSale:
		return indexSale(idx, seq, r, at)
	case feed.KindReturn:
		return indexReturn(tx, idx, r)
	}
	return nil
}

func indexSale(idx *boltdb.Bucket, seq uint64, r *feed.Record, at time.Time) error {
	if r.ID != "" {
		if err := idx.Bucket(bIdxSales).Put([]byte(r.ID), boltdb.U64(seq)); err != nil {
			return err
		}
	}
	tr, pb := idx.Bucket(bIdxTraces), idx.Bucket(bIdxPurchases)
	for i, l := range r.Lines {
		for _, t := range l.DrugTracCodg {
			if t == "" {
				continue
			}
			if err := tr.Put([]byte(t), boltdb.U64(seq)); err != nil {
				return err
			}
		}
		if k := purchaseKey(r, seq, i, at); k != nil {
			if err := pb.Put(k, encodePurchase(l.Days, l.MedListCodg)); err != nil {
				return err
			}
		}
	}
	return nil
}

// purchaseKey is the purchases key of a sale line that days_supply counts,
// nil for a line it does not count.
func purchaseKey(r *feed.Record, seq uint64, line int, at time.Time) []byte {
	l := r.Lines[line]
	if r.Card == nil || r.Card.No == "" || len(r.Card.No) > 0xffff || l.Pay != payInsurance || l.Days <= 0 || l.MedListCodg == "" {
		return nil
	}
	k := cardPrefix(r.Card.No)
	k = append(k, boltdb.U64(timeKey(at))...)
	k = append(k, boltdb.U64(seq)...)
	return binary.BigEndian.AppendUint16(k, uint16(line))
}

// indexReturn frees the returned trace codes, counts the returned packs
// and shrinks the days of the purchases they came from, in proportion.
func indexReturn(tx *boltdb.Tx, idx *boltdb.Bucket, r *feed.Record) error {
	s, err := loadSale(tx, idx, r.Ref)
	if err != nil {
		return nil // a return of a sale this till does not hold changes no history
	}
	saleAt := recordTime(s.Record.At, time.Time{})
	if e, err := decodeEntry(s.Seq, tx.Bucket(bRecords).Get(boltdb.U64(s.Seq))); err == nil {
		saleAt = recordTime(s.Record.At, e.At)
	}
	ret, tr, pb := idx.Bucket(bIdxReturned), idx.Bucket(bIdxTraces), idx.Bucket(bIdxPurchases)
	for _, rl := range r.Lines {
		for _, t := range rl.DrugTracCodg {
			if got, _ := boltdb.GetU64(tr.Get([]byte(t))); got == s.Seq {
				if err := tr.Delete([]byte(t)); err != nil {
					return err
				}
			}
		}
		portions, ok := s.Take(rl.Barcode, rl.Qty)
		if !ok {
			continue
		}
		for _, p := range portions {
			n := s.Returned[p.Line]
			if err := ret.Put(lineKey(s.Seq, p.Line), binary.BigEndian.AppendUint32(nil, uint32(n))); err != nil {
				return err
			}
			sl := s.Record.Lines[p.Line]
			k := purchaseKey(&s.Record, s.Seq, p.Line, saleAt)
			if k == nil || sl.Qty <= 0 {
				continue
			}
			days := sl.Days * max(sl.Qty-n, 0) / sl.Qty
			if days <= 0 {
				err = pb.Delete(k)
			} else {
				err = pb.Put(k, encodePurchase(days, sl.MedListCodg))
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// recordTime is the record's own time, or the append time when the record
// carries none that parses.
func recordTime(s string, appended time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t
	}
	return appended
}

// timeKey orders times as unsigned keys; times before 1970 sort first.
func timeKey(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

func cardPrefix(card string) []byte {
	k := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(card)+18), uint16(len(card)))
	return append(k, card...)
}

func lineKey(seq uint64, line int) []byte {
	return binary.BigEndian.AppendUint16(boltdb.U64(seq), uint16(line))
}

func encodePurchase(days int, code string) []byte {
	return append(binary.AppendUvarint(nil, uint64(days)), code...)
}

func decodePurchase(v []byte) (days int, code string, ok bool) {
	d, n := binary.Uvarint(v)
	if n <= 0 || d > 1<<31 {
		return 0, "", false
	}
	return int(d), string(v[n:]), true
}
