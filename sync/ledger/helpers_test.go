package ledger

import (
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/internal/boltdb/bolttest"
	"github.com/tillguard/tillguard/sync/feed"
)

// testKey returns a deterministic key named by seed.
func testKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 14, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTest opens a ledger at path (a new one in a temp dir when path is
// "") and, on cleanup, closes it, reopens the file and checks it with
// Verify: every test leaves a consistent ledger behind.
func openTest(t *testing.T, path string, key ed25519.PrivateKey, opts *Opts) *Ledger {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "ledger.db")
	}
	l, err := Open(path, key, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		again, err := Open(path, key, nil)
		if err != nil {
			t.Errorf("reopen on cleanup: %v", err)
			return
		}
		defer again.Close()
		if err := again.Verify(); err != nil {
			t.Errorf("Verify on cleanup: %v", err)
		}
	})
	return l
}

// pathOf returns the file a ledger was opened on.
func pathOf(l *Ledger) string { return l.db.Path() }

// reopen closes l and opens its file again with the same key.
func reopen(t *testing.T, l *Ledger, opts *Opts) *Ledger {
	t.Helper()
	path := pathOf(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return openTest(t, path, l.key, opts)
}

func newRec(kind string) *feed.Record {
	return &feed.Record{Pharmacy: "H33010100001", Till: "T1", Kind: kind, Cashier: "c01"}
}

func mustAppend(t testing.TB, l *Ledger, n int) []Entry {
	t.Helper()
	out := make([]Entry, 0, n)
	for range n {
		e, err := l.Append(newRec(feed.KindSale))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// editBolt changes a closed store file directly, as someone with the disk
// but without the key could.
func editBolt(t *testing.T, path string, fn func(tx *boltdb.Tx) error) {
	t.Helper()
	bolttest.Edit(t, path, fn)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
