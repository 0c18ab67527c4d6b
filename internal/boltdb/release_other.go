//go:build !linux

package boltdb

// ReleaseMapped does nothing here: the resident-memory budget is the
// till's, which runs on Linux (release_linux.go).
func ReleaseMapped(*Tx) {}
