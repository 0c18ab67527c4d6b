package pgarchive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// Announce keeps the head a till announced and raises what contradicts
// it; see archive.Store. It locks the till's row, as a Put does, so a Put
// storing the head's record sees the head, or Announce sees the record;
// then, like a Put, it takes the cross-till lock for the alarms.
func (s *Store) Announce(ctx context.Context, pharmacy, till string, an archive.Announcement) ([]archive.Alarm, error) {
	op := fmt.Sprintf("announce %s/%s head %d", pharmacy, till, an.Seq)
	if err := s.checkOpen(op); err != nil {
		return nil, err
	}
	h, err := announcedHash(pharmacy, till, an)
	if err != nil {
		return nil, fmt.Errorf("pgarchive: announce: %w", err)
	}
	k := tillKey{pharmacy, till}
	if err := s.ensureTills(ctx, []tillKey{k}); err != nil {
		return nil, s.fail(op, err)
	}
	now := s.opts.Now()
	var fresh []archive.Alarm
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		fresh = nil
		cur, err := s.readHead(ctx, tx, k, an.Seq)
		if err != nil {
			return err
		}
		found, keep := cur.decide(k, an, h, now)
		b := &pgx.Batch{}
		if keep {
			b.Queue(`UPDATE tills SET announced_seq = $3, announced_hash = $4, announced_at = $5, announced_learned = $6,
					announced_awaited = $3 > wm_seq
				WHERE pharmacy = $1 AND till = $2`,
				pharmacy, till, int64(an.Seq), h, pgtype.Timestamptz{Time: an.At, Valid: !an.At.IsZero()}, now)
		}
		if len(found) > 0 {
			b.Queue("SELECT pg_advisory_xact_lock($1)", lockCross)
			queueAlarms(b, found, &fresh)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	return fresh, nil
}

// announcedHash checks an and returns its hash's bytes, empty for seq 0.
func announcedHash(pharmacy, till string, an archive.Announcement) ([]byte, error) {
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("%q/%q head %d hash %.80q: %w", pharmacy, till, an.Seq, an.Hash, archive.ErrInvalid)
	}
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) || an.Seq > math.MaxInt64 {
		return bad() // a seq beyond a bigint: no till gets that far
	}
	if an.Seq == 0 {
		if an.Hash != "" {
			return bad()
		}
		return []byte{}, nil
	}
	h, err := hex.DecodeString(an.Hash)
	if err != nil || len(h) != sha256.Size {
		return bad()
	}
	return h, nil
}

// head is what Announce reads of a till, its row locked.
type head struct {
	wm   uint64
	seq  uint64 // the head kept; 0: none
	hash []byte
	at   time.Time
	// recHash and recID are the stored record at the announced seq; nil
	// and "" when it is not stored.
	recHash []byte
	recID   string
}

// readHead locks k's row and reads its head and the record at seq, in
// one round trip: the record is read by a statement after the lock, so it
// sees what every Put that held the row committed.
func (s *Store) readHead(ctx context.Context, tx pgx.Tx, k tillKey, seq uint64) (*head, error) {
	cur := &head{}
	found := false
	b := &pgx.Batch{}
	b.Queue(`SELECT wm_seq, coalesce(announced_seq, 0), coalesce(announced_hash, ''), announced_at FROM tills
		WHERE pharmacy = $1 AND till = $2 FOR NO KEY UPDATE`, k.pharmacy, k.till).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var wm, ann int64
			var at pgtype.Timestamptz
			if err := rows.Scan(&wm, &ann, &cur.hash, &at); err != nil {
				return err
			}
			cur.wm, cur.seq, cur.at, found = uint64(wm), uint64(ann), at.Time, true
		}
		return rows.Err()
	})
	if seq > 0 {
		b.Queue("SELECT hash, id FROM records WHERE pharmacy = $1 AND till = $2 AND seq = $3 LIMIT 1",
			k.pharmacy, k.till, int64(seq)).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				if err := rows.Scan(&cur.recHash, &cur.recID); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if !found {
		// The row this process believed inserted is gone: the database
		// was replaced under it (see lock).
		s.known.Delete(k.String())
		return nil, errors.New("till row missing")
	}
	return cur, nil
}

// decide returns the alarms an, whose hash is h, raises against cur, and
// whether it is the head to keep from now on.
func (cur *head) decide(k tillKey, an archive.Announcement, h []byte, now time.Time) ([]archive.Alarm, bool) {
	var found []archive.Alarm
	if an.Seq == cur.seq {
		if !bytes.Equal(h, cur.hash) { // the first one stays: it is what the till said first
			found = append(found, contradictsAnnounced(now, k, an, h, cur))
		}
		return found, false
	}
	if cur.recHash != nil && !bytes.Equal(cur.recHash, h) {
		found = append(found, contradictsStored(now, k, an, h, cur))
	}
	if an.Seq > cur.seq {
		return found, true
	}
	if an.At.After(cur.at) {
		found = append(found, regressed(now, k, an, h, cur))
	}
	return found, false // or an older status arriving late
}

