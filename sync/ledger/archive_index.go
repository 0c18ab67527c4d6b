package ledger

import (
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tillguard/tillguard/sync/feed"
)

// The archive's cross-till index, for the bureau's cross-pharmacy checks
// (sync/bureau): what one till cannot see because it happened at another.
// It is written by PutBatch in the transaction that stores the records, so
// it always matches them. Archives written before it existed are indexed
// from the next record on.
//
//	xtrace  trace code → u16 len | "pharmacy/till" | u64 seq: the sale holding the code (deleted by its till's return)
//	xsale   sale id → "pharmacy/till" | u64 seq  (so a return finds its sale)
//	xcard   u16 len | card | generic | u32 day | "pharmacy/till" → uvarint days bought that day at that till
//
// generic is the first crossGenericLen characters of med_list_codg
// (policy.GenericLen: the days-supply rule's "same drug"); day is the
// record's calendar date in its own offset, as days since 1970. Summing a
// card's purchases per till and day keeps a lookup bounded by the window
// and the number of tills, however many sales a card has.
var (
	bXTrace = []byte("xtrace")
	bXSale  = []byte("xsale")
	bXCard  = []byte("xcard")
)

const crossGenericLen = 10

// crossWindowDays bounds how far back a lookup reads: a purchase supplies
// at most this many days as far as the cross check is concerned (the
// longest legal supply is 84).
const crossWindowDays = 400

// CrossHit is one stored sale line that the index ties to another till:
// for a trace code (Trace set), the unreturned sale that already holds it;
// for a card's insurance line (Generic set), the card's earlier purchases
// of the same drug at every till. The bureau decides what is an alarm.
type CrossHit struct {
	Pharmacy, Till string // the new record
	Seq            uint64
	Line           int       // index in the record's lines
	At             time.Time // the record's time

	Trace  string        // the traceability code sold again
	Holder CrossPurchase // Trace: the earlier sale (Days unused)

	Card      string // Generic: the card
	Generic   string
	Days      int             // what this line supplies
	DaysLimit int             // the limit the till applied (0: not recorded)
	Earlier   []CrossPurchase // Generic: earlier purchases of this card and generic, any till, at or before At
}

// CrossPurchase is, for a trace code, the sale holding it; for a card, the
// days of a drug bought at one till on one day (At is noon UTC that day,
// so its calendar date is the record's in any zone within ±11 h).
type CrossPurchase struct {
	Pharmacy, Till string
	Seq            uint64 // trace codes only
	Days           int
	At             time.Time
}

// SetCrossHandler makes PutBatch call fn, after each successful commit,
// with what the index found in the batch's stored records. fn runs on the
// caller's goroutine before PutBatch returns.
func (a *Archive) SetCrossHandler(fn func([]CrossHit)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cross = fn
}

func (a *Archive) crossHandler() func([]CrossHit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cross
}

// indexArchived indexes one newly stored record and appends what it finds
// to hits. A record that does not decode is stored all the same (it was
// signed by an enrolled till) and simply not indexed. It decodes the
// record only when the caller did not pass it parsed (Incoming.Parsed):
// decoding is most of the index's cost, and it runs inside the write
// transaction.
func indexArchived(tx *bolt.Tx, it Incoming, hits *[]CrossHit) error {
	r := it.Parsed
	if r == nil {
		r = new(feed.Record)
		if json.Unmarshal(it.Rec, r) != nil {
			return nil
		}
	}
	at, _ := time.Parse(time.RFC3339, r.At)
	name := tillName(it.Pharmacy, it.Till)
	switch r.Kind {
	case feed.KindSale:
		return indexCrossSale(tx, it, name, r, at, hits)
	case feed.KindReturn:
		return indexCrossReturn(tx, name, r)
	}
	return nil
}

func crossBuckets(tx *bolt.Tx) (tr, sa, ca *bolt.Bucket, err error) {
	if tr, err = tx.CreateBucketIfNotExists(bXTrace); err != nil {
		return
	}
	if sa, err = tx.CreateBucketIfNotExists(bXSale); err != nil {
		return
	}
	ca, err = tx.CreateBucketIfNotExists(bXCard)
	return
}

func indexCrossSale(tx *bolt.Tx, it Incoming, name []byte, r *feed.Record, at time.Time, hits *[]CrossHit) error {
	tr, sa, ca, err := crossBuckets(tx)
	if err != nil {
		return err
	}
	holder := holderValue(name, it.Seq)
	if r.ID != "" {
		if err := sa.Put([]byte(r.ID), holder); err != nil {
			return err
		}
	}
	for i, l := range r.Lines {
		for _, code := range l.DrugTracCodg {
			if code == "" {
				continue
			}
			if prev := tr.Get([]byte(code)); prev != nil {
				if p, t, seq, ok := parseHolder(prev); ok && (p != it.Pharmacy || t != it.Till) {
					*hits = append(*hits, CrossHit{
						Pharmacy: it.Pharmacy, Till: it.Till, Seq: it.Seq, Line: i, At: at,
						Trace: code, Holder: CrossPurchase{Pharmacy: p, Till: t, Seq: seq},
					})
				}
			}
			if err := tr.Put([]byte(code), holder); err != nil {
				return err
			}
		}
		if r.Card == nil || r.Card.No == "" || len(r.Card.No) > 0xffff || l.Pay != "insurance" || l.Days <= 0 || len(l.MedListCodg) < crossGenericLen || at.IsZero() {
			continue
		}
		generic := l.MedListCodg[:crossGenericLen]
		prefix := crossCardPrefix(r.Card.No, generic)
		day := crossDay(at)
		var earlier []CrossPurchase
		c := ca.Cursor()
		for k, v := c.Seek(append(prefix, u32(max(day, crossWindowDays)-crossWindowDays)...)); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			p, ok := parseCardKey(k[len(prefix):], v)
			if !ok || crossDay(p.At) > day {
				break
			}
			earlier = append(earlier, p)
		}
		*hits = append(*hits, CrossHit{
			Pharmacy: it.Pharmacy, Till: it.Till, Seq: it.Seq, Line: i, At: at,
			Card: r.Card.No, Generic: generic, Days: l.Days, DaysLimit: l.DaysLimit, Earlier: earlier,
		})
		if err := addDays(ca, crossCardKey(prefix, day, name), int64(min(l.Days, crossWindowDays))); err != nil {
			return err
		}
	}
	return nil
}

