package boltarchive_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/internal/boltdb/bolttest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/feed"
)

// stateOf reads P1/T1's state value from the closed archive at path.
func stateOf(t *testing.T, path string) []byte {
	t.Helper()
	var v []byte
	bolttest.Edit(t, path, func(tx *boltdb.Tx) error {
		v = append(v, tx.Bucket([]byte("tills")).Bucket([]byte("P1\x00T1")).Get([]byte("state"))...)
		return nil
	})
	return v
}

// TestAnnounce_olderArchive: a till that never announced a head keeps the
// state older archives hold, and such an archive (no awaited index
// either) opens, lists no head, and takes one.
func TestAnnounce_olderArchive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive.db")
	c := archivetest.NewChain("P1", "T1")
	c.Add(4)
	a, err := boltarchive.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, a, c.Records(1, 2)...)
	a.Close()
	const olderStateLen = 8 + 32 + 4 + 8 // watermark | hash | waiting | last seen
	if v := stateOf(t, path); len(v) != olderStateLen {
		t.Fatalf("state of %d bytes, want the older %d", len(v), olderStateLen)
	}

	a = openTest(t, path, nil)
	tills, err := a.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 1 || tills[0].Announced != (archive.Announcement{}) || tills[0].Contiguous != 2 {
		t.Fatalf("tills %+v %v, want P1/T1 at 2 with no head announced", tills, err)
	}
	at := time.Date(2025, 3, 2, 18, 0, 0, 0, time.UTC)
	if as, err := a.Announce(ctx, "P1", "T1", archive.Announcement{Seq: 4, Hash: feed.Hash(c.Record(4).Rec), At: at}); err != nil || len(as) != 0 {
		t.Fatalf("Announce: %+v %v", as, err)
	}
	a.Close()

	a = openTest(t, path, nil) // the awaited index checks against the state
	tills, _ = a.Tills(ctx, archive.TillQuery{})
	if got := tills[0].Announced; got.Seq != 4 || got.Hash != feed.Hash(c.Record(4).Rec) || !got.At.Equal(at) {
		t.Fatalf("announced %+v after reopening", got)
	}
	put(t, a, c.Records(3, 4)...)
	if got, err := a.Sweep(ctx, time.Now(), time.Now(), time.Now().Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("Sweep with the head's records stored: %+v %v", got, err)
	}
}

// TestOpen_awaitedIndexDamaged: the awaited index disagreeing with a
// till's state, or a state cut inside its announced head, is damage.
func TestOpen_awaitedIndexDamaged(t *testing.T) {
	for name, damage := range map[string]func(tx *boltdb.Tx) error{
		"awaited index lost": func(tx *boltdb.Tx) error {
			return tx.Bucket([]byte("awaited")).Delete([]byte("P1\x00T1"))
		},
		"announced head cut": func(tx *boltdb.Tx) error {
			b := tx.Bucket([]byte("tills")).Bucket([]byte("P1\x00T1"))
			v := append([]byte(nil), b.Get([]byte("state"))...)
			return b.Put([]byte("state"), v[:len(v)-8])
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "archive.db")
			a, err := boltarchive.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := archivetest.NewChain("P1", "T1")
			c.Add(3)
			put(t, a, c.Record(1))
			if _, err := a.Announce(ctx, "P1", "T1", archive.Announcement{Seq: 3, Hash: feed.Hash(c.Record(3).Rec), At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			a.Close()
			bolttest.Edit(t, path, damage)
			a, err = boltarchive.Open(path, nil)
			if err == nil {
				a.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, boltarchive.ErrCorrupt) || !strings.Contains(err.Error(), "P1") {
				t.Fatalf("Open: %v, want ErrCorrupt naming the till", err)
			}
		})
	}
}
