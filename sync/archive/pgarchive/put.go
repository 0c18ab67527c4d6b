package pgarchive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// How a Put runs, in one transaction:
//
//  1. lock the batch's till rows, in (pharmacy, till) order so that
//     receivers locking overlapping sets never deadlock; the rows hold
//     each till's watermark, so from here on this Put alone decides for
//     those tills;
//  2. read what the decisions need: the stored hashes of records at or
//     below a watermark, the waiting records at the batch's seqs, and the
//     whole waiting queue of a till whose hole the batch fills;
//  3. decide every record (stored, duplicate, conflict, bad chain,
//     waiting, dropped) and which waiting records follow the new ones;
//  4. copy the stored records and their lines in, update the waiting
//     queue and the tills;
//  5. under the cross-till lock (one for the database, taken after the
//     till rows and held to the commit), read and update the cross-till
//     index and store the alarms.
//
// Step 5 is serialized across receivers because its rules span tills, and
// because it keeps alarm ids in commit order; it is a few set-based
// statements, so the receivers' copying (step 4) still overlaps.

type tillKey struct{ pharmacy, till string }

func (k tillKey) String() string { return k.pharmacy + "/" + k.till }

func compareKeys(a, b tillKey) int {
	return cmp.Or(cmp.Compare(a.pharmacy, b.pharmacy), cmp.Compare(a.till, b.till))
}

// item is one incoming record.
type item struct {
	idx  int
	in   *archive.Incoming
	key  tillKey
	hash []byte // SHA-256 of in.Rec
	at   pgtype.Timestamptz

	out     archive.Outcome
	decided bool
}

func (it *item) ref() archive.RecordRef {
	return archive.RecordRef{Pharmacy: it.key.pharmacy, Till: it.key.till, Seq: it.in.Seq, ID: it.in.Parsed.ID}
}

// waitRow is a record in the waiting table.
type waitRow struct {
	seq      uint64
	hash     []byte
	prev, id string
	rec, sig []byte // only when the whole row was read
}

// stored is a record this Put stores.
type stored struct {
	key      tillKey
	seq      uint64
	hash     []byte
	rec, sig []byte
	at       pgtype.Timestamptz
	r        *feed.Record
	// pos orders the cross-till rules over the batch: the position of the
	// incoming record that brought it, so they see the batch in its order
	// and each till's records in seq order.
	pos int
}

func (st *stored) ref() archive.RecordRef {
	return archive.RecordRef{Pharmacy: st.key.pharmacy, Till: st.key.till, Seq: st.seq, ID: st.r.ID}
}

// tillPut is one till's part of a Put.
type tillPut struct {
	key     tillKey
	wm      uint64
	wmHash  []byte
	waiting int // rows in waiting, as this Put leaves them
	// annSeq and annHash are the head the till announced (0: none): a
	// record stored at annSeq with another hash contradicts it.
	annSeq  uint64
	annHash []byte
	added   int64
	items   []*item

	waitingFrom uint64 // the lowest waiting seq once written, 0 if none

	fill bool                // the batch holds the record after the watermark: read the queue whole
	wait map[uint64]*waitRow // waiting rows known to this Put
}

// putTx is the state of one attempt at a Put's transaction.
type putTx struct {
	s      *Store
	now    time.Time
	items  []*item
	tills  []*tillPut
	byKey  map[tillKey]*tillPut
	stored []*stored
	// waiting rows to insert and to delete
	addWait []*item
	delWait []delWait

	promoted int
	alarms   []archive.Alarm
}

type delWait struct {
	key tillKey
	seq uint64
}

// Put stores a batch; see archive.Store.
func (s *Store) Put(ctx context.Context, in []archive.Incoming) (archive.Result, error) {
	if err := s.checkOpen("put"); err != nil {
		return archive.Result{}, err
	}
	if err := archive.Validate(in); err != nil {
		return archive.Result{}, fmt.Errorf("pgarchive: put: %w", err)
	}
	if len(in) == 0 {
		return archive.Result{}, nil
	}
	items := make([]*item, len(in))
	var keys []tillKey
	seen := map[tillKey]bool{}
	for i := range in {
		it := &item{idx: i, in: &in[i], key: tillKey{in[i].Pharmacy, in[i].Till}}
		h := sha256.Sum256(in[i].Rec)
		it.hash = h[:]
		if t, err := time.Parse(time.RFC3339, in[i].Parsed.At); err == nil {
			it.at = pgtype.Timestamptz{Time: t, Valid: true}
		}
		items[i] = it
		if !seen[it.key] {
			seen[it.key] = true
			keys = append(keys, it.key)
		}
	}
	slices.SortFunc(keys, compareKeys)
	if err := s.ensureTills(ctx, keys); err != nil {
		return archive.Result{}, s.fail("put", err)
	}
	var res archive.Result
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, it := range items { // a retry decides afresh
			it.decided, it.out = false, 0
		}
		p := &putTx{s: s, now: s.opts.Now(), items: items, byKey: map[tillKey]*tillPut{}}
		var err error
		res, err = p.run(ctx, tx, keys)
		return err
	})
	if err != nil {
		return archive.Result{}, s.fail(fmt.Sprintf("put %d records", len(in)), err)
	}
	return res, nil
}

