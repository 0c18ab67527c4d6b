// Package uplink delivers a till's ledger outbox to the bureau (SPEC.md §4):
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
// It also keeps the till's retained status topic: online while connected,
// offline as the MQTT will and on a clean shutdown, and, given a region and
// a callback (Opts.Region, Opts.OnPolicy), takes the region's retained
// policy bundles to the agent, which verifies them (sync/bundle).
package uplink