// sweepStale raises outbox_stale for every till whose announced head is
// past its watermark and was learned before staleSince, once per head:
// the alarm is on the head's seq, and a higher head is another alarm. It
// reads the tills through tills_awaited, and only those not alarmed yet.
func sweepStale(ctx context.Context, tx pgx.Tx, now, staleSince time.Time) ([]archive.Alarm, error) {
	rows, err := tx.Query(ctx, `SELECT t.pharmacy, t.till, t.wm_seq, t.announced_seq, t.announced_at, t.announced_learned
		FROM tills t
		WHERE t.announced_awaited AND t.announced_learned < $1 AND t.announced_seq > t.wm_seq
			AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.kind = $2 AND a.pharmacy = t.pharmacy AND a.till = t.till
				AND a.seq = t.announced_seq AND a.key = '')
		ORDER BY t.pharmacy, t.till`, staleSince, archive.AlarmOutboxStale)
	if err != nil {
		return nil, err
	}
	var stale []archive.Alarm
	for rows.Next() {
		var k tillKey
		var wm, seq int64
		var at pgtype.Timestamptz
		var learned time.Time
		if err := rows.Scan(&k.pharmacy, &k.till, &wm, &seq, &at, &learned); err != nil {
			rows.Close()
			return nil, err
		}
		stale = append(stale, staleAlarm(now, k, uint64(wm), uint64(seq), at.Time, learned))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(stale) == 0 {
		return nil, nil
	}
	var fresh []archive.Alarm
	b := &pgx.Batch{}
	queueAlarms(b, stale, &fresh)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return fresh, nil
}

func statusTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// contradictsAnnounced is for a status announcing the kept head's seq
// with another hash.
func contradictsAnnounced(now time.Time, k tillKey, an archive.Announcement, h []byte, cur *head) archive.Alarm {
	hs := hexHash(h)
	return archive.Alarm{
		At: now, Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq, Kind: archive.AlarmHeadContradicted, Key: hs,
		Detail: fmt.Sprintf("status of %s announces head %d with hash %s, but head %d was announced with hash %s (status of %s)",
			statusTime(an.At), an.Seq, short(hs), an.Seq, short(hexHash(cur.hash)), statusTime(cur.at)),
		Records: []archive.RecordRef{{Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq}},
	}
}

// contradictsStored is for a status announcing a head whose record is
// stored with other bytes.
func contradictsStored(now time.Time, k tillKey, an archive.Announcement, h []byte, cur *head) archive.Alarm {
	hs := hexHash(h)
	return archive.Alarm{
		At: now, Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq, Kind: archive.AlarmHeadContradicted, Key: hs,
		Detail: fmt.Sprintf("status of %s announces head %d with hash %s, but record %d is stored with hash %s",
			statusTime(an.At), an.Seq, short(hs), an.Seq, short(hexHash(cur.recHash))),
		Records: []archive.RecordRef{{Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq, ID: cur.recID}},
	}
}

// storedContradicts is for a record stored (ref, whose bytes hash to h)
// at the seq of the head its till announced with another hash (annHash).
func storedContradicts(now time.Time, ref archive.RecordRef, h, annHash []byte) archive.Alarm {
	hs := hexHash(h)
	return archive.Alarm{
		At: now, Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq, Kind: archive.AlarmHeadContradicted, Key: hs,
		Detail: fmt.Sprintf("record %d is stored with hash %s, but the till announced head %d with hash %s",
			ref.Seq, short(hs), ref.Seq, short(hexHash(annHash))),
		Records: []archive.RecordRef{ref},
	}
}

// regressed is for a status announcing a head below the kept one, and
// later than the status that announced it.
func regressed(now time.Time, k tillKey, an archive.Announcement, h []byte, cur *head) archive.Alarm {
	return archive.Alarm{
		At: now, Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq, Kind: archive.AlarmHeadRegressed, Key: hexHash(h),
		Detail: fmt.Sprintf("status of %s announces head %d, below head %d announced by the status of %s: the till went back",
			statusTime(an.At), an.Seq, cur.seq, statusTime(cur.at)),
		Records: []archive.RecordRef{{Pharmacy: k.pharmacy, Till: k.till, Seq: an.Seq}, {Pharmacy: k.pharmacy, Till: k.till, Seq: cur.seq}},
	}
}

// staleAlarm is for a till's announced head seq, still past its
// watermark wm: the first record missing, then the head.
func staleAlarm(now time.Time, k tillKey, wm, seq uint64, at, learned time.Time) archive.Alarm {
	a := archive.Alarm{
		At: now, Pharmacy: k.pharmacy, Till: k.till, Seq: seq, Kind: archive.AlarmOutboxStale,
		Detail: fmt.Sprintf("head %d, announced by the status of %s and known since %s, has not come: records stored up to %d",
			seq, statusTime(at), statusTime(learned), wm),
		Records: []archive.RecordRef{{Pharmacy: k.pharmacy, Till: k.till, Seq: wm + 1}},
	}
	if wm+1 < seq {
		a.Records = append(a.Records, archive.RecordRef{Pharmacy: k.pharmacy, Till: k.till, Seq: seq})
	}
	return a
}
