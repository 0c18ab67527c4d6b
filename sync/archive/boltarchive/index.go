package boltarchive

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// indexer writes the indexes of each record as it is stored, in the
// transaction that stores it (doc.go lists them).
type indexer struct {
	tx                                 *boltdb.Tx
	trace, sale, card, blocked, search *boltdb.Bucket
}

func newIndexer(tx *boltdb.Tx) *indexer {
	return &indexer{tx: tx, trace: tx.Bucket(bXTrace), sale: tx.Bucket(bXSale), card: tx.Bucket(bXCard),
		blocked: tx.Bucket(bXBlocked), search: tx.Bucket(bXSearch)}
}

// index indexes the record ref (decoded: r) and raises what the
// cross-till rules find.
func (x *indexer) index(p *putter, ref archive.RecordRef, r *feed.Record) error {
	at, _ := time.Parse(time.RFC3339, r.At)
	switch r.Kind {
	case feed.KindSale:
		if err := x.crossSale(p, ref, r); err != nil {
			return err
		}
	case feed.KindReturn:
		if err := x.crossReturn(ref, r); err != nil {
			return err
		}
	case feed.KindBlocked:
		if err := x.countBlocked(ref.Pharmacy, r, at); err != nil {
			return err
		}
	}
	return x.searchable(ref, r, at)
}

// crossSale checks a sale's trace codes and card lines against every
// other till's, then records them.
func (x *indexer) crossSale(p *putter, ref archive.RecordRef, r *feed.Record) error {
	if r.ID != "" && len(r.ID) <= maxIndexed {
		if err := x.sale.Put([]byte(r.ID), encodeRef(ref)); err != nil {
			return err
		}
	}
	for _, tl := range archive.Traces(r) {
		if len(tl.Code) > maxIndexed {
			continue
		}
		if v := x.trace.Get([]byte(tl.Code)); v != nil {
			holder, ok := decodeRef(v)
			if !ok {
				return corruptf("trace holder of %q", tl.Code)
			}
			if err := p.raise(archive.TraceDup(p.now, ref, tl, holder)); err != nil {
				return err
			}
		}
		if err := x.trace.Put([]byte(tl.Code), encodeRef(ref)); err != nil {
			return err
		}
	}
	for _, cl := range archive.CardLines(r) {
		if len(cl.Card) > maxIndexed {
			continue
		}
		prefix := cardPrefix(cl.Card, cl.Generic)
		var earlier []archive.DayPurchase
		c := x.card.Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint32(clone(prefix), archive.WindowStart(cl.Day))); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			dp, ok := decodeCardDay(k[len(prefix):], v)
			if !ok {
				return corruptf("card days %x", k)
			}
			if dp.Day > cl.Day {
				break
			}
			earlier = append(earlier, dp)
		}
		if err := p.raise(archive.DaysSupply(p.now, ref, cl, earlier, p.opts.DaysLimit)); err != nil {
			return err
		}
		if err := x.addDays(cardKey(prefix, cl.Day, ref.Pharmacy, ref.Till), cl.Days, &ref); err != nil {
			return err
		}
	}
	return nil
}

// crossReturn frees the returned trace codes this till held, and takes
// the returned part of its sale off the card's days.
func (x *indexer) crossReturn(ref archive.RecordRef, r *feed.Record) error {
	for _, tl := range archive.Traces(r) {
		if len(tl.Code) > maxIndexed {
			continue
		}
		if v := x.trace.Get([]byte(tl.Code)); v != nil {
			if h, ok := decodeRef(v); ok && h.Pharmacy == ref.Pharmacy && h.Till == ref.Till {
				if err := x.trace.Delete([]byte(tl.Code)); err != nil {
					return err
				}
			}
		}
	}
	if r.Ref == "" || len(r.Ref) > maxIndexed {
		return nil
	}
	sv := x.sale.Get([]byte(r.Ref))
	if sv == nil {
		return nil // a sale the archive does not hold
	}
	sref, ok := decodeRef(sv)
	if !ok || sref.Pharmacy != ref.Pharmacy || sref.Till != ref.Till {
		return nil
	}
	tb := x.tx.Bucket(bTills).Bucket(tillName(sref.Pharmacy, sref.Till))
	if tb == nil || tb.Bucket(bRecs) == nil {
		return corruptf("sale %s names till %s/%s, which has no records", r.Ref, sref.Pharmacy, sref.Till)
	}
	rec, _, ok := decodeStored(tb.Bucket(bRecs).Get(boltdb.U64(sref.Seq)))
	var sale feed.Record
	if !ok || json.Unmarshal(rec, &sale) != nil {
		return corruptf("sale %s: record %d missing or bad", r.Ref, sref.Seq)
	}
	for _, cl := range archive.Returned(&sale, r) {
		if len(cl.Card) > maxIndexed {
			continue
		}
		if err := x.addDays(cardKey(cardPrefix(cl.Card, cl.Generic), cl.Day, ref.Pharmacy, ref.Till), -cl.Days, nil); err != nil {
			return err
		}
	}
	return nil
}

