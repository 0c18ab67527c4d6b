package boltarchive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
)

// alarmer stores alarms in one write transaction, folding repeats.
type alarmer struct {
	alarms, keys *boltdb.Bucket
	now          time.Time
}

func newAlarmer(tx *boltdb.Tx, now time.Time) *alarmer {
	a := &alarmer{alarms: tx.Bucket(bAlarms), keys: tx.Bucket(bAlarmKeys), now: now}
	a.alarms.FillPercent = boltdb.AppendFill // ids only grow
	return a
}

// foldKey is what identifies an alarm: (Kind, Pharmacy, Till, Seq, Key).
// A Key longer than maxIndexed is folded by its hash.
func foldKey(a *archive.Alarm) []byte {
	k := appendStr(appendStr(appendStr(nil, a.Kind), clip(a.Pharmacy)), clip(a.Till))
	k = binary.BigEndian.AppendUint64(k, a.Seq)
	if len(a.Key) > maxIndexed {
		sum := sha256.Sum256([]byte(a.Key))
		return append(append(k, "sha256:"...), hex.EncodeToString(sum[:])...)
	}
	return append(k, a.Key...)
}

// clip cuts an id from outside (an alarm's pharmacy or till may be what a
// hostile topic said) to maxIndexed bytes.
func clip(s string) string { return s[:min(len(s), maxIndexed)] }

// raise stores a, or counts it again if it is stored; it returns the alarm
// as stored when it is new, nil when it folded into one. An alarm without
// a time is raised now.
func (r *alarmer) raise(a archive.Alarm) (*archive.Alarm, error) {
	if a.At.IsZero() {
		a.At = r.now
	}
	fk := foldKey(&a)
	if idk := r.keys.Get(fk); idk != nil {
		var old archive.Alarm
		if err := json.Unmarshal(r.alarms.Get(idk), &old); err != nil {
			return nil, corruptf("alarm %x: %v", idk, err)
		}
		old.Count++
		if a.At.After(old.LastAt) {
			old.LastAt = a.At
		}
		v, err := json.Marshal(old)
		if err != nil {
			return nil, err
		}
		return nil, r.alarms.Put(idk, v)
	}
	id, err := r.alarms.NextSequence()
	if err != nil {
		return nil, err
	}
	a.ID, a.Count, a.LastAt = int64(id), 1, a.At
	v, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if err := r.alarms.Put(boltdb.U64(id), v); err != nil {
		return nil, err
	}
	return &a, r.keys.Put(fk, boltdb.U64(id))
}

// exists reports whether an alarm like a is stored.
func (r *alarmer) exists(a *archive.Alarm) bool { return r.keys.Get(foldKey(a)) != nil }

