package pgarchive

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillguard/tillguard/sync/archive"
)

// Every alarm is written under the cross-till lock, held to the commit:
// ids are then handed out in commit order, so a reader paging by AfterID
// never skips an alarm that commits after its page.

// alarmKey is what identifies an alarm: raising it again only counts.
type alarmKey struct {
	kind, pharmacy, till string
	seq                  int64
	key                  string
}

func keyOf(a archive.Alarm) alarmKey {
	return alarmKey{a.Kind, a.Pharmacy, a.Till, dbSeq(a.Seq), a.Key}
}

// dbSeq is seq as a bigint. An alarm about a seq beyond it (a forged or
// garbled record) is kept at the largest.
func dbSeq(seq uint64) int64 { return int64(min(seq, math.MaxInt64)) }

// fold merges alarms with the same identity, in order of first
// appearance, adding up their counts (0 counts as 1) and keeping the
// earliest At and latest LastAt.
func fold(in []archive.Alarm) []archive.Alarm {
	var out []archive.Alarm
	at := map[alarmKey]int{}
	for _, a := range in {
		a.Count = max(a.Count, 1)
		if a.LastAt.Before(a.At) {
			a.LastAt = a.At
		}
		k := keyOf(a)
		if i, ok := at[k]; ok {
			o := &out[i]
			o.Count += a.Count
			if a.At.Before(o.At) {
				o.At = a.At
			}
			if a.LastAt.After(o.LastAt) {
				o.LastAt = a.LastAt
			}
			continue
		}
		at[k] = len(out)
		out = append(out, a)
	}
	return out
}

// queueAlarms queues the upsert of alarms (folded) and, when the batch
// runs, sets *fresh to those that were new, as stored.
func queueAlarms(b *pgx.Batch, alarms []archive.Alarm, fresh *[]archive.Alarm) {
	as := fold(alarms)
	n := len(as)
	kinds, ps, ts, keys, details, recs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, counts := make([]int64, n), make([]int32, n)
	ats, lasts := make([]time.Time, n), make([]time.Time, n)
	for i, a := range as {
		kinds[i], ps[i], ts[i], seqs[i], keys[i], details[i] = a.Kind, a.Pharmacy, a.Till, dbSeq(a.Seq), a.Key, a.Detail
		refs := a.Records
		if refs == nil {
			refs = []archive.RecordRef{}
		}
		j, _ := json.Marshal(refs)
		recs[i], counts[i], ats[i], lasts[i] = string(j), int32(min(a.Count, math.MaxInt32)), a.At, a.LastAt
	}
	b.Queue(`INSERT INTO alarms AS a (kind, pharmacy, till, seq, key, detail, records, count, at, last_at)
		SELECT k, p, t, s, y, d, r::jsonb, c, f, l
		FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::timestamptz[], $10::timestamptz[])
			WITH ORDINALITY AS u(k, p, t, s, y, d, r, c, f, l, i)
		ORDER BY i
		ON CONFLICT (kind, pharmacy, till, seq, key) DO UPDATE SET count = a.count + excluded.count, last_at = greatest(a.last_at, excluded.last_at)
		RETURNING kind, pharmacy, till, seq, key, id, at, count, last_at, xmax = 0`,
		kinds, ps, ts, seqs, keys, details, recs, counts, ats, lasts).Query(func(rows pgx.Rows) error {
		type got struct {
			id         int64
			at, lastAt time.Time
			count      int32
			inserted   bool
		}
		res := map[alarmKey]got{}
		for rows.Next() {
			var k alarmKey
			var g got
			if err := rows.Scan(&k.kind, &k.pharmacy, &k.till, &k.seq, &k.key, &g.id, &g.at, &g.count, &g.lastAt, &g.inserted); err != nil {
				return err
			}
			res[k] = g
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range as {
			g, ok := res[keyOf(a)]
			if !ok || !g.inserted {
				continue
			}
			a.ID, a.At, a.LastAt, a.Count = g.id, g.at, g.lastAt, int(g.count)
			*fresh = append(*fresh, a)
		}
		return nil
	})
}

// Raise stores alarms found outside Put; see archive.Store.
func (s *Store) Raise(ctx context.Context, alarms []archive.Alarm) (int, error) {
	if err := s.checkOpen("raise"); err != nil {
		return 0, err
	}
	if len(alarms) == 0 {
		return 0, nil
	}
	now := s.opts.Now()
	in := make([]archive.Alarm, len(alarms))
	for i, a := range alarms {
		if a.At.IsZero() {
			a.At = now
		}
		in[i] = a
	}
	var fresh []archive.Alarm
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fresh = nil
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockCross)
		queueAlarms(b, in, &fresh)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, s.fail(fmt.Sprintf("raise %d alarms", len(alarms)), err)
	}
	return len(fresh), nil
}