// ensureTills inserts the rows of tills this process has not seen, in a
// transaction of its own and in key order: the Put's transaction then
// only locks rows that exist, in one order, which cannot deadlock.
func (s *Store) ensureTills(ctx context.Context, keys []tillKey) error {
	var ps, ts []string
	for _, k := range keys {
		if _, ok := s.known.Load(k.String()); !ok {
			ps, ts = append(ps, k.pharmacy), append(ts, k.till)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	err := s.reconnecting(func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO tills (pharmacy, till)
			SELECT p, t FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(p, t, i) ORDER BY i
			ON CONFLICT DO NOTHING`, ps, ts)
		return err
	})
	if err != nil {
		return err
	}
	for i := range ps {
		s.known.Store(tillKey{ps[i], ts[i]}.String(), true)
	}
	return nil
}

func (p *putTx) run(ctx context.Context, tx pgx.Tx, keys []tillKey) (archive.Result, error) {
	if err := p.lock(ctx, tx, keys); err != nil {
		return archive.Result{}, err
	}
	if err := p.lookup(ctx, tx); err != nil {
		return archive.Result{}, err
	}
	for _, tp := range p.tills {
		p.decide(tp)
	}
	if err := p.parsePromoted(); err != nil {
		return archive.Result{}, err
	}
	if err := p.write(ctx, tx); err != nil {
		return archive.Result{}, err
	}
	newAlarms, err := p.crossAndAlarms(ctx, tx)
	if err != nil {
		return archive.Result{}, err
	}
	res := archive.Result{Outcomes: make([]archive.Outcome, len(p.items)), Promoted: p.promoted, Alarms: newAlarms}
	for i, it := range p.items {
		res.Outcomes[i] = it.out
	}
	for _, tp := range p.tills {
		res.Acks = append(res.Acks, archive.Watermark{Pharmacy: tp.key.pharmacy, Till: tp.key.till, Seq: tp.wm, Hash: hexHash(tp.wmHash), WaitingFrom: tp.waitingFrom})
	}
	return res, nil
}

func hexHash(h []byte) string { return hex.EncodeToString(h) }

// lock locks the batch's till rows in key order and reads their state.
func (p *putTx) lock(ctx context.Context, tx pgx.Tx, keys []tillKey) error {
	ps, ts := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ps[i], ts[i] = k.pharmacy, k.till
	}
	rows, err := tx.Query(ctx, `SELECT pharmacy, till, wm_seq, wm_hash, waiting, coalesce(announced_seq, 0), coalesce(announced_hash, '') FROM tills
		WHERE (pharmacy, till) IN (SELECT * FROM unnest($1::text[], $2::text[]))
		ORDER BY pharmacy, till FOR NO KEY UPDATE`, ps, ts)
	if err != nil {
		return err
	}
	for rows.Next() {
		tp := &tillPut{wait: map[uint64]*waitRow{}}
		var wm, ann int64
		var waiting int32
		if err := rows.Scan(&tp.key.pharmacy, &tp.key.till, &wm, &tp.wmHash, &waiting, &ann, &tp.annHash); err != nil {
			rows.Close()
			return err
		}
		tp.wm, tp.waiting, tp.annSeq = uint64(wm), int(waiting), uint64(ann)
		p.tills = append(p.tills, tp)
		p.byKey[tp.key] = tp
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(p.tills) != len(keys) {
		// Rows this process believed inserted are gone: the database was
		// replaced under it. Forget them, so the next Put inserts them.
		for _, k := range keys {
			p.s.known.Delete(k.String())
		}
		return fmt.Errorf("%d of %d till rows missing", len(keys)-len(p.tills), len(keys))
	}
	for _, it := range p.items {
		tp := p.byKey[it.key]
		tp.items = append(tp.items, it)
		if it.in.Seq == tp.wm+1 && tp.waiting > 0 {
			tp.fill = true
		}
	}
	return nil
}

// lookup reads, in one round trip, the stored hashes the batch's
// resends are compared with and the waiting rows its decisions need.
func (p *putTx) lookup(ctx context.Context, tx pgx.Tx) error {
	var dupP, dupT []string
	var dupS []int64
	var dupItems []*item
	var waitP, waitT []string
	var waitS []int64
	var fillP, fillT []string
	for _, tp := range p.tills {
		if tp.fill {
			fillP, fillT = append(fillP, tp.key.pharmacy), append(fillT, tp.key.till)
		}
		for _, it := range tp.items {
			switch {
			case it.in.Seq <= tp.wm:
				dupP, dupT, dupS = append(dupP, tp.key.pharmacy), append(dupT, tp.key.till), append(dupS, int64(it.in.Seq))
				dupItems = append(dupItems, it)
			case it.in.Seq > tp.wm+1 && tp.waiting > 0 && !tp.fill && it.in.Seq <= math.MaxInt64:
				waitP, waitT, waitS = append(waitP, tp.key.pharmacy), append(waitT, tp.key.till), append(waitS, int64(it.in.Seq))
			}
		}
	}
	b := &pgx.Batch{}
	// storedHash[i] is the stored hash and id for dupItems[i]; missing
	// when a retention drop removed the record.
	type hashID struct {
		hash []byte
		id   string
	}
	storedHash := map[int]hashID{}
	if len(dupItems) > 0 {
		b.Queue(`SELECT u.i, r.hash, r.id FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(p, t, seq, i)
			CROSS JOIN LATERAL (SELECT hash, id FROM records r WHERE r.pharmacy = u.p AND r.till = u.t AND r.seq = u.seq LIMIT 1) r`,
			dupP, dupT, dupS).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var i int64
				var h hashID
				if err := rows.Scan(&i, &h.hash, &h.id); err != nil {
					return err
				}
				storedHash[int(i-1)] = h
			}
			return rows.Err()
		})
	}
	if len(waitP) > 0 {
		b.Queue(`SELECT w.pharmacy, w.till, w.seq, w.hash, w.prev, w.id FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(p, t, seq)
			CROSS JOIN LATERAL (SELECT * FROM waiting w WHERE w.pharmacy = u.p AND w.till = u.t AND w.seq = u.seq) w`,
			waitP, waitT, waitS).Query(func(rows pgx.Rows) error {
			return p.scanWaiting(rows, false)
		})
	}
	if len(fillP) > 0 {
		b.Queue(`SELECT pharmacy, till, seq, hash, prev, id, rec, sig FROM waiting
			WHERE (pharmacy, till) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
			fillP, fillT).Query(func(rows pgx.Rows) error {
			return p.scanWaiting(rows, true)
		})
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for i, it := range dupItems {
		h, ok := storedHash[i]
		it.decided = true
		switch {
		case !ok: // removed by DropBefore: nothing left to compare with
			it.out = archive.Duplicate
		case bytes.Equal(h.hash, it.hash):
			it.out = archive.Duplicate
		default:
			it.out = archive.Conflict
			p.alarm(conflictAlarm(p.now, it, h.id, h.hash))
		}
	}
	return nil
}

func (p *putTx) scanWaiting(rows pgx.Rows, whole bool) error {
	for rows.Next() {
		var k tillKey
		var seq int64
		w := &waitRow{}
		dst := []any{&k.pharmacy, &k.till, &seq, &w.hash, &w.prev, &w.id}
		if whole {
			dst = append(dst, &w.rec, &w.sig)
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		w.seq = uint64(seq)
		p.byKey[k].wait[w.seq] = w
	}
	return rows.Err()
}

// cand is a candidate for a seq: a waiting row or an incoming record.
type cand struct {
	it *item
	w  *waitRow
	// absorbs is a waiting row with the same bytes as it: storing it
	// stores both.
	absorbs *waitRow
}

func (c cand) hash() []byte {
	if c.it != nil {
		return c.it.hash
	}
	return c.w.hash
}

func (c cand) prev() string {
	if c.it != nil {
		return c.it.in.Parsed.Prev
	}
	return c.w.prev
}

// decide decides every incoming record of tp not decided yet, advances
// its watermark through the batch and the waiting queue, and chooses
// what waits.
func (p *putTx) decide(tp *tillPut) {
	cands := map[uint64][]cand{}
	if tp.fill {
		for seq, w := range tp.wait {
			if seq <= tp.wm { // cannot be: promotion removes them; tidy up all the same
				p.dropWaiting(tp, w)
				continue
			}
			cands[seq] = []cand{{w: w}}
		}
	}
	for _, it := range tp.items {
		if it.decided {
			continue
		}
		seq := it.in.Seq
		list := cands[seq]
		if len(list) > 0 && list[0].it == nil && bytes.Equal(list[0].w.hash, it.hash) {
			// The record waits already and came again: one candidate.
			list[0] = cand{it: it, absorbs: list[0].w}
			continue
		}
		cands[seq] = append(list, cand{it: it})
	}
	lastPos := -1
	for seq := tp.wm + 1; ; seq++ {
		list := cands[seq]
		if len(list) == 0 {
			break
		}
		var win *cand
		var winID string
		for i := range list {
			c := &list[i]
			if win != nil { // an incoming record for a seq just stored
				c.it.decided = true
				if bytes.Equal(c.it.hash, win.hash()) {
					c.it.out = archive.Duplicate
				} else {
					c.it.out = archive.Conflict
					p.alarm(conflictAlarm(p.now, c.it, winID, win.hash()))
				}
				continue
			}
			if want := hexHash(tp.wmHash); c.prev() != want {
				if c.it != nil {
					c.it.decided, c.it.out = true, archive.BadChain
					p.alarm(badChainAlarm(p.now, c.it.ref(), c.it.hash, c.prev(), want))
				} else {
					p.dropWaiting(tp, c.w)
					p.alarm(badChainAlarm(p.now, archive.RecordRef{Pharmacy: tp.key.pharmacy, Till: tp.key.till, Seq: seq, ID: c.w.id}, c.w.hash, c.w.prev, want))
				}
				continue
			}
			win = c
			st := &stored{key: tp.key, seq: seq, hash: c.hash(), pos: lastPos}
			if c.it != nil {
				c.it.decided, c.it.out = true, archive.Stored
				st.rec, st.sig, st.at, st.r = c.it.in.Rec, c.it.in.Sig, c.it.at, c.it.in.Parsed
				st.pos = max(c.it.idx, lastPos)
				winID = c.it.in.Parsed.ID
				if c.absorbs != nil {
					p.dropWaiting(tp, c.absorbs)
				}
			} else {
				st.rec, st.sig = c.w.rec, c.w.sig // parsed by parsePromoted
				winID = c.w.id
				p.dropWaiting(tp, c.w)
				p.promoted++
			}
			if seq == tp.annSeq && !bytes.Equal(st.hash, tp.annHash) {
				// Stored all the same: the chain and the signature hold,
				// and the alarm is the evidence.
				p.alarm(storedContradicts(p.now, archive.RecordRef{Pharmacy: tp.key.pharmacy, Till: tp.key.till, Seq: seq, ID: winID}, st.hash, tp.annHash))
			}
			lastPos = st.pos
			p.stored = append(p.stored, st)
			tp.wm, tp.wmHash = seq, st.hash
			tp.added++
		}
		if win == nil {
			break
		}
	}
	// What is left is past the watermark: it waits, if it can.
	var rest []*item
	for _, it := range tp.items {
		if !it.decided {
			rest = append(rest, it)
		}
	}
	slices.SortStableFunc(rest, func(a, b *item) int { return cmp.Compare(a.in.Seq, b.in.Seq) })
	added := map[uint64]*item{}
	for _, it := range rest {
		it.decided = true
		seq := it.in.Seq
		switch w, nw := tp.wait[seq], added[seq]; {
		case w != nil:
			it.out = outcomeIf(bytes.Equal(w.hash, it.hash), archive.Waiting, archive.Dropped)
		case nw != nil:
			it.out = outcomeIf(bytes.Equal(nw.hash, it.hash), archive.Waiting, archive.Dropped)
		case seq > math.MaxInt64 || tp.waiting >= archive.MaxWaiting:
			// seq beyond a bigint never becomes contiguous: no till
			// gets that far.
			it.out = archive.Dropped
		default:
			it.out = archive.Waiting
			added[seq] = it
			tp.waiting++
			p.addWait = append(p.addWait, it)
		}
	}
}

func outcomeIf(c bool, yes, no archive.Outcome) archive.Outcome {
	if c {
		return yes
	}
	return no
}

func (p *putTx) dropWaiting(tp *tillPut, w *waitRow) {
	delete(tp.wait, w.seq)
	tp.waiting--
	p.delWait = append(p.delWait, delWait{tp.key, w.seq})
}

// parsePromoted decodes the waiting records this Put stores: their lines
// and the cross-till rules need them.
func (p *putTx) parsePromoted() error {
	for _, st := range p.stored {
		if st.r != nil {
			continue
		}
		r := new(feed.Record)
		if err := json.Unmarshal(st.rec, r); err != nil {
			// It was decoded when it came in: its bytes changed in the
			// database since.
			return fmt.Errorf("waiting record %s seq %d does not decode: %w", st.key, st.seq, err)
		}
		st.r = r
		if t, err := time.Parse(time.RFC3339, r.At); err == nil {
			st.at = pgtype.Timestamptz{Time: t, Valid: true}
		}
	}
	slices.SortStableFunc(p.stored, func(a, b *stored) int { return cmp.Compare(a.pos, b.pos) })
	return nil
}

// write copies the stored records and their lines in, and updates the
// waiting queue and the tills.
func (p *putTx) write(ctx context.Context, tx pgx.Tx) error {
	if len(p.stored) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"records"},
			[]string{"pharmacy", "till", "seq", "at", "id", "kind", "card_no", "hash", "rec", "sig", "stored_at"},
			pgx.CopyFromSlice(len(p.stored), func(i int) ([]any, error) {
				st := p.stored[i]
				return []any{st.key.pharmacy, st.key.till, int64(st.seq), st.at, st.r.ID, st.r.Kind, cardNo(st.r), st.hash, st.rec, st.sig, p.now}, nil
			})); err != nil {
			return fmt.Errorf("copy records: %w", err)
		}
		var lines [][]any
		for _, st := range p.stored {
			card := cardNo(st.r)
			for i, l := range st.r.Lines {
				lines = append(lines, []any{
					st.key.pharmacy, st.key.till, int64(st.seq), i, st.at, st.r.Kind, card,
					l.Barcode, nullText(l.MedListCodg), l.Name, l.Qty, nullInt(l.Days), l.PriceFen,
					l.Decision, nullText(l.Rule), nullText(l.Pay), nullCodes(l.DrugTracCodg),
				})
			}
		}
		if len(lines) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"lines"},
				[]string{"pharmacy", "till", "seq", "line", "at", "kind", "card_no", "barcode", "med_list_codg", "name", "qty", "days",
					"price_fen", "decision", "rule", "pay", "drug_trac_codg"},
				pgx.CopyFromRows(lines)); err != nil {
				return fmt.Errorf("copy lines: %w", err)
			}
		}
	}
	b := &pgx.Batch{}
	if n := len(p.addWait); n > 0 {
		ps, ts, seqs := make([]string, n), make([]string, n), make([]int64, n)
		hashes, prevs, ids, recs, sigs := make([][]byte, n), make([]string, n), make([]string, n), make([][]byte, n), make([][]byte, n)
		for i, it := range p.addWait {
			ps[i], ts[i], seqs[i] = it.key.pharmacy, it.key.till, int64(it.in.Seq)
			hashes[i], prevs[i], ids[i], recs[i], sigs[i] = it.hash, it.in.Parsed.Prev, it.in.Parsed.ID, it.in.Rec, it.in.Sig
		}
		b.Queue(`INSERT INTO waiting (pharmacy, till, seq, hash, prev, id, rec, sig, arrived)
			SELECT *, $9::timestamptz FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])`,
			ps, ts, seqs, hashes, prevs, ids, recs, sigs, p.now)
	}
	if n := len(p.delWait); n > 0 {
		ps, ts, seqs := make([]string, n), make([]string, n), make([]int64, n)
		for i, d := range p.delWait {
			ps[i], ts[i], seqs[i] = d.key.pharmacy, d.key.till, int64(d.seq)
		}
		b.Queue(`DELETE FROM waiting w USING unnest($1::text[], $2::text[], $3::bigint[]) AS u(p, t, seq)
			WHERE w.pharmacy = u.p AND w.till = u.t AND w.seq = u.seq`, ps, ts, seqs)
	}
	n := len(p.tills)
	ps, ts, wms, hashes, added, waiting := make([]string, n), make([]string, n), make([]int64, n), make([][]byte, n), make([]int64, n), make([]int32, n)
	for i, tp := range p.tills {
		ps[i], ts[i], wms[i], hashes[i], added[i], waiting[i] = tp.key.pharmacy, tp.key.till, int64(tp.wm), tp.wmHash, tp.added, int32(tp.waiting)
		if hashes[i] == nil {
			hashes[i] = []byte{}
		}
	}
	// announced_awaited changes only when the records reach the announced
	// head, so the update can stay HOT (migrations/0003_announced.sql).
	b.Queue(`UPDATE tills t SET wm_seq = u.wm, wm_hash = u.h, count = t.count + u.added, waiting = u.waiting, last_seen = $7,
			announced_awaited = t.announced_seq > u.wm
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bytea[], $5::bigint[], $6::integer[]) AS u(p, t, wm, h, added, waiting)
		WHERE t.pharmacy = u.p AND t.till = u.t`, ps, ts, wms, hashes, added, waiting, p.now)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return p.readWaitingFrom(ctx, tx)
}