// addDays adds delta to a day's total, deleting it at zero.
func addDays(ca *bolt.Bucket, k []byte, delta int64) error {
	have, _ := binary.Uvarint(ca.Get(k))
	n := int64(have) + delta
	if n <= 0 {
		return ca.Delete(k)
	}
	return ca.Put(k, binary.AppendUvarint(nil, uint64(n)))
}

// indexCrossReturn frees the returned trace codes this till held and
// shrinks the days of the sale lines returned, in proportion.
func indexCrossReturn(tx *bolt.Tx, name []byte, r *feed.Record) error {
	tr, sa, ca, err := crossBuckets(tx)
	if err != nil {
		return err
	}
	for _, l := range r.Lines {
		for _, code := range l.DrugTracCodg {
			if prev := tr.Get([]byte(code)); prev != nil {
				if p, t, _, ok := parseHolder(prev); ok && p+"/"+t == string(name) {
					if err := tr.Delete([]byte(code)); err != nil {
						return err
					}
				}
			}
		}
	}
	hv := sa.Get([]byte(r.Ref))
	if r.Ref == "" || hv == nil {
		return nil // a sale the archive does not hold (yet)
	}
	p, t, seq, ok := parseHolder(hv)
	if !ok || p+"/"+t != string(name) {
		return nil
	}
	tb := tx.Bucket(bTills).Bucket(name)
	if tb == nil || tb.Bucket(bRecs) == nil {
		return nil
	}
	rec, _, ok := decodeArchived(tb.Bucket(bRecs).Get(u64(seq)))
	var sale feed.Record
	if !ok || json.Unmarshal(rec, &sale) != nil || sale.Card == nil {
		return nil
	}
	at, err := time.Parse(time.RFC3339, sale.At)
	if err != nil {
		return nil
	}
	for _, rl := range r.Lines {
		for _, sl := range sale.Lines {
			if sl.Barcode != rl.Barcode || sl.Pay != "insurance" || sl.Qty <= 0 || sl.Days <= 0 || len(sl.MedListCodg) < crossGenericLen {
				continue
			}
			k := crossCardKey(crossCardPrefix(sale.Card.No, sl.MedListCodg[:crossGenericLen]), crossDay(at), name)
			less := min(sl.Days, crossWindowDays) * min(rl.Qty, sl.Qty) / sl.Qty
			if err := addDays(ca, k, -int64(less)); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

func holderValue(name []byte, seq uint64) []byte {
	v := binary.BigEndian.AppendUint16(nil, uint16(len(name)))
	v = append(v, name...)
	return append(v, u64(seq)...)
}

func parseHolder(v []byte) (pharmacy, till string, seq uint64, ok bool) {
	if len(v) < 2 {
		return "", "", 0, false
	}
	n := int(binary.BigEndian.Uint16(v))
	if len(v) != 2+n+8 {
		return "", "", 0, false
	}
	p, t, ok := cutName(string(v[2 : 2+n]))
	return p, t, binary.BigEndian.Uint64(v[2+n:]), ok
}

func cutName(name string) (pharmacy, till string, ok bool) {
	for i := range len(name) {
		if name[i] == '/' {
			return name[:i], name[i+1:], i > 0 && i < len(name)-1
		}
	}
	return "", "", false
}

func crossCardPrefix(card, generic string) []byte {
	k := binary.BigEndian.AppendUint16(nil, uint16(len(card)))
	k = append(k, card...)
	return append(k, generic...)
}

func crossCardKey(prefix []byte, day uint32, name []byte) []byte {
	k := append(append([]byte(nil), prefix...), u32(day)...)
	return append(k, name...)
}

// parseCardKey reads the part of an xcard key after the card and generic.
func parseCardKey(rest, v []byte) (CrossPurchase, bool) {
	if len(rest) < 4+3 {
		return CrossPurchase{}, false
	}
	days, n := binary.Uvarint(v)
	p, t, ok := cutName(string(rest[4:]))
	if n <= 0 || !ok || days > 1<<31 {
		return CrossPurchase{}, false
	}
	day := int64(binary.BigEndian.Uint32(rest[:4]))
	return CrossPurchase{Pharmacy: p, Till: t, Days: int(days), At: time.Unix(day*86400+12*3600, 0).UTC()}, true
}

// crossDay numbers t's calendar date in t's own offset; dates before 1970
// count as day 0.
func crossDay(t time.Time) uint32 {
	y, m, d := t.Date()
	n := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	return uint32(min(max(n, 0), 1<<32-1))
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}
