// Package archive is the bureau's store, as a contract: Store, what goes
// in (Incoming) and what comes out (Result, Watermark, Alarm, TillInfo),
// and the cross-till rules every store applies alike (cross.go). Two
// stores implement it and pass one conformance suite (archivetest):
// boltarchive, the embedded bbolt file of the demo, a county or a test, for
// one receiver; pgarchive, PostgreSQL, for a province's receivers sharing
// one database.
//
// Several receivers consuming one shared subscription hand a till's records
// to the store in any order, each from its own process. So everything that
// depends on order lives in the store, under one transaction per batch:
// the chain check, each till's contiguous watermark, the records waiting
// for a predecessor, the duplicate and conflict rules, and the alarms. A
// receiver only verifies signatures, calls Put, and acks the watermarks
// Put returns. The tills' enrolled keys are the store's too (Enroll, Key),
// so receivers sharing it verify with the same keys, and so are the heads
// tills announce in their signed statuses (Announce), which later records
// and statuses are held to.
package archive
