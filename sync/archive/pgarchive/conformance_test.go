package pgarchive

import (
	"context"
	"sync"
	"testing"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	dsns := map[archive.Store]string{}
	open := func(t *testing.T, dsn string, opts *archive.Opts) archive.Store {
		t.Helper()
		s, err := Open(context.Background(), dsn, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}
	dsnOf := func(s archive.Store) string {
		mu.Lock()
		defer mu.Unlock()
		return dsns[s]
	}
	archivetest.Run(t, archivetest.Harness{
		Open: func(t *testing.T, opts *archive.Opts) archive.Store { return open(t, pgtest.NewDB(t), opts) },
		Reopen: func(t *testing.T, s archive.Store, opts *archive.Opts) archive.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, dsnOf(s), opts)
		},
		Another: func(t *testing.T, s archive.Store, opts *archive.Opts) archive.Store { return open(t, dsnOf(s), opts) },
	})
}
