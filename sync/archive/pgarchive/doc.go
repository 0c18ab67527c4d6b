// Package pgarchive is the bureau's production store: archive.Store in a
// PostgreSQL database that every receiver of a province shares. It is the
// only package that speaks to PostgreSQL (pgx).
//
// # What the schema holds, and why
//
//   - tills: one row per till with its contiguous watermark (seq and the
//     hash of that record), records stored, records waiting, when it was
//     last seen, its latest retained status, its enrolled public key
//     (Enroll), which every receiver verifies with, and the highest head
//     it announced in a signed status (Announce), with when the store
//     learned it; a partial index holds the tills still awaiting the
//     records of that head, which the stale sweep reads. Every Put locks
//     the rows of its tills, so the chain check and the watermark are
//     decided by one receiver at a time per till, whichever receiver the
//     broker handed the record to.
//   - records: every stored record, keyed by (pharmacy, till, seq), with
//     the exact bytes the till signed and the signature as received, their
//     hash, and the fields queries need (id, kind, time, card number).
//   - lines: one row per line of a stored record (barcode, med_list_codg,
//     qty, days, price, decision, rule, payment, traceability codes), for
//     analysts, Search and Blocked; traceability codes are indexed (GIN).
//   - waiting: records whose predecessor is not stored yet, at most
//     archive.MaxWaiting per till, stored by whichever Put stores their
//     predecessor, once their chain checks.
//   - alarms: one row per (kind, pharmacy, till, seq, key), counting
//     repeats, with the records concerned; they outlive every restart.
//   - trace_holders and card_days: the cross-till index of archive's
//     cross.go, written in the transaction that stores the records.
//   - schema_migrations: the versions of migrations/*.sql applied, at Open,
//     under an advisory lock; a database newer than the binary is refused
//     (archive.ErrSchema).
//
// records and lines are partitioned by month of the record's own time:
// old months go whole (DropBefore), and a month's rows sit together on
// disk. A default partition takes records whose month has no partition
// yet (clocks far off, backlogs older than the first one); AddMonths gives
// such months theirs, and Open and a timer make the coming months' ahead.
//
// # How receivers share it
//
// A Put is one transaction: it locks its tills' rows in (pharmacy, till)
// order, decides every record against the watermarks it then holds, copies
// the new records and lines in (COPY), advances the watermarks and the
// waiting queue, and, under one database-wide advisory lock taken last and
// held to the commit, applies the cross-till rules and stores the alarms.
// Taking the locks in that one order keeps receivers with overlapping
// batches from deadlocking (a deadlock the server breaks anyway is
// retried). What a Put returns is committed: its acks never go past what
// is stored, and never backwards.
//
// A Put whose connection breaks before its commit (the server restarted)
// runs once more on a fresh connection; if that fails too it returns the
// error, having stored nothing. Only a connection lost during the commit
// itself leaves the outcome unknown: the Put returns an error, nothing is
// acked, and the tills' resends are stored or found duplicates. Reads run
// again once on a fresh connection as well.
package pgarchive
