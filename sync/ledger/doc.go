// Package ledger is the till's ledger, kept on disk in bbolt (through
// internal/boltdb): a signed, hash-chained, gapless sequence of records
// with an outbox of what the bureau has not yet acknowledged, and the
// history index the counter's rules read. The bureau's store of what
// many tills send is another package (sync/archive/boltarchive).
//
// Durability: Append returns only after its bbolt Update has been
// fsynced; a crash at any instant leaves the file as it was before or
// after the call, never in between (README, "Durability").
//
// File layout (one bbolt file):
//
//	meta    "format" → "tillguard-ledger/1", "head" → u64, "acked" → u64,
//	        "anchor" → u64 | 64 hex (after Prune), "index/1" → u64
//	records seq → 0x01 | append time (unix ns, i64) | Ed25519 sig (64) | record JSON
//	outbox  seq → append time (unix ns, i64), for every seq in (acked, head]
//	keys    first seq signed with the key → Ed25519 public key (32)
//	index   the history index (index.go)
//
// Integers are big-endian so bbolt's byte order is numeric order. The
// outbox is an index of the records the uplink still owes the bureau; it
// is cleared only by Ack, never by a publish (docs/field-notes.md: a PUBACK
// proves little). The keys bucket lets Verify check records signed before
// a key rotation.
//
// Retention: Prune drops acknowledged records older than a cut-off, oldest
// first, never the head record nor one still in the outbox, and keeps
// meta "anchor" → u64 seq | hex SHA-256 of the last dropped record. Open's
// check and Verify start the chain there: the first stored record must be
// anchor+1 and link to the anchor's hash. bbolt reuses freed pages, so a
// pruned ledger stops growing; Compact (on a closed file) copies the live
// pages into a second file, fsyncs and checks it, and renames it over the
// ledger to give the space back (boltdb.Compact).
//
// Memory: bbolt reads the file through a shared, read-only mmap, and every
// page read stays in the process's resident memory although it is clean
// page cache. Readers that walk much of the file (Pending, Scan, the
// index's catch-up at Open, Prune, Compact) release the mapping's pages
// with madvise(MADV_DONTNEED) every few MB read (boltdb.ReadMeter), so the
// till's memory does not grow with its ledger (docs/performance.md); the next read
// faults the same bytes back. Verify's structure check reads the whole
// file at once and is for audits.
//
// A file that is not a ledger, or whose counters disagree with its
// buckets, is reported with ErrCorrupt and left untouched for an operator:
// an existing file is checked through a read-only handle before it is
// opened for writing, and a new file is built beside the path and linked
// into place (boltdb.Open). bbolt panics and memory faults on damaged
// pages are turned into ErrCorrupt rather than crashing the till.
package ledger
