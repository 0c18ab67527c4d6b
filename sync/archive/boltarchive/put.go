package boltarchive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
)

// Put stores a batch in one fsynced transaction (archive.Store.Put).
func (a *Archive) Put(ctx context.Context, in []archive.Incoming) (archive.Result, error) {
	if err := archive.Validate(in); err != nil {
		return archive.Result{}, fmt.Errorf("boltarchive: put: %w", err)
	}
	if len(in) == 0 {
		return archive.Result{}, nil
	}
	now := a.opts.Now()
	var res archive.Result
	err := a.update(ctx, func(tx *boltdb.Tx) error {
		p := &putter{
			tx: tx, in: in, now: now, opts: &a.opts,
			tills:   tx.Bucket(bTills),
			alarms:  newAlarmer(tx, now),
			seen:    map[string]*batchTill{},
			res:     archive.Result{Outcomes: make([]archive.Outcome, len(in))},
			indexer: newIndexer(tx),
		}
		for i := range in {
			if err := p.put(i); err != nil {
				return err
			}
		}
		if err := p.finish(); err != nil {
			return err
		}
		res = p.res
		return nil
	})
	if err != nil {
		return archive.Result{}, fmt.Errorf("boltarchive: put %d records: %w", len(in), err)
	}
	return res, nil
}

// putter is one Put's work inside its transaction.
type putter struct {
	tx      *boltdb.Tx
	in      []archive.Incoming
	now     time.Time
	opts    *archive.Opts
	tills   *boltdb.Bucket
	alarms  *alarmer
	indexer *indexer
	seen    map[string]*batchTill
	order   []*batchTill // in the order the batch first names them: Acks' order
	res     archive.Result
}

// batchTill is a till as this Put changes it.
type batchTill struct {
	*tillData
	// waitingHere maps a seq in wait to the items of this batch that
	// brought its bytes, so that its promotion is their outcome.
	waitingHere map[uint64][]int
	// awaited is whether the till was in the awaited index before: a Put
	// only takes it out, as its records reach the announced head.
	awaited bool
}

func (p *putter) till(pharmacy, tl string) (*batchTill, error) {
	name := tillName(pharmacy, tl)
	if t := p.seen[string(name)]; t != nil {
		return t, nil
	}
	t, err := loadTill(p.tills, name)
	if err == nil && t == nil {
		t, err = createTill(p.tills, pharmacy, tl)
	}
	if err != nil {
		return nil, err
	}
	t.recs.FillPercent = boltdb.AppendFill // seqs only grow
	bt := &batchTill{tillData: t, waitingHere: map[uint64][]int{}, awaited: t.st.awaited()}
	p.seen[string(name)] = bt
	p.order = append(p.order, bt)
	return bt, nil
}

func (p *putter) raise(a *archive.Alarm) error {
	if a == nil {
		return nil
	}
	stored, err := p.alarms.raise(*a)
	if stored != nil {
		p.res.Alarms = append(p.res.Alarms, *stored)
	}
	return err
}

func refOf(it *archive.Incoming) archive.RecordRef {
	return archive.RecordRef{Pharmacy: it.Pharmacy, Till: it.Till, Seq: it.Seq, ID: it.Parsed.ID}
}

// put decides item i.
func (p *putter) put(i int) error {
	it := &p.in[i]
	t, err := p.till(it.Pharmacy, it.Till)
	if err != nil {
		return err
	}
	t.st.lastSeen = p.now.UnixNano()
	key := boltdb.U64(it.Seq)
	switch {
	case it.Seq <= t.st.contig:
		v := t.recs.Get(key)
		rec, _, ok := decodeStored(v)
		if !ok {
			return corruptf("till %s: record %d below the watermark %d is missing or bad", t, it.Seq, t.st.contig)
		}
		if bytes.Equal(rec, it.Rec) {
			p.res.Outcomes[i] = archive.Duplicate
			return nil
		}
		p.res.Outcomes[i] = archive.Conflict
		return p.raise(conflictAlarm(p.now, it, rec))

	case it.Seq == t.st.contig+1:
		if it.Parsed.Prev != t.st.prev() {
			p.res.Outcomes[i] = archive.BadChain
			return p.raise(badChainAlarm(p.now, refOf(it), feed.Hash(it.Rec), it.Parsed.Prev, t.st, ""))
		}
		if err := p.store(t, it.Seq, it.Rec, it.Sig, it.Parsed); err != nil {
			return err
		}
		p.res.Outcomes[i] = archive.Stored
		return p.promote(t)
	}

	if v := t.wait.Get(key); v != nil {
		w, ok := decodeWaited(v)
		if !ok {
			return corruptf("till %s: waiting record %d is bad", t, it.Seq)
		}
		if !bytes.Equal(w.rec, it.Rec) {
			p.res.Outcomes[i] = archive.Dropped
			return nil
		}
		p.res.Outcomes[i] = archive.Waiting
		t.waitingHere[it.Seq] = append(t.waitingHere[it.Seq], i)
		return nil
	}
	if t.st.waiting >= archive.MaxWaiting {
		p.res.Outcomes[i] = archive.Dropped
		return nil
	}
	w := waited{arrived: p.now.UnixNano(), prev: it.Parsed.Prev, id: it.Parsed.ID, rec: it.Rec, sig: it.Sig}
	if err := t.wait.Put(key, encodeWaited(w)); err != nil {
		return err
	}
	t.st.waiting++
	p.res.Outcomes[i] = archive.Waiting
	t.waitingHere[it.Seq] = append(t.waitingHere[it.Seq], i)
	return nil
}