// Sweep raises a gap alarm for every hole open since before openSince,
// and an outbox_stale alarm for every announced head past its watermark
// learned before staleSince (sweepStale); see archive.Store. Every
// receiver sweeps: the alarm's identity (the missing seq, the head's seq)
// makes each one alarm, raised by whichever sweeps first.
func (s *Store) Sweep(ctx context.Context, now, openSince, staleSince time.Time) ([]archive.Alarm, error) {
	if err := s.checkOpen("sweep"); err != nil {
		return nil, err
	}
	var fresh []archive.Alarm
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fresh = nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockCross); err != nil {
			return err
		}
		gaps, err := sweepGaps(ctx, tx, now, openSince)
		if err != nil {
			return err
		}
		stale, err := sweepStale(ctx, tx, now, staleSince)
		fresh = append(gaps, stale...)
		return err
	})
	if err != nil {
		return nil, s.fail("sweep", err)
	}
	return fresh, nil
}

// sweepGaps raises a gap alarm for every hole open since before
// openSince, under the cross-till lock.
func sweepGaps(ctx context.Context, tx pgx.Tx, now, openSince time.Time) ([]archive.Alarm, error) {
	rows, err := tx.Query(ctx, `SELECT w.pharmacy, w.till, t.wm_seq, min(w.seq), count(*), min(w.arrived), (array_agg(w.id ORDER BY w.seq))[1]
		FROM waiting w JOIN tills t ON t.pharmacy = w.pharmacy AND t.till = w.till
		GROUP BY w.pharmacy, w.till, t.wm_seq
		HAVING min(w.arrived) < $1
		ORDER BY w.pharmacy, w.till`, openSince)
	if err != nil {
		return nil, err
	}
	var gaps []archive.Alarm
	for rows.Next() {
		var p, t, id string
		var wm, first, n int64
		var since time.Time
		if err := rows.Scan(&p, &t, &wm, &first, &n, &since, &id); err != nil {
			rows.Close()
			return nil, err
		}
		gaps = append(gaps, archive.Alarm{
			At: now, LastAt: now, Pharmacy: p, Till: t, Seq: uint64(wm + 1), Kind: archive.AlarmGap, Count: 1,
			Detail: fmt.Sprintf("seq %d has not come: %d record(s) from seq %d wait for it since %s",
				wm+1, n, first, since.UTC().Format(time.RFC3339)),
			Records: []archive.RecordRef{{Pharmacy: p, Till: t, Seq: uint64(first), ID: id}},
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(gaps) == 0 {
		return nil, nil
	}
	n := len(gaps)
	ps, ts, details, recs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs := make([]int64, n)
	for i, a := range gaps {
		j, _ := json.Marshal(a.Records)
		ps[i], ts[i], seqs[i], details[i], recs[i] = a.Pharmacy, a.Till, dbSeq(a.Seq), a.Detail, string(j)
	}
	rows, err = tx.Query(ctx, `INSERT INTO alarms (kind, pharmacy, till, seq, key, detail, records, count, at, last_at)
		SELECT $1, p, t, s, '', d, r::jsonb, 1, $2, $2
		FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[]) WITH ORDINALITY AS u(p, t, s, d, r, i)
		ORDER BY i
		ON CONFLICT DO NOTHING
		RETURNING pharmacy, till, id, at`, archive.AlarmGap, now, ps, ts, seqs, details, recs)
	if err != nil {
		return nil, err
	}
	ids := map[tillKey]struct {
		id int64
		at time.Time
	}{}
	for rows.Next() {
		var k tillKey
		var id int64
		var at time.Time
		if err := rows.Scan(&k.pharmacy, &k.till, &id, &at); err != nil {
			rows.Close()
			return nil, err
		}
		ids[k] = struct {
			id int64
			at time.Time
		}{id, at}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var fresh []archive.Alarm
	for _, a := range gaps {
		if got, ok := ids[tillKey{a.Pharmacy, a.Till}]; ok {
			a.ID, a.At, a.LastAt = got.id, got.at, got.at
			fresh = append(fresh, a)
		}
	}
	return fresh, nil
}

// Alarms lists stored alarms; see archive.Store.
func (s *Store) Alarms(ctx context.Context, q archive.AlarmQuery) ([]archive.Alarm, error) {
	if err := s.checkOpen("alarms"); err != nil {
		return nil, err
	}
	out, err := collect(ctx, s, []any{q.Kind, q.Pharmacy, q.Till, q.Since, q.AfterID, archive.Limit(q.Limit)}, `SELECT id, at, pharmacy, till, seq, kind, detail, key, records, count, last_at FROM alarms
		WHERE ($1 = '' OR kind = $1) AND ($2 = '' OR pharmacy = $2) AND ($3 = '' OR till = $3) AND at >= $4 AND id > $5
		ORDER BY id LIMIT $6`, func(row pgx.CollectableRow) (archive.Alarm, error) {
		var a archive.Alarm
		var seq int64
		var recs []byte
		var count int32
		err := row.Scan(&a.ID, &a.At, &a.Pharmacy, &a.Till, &seq, &a.Kind, &a.Detail, &a.Key, &recs, &count, &a.LastAt)
		if err != nil {
			return a, err
		}
		a.Seq, a.Count = uint64(seq), int(count)
		if err := json.Unmarshal(recs, &a.Records); err != nil {
			return a, fmt.Errorf("alarm %d: records: %w", a.ID, err)
		}
		if len(a.Records) == 0 {
			a.Records = nil
		}
		return a, nil
	})
	if err != nil {
		return nil, s.fail("alarms", err)
	}
	return out, nil
}
