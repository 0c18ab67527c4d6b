package pgarchive

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// The cross-till index (archive/cross.go) in two tables: trace_holders
// and card_days. A Put reads what its stored records need of them, applies
// the rules in Go over the batch in order (each record sees the index as
// the records before it left it), and writes back what changed; all under
// the cross-till lock, so no other Put changes them in between.

type cardKey struct{ card, generic string }

type dayTill struct {
	day            uint32
	pharmacy, till string
}

type dayEntry struct {
	days int64
	last archive.RecordRef
}

type cardDayKey struct {
	cardKey
	dayTill
}

// crossIndex is what a Put knows of the index: what it read, changed by
// the batch so far.
type crossIndex struct {
	holders      map[string]*archive.RecordRef // code → holding sale; nil: none
	holderAt     map[string]pgtype.Timestamptz
	dirtyHolders map[string]bool

	days      map[cardKey]map[dayTill]*dayEntry // the card days read, from fromDay on
	fromDay   map[cardKey]uint32
	dirtyDays map[cardDayKey]bool
	// lessDays are returns' shrinks of days this Put did not read: applied
	// in SQL, where they are the only change to those rows.
	lessDays map[cardDayKey]int64

	dbSales    map[string][]saleRow // sale id → stored sales with it
	batchSales map[string]*stored   // sale id → the last sale stored by this Put
	storedKeys map[tillKey]map[uint64]bool
}

type saleRow struct {
	ref archive.RecordRef
	rec []byte
}

// crossNeeds lists what the stored records need of the index: codes,
// card keys with the first day each needs, and the sale ids returns
// refer to.
func (p *putTx) crossNeeds() (codes []string, cards map[cardKey]uint32, refs []string) {
	cards = map[cardKey]uint32{}
	seenCode, seenRef := map[string]bool{}, map[string]bool{}
	for _, st := range p.stored {
		switch st.r.Kind {
		case feed.KindSale:
			for _, cl := range archive.CardLines(st.r) {
				k := cardKey{cl.Card, cl.Generic}
				from := archive.WindowStart(cl.Day)
				if f, ok := cards[k]; !ok || from < f {
					cards[k] = from
				}
			}
		case feed.KindReturn:
			if ref := st.r.Ref; ref != "" && !seenRef[ref] {
				seenRef[ref] = true
				refs = append(refs, ref)
			}
		default:
			continue
		}
		for _, tl := range archive.Traces(st.r) {
			if !seenCode[tl.Code] {
				seenCode[tl.Code] = true
				codes = append(codes, tl.Code)
			}
		}
	}
	return codes, cards, refs
}

