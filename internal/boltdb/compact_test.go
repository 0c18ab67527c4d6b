package boltdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// freed makes a store at path with n values, then deletes all but the
// last keep of them: most of the file is free pages.
func freed(t *testing.T, path string, n, keep int) {
	t.Helper()
	db, err := Open(path, testSchema(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = Update(db, func(tx *Tx) error {
		b := tx.Bucket(bThings)
		nb, err := b.CreateBucket([]byte("nested"))
		if err != nil {
			return err
		}
		if _, err := nb.NextSequence(); err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(U64(uint64(i)), make([]byte, 1000)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = Update(db, func(tx *Tx) error {
		b := tx.Bucket(bThings)
		for i := range n - keep {
			if err := b.Delete(U64(uint64(i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompact_givesSpaceBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	freed(t, path, 5000, 10)
	write(t, path+".compact-123", []byte("left by a crash"))
	var compared bool
	same := func(src, dst *DB) error {
		compared = true
		return src.View(func(stx *Tx) error {
			return dst.View(func(dtx *Tx) error {
				if a, b := fmt.Sprint(KeyCounts(stx)), fmt.Sprint(KeyCounts(dtx)); a != b {
					return fmt.Errorf("keys %s, want %s", b, a)
				}
				return nil
			})
		})
	}
	res, err := Compact(path, testSchema(nil), 1<<20, same)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Done || !compared || res.After >= res.Before/4 {
		t.Fatalf("Compact = %+v (compared %v): want most of %d bytes back", res, compared, res.Before)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the store: %v", entries)
	}
	db := openTest(t, path)
	err = View(db, func(tx *Tx) error {
		b := tx.Bucket(bThings)
		if n := KeyCounts(tx)["things"]; n != 10+1 {
			return fmt.Errorf("%d keys, want 10 and the nested bucket", n)
		}
		if b.Get(U64(4999)) == nil || b.Get(U64(4989)) != nil {
			return errors.New("wrong values kept")
		}
		if s := b.Bucket([]byte("nested")).Sequence(); s != 1 {
			return fmt.Errorf("nested sequence %d, want 1", s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompact_notWorthIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	freed(t, path, 100, 100)
	before, _ := os.ReadFile(path)
	res, err := Compact(path, testSchema(nil), 1<<20, nil)
	if err != nil || res.Done {
		t.Fatalf("Compact = %+v, %v; want nothing done", res, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the file was changed")
	}
	if res, err := Compact(filepath.Join(t.TempDir(), "missing.db"), testSchema(nil), 0, nil); err != nil || res.Done {
		t.Errorf("Compact of a missing file = %+v, %v", res, err)
	}
}

// A file bbolt has grown ahead of its writes, with nothing freed, has
// nothing to give back however long its tail: a second compaction right
// after a first one leaves the file alone (a ledger is compacted at every
// start).
func TestCompact_grownAheadNotWorthIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	freed(t, path, 30000, 30000) // 30 MB of values: bbolt grows the file by 16 MiB steps
	if res, err := Compact(path, testSchema(nil), 1<<20, nil); err != nil || res.Done {
		t.Fatalf("Compact of a file with no free pages = %+v, %v; want nothing done", res, err)
	}
	freed(t, path+"2", 30000, 10000)
	if res, err := Compact(path+"2", testSchema(nil), 1<<20, nil); err != nil || !res.Done {
		t.Fatalf("first Compact = %+v, %v; want it done", res, err)
	}
	before, _ := os.ReadFile(path + "2")
	if res, err := Compact(path+"2", testSchema(nil), 1<<20, nil); err != nil || res.Done {
		t.Fatalf("second Compact = %+v, %v; want nothing done", res, err)
	}
	if after, _ := os.ReadFile(path + "2"); string(after) != string(before) {
		t.Error("the second compaction changed the file")
	}
}

func TestCompact_copyDiffersKeepsOriginal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	freed(t, path, 3000, 10)
	before, _ := os.ReadFile(path)
	differs := errors.New("differs")
	if _, err := Compact(path, testSchema(nil), 0, func(_, _ *DB) error { return differs }); !errors.Is(err, differs) {
		t.Fatalf("Compact: %v, want same's error", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the file was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the store: %v", entries)
	}
	write(t, path, before[:len(before)/3])
	if _, err := Compact(path, testSchema(nil), 0, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Compact of a truncated file: %v, want ErrCorrupt", err)
	}
}