func cardPrefix(card, generic string) []byte {
	return append(appendStr(nil, card), generic...)
}

func cardKey(prefix []byte, day uint32, pharmacy, till string) []byte {
	k := binary.BigEndian.AppendUint32(clone(prefix), day)
	return append(k, tillName(pharmacy, till)...)
}

// addDays adds delta to a card's day at a till, deleting it at zero, and
// makes last (when set) the day's last sale.
func (x *indexer) addDays(k []byte, delta int, last *archive.RecordRef) error {
	var days int64
	var ref []byte
	if v := x.card.Get(k); v != nil {
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return corruptf("card days %x", k)
		}
		days, ref = int64(n), v[w:]
	}
	days += int64(delta)
	if days <= 0 {
		return x.card.Delete(k)
	}
	if last != nil {
		ref = encodeRef(*last)
	}
	return x.card.Put(k, append(binary.AppendUvarint(nil, uint64(days)), ref...))
}

// decodeCardDay reads an xcard entry: rest is the key after the prefix.
func decodeCardDay(rest, v []byte) (archive.DayPurchase, bool) {
	if len(rest) < 4 {
		return archive.DayPurchase{}, false
	}
	p, t, ok := cutName(rest[4:])
	days, w := binary.Uvarint(v)
	if !ok || w <= 0 || days > 1<<31 {
		return archive.DayPurchase{}, false
	}
	last, ok := decodeRef(v[w:])
	return archive.DayPurchase{Pharmacy: p, Till: t, Day: binary.BigEndian.Uint32(rest), Days: int(days), Last: last}, ok
}

// countBlocked counts a blocked attempt's blocked and held lines per rule,
// under the record's UTC day and under its time.
func (x *indexer) countBlocked(pharmacy string, r *feed.Record, at time.Time) error {
	if at.IsZero() || (r.Ref != "" && x.sale.Get([]byte(r.Ref)) == nil) {
		return nil // a line decided again: counted under its first record (archive.Store.Blocked)
	}
	n := map[string]uint64{}
	for _, l := range r.Lines {
		if l.Decision == feed.Block || l.Decision == feed.Hold {
			n[clip(l.Rule)]++
		}
	}
	for rule, c := range n {
		for _, k := range [][]byte{blockedDayKey(archive.Day(at.UTC()), pharmacy, rule), blockedTimeKey(at, pharmacy, rule)} {
			have, _ := binary.Uvarint(x.blocked.Get(k))
			if err := x.blocked.Put(k, binary.AppendUvarint(nil, have+c)); err != nil {
				return err
			}
		}
	}
	return nil
}

func blockedDayKey(day uint32, pharmacy, rule string) []byte {
	k := binary.BigEndian.AppendUint32([]byte{'d'}, day)
	return append(appendStr(k, pharmacy), rule...)
}

func blockedTimeKey(at time.Time, pharmacy, rule string) []byte {
	k := append([]byte{'n'}, timeKey(at)...)
	return append(appendStr(k, pharmacy), rule...)
}

// searchable indexes a record's card and trace codes for Search: one
// entry per record and card or code, with the lines it is on.
func (x *indexer) searchable(ref archive.RecordRef, r *feed.Record, at time.Time) error {
	tail := append(timeKey(at), encodeRef(archive.RecordRef{Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq})...)
	if r.Card != nil && r.Card.No != "" && len(r.Card.No) <= maxIndexed && len(r.Lines) > 0 {
		if err := x.search.Put(append(appendStr([]byte{'c'}, r.Card.No), tail...), []byte{}); err != nil {
			return err
		}
	}
	lines := map[string][]byte{}
	last := map[string]int{}
	var codes []string
	for _, tl := range archive.Traces(r) {
		if len(tl.Code) > maxIndexed {
			continue
		}
		if l, ok := last[tl.Code]; !ok {
			codes = append(codes, tl.Code)
		} else if l == tl.Line {
			continue // the code twice on one line
		}
		last[tl.Code] = tl.Line
		lines[tl.Code] = binary.AppendUvarint(lines[tl.Code], uint64(tl.Line))
	}
	for _, code := range codes {
		if err := x.search.Put(append(appendStr([]byte{'t'}, code), tail...), lines[code]); err != nil {
			return err
		}
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