// readWaitingFrom reads, for every till left with records waiting, the
// lowest of them: the ack tells the till where its hole ends.
func (p *putTx) readWaitingFrom(ctx context.Context, tx pgx.Tx) error {
	var ps, ts []string
	for _, tp := range p.tills {
		tp.waitingFrom = 0
		if tp.waiting > 0 {
			ps, ts = append(ps, tp.key.pharmacy), append(ts, tp.key.till)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT w.pharmacy, w.till, min(w.seq) FROM waiting w
		JOIN unnest($1::text[], $2::text[]) AS u(p, t) ON w.pharmacy = u.p AND w.till = u.t
		GROUP BY w.pharmacy, w.till`, ps, ts)
	if err != nil {
		return fmt.Errorf("read waiting: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k tillKey
		var seq int64
		if err := rows.Scan(&k.pharmacy, &k.till, &seq); err != nil {
			return fmt.Errorf("read waiting: %w", err)
		}
		if tp := p.byKey[k]; tp != nil {
			tp.waitingFrom = uint64(seq)
		}
	}
	return rows.Err()
}

func cardNo(r *feed.Record) pgtype.Text {
	if r.Card == nil || r.Card.No == "" {
		return pgtype.Text{}
	}
	return pgtype.Text{String: r.Card.No, Valid: true}
}

func nullText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func nullInt(n int) pgtype.Int4 { return pgtype.Int4{Int32: int32(n), Valid: n != 0} }

func nullCodes(c []string) any {
	if len(c) == 0 {
		return nil
	}
	return c
}

// alarm notes an alarm this Put raises; repeats within the batch fold
// into one with their count.
func (p *putTx) alarm(a archive.Alarm) {
	for i := range p.alarms {
		if sameAlarm(p.alarms[i], a) {
			p.alarms[i].Count++
			return
		}
	}
	a.Count = 1
	a.LastAt = a.At
	p.alarms = append(p.alarms, a)
}

func sameAlarm(a, b archive.Alarm) bool {
	return a.Kind == b.Kind && a.Pharmacy == b.Pharmacy && a.Till == b.Till && a.Seq == b.Seq && a.Key == b.Key
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

func conflictAlarm(now time.Time, it *item, storedID string, storedHash []byte) archive.Alarm {
	h := hexHash(it.hash)
	return archive.Alarm{
		At: now, Pharmacy: it.key.pharmacy, Till: it.key.till, Seq: it.in.Seq, Kind: archive.AlarmConflict, Key: h,
		Detail:  fmt.Sprintf("seq %d came with other bytes (%s) than the record stored (%s)", it.in.Seq, short(h), short(hexHash(storedHash))),
		Records: []archive.RecordRef{it.ref(), {Pharmacy: it.key.pharmacy, Till: it.key.till, Seq: it.in.Seq, ID: storedID}},
	}
}

func badChainAlarm(now time.Time, ref archive.RecordRef, hash []byte, prev, want string) archive.Alarm {
	h := hexHash(hash)
	a := archive.Alarm{At: now, Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq, Kind: archive.AlarmBadChain, Key: h, Records: []archive.RecordRef{ref}}
	if ref.Seq == 1 {
		a.Detail = fmt.Sprintf("seq 1 has prev %s: the first record has none", short(prev))
	} else {
		a.Detail = fmt.Sprintf("seq %d has prev %q, not the hash of seq %d as stored (%s)", ref.Seq, short(prev), ref.Seq-1, short(want))
		a.Records = append(a.Records, archive.RecordRef{Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq - 1})
	}
	return a
}
