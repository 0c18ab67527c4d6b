package boltdb_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/internal/boltdb/bolttest"
)

var bBig = []byte("big")

// bigStore writes a store several times bolttest.BoundKB at path and
// returns its size.
func bigStore(t *testing.T, path string) int64 {
	t.Helper()
	db, err := boltdb.Open(path, boltdb.Schema{Format: "test/1", Buckets: [][]byte{bBig}})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 1500)
	for i := 0; i < 32000; i += 4000 {
		err := boltdb.Update(db, func(tx *boltdb.Tx) error {
			b := tx.Bucket(bBig)
			b.FillPercent = boltdb.AppendFill
			for j := i; j < i+4000; j++ {
				if err := b.Put(boltdb.U64(uint64(j)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() < 3*bolttest.BoundKB<<10 {
		t.Fatalf("store is %d bytes: too small to tell a bounded mapping from a whole one", fi.Size())
	}
	return fi.Size()
}

// TestReadMeter_boundsMapping reads a store end to end in one read
// transaction, counting with a ReadMeter, and checks that the resident
// part of the file's mapping stays near ReleaseStep.
func TestReadMeter_boundsMapping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB store")
	}
	path := filepath.Join(t.TempDir(), "big.db")
	size := bigStore(t, path)
	db, err := boltdb.Open(path, boltdb.Schema{Format: "test/1", Buckets: [][]byte{bBig}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := &bolttest.Peak{T: t, Path: path, FileKB: size >> 10}
	var m boltdb.ReadMeter
	n := 0
	err = boltdb.View(db, func(tx *boltdb.Tx) error {
		c := tx.Bucket(bBig).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			m.Read(tx, len(k)+len(v))
			if n++; n%1000 == 0 {
				p.Sample("in the read")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Check()

	// Without the meter the same read keeps the whole file: the test
	// measures what it claims to.
	boltdb.ReleaseDB(db)
	_ = boltdb.View(db, func(tx *boltdb.Tx) error {
		c := tx.Bucket(bBig).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
		}
		return nil
	})
	if kb := bolttest.MappedKB(t, path); kb <= bolttest.BoundKB {
		t.Errorf("an unmetered read left only %d kB resident: the bound proves nothing", kb)
	}
}

// TestCompact_boundsMapping checks Compact's reads of a large store: the
// estimate, the copy and the key counts of the comparison.
func TestCompact_boundsMapping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MB store")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.db")
	size := bigStore(t, path)
	src, err := boltdb.Open(path, boltdb.Schema{Format: "test/1", Buckets: [][]byte{bBig}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := &bolttest.Peak{T: t, Path: path, FileKB: size >> 10}
	var used int64
	if err := boltdb.View(src, func(tx *boltdb.Tx) error { used = boltdb.LiveBytes(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if used < size/2 || used > size {
		t.Errorf("LiveBytes = %d of a %d-byte file, nothing freed: want most of it", used, size)
	}
	p.Sample("after LiveBytes")
	if err := boltdb.CopyLive(src, filepath.Join(dir, "copy.db")); err != nil {
		t.Fatal(err)
	}
	p.Sample("after the copy")
	_ = boltdb.View(src, func(tx *boltdb.Tx) error {
		if n := boltdb.KeyCounts(tx)["big"]; n != 32000 {
			t.Errorf("KeyCounts = %d, want 32000", n)
		}
		return nil
	})
	p.Sample("after counting keys")
	p.Check()
}
