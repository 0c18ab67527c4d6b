package boltarchive_test

import (
	"context"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
)

var ctx = context.Background()

// openTest opens the archive at path, closed on cleanup.
func openTest(t testing.TB, path string, opts *archive.Opts) *boltarchive.Archive {
	t.Helper()
	a, err := boltarchive.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a
}
