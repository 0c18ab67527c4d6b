// Package brokertest starts a real mosquitto for tests: a random free
// loopback port, a generated config (anonymous access, unbounded queues as
// FIELD-NOTES.md asks of every broker that queues for the bureau, persistence
// only on request), and a process that is stopped on t.Cleanup.
//
// WithProductionConfig starts testdata/mosquitto's production
// configuration instead (TLS only, client certificates as identities,
// per-till ACL), with a throwaway CA, server and client certificates from
// NewPKI.
package brokertest
