// Package bureau is the reference receiver of tills' feeds (SPEC.md §4): it
// consumes every till's tx topic, verifies each record (enrolled till,
// Ed25519 signature over the exact bytes, hash chain, no gap), stores what
// passes in a ledger.Archive in fsynced batches, and only then publishes an
// ack carrying each till's contiguous watermark. Parsing and signature
// checks run on every core, each core checking its share of a batch's
// signatures as one (internal/sigbatch), ahead of the store, which takes
// everything verified meanwhile in one transaction; each record is
// decoded once, and the archive's cross-till index reads that decoding
// (ledger.Incoming's Parsed) rather than the bytes again. Whatever does
// not pass is kept out of the archive and raised as an alarm.
//
// A PUBACK proves nothing to a till, so the bureau's ack is the only thing
// that clears a till's outbox: the bureau never acks before PutBatch has
// returned. For the same reason the bureau subscribes at QoS 0: the tills
// publish at QoS 1 and keep every record until the bureau acks it, so a
// record the broker drops on its way to the bureau (the bureau was away,
// or reconnecting) is sent again by its till, after the till's ack timeout
// or on a repeated ack. The broker queues nothing for an absent bureau,
// and is spared a PUBACK per record (make bench: drain/bridge 1.25 on
// average over nine runs, against 1.07 at QoS 1).
//
// What no single till can see is checked across tills from the archive's
// cross-till index (cross.go): a traceability code sold again at another
// till without a return in between (trace_dup_cross), and a card holding
// more days of a drug than the limit counting every till
// (days_supply_cross). Export writes the archive as JSON lines or CSV;
// PolicyBundle and PublishPolicy make and send the signed policy bundles
// (sync/bundle).
package bureau
