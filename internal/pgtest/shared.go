package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// shared is the test binary's one cluster. It is package state because
// TestMain and the tests meet nowhere else: Main owns its lifetime, the
// tests (Shared, NewDB) start it on first use.
var shared struct {
	mu   sync.Mutex
	main bool     // Main is running the tests
	c    *Cluster // started, or nil
	err  error    // why it could not start: every later test fails the same way at once
}

// Main runs the tests of a package whose tests use Shared or NewDB, and
// removes the shared cluster when they are done, or when the binary is
// interrupted. Call it from TestMain.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			removeShared()
			os.Exit(1)
		}
	}()
	code := m.Run()
	signal.Stop(sig)
	close(sig)
	if err := removeShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func removeShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.c == nil {
		return nil
	}
	err := shared.c.Remove()
	shared.c = nil
	return err
}

// Shared returns the test binary's cluster, starting it on first use.
// Without PostgreSQL the test skips (fails with TILLGUARD_REQUIRE_POSTGRES=1).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("pgtest: the shared cluster needs `func TestMain(m *testing.M) { pgtest.Main(m) }` in the package's tests")
	}
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = New()
	}
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	return shared.c
}

// NewDB creates a fresh database on the shared cluster for this test and
// returns its DSN; it is dropped when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	return Shared(t).NewDB(t)
}

// Restart restarts the shared cluster (pg_ctl restart -m fast): every
// client connection drops, and the cluster accepts new ones when it
// returns.
func Restart(t testing.TB) {
	t.Helper()
	if err := Shared(t).Restart(); err != nil {
		t.Fatal(err)
	}
}

// NewCluster starts a cluster of the test's own, removed when the test
// ends: for a test that stops or kills it while others use the shared one.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := New()
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(func() {
		if err := c.Remove(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// NewDB creates a fresh database for this test and returns its DSN. The
// database is dropped when the test ends, if the cluster runs then.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	name, err := c.CreateDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		up := c.running
		c.mu.Unlock()
		if up {
			// FORCE ends the sessions of pools a test left open; a failure
			// leaves only a database that goes with the cluster.
			if err := c.DropDB(name); err != nil {
				t.Logf("pgtest: %v", err)
			}
		}
	})
	return c.DSN(name)
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv(EnvRequire) != "1" {
		t.Skipf("%v; set %s=1 to fail instead", err, EnvRequire)
	}
	t.Fatal(err)
}