// crossAndAlarms applies the cross-till rules to the stored records and
// stores the batch's alarms, under the cross-till lock. It returns the
// alarms that are new.
func (p *putTx) crossAndAlarms(ctx context.Context, tx pgx.Tx) ([]archive.Alarm, error) {
	codes, cards, refs := p.crossNeeds()
	if len(codes) == 0 && len(cards) == 0 && len(refs) == 0 && len(p.alarms) == 0 {
		return nil, nil
	}
	x := &crossIndex{
		holders: map[string]*archive.RecordRef{}, holderAt: map[string]pgtype.Timestamptz{}, dirtyHolders: map[string]bool{},
		days: map[cardKey]map[dayTill]*dayEntry{}, fromDay: cards, dirtyDays: map[cardDayKey]bool{}, lessDays: map[cardDayKey]int64{},
		dbSales: map[string][]saleRow{}, batchSales: map[string]*stored{}, storedKeys: map[tillKey]map[uint64]bool{},
	}
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", lockCross)
	if len(codes) > 0 {
		b.Queue("SELECT code, pharmacy, till, seq, id FROM trace_holders WHERE code = ANY($1::text[])", codes).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var code string
				var ref archive.RecordRef
				var seq int64
				if err := rows.Scan(&code, &ref.Pharmacy, &ref.Till, &seq, &ref.ID); err != nil {
					return err
				}
				ref.Seq = uint64(seq)
				x.holders[code] = &ref
			}
			return rows.Err()
		})
	}
	if len(cards) > 0 {
		var cs, gs []string
		var froms []int64
		for k, from := range cards {
			cs, gs, froms = append(cs, k.card), append(gs, k.generic), append(froms, int64(from))
			x.days[k] = map[dayTill]*dayEntry{}
		}
		// OFFSET 0 keeps the subquery a per-key index range scan.
		b.Queue(`SELECT c.card, c.generic, c.day, c.pharmacy, c.till, c.days, c.last_seq, c.last_id
			FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(card, generic, from_day)
			CROSS JOIN LATERAL (SELECT * FROM card_days c WHERE c.card = u.card AND c.generic = u.generic AND c.day >= u.from_day OFFSET 0) c`,
			cs, gs, froms).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var k cardKey
				var dt dayTill
				var day, days, lastSeq int64
				var lastID string
				if err := rows.Scan(&k.card, &k.generic, &day, &dt.pharmacy, &dt.till, &days, &lastSeq, &lastID); err != nil {
					return err
				}
				dt.day = uint32(day)
				x.days[k][dt] = &dayEntry{days: days, last: archive.RecordRef{Pharmacy: dt.pharmacy, Till: dt.till, Seq: uint64(lastSeq), ID: lastID}}
			}
			return rows.Err()
		})
	}
	if len(refs) > 0 {
		b.Queue("SELECT pharmacy, till, seq, id, rec FROM records WHERE kind = 'sale' AND id = ANY($1::text[])", refs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var s saleRow
				var seq int64
				if err := rows.Scan(&s.ref.Pharmacy, &s.ref.Till, &seq, &s.ref.ID, &s.rec); err != nil {
					return err
				}
				s.ref.Seq = uint64(seq)
				x.dbSales[s.ref.ID] = append(x.dbSales[s.ref.ID], s)
			}
			return rows.Err()
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	for _, st := range p.stored {
		m := x.storedKeys[st.key]
		if m == nil {
			m = map[uint64]bool{}
			x.storedKeys[st.key] = m
		}
		m[st.seq] = true
	}
	for _, st := range p.stored {
		switch st.r.Kind {
		case feed.KindSale:
			x.sale(p, st)
		case feed.KindReturn:
			if err := x.ret(st); err != nil {
				return nil, err
			}
		}
	}
	b = &pgx.Batch{}
	x.queueWrites(b)
	var fresh []archive.Alarm
	if len(p.alarms) > 0 {
		queueAlarms(b, p.alarms, &fresh)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
	}
	return fresh, nil
}

// sale applies a stored sale: trace codes sold again elsewhere, and days
// supplied to a card across tills.
func (x *crossIndex) sale(p *putTx, st *stored) {
	ref := st.ref()
	traces := archive.Traces(st.r)
	cls := archive.CardLines(st.r)
	// Every line's earlier purchases first: the record's own lines are not
	// among them.
	earlier := make([][]archive.DayPurchase, len(cls))
	for i, cl := range cls {
		earlier[i] = x.purchases(cardKey{cl.Card, cl.Generic}, archive.WindowStart(cl.Day))
	}
	ti, ci := 0, 0
	for line := range st.r.Lines {
		for ; ti < len(traces) && traces[ti].Line == line; ti++ {
			tl := traces[ti]
			if h := x.holders[tl.Code]; h != nil {
				if a := archive.TraceDup(p.now, ref, tl, *h); a != nil {
					p.alarm(*a)
				}
			}
			r := ref
			x.holders[tl.Code] = &r
			x.holderAt[tl.Code] = st.at
			x.dirtyHolders[tl.Code] = true
		}
		for ; ci < len(cls) && cls[ci].Line == line; ci++ {
			if a := archive.DaysSupply(p.now, ref, cls[ci], earlier[ci], p.s.opts.DaysLimit); a != nil {
				p.alarm(*a)
			}
		}
	}
	for _, cl := range cls {
		k := cardKey{cl.Card, cl.Generic}
		dt := dayTill{cl.Day, st.key.pharmacy, st.key.till}
		e := x.days[k][dt]
		if e == nil {
			e = &dayEntry{}
			x.days[k][dt] = e
		}
		e.days += int64(cl.Days)
		e.last = ref
		x.dirtyDays[cardDayKey{k, dt}] = true
	}
	if st.r.ID != "" {
		x.batchSales[st.r.ID] = st
	}
}

