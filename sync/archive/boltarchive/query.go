package boltarchive

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// Get returns a stored record's bytes and signature, or an error wrapping
// archive.ErrNotFound. A record still waiting is not stored.
func (a *Archive) Get(ctx context.Context, pharmacy, till string, seq uint64) (rec, sig []byte, err error) {
	err = a.view(ctx, func(tx *boltdb.Tx) error {
		t, err := loadTill(tx.Bucket(bTills), tillName(pharmacy, till))
		if err != nil {
			return err
		}
		if t == nil {
			return archive.ErrNotFound
		}
		v := t.recs.Get(boltdb.U64(seq))
		if v == nil {
			return archive.ErrNotFound
		}
		r, s, ok := decodeStored(v)
		if !ok {
			return corruptf("till %s record %d: bad stored value", t, seq)
		}
		rec, sig = bytes.Clone(r), bytes.Clone(s)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("boltarchive: get %s/%s %d: %w", pharmacy, till, seq, err)
	}
	return rec, sig, nil
}

// Watermark returns a till's contiguous watermark; a till never seen is 0.
func (a *Archive) Watermark(ctx context.Context, pharmacy, till string) (archive.Watermark, error) {
	w := archive.Watermark{Pharmacy: pharmacy, Till: till}
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		t, err := loadTill(tx.Bucket(bTills), tillName(pharmacy, till))
		if t != nil {
			w = t.watermark()
		}
		return err
	})
	if err != nil {
		return archive.Watermark{}, fmt.Errorf("boltarchive: watermark %s/%s: %w", pharmacy, till, err)
	}
	return w, nil
}

type scanned struct {
	seq      uint64
	rec, sig []byte
}

// Scan calls fn for the till's stored records with seq ≥ from, in order,
// at most limit of them (0: all). It reads in short transactions, so fn
// may call the store.
func (a *Archive) Scan(ctx context.Context, pharmacy, till string, from uint64, limit int, fn func(seq uint64, rec, sig []byte) error) error {
	name := tillName(pharmacy, till)
	left := limit
	for {
		n := scanChunk
		if limit > 0 {
			n = min(n, left)
		}
		batch := make([]scanned, 0, n)
		err := a.view(ctx, func(tx *boltdb.Tx) error {
			t, err := loadTill(tx.Bucket(bTills), name)
			if t == nil || err != nil {
				return err
			}
			var m boltdb.ReadMeter
			c := t.recs.Cursor()
			for k, v := c.Seek(boltdb.U64(from)); k != nil && len(batch) < n; k, v = c.Next() {
				seq, ok := boltdb.GetU64(k)
				rec, sig, ok2 := decodeStored(v)
				if !ok || !ok2 {
					return corruptf("till %s record %x: bad stored value", t, k)
				}
				batch = append(batch, scanned{seq, bytes.Clone(rec), bytes.Clone(sig)})
				m.Read(tx, len(k)+len(v))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("boltarchive: scan %s/%s from %d: %w", pharmacy, till, from, err)
		}
		for _, r := range batch {
			if err := fn(r.seq, r.rec, r.sig); err != nil {
				return err
			}
		}
		left -= len(batch)
		if len(batch) < n || limit > 0 && left <= 0 || batch[len(batch)-1].seq == math.MaxUint64 {
			return nil
		}
		from = batch[len(batch)-1].seq + 1
	}
}

// SetStatus keeps a till's latest retained status, replacing the one kept
// (archive.Store explains why the latest message, not the latest At,
// wins). A till not seen before is listed from now on.
func (a *Archive) SetStatus(ctx context.Context, pharmacy, till string, st feed.Status) error {
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) {
		return fmt.Errorf("boltarchive: set status %q/%q: %w", pharmacy, till, archive.ErrInvalid)
	}
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("boltarchive: set status %s/%s: %w", pharmacy, till, err)
	}
	err = a.update(ctx, func(tx *boltdb.Tx) error {
		tills := tx.Bucket(bTills)
		t, err := loadTill(tills, tillName(pharmacy, till))
		if err == nil && t == nil {
			t, err = createTill(tills, pharmacy, till)
		}
		if err != nil {
			return err
		}
		return t.b.Put(kStatus, v)
	})
	if err != nil {
		return fmt.Errorf("boltarchive: set status %s/%s: %w", pharmacy, till, err)
	}
	return nil
}

