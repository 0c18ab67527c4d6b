// Package bureau is the reference receiver of tills' feeds (SPEC.md §4): it
// consumes every till's tx topic, verifies each record (enrolled till,
// Ed25519 signature over the exact bytes, hash chain, no gap), stores what
// passes in a ledger.Archive in fsynced batches, and only then publishes an
// ack carrying each till's contiguous watermark. Whatever does not pass is
// kept out of the archive and raised as an alarm.
//
// A PUBACK proves nothing to a till, so the bureau's ack is the only thing
// that clears a till's outbox: the bureau never acks before PutBatch has
// returned.
package bureau