// purchases lists a card's purchases of a drug from day from on, in day
// and till order.
func (x *crossIndex) purchases(k cardKey, from uint32) []archive.DayPurchase {
	var out []archive.DayPurchase
	for dt, e := range x.days[k] {
		if dt.day >= from && e.days > 0 {
			out = append(out, archive.DayPurchase{Pharmacy: dt.pharmacy, Till: dt.till, Day: dt.day, Days: int(e.days), Last: e.last})
		}
	}
	slices.SortFunc(out, func(a, b archive.DayPurchase) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.Pharmacy+"/"+a.Till, b.Pharmacy+"/"+b.Till))
	})
	return out
}

// ret applies a stored return: it frees the codes its till holds, and
// shrinks the days its sale supplied.
func (x *crossIndex) ret(st *stored) error {
	for _, tl := range archive.Traces(st.r) {
		if h := x.holders[tl.Code]; h != nil && h.Pharmacy == st.key.pharmacy && h.Till == st.key.till {
			x.holders[tl.Code] = nil
			x.dirtyHolders[tl.Code] = true
		}
	}
	sale, err := x.findSale(st)
	if err != nil || sale == nil {
		return err
	}
	for _, cl := range archive.Returned(sale, st.r) {
		k := cardKey{cl.Card, cl.Generic}
		dt := dayTill{cl.Day, st.key.pharmacy, st.key.till}
		if from, read := x.fromDay[k]; read && cl.Day >= from {
			if e := x.days[k][dt]; e != nil {
				if e.days -= int64(cl.Days); e.days <= 0 {
					delete(x.days[k], dt)
				}
				x.dirtyDays[cardDayKey{k, dt}] = true
			}
			continue
		}
		x.lessDays[cardDayKey{k, dt}] += int64(cl.Days)
	}
	return nil
}

// findSale returns the sale a return refers to, if it is at the return's
// till: the last one this Put stored with that id, or else the stored one
// with the highest seq.
func (x *crossIndex) findSale(ret *stored) (*feed.Record, error) {
	id := ret.r.Ref
	if id == "" {
		return nil, nil
	}
	if s := x.batchSales[id]; s != nil {
		if s.key != ret.key {
			return nil, nil
		}
		return s.r, nil
	}
	var best *saleRow
	for i, s := range x.dbSales[id] {
		k := tillKey{s.ref.Pharmacy, s.ref.Till}
		if k != ret.key || x.storedKeys[k][s.ref.Seq] { // one of this Put's, not stored before the return
			continue
		}
		if best == nil || s.ref.Seq > best.ref.Seq {
			best = &x.dbSales[id][i]
		}
	}
	if best == nil {
		return nil, nil
	}
	r := new(feed.Record)
	if err := json.Unmarshal(best.rec, r); err != nil {
		return nil, fmt.Errorf("sale %s seq %d does not decode: %w", ret.key, best.ref.Seq, err)
	}
	return r, nil
}

