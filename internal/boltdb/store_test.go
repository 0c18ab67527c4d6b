package boltdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var bThings = []byte("things")

func testSchema(check func(tx *Tx) error) Schema {
	return Schema{Format: "test/1", Buckets: [][]byte{bThings}, Check: check}
}

// openTest opens a store of testSchema at path (a new one in a temp dir
// when path is ""), closed on cleanup after bbolt's own check of it.
func openTest(t *testing.T, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "store.db")
	}
	db, err := Open(path, testSchema(nil))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := View(db, CheckStructure); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("CheckStructure on cleanup: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func put(t *testing.T, db *DB, n int) {
	t.Helper()
	err := Update(db, func(tx *Tx) error {
		b := tx.Bucket(bThings)
		for i := range n {
			if err := b.Put(U64(uint64(i)), fmt.Appendf(nil, "value %d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen_createsAndReopens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "store.db")
	db := openTest(t, path)
	put(t, db, 10)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %v, %v: want mode 0600", fi.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files beside the store: %v", entries)
	}
	db = openTest(t, path)
	err = View(db, func(tx *Tx) error {
		if got := string(tx.Bucket(BucketMeta).Get(KeyFormat)); got != "test/1" {
			return fmt.Errorf("format %q", got)
		}
		if v := tx.Bucket(bThings).Get(U64(9)); string(v) != "value 9" {
			return fmt.Errorf("value 9 is %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen_refusedFileLeftInPlace(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(good, testSchema(nil))
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, 2000)
	db.Close()
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	errCheck := errors.New("the schema's check")
	tests := []struct {
		name  string
		make  func(t *testing.T, path string)
		check func(tx *Tx) error
		want  error
		found string // for ErrFormat
	}{
		{name: "empty", make: func(t *testing.T, path string) { write(t, path, nil) }, want: ErrCorrupt},
		{name: "garbage", make: func(t *testing.T, path string) { write(t, path, bytes.Repeat([]byte("garbage\x00\xff"), 5000)) }, want: ErrCorrupt},
		{name: "truncated", make: func(t *testing.T, path string) { write(t, path, goodBytes[:len(goodBytes)/2]) }, want: ErrCorrupt},
		{name: "a directory", make: func(t *testing.T, path string) { os.Mkdir(path, 0o700) }, want: ErrCorrupt},
		{name: "no meta", make: func(t *testing.T, path string) {
			edit(t, path, func(tx *Tx) error { _, err := tx.CreateBucket([]byte("widgets")); return err })
		}, want: ErrFormat},
		{name: "other format", make: func(t *testing.T, path string) {
			edit(t, path, func(tx *Tx) error {
				meta, err := tx.CreateBucket(BucketMeta)
				if err != nil {
					return err
				}
				return meta.Put(KeyFormat, []byte("test/0"))
			})
		}, want: ErrFormat, found: "test/0"},
		{name: "bucket missing", make: func(t *testing.T, path string) {
			edit(t, path, func(tx *Tx) error {
				meta, err := tx.CreateBucket(BucketMeta)
				if err != nil {
					return err
				}
				return meta.Put(KeyFormat, []byte("test/1"))
			})
		}, want: ErrCorrupt},
		{name: "check fails", make: func(t *testing.T, path string) { write(t, path, goodBytes) },
			check: func(*Tx) error { return errCheck }, want: errCheck},
		{name: "check panics", make: func(t *testing.T, path string) { write(t, path, goodBytes) },
			check: func(*Tx) error { panic("damaged page") }, want: ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "store.db")
			tt.make(t, path)
			before, _ := os.ReadFile(path)
			db, err := Open(path, testSchema(tt.check))
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var fe *FormatError
			if errors.As(err, &fe) != (tt.want == ErrFormat) || fe != nil && (fe.Found != tt.found || fe.Want != "test/1") {
				t.Errorf("err = %#v, want a FormatError only for ErrFormat, found %q", err, tt.found)
			}
			t.Log(err)
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("the file was changed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("files beside the store: %v", entries)
			}
		})
	}
}

func TestOpen_locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openTest(t, path)
	// bbolt's flock belongs to the open file, so a second open in this
	// process waits for it as another process's would.
	if db, err := Open(path, testSchema(nil)); !errors.Is(err, ErrLocked) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestView_closed(t *testing.T) {
	db := openTest(t, "")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := View(db, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View: %v, want ErrClosed", err)
	}
	if err := Update(db, func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update: %v, want ErrClosed", err)
	}
}

func TestGuard_panicIsCorrupt(t *testing.T) {
	if err := Guard(func() error { panic("page 7: invalid type") }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Guard = %v, want ErrCorrupt", err)
	}
	want := errors.New("plain")
	if err := Guard(func() error { return want }); err != want {
		t.Errorf("Guard = %v, want fn's error as is", err)
	}
}

func TestSentinels_Map(t *testing.T) {
	mine := Sentinels{Corrupt: errors.New("mine: corrupt"), Locked: errors.New("mine: locked")}
	err := fmt.Errorf("open x: %w", corruptf("bad page"))
	got := mine.Map(err)
	if !errors.Is(got, mine.Corrupt) || !errors.Is(got, ErrCorrupt) || got.Error() != err.Error() {
		t.Errorf("Map(%v) = %v: want both sentinels and the same message", err, got)
	}
	if got := mine.Map(ErrLocked); !errors.Is(got, mine.Locked) {
		t.Errorf("Map(ErrLocked) = %v", got)
	}
	if got := mine.Map(ErrClosed); got != ErrClosed {
		t.Errorf("Map(ErrClosed) with no Closed sentinel = %v, want it as is", got)
	}
	if got := mine.Map(&FormatError{Want: "x"}); errors.Is(got, mine.Corrupt) {
		t.Errorf("Map(FormatError) with no Format sentinel = %v", got)
	}
	if mine.Map(nil) != nil {
		t.Error("Map(nil) is not nil")
	}
}

func TestU64_order(t *testing.T) {
	for _, v := range []uint64{0, 1, 255, 256, 1 << 40} {
		if bytes.Compare(U64(v), U64(v+1)) >= 0 {
			t.Errorf("U64(%d) does not sort before U64(%d)", v, v+1)
		}
		if got, ok := GetU64(U64(v)); !ok || got != v {
			t.Errorf("GetU64(U64(%d)) = %d, %v", v, got, ok)
		}
	}
	if _, ok := GetU64([]byte{1, 2, 3}); ok {
		t.Error("GetU64 of 3 bytes ok")
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Error(err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// edit changes a file directly, without Open's checks.
func edit(t *testing.T, path string, fn func(tx *Tx) error) {
	t.Helper()
	db, err := OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
