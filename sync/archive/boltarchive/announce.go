package boltarchive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// bAwaited indexes the tills whose announced head is past their
// watermark: till → "". The stale sweep reads only these. The first
// Announce makes it, so an archive written before heads were announced
// opens as it is.
var bAwaited = []byte("awaited")

// Announce keeps the head a till announced and raises what contradicts
// it, in one transaction; see archive.Store. A till not seen before gets
// its buckets, and is listed from now on.
func (a *Archive) Announce(ctx context.Context, pharmacy, till string, an archive.Announcement) ([]archive.Alarm, error) {
	h, err := announcedHash(pharmacy, till, an)
	if err != nil {
		return nil, fmt.Errorf("boltarchive: announce: %w", err)
	}
	now := a.opts.Now()
	var out []archive.Alarm
	err = a.update(ctx, func(tx *boltdb.Tx) error {
		out = out[:0]
		tills := tx.Bucket(bTills)
		t, err := loadTill(tills, tillName(pharmacy, till))
		created := err == nil && t == nil
		if created {
			t, err = createTill(tills, pharmacy, till)
		}
		if err != nil {
			return err
		}
		found, keep, err := t.announce(an, h, now)
		if err != nil {
			return err
		}
		r := newAlarmer(tx, now)
		for _, al := range found {
			stored, err := r.raise(al)
			if err != nil {
				return err
			}
			if stored != nil {
				out = append(out, *stored)
			}
		}
		if keep {
			t.st.ann = announced{seq: an.Seq, hash: h, at: unixNano(an.At), learned: unixNano(now)}
			if err := t.keepHead(tx); err != nil {
				return err
			}
		}
		if !created && !keep && len(found) == 0 {
			return errNoChange // a head repeated: no commit, no fsync
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("boltarchive: announce %s/%s head %d: %w", pharmacy, till, an.Seq, err)
	}
	return out, nil
}

// announcedHash checks an and returns its hash's bytes, zero for seq 0.
// A seq beyond an int64 is refused as pgarchive refuses it: no till gets
// that far.
func announcedHash(pharmacy, till string, an archive.Announcement) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	bad := func() ([sha256.Size]byte, error) {
		return h, fmt.Errorf("%q/%q head %d hash %.80q: %w", pharmacy, till, an.Seq, an.Hash, archive.ErrInvalid)
	}
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) || an.Seq > math.MaxInt64 {
		return bad()
	}
	if an.Seq == 0 {
		if an.Hash != "" {
			return bad()
		}
		return h, nil
	}
	b, err := hex.DecodeString(an.Hash)
	if err != nil || len(b) != sha256.Size {
		return bad()
	}
	copy(h[:], b)
	return h, nil
}

// announce decides what an, whose hash is h, does to t: the alarms it
// raises, and whether it is the head to keep from now on.
func (t *tillData) announce(an archive.Announcement, h [sha256.Size]byte, now time.Time) ([]archive.Alarm, bool, error) {
	kept := t.st.ann
	var found []archive.Alarm
	if an.Seq == kept.seq {
		if h != kept.hash { // the first one stays: it is what the till said first
			found = append(found, t.contradictsAnnounced(now, an, h))
		}
		return found, false, nil
	}
	if an.Seq > 0 && an.Seq <= t.st.contig {
		v := t.recs.Get(boltdb.U64(an.Seq))
		rec, _, ok := decodeStored(v)
		if !ok {
			return nil, false, corruptf("till %s: record %d below the watermark %d is missing or bad", t, an.Seq, t.st.contig)
		}
		if sha256.Sum256(rec) != h {
			found = append(found, contradictsStored(now, t, an, h, rec))
		}
	}
	if an.Seq > kept.seq {
		return found, true, nil
	}
	if an.At.After(timeOf(kept.at)) {
		found = append(found, t.regressed(now, an, h))
	}
	return found, false, nil // or an older status arriving late
}

// keepHead writes t's state, its announced head changed, and its entry in
// the awaited index.
func (t *tillData) keepHead(tx *boltdb.Tx) error {
	if err := t.b.Put(kState, t.st.encode()); err != nil {
		return err
	}
	aw, err := tx.CreateBucketIfNotExists(bAwaited)
	if err != nil {
		return err
	}
	if t.st.awaited() {
		return aw.Put(t.name, []byte{})
	}
	return aw.Delete(t.name)
}

// sweepStale raises outbox_stale for every till whose announced head is
// past its watermark and was learned before staleSince, once per head:
// the alarm is on the head's seq, and a higher head is another alarm.
func sweepStale(tx *boltdb.Tx, r *alarmer, now, staleSince time.Time) ([]archive.Alarm, error) {
	aw := tx.Bucket(bAwaited)
	if aw == nil {
		return nil, nil
	}
	tills := tx.Bucket(bTills)
	var out []archive.Alarm
	err := aw.ForEach(func(name, _ []byte) error {
		t, err := loadTill(tills, name)
		if err != nil {
			return err
		}
		if t == nil || !t.st.awaited() {
			return corruptf("awaited names till %q, which has no head past its watermark", name)
		}
		if !timeOf(t.st.ann.learned).Before(staleSince) {
			return nil
		}
		stale := staleAlarm(now, t)
		if r.exists(&stale) {
			return nil
		}
		stored, err := r.raise(stale)
		if stored != nil {
			out = append(out, *stored)
		}
		return err
	})
	return out, err
}

