package boltarchive_test

import (
	"path/filepath"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
)

func TestConformance(t *testing.T) {
	archivetest.Run(t, archivetest.Harness{
		Open: func(t *testing.T, opts *archive.Opts) archive.Store {
			return openTest(t, filepath.Join(t.TempDir(), "archive.db"), opts)
		},
		Reopen: func(t *testing.T, s archive.Store, opts *archive.Opts) archive.Store {
			a := s.(*boltarchive.Archive)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			return openTest(t, a.Path(), opts)
		},
		// The embedded archive is one process's: its receivers share the
		// handle.
		Another: func(t *testing.T, s archive.Store, _ *archive.Opts) archive.Store { return s },
	})
}