// queueWrites queues what the batch changed in the index.
func (x *crossIndex) queueWrites(b *pgx.Batch) {
	var setCodes, setP, setT, setID, delCodes []string
	var setSeq []int64
	var setAt []pgtype.Timestamptz
	for code := range x.dirtyHolders {
		h := x.holders[code]
		if h == nil {
			delCodes = append(delCodes, code)
			continue
		}
		setCodes, setP, setT, setSeq, setID = append(setCodes, code), append(setP, h.Pharmacy), append(setT, h.Till), append(setSeq, int64(h.Seq)), append(setID, h.ID)
		setAt = append(setAt, x.holderAt[code])
	}
	// Sorted, so that the rows are written in one order whatever the maps'.
	sortBy(setCodes, setP, setT, setSeq, setID, setAt)
	slices.Sort(delCodes)
	if len(setCodes) > 0 {
		b.Queue(`INSERT INTO trace_holders (code, pharmacy, till, seq, id, at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[])
			ON CONFLICT (code) DO UPDATE SET pharmacy = excluded.pharmacy, till = excluded.till, seq = excluded.seq, id = excluded.id, at = excluded.at`,
			setCodes, setP, setT, setSeq, setID, setAt)
	}
	if len(delCodes) > 0 {
		b.Queue("DELETE FROM trace_holders WHERE code = ANY($1::text[])", delCodes)
	}
	var up, del []cardDayKey
	for k := range x.dirtyDays {
		if e := x.days[k.cardKey][k.dayTill]; e != nil && e.days > 0 {
			up = append(up, k)
		} else {
			del = append(del, k)
		}
	}
	if len(up) > 0 {
		slices.SortFunc(up, compareCardDay)
		cs, gs, ds, ps, ts, days, seqs, ids := cardDayCols(up)
		for i, k := range up {
			e := x.days[k.cardKey][k.dayTill]
			days[i], seqs[i], ids[i] = e.days, int64(e.last.Seq), e.last.ID
		}
		b.Queue(`INSERT INTO card_days (card, generic, day, pharmacy, till, days, last_seq, last_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[])
			ON CONFLICT (card, generic, day, pharmacy, till) DO UPDATE SET days = excluded.days, last_seq = excluded.last_seq, last_id = excluded.last_id`,
			cs, gs, ds, ps, ts, days, seqs, ids)
	}
	if len(del) > 0 {
		slices.SortFunc(del, compareCardDay)
		cs, gs, ds, ps, ts, _, _, _ := cardDayCols(del)
		b.Queue(`DELETE FROM card_days c USING unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(card, generic, day, p, t)
			WHERE c.card = u.card AND c.generic = u.generic AND c.day = u.day AND c.pharmacy = u.p AND c.till = u.t`, cs, gs, ds, ps, ts)
	}
	if len(x.lessDays) > 0 {
		less := make([]cardDayKey, 0, len(x.lessDays))
		for k := range x.lessDays {
			less = append(less, k)
		}
		slices.SortFunc(less, compareCardDay)
		cs, gs, ds, ps, ts, days, _, _ := cardDayCols(less)
		for i, k := range less {
			days[i] = x.lessDays[k]
		}
		b.Queue(`UPDATE card_days c SET days = c.days - u.less
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[]) AS u(card, generic, day, p, t, less)
			WHERE c.card = u.card AND c.generic = u.generic AND c.day = u.day AND c.pharmacy = u.p AND c.till = u.t`, cs, gs, ds, ps, ts, days)
		b.Queue(`DELETE FROM card_days c USING unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(card, generic, day, p, t)
			WHERE c.card = u.card AND c.generic = u.generic AND c.day = u.day AND c.pharmacy = u.p AND c.till = u.t AND c.days <= 0`, cs, gs, ds, ps, ts)
	}
}

func compareCardDay(a, b cardDayKey) int {
	return cmp.Or(cmp.Compare(a.card, b.card), cmp.Compare(a.generic, b.generic), cmp.Compare(a.day, b.day),
		cmp.Compare(a.pharmacy, b.pharmacy), cmp.Compare(a.till, b.till))
}

func cardDayCols(ks []cardDayKey) (cs, gs []string, ds []int64, ps, ts []string, days, seqs []int64, ids []string) {
	n := len(ks)
	cs, gs, ds, ps, ts = make([]string, n), make([]string, n), make([]int64, n), make([]string, n), make([]string, n)
	days, seqs, ids = make([]int64, n), make([]int64, n), make([]string, n)
	for i, k := range ks {
		cs[i], gs[i], ds[i], ps[i], ts[i] = k.card, k.generic, int64(k.day), k.pharmacy, k.till
	}
	return
}

// sortBy sorts the holder columns by code.
func sortBy(codes, ps, ts []string, seqs []int64, ids []string, ats []pgtype.Timestamptz) {
	idx := make([]int, len(codes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(codes[a], codes[b]) })
	c2, p2, t2, s2, i2, a2 := slices.Clone(codes), slices.Clone(ps), slices.Clone(ts), slices.Clone(seqs), slices.Clone(ids), slices.Clone(ats)
	for to, from := range idx {
		codes[to], ps[to], ts[to], seqs[to], ids[to], ats[to] = c2[from], p2[from], t2[from], s2[from], i2[from], a2[from]
	}
}
