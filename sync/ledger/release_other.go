//go:build !linux

package ledger

import bolt "go.etcd.io/bbolt"

// releaseMapped does nothing here: the resident-memory budget is the
// till's, which runs on Linux (release_linux.go).
func releaseMapped(*bolt.Tx) {}