// store stores record seq of t, which extends its chain, and indexes it.
func (p *putter) store(t *batchTill, seq uint64, rec, sig []byte, r *feed.Record) error {
	if err := t.recs.Put(boltdb.U64(seq), encodeStored(rec, sig)); err != nil {
		return err
	}
	t.st.contig = seq
	t.st.hash = sha256.Sum256(rec)
	ref := archive.RecordRef{Pharmacy: t.pharmacy, Till: t.till, Seq: seq, ID: r.ID}
	if seq == t.st.ann.seq && t.st.hash != t.st.ann.hash {
		// Stored all the same: the chain and the signature hold, and the
		// alarm is the evidence.
		if err := p.raise(storedContradicts(p.now, ref, t.st.prev(), t.st.ann)); err != nil {
			return err
		}
	}
	return p.indexer.index(p, ref, r)
}

// promote stores the waiting records that now extend t's chain, one after
// another, and drops with a bad_chain alarm the first that does not.
func (p *putter) promote(t *batchTill) error {
	for t.st.waiting > 0 {
		seq := t.st.contig + 1
		key := boltdb.U64(seq)
		v := t.wait.Get(key)
		if v == nil {
			return nil
		}
		w, ok := decodeWaited(v)
		if !ok {
			return corruptf("till %s: waiting record %d is bad", t, seq)
		}
		// Copied: the value lives in the page being changed.
		w.rec, w.sig = bytes.Clone(w.rec), bytes.Clone(w.sig)
		if err := t.wait.Delete(key); err != nil {
			return err
		}
		t.st.waiting--
		here := t.waitingHere[seq]
		delete(t.waitingHere, seq)
		if w.prev != t.st.prev() {
			since := time.Unix(0, w.arrived).UTC().Format(time.RFC3339)
			ref := archive.RecordRef{Pharmacy: t.pharmacy, Till: t.till, Seq: seq, ID: w.id}
			for _, i := range here {
				p.res.Outcomes[i] = archive.BadChain
			}
			if err := p.raise(badChainAlarm(p.now, ref, feed.Hash(w.rec), w.prev, t.st, since)); err != nil {
				return err
			}
			continue
		}
		var r *feed.Record
		if len(here) > 0 {
			r = p.in[here[0]].Parsed
		} else {
			// From an earlier Put: its decoding was not kept.
			r = new(feed.Record)
			if err := json.Unmarshal(w.rec, r); err != nil {
				return corruptf("till %s: waiting record %d does not decode: %v", t, seq, err)
			}
		}
		if err := p.store(t, seq, w.rec, w.sig, r); err != nil {
			return err
		}
		if len(here) == 0 {
			p.res.Promoted++
			continue
		}
		p.res.Outcomes[here[0]] = archive.Stored
		for _, i := range here[1:] {
			p.res.Outcomes[i] = archive.Duplicate
		}
	}
	return nil
}

// finish writes every till's state, the waiting index and the awaited
// one, and builds the acks.
func (p *putter) finish() error {
	waiting := p.tx.Bucket(bWaiting)
	for _, t := range p.order {
		if err := t.b.Put(kState, t.st.encode()); err != nil {
			return err
		}
		if t.awaited && !t.st.awaited() {
			if err := p.tx.Bucket(bAwaited).Delete(t.name); err != nil {
				return err
			}
		}
		var err error
		if t.st.waiting > 0 {
			err = waiting.Put(t.name, []byte{})
		} else {
			err = waiting.Delete(t.name)
		}
		if err != nil {
			return err
		}
		p.res.Acks = append(p.res.Acks, t.watermark())
	}
	return nil
}

func conflictAlarm(now time.Time, it *archive.Incoming, stored []byte) *archive.Alarm {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(stored, &id) // evidence only: a record that does not decode has no id to show
	h := feed.Hash(it.Rec)
	return &archive.Alarm{
		At: now, Pharmacy: it.Pharmacy, Till: it.Till, Seq: it.Seq, Kind: archive.AlarmConflict, Key: h,
		Detail:  fmt.Sprintf("seq %d: other bytes (%.12s…) than the record stored (%.12s…)", it.Seq, h, feed.Hash(stored)),
		Records: []archive.RecordRef{refOf(it), {Pharmacy: it.Pharmacy, Till: it.Till, Seq: it.Seq, ID: id.ID}},
	}
}

// badChainAlarm is for a record (ref, whose bytes hash to h) whose prev
// does not link to st's watermark; since is when it arrived, if it waited.
func badChainAlarm(now time.Time, ref archive.RecordRef, h, prev string, st tillState, since string) *archive.Alarm {
	a := &archive.Alarm{At: now, Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: ref.Seq, Kind: archive.AlarmBadChain, Key: h,
		Records: []archive.RecordRef{ref}}
	if st.contig == 0 {
		a.Detail = fmt.Sprintf("seq 1 carries prev %.12s…, want none", prev)
	} else {
		a.Detail = fmt.Sprintf("seq %d: prev %.12s… is not the hash of stored seq %d (%.12s…)", ref.Seq, prev, st.contig, st.prev())
		a.Records = append(a.Records, archive.RecordRef{Pharmacy: ref.Pharmacy, Till: ref.Till, Seq: st.contig})
	}
	if since != "" {
		a.Detail += ", waiting since " + since
	}
	return a
}
