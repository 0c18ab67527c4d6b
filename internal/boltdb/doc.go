// Package boltdb is tillguard's one importer of bbolt (go.etcd.io/bbolt):
// the mechanics that the till's ledger (sync/ledger) and the bureau's
// embedded archive (sync/archive/boltarchive) share, so that both open,
// check, read and compact their files alike.
//
//   - Open: a store file of one Schema (meta "format" → a format string,
//     and top-level buckets), created beside its path and linked into
//     place, and, when it exists, checked through a read-only handle
//     before it is opened for writing, so that a damaged or foreign file
//     is never written to. A second process gets ErrLocked after
//     LockTimeout instead of hanging.
//   - Guard, View, Update: bbolt panics on a damaged page, and touching a
//     page past the end of a truncated file faults; both become
//     ErrCorrupt. A call that raced Close gives ErrClosed.
//   - ReadMeter, ReleaseMapped (release.go): bbolt reads through a shared
//     mmap, and every page read stays resident in the process although
//     it is clean page cache; long readers hand the pages back every
//     ReleaseStep bytes.
//   - Compact: the live pages copied into a second file, checked, and
//     renamed over the original (bbolt never shrinks a file).
//   - CheckStructure: bbolt's own consistency check, made safe to run on
//     a damaged file.
//   - SyncDir: the one helper in tillguard that fsyncs a directory, so a
//     rename or link in it survives a power cut.
//
// Callers use bbolt's types through the aliases here (DB, Tx, Bucket,
// Cursor, Options) and never import bbolt themselves; layering_test.go
// holds every other package to it. Each caller maps this package's
// sentinels to its own with Sentinels.Map.
package boltdb
