package ledger

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

// benchRecord is a sale whose stored JSON is about 300 bytes.
func benchRecord() *feed.Record {
	return &feed.Record{
		Pharmacy: "H33010100001", Till: "T1", Kind: feed.KindSale, Cashier: "c01",
		Lines: []feed.Line{{
			Barcode: "6901234567892", MedListCodg: "XA01BCZ001", Name: "amoxicillin",
			Qty: 1, PriceFen: 1250, Decision: feed.Allow, Pay: "insurance",
		}},
		Payment: &feed.Payment{Method: "insurance", InsuranceFen: 1250},
	}
}

// BenchmarkAppend commits one ~300-byte record per op: complete, encode,
// sign, and one fsynced Update of record, outbox entry and head.
func BenchmarkAppend(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "ledger.db"), testKey("bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e, err := l.Append(benchRecord())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(e.Rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(benchRecord()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareUpdate is the floor for BenchmarkAppend (docs/performance.md: within
// 1.3×): one fsynced bbolt Update putting the same record bytes under a
// big-endian seq.
func BenchmarkBareUpdate(b *testing.B) {
	db, err := boltdb.OpenFile(filepath.Join(b.TempDir(), "bare.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := benchRecord()
	r.Seq, r.ID, r.At = 1, "7c9e6679-7425-40de-944b-e07fc1f90ae7", "2025-03-14T09:30:00.000+08:00"
	r.Prev = feed.Hash(nil)
	rec, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}
	name := []byte("records")
	if err := db.Update(func(tx *boltdb.Tx) error {
		_, err := tx.CreateBucket(name)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := db.Update(func(tx *boltdb.Tx) error {
			return tx.Bucket(name).Put(boltdb.U64(seq), rec)
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBudgetCommit is docs/performance.md's sale-commit budget, measured as a
// ratio in one run: each op is one Append of a realistic sale and one bare
// fsynced bbolt Update of the same record bytes in a file beside it, in
// alternating order so that neither always runs on a warmer disk cache.
// commit/bare is the budget (≤ 1.3).
func BenchmarkBudgetCommit(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(filepath.Join(dir, "ledger.db"), testKey("bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	db, err := boltdb.OpenFile(filepath.Join(dir, "bare.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	name := []byte("records")
	if err := db.Update(func(tx *boltdb.Tx) error {
		_, err := tx.CreateBucket(name)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	e, err := l.Append(benchRecord())
	if err != nil {
		b.Fatal(err)
	}
	rec := e.Rec
	var commit, bare time.Duration
	appendOne := func() {
		start := time.Now()
		e, err := l.Append(benchRecord())
		commit += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		rec = e.Rec
	}
	seq := uint64(0)
	updateOne := func() {
		seq++
		start := time.Now()
		err := db.Update(func(tx *boltdb.Tx) error {
			return tx.Bucket(name).Put(boltdb.U64(seq), rec)
		})
		bare += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(rec)))
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			appendOne()
			updateOne()
		} else {
			updateOne()
			appendOne()
		}
		n++
	}
	b.ReportMetric(float64(commit.Nanoseconds())/float64(n), "commit-ns")
	b.ReportMetric(float64(bare.Nanoseconds())/float64(n), "bare-ns")
	b.ReportMetric(float64(commit)/float64(bare), "commit/bare")
}