// unixNano is t in unix ns, 0 for the zero time, clamped to what unix ns
// can hold.
func unixNano(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// timeOf reads what unixNano wrote.
func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (a announced) announcement() archive.Announcement {
	if a.seq == 0 {
		return archive.Announcement{}
	}
	return archive.Announcement{Seq: a.seq, Hash: hex.EncodeToString(a.hash[:]), At: timeOf(a.at)}
}

func statusTime(ns int64) string { return timeOf(ns).UTC().Format(time.RFC3339) }

// contradictsAnnounced is for a status announcing the kept head's seq
// with another hash.
func (t *tillData) contradictsAnnounced(now time.Time, an archive.Announcement, h [sha256.Size]byte) archive.Alarm {
	hs := hex.EncodeToString(h[:])
	return archive.Alarm{
		At: now, Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq, Kind: archive.AlarmHeadContradicted, Key: hs,
		Detail: fmt.Sprintf("status of %s announces head %d with hash %.12s…, but head %d was announced with hash %.12s… (status of %s)",
			statusTime(unixNano(an.At)), an.Seq, hs, an.Seq, hex.EncodeToString(t.st.ann.hash[:]), statusTime(t.st.ann.at)),
		Records: []archive.RecordRef{{Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq}},
	}
}

// contradictsStored is for a status announcing a head whose record is
// stored with other bytes (rec).
func contradictsStored(now time.Time, t *tillData, an archive.Announcement, h [sha256.Size]byte, rec []byte) archive.Alarm {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(rec, &id) // evidence only: a record that does not decode has no id to show
	hs := hex.EncodeToString(h[:])
	return archive.Alarm{
		At: now, Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq, Kind: archive.AlarmHeadContradicted, Key: hs,
		Detail: fmt.Sprintf("status of %s announces head %d with hash %.12s…, but record %d is stored with hash %.12s…",
			statusTime(unixNano(an.At)), an.Seq, hs, an.Seq, feed.Hash(rec)),
		Records: []archive.RecordRef{{Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq, ID: id.ID}},
	}
}

// storedContradicts is for a record stored (ref, whose bytes hash to h)
// at the seq of the head its till announced with another hash.
func storedContradicts(now time.Time, ref archive.RecordRef, h string, ann announced) *archive.Alarm {
	return &archive.Alarm{
		At: now, Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq, Kind: archive.AlarmHeadContradicted, Key: h,
		Detail: fmt.Sprintf("record %d is stored with hash %.12s…, but the till announced head %d with hash %.12s…",
			ref.Seq, h, ann.seq, hex.EncodeToString(ann.hash[:])),
		Records: []archive.RecordRef{ref},
	}
}

// regressed is for a status announcing a head below the kept one, and
// later than the status that announced it.
func (t *tillData) regressed(now time.Time, an archive.Announcement, h [sha256.Size]byte) archive.Alarm {
	key := ""
	if an.Seq > 0 {
		key = hex.EncodeToString(h[:])
	}
	kept := t.st.ann
	return archive.Alarm{
		At: now, Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq, Kind: archive.AlarmHeadRegressed, Key: key,
		Detail: fmt.Sprintf("status of %s announces head %d, below head %d announced by the status of %s: the till went back",
			statusTime(unixNano(an.At)), an.Seq, kept.seq, statusTime(kept.at)),
		Records: []archive.RecordRef{{Pharmacy: t.pharmacy, Till: t.till, Seq: an.Seq}, {Pharmacy: t.pharmacy, Till: t.till, Seq: kept.seq}},
	}
}

// staleAlarm is for t's announced head, still past its watermark: the
// first record missing, then the head.
func staleAlarm(now time.Time, t *tillData) archive.Alarm {
	ann := t.st.ann
	a := archive.Alarm{
		At: now, Pharmacy: t.pharmacy, Till: t.till, Seq: ann.seq, Kind: archive.AlarmOutboxStale,
		Detail: fmt.Sprintf("head %d, announced by the status of %s and known since %s, has not come: records stored up to %d",
			ann.seq, statusTime(ann.at), statusTime(ann.learned), t.st.contig),
		Records: []archive.RecordRef{{Pharmacy: t.pharmacy, Till: t.till, Seq: t.st.contig + 1}},
	}
	if t.st.contig+1 < ann.seq {
		a.Records = append(a.Records, archive.RecordRef{Pharmacy: t.pharmacy, Till: t.till, Seq: ann.seq})
	}
	return a
}
