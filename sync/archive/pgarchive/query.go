package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// SetStatus keeps a till's latest retained status; see archive.Store.
func (s *Store) SetStatus(ctx context.Context, pharmacy, till string, st feed.Status) error {
	if err := s.checkOpen("set status"); err != nil {
		return err
	}
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) {
		return fmt.Errorf("pgarchive: set status %q/%q: %w", pharmacy, till, archive.ErrInvalid)
	}
	err := s.reconnecting(func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO tills (pharmacy, till, status_state, status_head, status_acked, status_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (pharmacy, till) DO UPDATE SET status_state = excluded.status_state, status_head = excluded.status_head,
				status_acked = excluded.status_acked, status_at = excluded.status_at`,
			pharmacy, till, st.State, dbSeq(st.HeadSeq), dbSeq(st.AckedSeq), st.At)
		return err
	})
	if err != nil {
		return s.fail("set status "+pharmacy+"/"+till, err)
	}
	s.known.Store(tillKey{pharmacy, till}.String(), true)
	return nil
}

// Get returns a stored record; see archive.Store.
func (s *Store) Get(ctx context.Context, pharmacy, till string, seq uint64) (rec, sig []byte, err error) {
	op := fmt.Sprintf("get %s/%s %d", pharmacy, till, seq)
	if err := s.checkOpen(op); err != nil {
		return nil, nil, err
	}
	if seq > math.MaxInt64 {
		return nil, nil, fmt.Errorf("pgarchive: %s: %w", op, archive.ErrNotFound)
	}
	err = s.reconnecting(func() error {
		return s.pool.QueryRow(ctx, "SELECT rec, sig FROM records WHERE pharmacy = $1 AND till = $2 AND seq = $3 LIMIT 1",
			pharmacy, till, int64(seq)).Scan(&rec, &sig)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("pgarchive: %s: %w", op, archive.ErrNotFound)
	}
	if err != nil {
		return nil, nil, s.fail(op, err)
	}
	return rec, sig, nil
}

// Watermark returns a till's contiguous watermark; see archive.Store.
func (s *Store) Watermark(ctx context.Context, pharmacy, till string) (archive.Watermark, error) {
	w := archive.Watermark{Pharmacy: pharmacy, Till: till}
	op := "watermark " + pharmacy + "/" + till
	if err := s.checkOpen(op); err != nil {
		return w, err
	}
	var seq int64
	var hash []byte
	var from *int64
	err := s.reconnecting(func() error {
		return s.pool.QueryRow(ctx, `SELECT wm_seq, wm_hash, (SELECT min(w.seq) FROM waiting w WHERE w.pharmacy = t.pharmacy AND w.till = t.till)
			FROM tills t WHERE t.pharmacy = $1 AND t.till = $2`, pharmacy, till).Scan(&seq, &hash, &from)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return w, nil
	}
	if err != nil {
		return w, s.fail(op, err)
	}
	w.Seq = uint64(seq)
	if seq > 0 {
		w.Hash = hexHash(hash)
	}
	if from != nil {
		w.WaitingFrom = uint64(*from)
	}
	return w, nil
}

// scanChunk is how many records Scan reads per query: fn runs between
// queries, with no connection held, so it may call the store.
const scanChunk = 1000

// Scan calls fn for a till's stored records; see archive.Store.
func (s *Store) Scan(ctx context.Context, pharmacy, till string, from uint64, limit int, fn func(seq uint64, rec, sig []byte) error) error {
	op := fmt.Sprintf("scan %s/%s from %d", pharmacy, till, from)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	type row struct {
		seq      int64
		rec, sig []byte
	}
	left := limit
	for from <= math.MaxInt64 {
		n := scanChunk
		if limit > 0 {
			n = min(n, left)
		}
		chunk, err := collect(ctx, s, []any{pharmacy, till, int64(from), n}, `SELECT seq, rec, sig FROM records WHERE pharmacy = $1 AND till = $2 AND seq >= $3
			ORDER BY seq LIMIT $4`, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.seq, &x.rec, &x.sig)
			return x, err
		})
		if err != nil {
			return s.fail(op, err)
		}
		for _, x := range chunk {
			if err := fn(uint64(x.seq), x.rec, x.sig); err != nil {
				return err
			}
		}
		if limit > 0 {
			if left -= len(chunk); left <= 0 {
				return nil
			}
		}
		if len(chunk) < n {
			return nil
		}
		from = uint64(chunk[len(chunk)-1].seq) + 1
	}
	return nil
}

// Tills lists tills, their enrolled keys and announced heads included;
// see archive.Store.
func (s *Store) Tills(ctx context.Context, q archive.TillQuery) ([]archive.TillInfo, error) {
	if err := s.checkOpen("tills"); err != nil {
		return nil, err
	}
	out, err := collect(ctx, s, []any{q.Pharmacy, q.AfterPharmacy, q.AfterTill, q.Behind, archive.Limit(q.Limit)}, `SELECT pharmacy, till, wm_seq, count, waiting, last_seen, status_state, status_head, status_acked, status_at, key, key_at,
			announced_seq, announced_hash, announced_at
		FROM tills
		WHERE ($1 = '' OR pharmacy = $1) AND (pharmacy, till) > ($2, $3)
			AND (NOT $4 OR waiting > 0 OR status_head > wm_seq)
		ORDER BY pharmacy, till LIMIT $5`, func(r pgx.CollectableRow) (archive.TillInfo, error) {
		var ti archive.TillInfo
		var wm, count int64
		var waiting int32
		var seen pgtype.Timestamptz
		var state, at pgtype.Text
		var head, acked pgtype.Int8
		var keyAt pgtype.Timestamptz
		var annSeq pgtype.Int8
		var annHash []byte
		var annAt pgtype.Timestamptz
		if err := r.Scan(&ti.Pharmacy, &ti.Till, &wm, &count, &waiting, &seen, &state, &head, &acked, &at, &ti.Key, &keyAt,
			&annSeq, &annHash, &annAt); err != nil {
			return ti, err
		}
		if annSeq.Valid && annSeq.Int64 > 0 {
			ti.Announced = archive.Announcement{Seq: uint64(annSeq.Int64), Hash: hexHash(annHash), At: annAt.Time}
		}
		ti.Contiguous, ti.Count, ti.Waiting = uint64(wm), uint64(count), int(waiting)
		if seen.Valid {
			ti.LastSeen = seen.Time
		}
		if state.Valid {
			ti.Status = &feed.Status{State: state.String, HeadSeq: uint64(head.Int64), AckedSeq: uint64(acked.Int64), At: at.String}
		}
		if len(ti.Key) > 0 && keyAt.Valid {
			ti.KeyAt = keyAt.Time
		}
		return ti, nil
	})
	if err != nil {
		return nil, s.fail("tills", err)
	}
	return out, nil
}

// Blocked counts blocked-attempt lines per pharmacy and rule; see
// archive.Store.
func (s *Store) Blocked(ctx context.Context, from, to time.Time) ([]archive.RuleCount, error) {
	if err := s.checkOpen("blocked"); err != nil {
		return nil, err
	}
	// A blocked record's ref is read from its bytes: it has no column, and
	// only this count asks for it (a line decided again refs its first
	// record, a refused return its sale).
	out, err := collect(ctx, s, []any{from, to}, `SELECT l.pharmacy, coalesce(l.rule, ''), count(*) FROM lines l
		JOIN records r ON (r.pharmacy, r.till, r.seq, r.at) = (l.pharmacy, l.till, l.seq, l.at)
		CROSS JOIN LATERAL (SELECT convert_from(r.rec, 'UTF8')::jsonb->>'ref' AS ref) x
		WHERE l.kind = 'blocked' AND l.decision IN ('block', 'hold') AND l.at >= $1 AND l.at < $2
			AND (coalesce(x.ref, '') = '' OR EXISTS (SELECT 1 FROM records s WHERE s.kind = 'sale' AND s.id = x.ref))
		GROUP BY 1, 2 ORDER BY 1, 2`, func(r pgx.CollectableRow) (archive.RuleCount, error) {
		var c archive.RuleCount
		var n int64
		err := r.Scan(&c.Pharmacy, &c.Rule, &n)
		c.Count = int(n)
		return c, err
	})
	if err != nil {
		return nil, s.fail("blocked", err)
	}
	return out, nil
}

// Search finds stored lines by card number or traceability code; see
// archive.Store.
func (s *Store) Search(ctx context.Context, q archive.SearchQuery) ([]archive.LineHit, error) {
	if err := s.checkOpen("search"); err != nil {
		return nil, err
	}
	var where, arg string
	switch {
	case q.Card != "" && q.Trace == "":
		where, arg = "l.card_no = $1", q.Card
	case q.Trace != "" && q.Card == "":
		where, arg = "l.drug_trac_codg @> ARRAY[$1::text]", q.Trace
	default:
		return nil, fmt.Errorf("pgarchive: search: want exactly one of card and trace: %w", archive.ErrInvalid)
	}
	out, err := collect(ctx, s, []any{arg, archive.Limit(q.Limit)}, `SELECT l.pharmacy, l.till, l.seq, r.id, l.kind, l.at, l.line, l.barcode, l.name, l.qty, l.decision,
			coalesce(l.rule, ''), coalesce(l.card_no, '')
		FROM lines l JOIN records r ON r.pharmacy = l.pharmacy AND r.till = l.till AND r.seq = l.seq
		WHERE `+where+`
		ORDER BY l.at DESC NULLS LAST, l.pharmacy, l.till, l.seq DESC, l.line
		LIMIT $2`, func(r pgx.CollectableRow) (archive.LineHit, error) {
		var h archive.LineHit
		var seq int64
		var at pgtype.Timestamptz
		var line, qty int32
		err := r.Scan(&h.Pharmacy, &h.Till, &seq, &h.ID, &h.Kind, &at, &line, &h.Barcode, &h.Name, &qty, &h.Decision, &h.Rule, &h.Card)
		h.Seq, h.Line, h.Qty, h.At = uint64(seq), int(line), int(qty), at.Time
		h.Card = feed.MaskCardNo(h.Card)
		return h, err
	})
	if err != nil {
		return nil, s.fail("search", err)
	}
	return out, nil
}