// Tills lists tills in (pharmacy, till) order, paged by q.
func (a *Archive) Tills(ctx context.Context, q archive.TillQuery) ([]archive.TillInfo, error) {
	limit := archive.Limit(q.Limit)
	var start, after []byte
	if q.Pharmacy != "" {
		start = append([]byte(q.Pharmacy), 0)
	}
	if q.AfterPharmacy != "" || q.AfterTill != "" {
		after = tillName(q.AfterPharmacy, q.AfterTill)
		if bytes.Compare(after, start) > 0 {
			start = after
		}
	}
	var out []archive.TillInfo
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		out = out[:0]
		tills := tx.Bucket(bTills)
		c := tills.Cursor()
		for k, _ := c.Seek(start); k != nil && len(out) < limit; k, _ = c.Next() {
			if after != nil && bytes.Equal(k, after) {
				continue
			}
			if q.Pharmacy != "" && !hasPrefix(k, append([]byte(q.Pharmacy), 0)) {
				break
			}
			t, err := loadTill(tills, k)
			if err != nil {
				return err
			}
			ti := archive.TillInfo{Pharmacy: t.pharmacy, Till: t.till, Contiguous: t.st.contig, Count: t.st.contig,
				Waiting: int(t.st.waiting), LastSeen: t.st.lastSeenTime(), Announced: t.st.ann.announcement()}
			if v := t.b.Get(kStatus); v != nil {
				ti.Status = new(feed.Status)
				if err := json.Unmarshal(v, ti.Status); err != nil {
					return corruptf("till %s: status: %v", t, err)
				}
			}
			if ti.Key, ti.KeyAt, err = tillKey(t); err != nil {
				return err
			}
			if q.Behind && ti.Behind() == 0 && ti.Waiting == 0 {
				continue
			}
			out = append(out, ti)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltarchive: tills: %w", err)
	}
	return out, nil
}

