// Package bureau is the receiver of tills' feeds (docs/feed.md): it consumes
// every till's tx topic, checks each message's topic, shape, enrolment and
// Ed25519 signature over the exact bytes, hands what passes to its store
// (archive.Store) in one Put per batch, and only then publishes, for each
// till the batch touched, an ack carrying the watermark the Put returned.
// Parsing and signature checks run on every core, each core checking its
// share of a batch's signatures as one (internal/sigbatch), ahead of the
// store, which takes everything verified meanwhile in one Put.
//
// The tills' keys are the store's (archive.Store.Enroll), so a till
// enrolled once is known to every receiver, running ones included. A
// receiver holds the keys it has found (LoadKeys takes in all of them at
// the start) and asks the store only for a till it holds none for, and
// once more for one whose signature fails with the key held, in case the
// key was replaced; a till the store holds no key for is unenrolled.
//
// Several receivers may consume one shared subscription into one store:
// the broker then hands a till's records to any of them, in any order, so
// nothing here depends on order. The store checks the chain, keeps each
// till's watermark and the records waiting for a predecessor, folds
// duplicates and raises conflicts; whichever receiver's Put advances a
// watermark acks it. What a receiver refuses itself (bad payload,
// unenrolled, bad signature) it raises as an alarm in the store too, where
// a repeat only counts. Each receiver sweeps the store for holes open
// longer than Opts.GapGrace (gap alarms), and keeps the tills' retained
// statuses in it.
//
// A PUBACK proves nothing to a till, so the bureau's ack is the only thing
// that clears a till's outbox: the bureau never acks before Put has
// returned. The bureau subscribes at QoS 1 (mosquitto drops QoS 0
// messages for a subscriber slower than the feed) with a clean session:
// the tills publish at QoS 1 and keep every record until the bureau acks
// it, so a record lost on its way to the bureau (the bureau was away, or
// reconnecting) is sent again by its till, after the till's ack timeout
// or on an ack that names the hole (feed.Ack's WaitingFrom). The broker
// queues nothing for an absent receiver, and a receiver that has gone
// leaves its shared group. Acks go at QoS 0: each is repeated by the
// next, and a till that missed one sends again and is acked again.
//
// Export writes a store's records as JSON lines or CSV, or as the national
// platform's 3505 and 3506 uploads (nhsa.go), which CheckUpload checks
// for every field the platform requires (validate.go); PolicyBundle and
// PublishPolicy make and send the signed policy bundles (sync/bundle).
package bureau
