// Package uplink delivers a till's ledger outbox to the bureau (docs/feed.md):
// it publishes each record as a signed envelope on the till's tx topic, in
// seq order and within a window, and clears the outbox only when the
// bureau's ack covers a record. A PUBACK proves nothing, so nothing is
// cleared on one; after a reconnect it sends again from the first
// unacknowledged seq and lets the bureau drop duplicates. When acks stop
// coming it sends only that first record again, once per ack timeout
// with a growing backoff, so a bureau that is down does not have a
// window of duplicates queued for it each time; the window opens again
// with the bureau's next ack. An ack that says the bureau already holds
// what follows a hole (feed.Ack's WaitingFrom: a receiver went away with
// the hole, or it is on its way to another receiver) brings that hole
// again, alone, and the stream goes on where it was.
//
// An ack is believed only when it is the bureau's (Opts.BureauKey: signed
// with the bureau key, naming this till) and names the till's own record
// (its hash is the till's record at upto_seq). Anything else on the ack
// topic is refused, counted and reported (AckRefusal: ack_forged,
// ack_mismatch), the outbox untouched; so is a lower ack well after a
// higher one (ack_regressed: the bureau lost records, or the till was
// rolled back). A till without the key is a trial and takes unsigned acks.
//
// It also keeps the till's retained status topic: online while connected,
// offline as the MQTT will and on a clean shutdown, and, given a region and
// a callback (Opts.Region, Opts.OnPolicy), takes the region's retained
// policy bundles to the agent, which verifies them (sync/bundle).
package uplink
