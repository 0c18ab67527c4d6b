// Package brokertest starts a real mosquitto for tests: a random free
// loopback port, a generated config (anonymous access, unbounded queues as
// docs/field-notes.md asks of every broker that queues for the bureau, persistence
// only on request), and a process that is stopped on t.Cleanup.
//
// WithProductionConfig starts testdata/mosquitto's production
// configuration instead (TLS only, client certificates as identities,
// per-till ACL), with a throwaway CA, server and client certificates from
// NewPKI.
//
// NewProxy puts a TCP relay in front of a broker that a test can cut and
// restore (a lost link). StartBridge starts a second mosquitto, as a shop
// would run on its till, with persistence on and bridged to a Broker: the
// alternative to tillguard that the drain bench and the fault campaign
// measure.
package brokertest
