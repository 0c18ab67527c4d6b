// Package boltarchive is the embedded archive.Store: one bbolt file
// (through internal/boltdb), for the demo, a county, a test or any bureau
// with one receiver. It is locked to one process (ErrLocked for a second);
// receivers that share a store use pgarchive. It passes archivetest.Run.
//
// Every Put is one fsynced bbolt Update: the chain check, the watermark,
// the waiting records, the cross-till indexes and the alarms of a batch
// are committed together or not at all, and Put returns only after the
// commit is on disk.
//
// File layout:
//
//	meta      "format" → "tillguard-archive/2"
//	tills     till → bucket {
//	            "state"  → u64 watermark | 32-byte SHA-256 of record watermark (zero for 0)
//	                       | u32 records waiting | i64 last seen (unix ns, 0 = never)
//	                       [ | u64 announced head | its 32-byte SHA-256 as announced
//	                         | i64 the status's time | i64 learned at (unix ns) ]   (only once a head is announced)
//	            "status" → the till's latest retained status (feed.Status JSON)
//	            "key"    → its enrolled Ed25519 public key (32 bytes) | i64 enrolled at (unix ns); none if never enrolled
//	            recs:  seq → uvarint len sig | sig | record bytes    (1..watermark, all of them)
//	            wait:  seq → i64 arrived (unix ns) | str prev | str id | uvarint len sig | sig | record bytes
//	          }
//	waiting   till → "" for every till with records waiting (Sweep reads only these)
//	awaited   till → "" for every till whose announced head is past its watermark
//	          (Sweep reads only these); made by the first Announce
//	alarms    u64 id → archive.Alarm JSON; ids from the bucket's sequence, increasing
//	alarmkeys str kind | str pharmacy | str till | u64 seq | key → u64 id: folds repeats
//	xtrace    trace code → ref: the unreturned sale holding the code
//	xsale     sale id → ref, so a return finds its sale
//	xcard     str card | generic (10) | u32 day | till → uvarint days | ref of the day's last sale there
//	xblocked  'd' | u32 UTC day | str pharmacy | rule → uvarint lines
//	          'n' | u64 record time (unix ns) | str pharmacy | rule → uvarint lines
//	xsearch   'c' | str card | u64 record time (unix ns) | str till | u64 seq → ""
//	          't' | str trace code | u64 record time (unix ns) | str till | u64 seq → uvarint lines…
//
// till is "pharmacy" 0x00 "till": ids hold no NUL (feed.ValidID), so the
// bucket's order is (pharmacy, till) order. str is u16 length | bytes;
// ref is str pharmacy | str till | u64 seq | id. Integers are big-endian,
// and times are offset by 2^63, so byte order is numeric order.
//
// A record is stored only when it extends its till's chain (archive.Store
// explains the rules); 1..watermark are therefore always all stored, and
// what is beyond waits in wait, at most archive.MaxWaiting per till. The
// cross-till buckets are written as each record is stored, directly or
// promoted from wait, and decided by sync/archive's rules (cross.go).
// xblocked counts the blocked-attempt lines per pharmacy and rule twice:
// per UTC day, for the whole days of a range, and per record time, for its
// ends; Blocked reads neither records nor more than two days of times.
//
// A till's announced head (Announce) rides in its state, which every Put
// reads anyway; a till that never announced one has the state archives
// had before heads were announced, and those archives open as they are.
//
// Open checks every till's state against its buckets (the watermark's
// record is there and hashes as recorded, none beyond it, the waiting
// records beyond the next, the awaited index), a cost per till, not per
// record. A damaged
// file gives ErrCorrupt, and a file of another format, an older archive
// included, archive.ErrSchema; either is left untouched.
package boltarchive