// Raise stores alarms found outside Put, folding repeats, and returns how
// many were new. An alarm needs a Kind; one without At is raised now.
func (a *Archive) Raise(ctx context.Context, alarms []archive.Alarm) (int, error) {
	for i, al := range alarms {
		if al.Kind == "" {
			return 0, fmt.Errorf("boltarchive: raise: alarm %d has no kind: %w", i, archive.ErrInvalid)
		}
	}
	if len(alarms) == 0 {
		return 0, nil
	}
	n := 0
	err := a.update(ctx, func(tx *boltdb.Tx) error {
		n = 0
		r := newAlarmer(tx, a.opts.Now())
		for _, al := range alarms {
			stored, err := r.raise(al)
			if err != nil {
				return err
			}
			if stored != nil {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltarchive: raise %d alarms: %w", len(alarms), err)
	}
	return n, nil
}

// Alarms lists stored alarms matching q, oldest first. It reads the
// alarms in id order from q.AfterID on, which alarms folding their
// repeats keeps short.
func (a *Archive) Alarms(ctx context.Context, q archive.AlarmQuery) ([]archive.Alarm, error) {
	limit := archive.Limit(q.Limit)
	var out []archive.Alarm
	err := a.view(ctx, func(tx *boltdb.Tx) error {
		out = out[:0]
		c := tx.Bucket(bAlarms).Cursor()
		for k, v := c.Seek(boltdb.U64(uint64(max(q.AfterID, 0)) + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var al archive.Alarm
			if err := json.Unmarshal(v, &al); err != nil {
				return corruptf("alarm %x: %v", k, err)
			}
			if q.Kind != "" && al.Kind != q.Kind || q.Pharmacy != "" && al.Pharmacy != q.Pharmacy ||
				q.Till != "" && al.Till != q.Till || al.At.Before(q.Since) {
				continue
			}
			out = append(out, al)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltarchive: alarms: %w", err)
	}
	return out, nil
}

// errNoChange rolls back a write transaction that found nothing to write,
// so it costs no commit and no fsync.
var errNoChange = errors.New("boltarchive: nothing to change")

// Sweep raises a gap alarm, once, for every till whose hole has stayed open
// since before openSince, and an outbox_stale alarm, once per head, for
// every till whose announced head is past its watermark and was learned
// before staleSince (sweepStale).
func (a *Archive) Sweep(ctx context.Context, now, openSince, staleSince time.Time) ([]archive.Alarm, error) {
	var out []archive.Alarm
	err := a.update(ctx, func(tx *boltdb.Tx) error {
		r := newAlarmer(tx, now)
		gaps, err := sweepGaps(tx, r, now, openSince)
		if err != nil {
			return err
		}
		stale, err := sweepStale(tx, r, now, staleSince)
		if err != nil {
			return err
		}
		if out = append(gaps, stale...); len(out) == 0 {
			return errNoChange
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("boltarchive: sweep: %w", err)
	}
	return out, nil
}

// sweepGaps raises the gap alarms: the oldest of the records waiting
// beyond a hole arrived before openSince. The alarm is on the missing seq
// (the watermark + 1); a later hole of the same till is at a later seq,
// and so another alarm.
func sweepGaps(tx *boltdb.Tx, r *alarmer, now, openSince time.Time) ([]archive.Alarm, error) {
	var out []archive.Alarm
	tills := tx.Bucket(bTills)
	err := tx.Bucket(bWaiting).ForEach(func(name, _ []byte) error {
		t, err := loadTill(tills, name)
		if err != nil {
			return err
		}
		if t == nil {
			return corruptf("waiting names till %q, which has no bucket", name)
		}
		gap := archive.Alarm{At: now, Pharmacy: t.pharmacy, Till: t.till, Seq: t.st.contig + 1, Kind: archive.AlarmGap}
		if r.exists(&gap) {
			return nil
		}
		var first, last uint64
		var oldest waited
		n := 0
		err = t.wait.ForEach(func(k, v []byte) error {
			w, ok := decodeWaited(v)
			seq, ok2 := boltdb.GetU64(k)
			if !ok || !ok2 {
				return corruptf("till %s: waiting record %x", t, k)
			}
			if n == 0 || w.arrived < oldest.arrived {
				oldest = waited{arrived: w.arrived, id: w.id}
			}
			if n == 0 {
				first = seq
			}
			last = seq
			n++
			return nil
		})
		if err != nil || n == 0 || !time.Unix(0, oldest.arrived).Before(openSince) {
			return err
		}
		firstID := ""
		if v := t.wait.Get(boltdb.U64(first)); v != nil {
			w, _ := decodeWaited(v)
			firstID = w.id
		}
		gap.Detail = fmt.Sprintf("have up to %d, waiting %d..%d (%d records) since %s", t.st.contig, first, last, n,
			time.Unix(0, oldest.arrived).UTC().Format(time.RFC3339))
		gap.Records = []archive.RecordRef{
			{Pharmacy: t.pharmacy, Till: t.till, Seq: t.st.contig + 1},
			{Pharmacy: t.pharmacy, Till: t.till, Seq: first, ID: firstID},
		}
		stored, err := r.raise(gap)
		if stored != nil {
			out = append(out, *stored)
		}
		return err
	})
	return out, err
}