// Blocked counts blocked and held lines of blocked attempts per pharmacy
// and rule whose record time is in [from, to): the whole UTC days of the
// range from the day counts, its ends from the per-time counts.
func (a *Archive) Blocked(ctx context.Context, from, to time.Time) ([]archive.RuleCount, error) {
	type pr struct{ pharmacy, rule string }
	n := map[pr]int{}
	add := func(rest, v []byte) error {
		p, rule, ok := cutKeyStr(rest)
		c, w := binary.Uvarint(v)
		if !ok || w <= 0 {
			return corruptf("blocked count %x", rest)
		}
		n[pr{p, string(rule)}] += int(c)
		return nil
	}
	// times reads the per-time counts in [lo, hi).
	times := func(c *boltdb.Cursor, lo, hi time.Time) error {
		end := append([]byte{'n'}, timeKey(hi)...)
		for k, v := c.Seek(append([]byte{'n'}, timeKey(lo)...)); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			if len(k) < 9 {
				return corruptf("blocked count %x", k)
			}
			if err := add(k[9:], v); err != nil {
				return err
			}
		}
		return nil
	}
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		clear(n)
		if !from.Before(to) {
			return nil
		}
		c := tx.Bucket(bXBlocked).Cursor()
		first := midnight(from)
		if first.Before(from) {
			first = first.AddDate(0, 0, 1)
		}
		last := midnight(to)
		if !first.Before(last) {
			return times(c, from, to)
		}
		if err := times(c, from, first); err != nil {
			return err
		}
		end := binary.BigEndian.AppendUint32([]byte{'d'}, archive.Day(last))
		for k, v := c.Seek(binary.BigEndian.AppendUint32([]byte{'d'}, archive.Day(first))); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
			if len(k) < 5 {
				return corruptf("blocked count %x", k)
			}
			if err := add(k[5:], v); err != nil {
				return err
			}
		}
		return times(c, last, to)
	})
	if err != nil {
		return nil, fmt.Errorf("boltarchive: blocked: %w", err)
	}
	out := make([]archive.RuleCount, 0, len(n))
	for k, c := range n {
		out = append(out, archive.RuleCount{Pharmacy: k.pharmacy, Rule: k.rule, Count: c})
	}
	slices.SortFunc(out, func(a, b archive.RuleCount) int {
		if c := strings.Compare(a.Pharmacy, b.Pharmacy); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out, nil
}

// midnight is the start of t's UTC day.
func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Search finds stored lines by card number or traceability code, newest
// record first, its lines in order; cards are masked.
func (a *Archive) Search(ctx context.Context, q archive.SearchQuery) ([]archive.LineHit, error) {
	if (q.Card == "") == (q.Trace == "") {
		return nil, fmt.Errorf("boltarchive: search: want exactly one of card and trace: %w", archive.ErrInvalid)
	}
	prefix := appendStr([]byte{'c'}, q.Card)
	if q.Trace != "" {
		prefix = appendStr([]byte{'t'}, q.Trace)
	}
	limit := archive.Limit(q.Limit)
	var out []archive.LineHit
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		out = out[:0]
		if len(q.Card)+len(q.Trace) > maxIndexed {
			return nil // never indexed
		}
		tills := tx.Bucket(bTills)
		c := tx.Bucket(bXSearch).Cursor()
		for k, v := lastWithPrefix(c, prefix); k != nil && hasPrefix(k, prefix) && len(out) < limit; k, v = c.Prev() {
			rest := k[len(prefix):]
			ref, ok := decodeRef(rest[min(8, len(rest)):])
			if len(rest) < 8 || !ok {
				return corruptf("search entry %x", k)
			}
			at := fromTimeKey(rest[:8])
			hits, err := lineHits(tills, ref, at, v, q.Card != "")
			if err != nil {
				return err
			}
			out = append(out, hits[:min(len(hits), limit-len(out))]...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltarchive: search: %w", err)
	}
	return out, nil
}

// lineHits reads record ref and makes its hits: every line for a card, the
// lines listed in v for a trace code.
func lineHits(tills *boltdb.Bucket, ref archive.RecordRef, at time.Time, v []byte, allLines bool) ([]archive.LineHit, error) {
	t, err := loadTill(tills, tillName(ref.Pharmacy, ref.Till))
	if err != nil {
		return nil, err
	}
	var rec []byte
	ok := false
	if t != nil {
		rec, _, ok = decodeStored(t.recs.Get(boltdb.U64(ref.Seq)))
	}
	var r feed.Record
	if !ok || json.Unmarshal(rec, &r) != nil {
		return nil, corruptf("search names %s/%s seq %d, not stored or bad", ref.Pharmacy, ref.Till, ref.Seq)
	}
	var lines []int
	if allLines {
		for i := range r.Lines {
			lines = append(lines, i)
		}
	}
	for len(v) > 0 {
		n, w := binary.Uvarint(v)
		if w <= 0 {
			return nil, corruptf("search lines of %s/%s seq %d", ref.Pharmacy, ref.Till, ref.Seq)
		}
		lines, v = append(lines, int(n)), v[w:]
	}
	ref.ID = r.ID
	var out []archive.LineHit
	for _, i := range lines {
		if i >= len(r.Lines) {
			return nil, corruptf("search names line %d of %s/%s seq %d", i, ref.Pharmacy, ref.Till, ref.Seq)
		}
		l := r.Lines[i]
		h := archive.LineHit{RecordRef: ref, Kind: r.Kind, At: at, Line: i, Barcode: l.Barcode, Name: l.Name, Qty: l.Qty,
			Decision: l.Decision, Rule: l.Rule}
		if r.Card != nil {
			h.Card = feed.MaskCardNo(r.Card.No)
		}
		out = append(out, h)
	}
	return out, nil
}
