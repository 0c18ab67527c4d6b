// Package agent wires the till daemon together and runs it until its
// context ends. It holds no business rules of its own:
//
//	card reader ─┐
//	             ├─▶ session ──▶ policy (decide each line)
//	scanner ─────┘      │
//	                    ▼
//	                 ledger (bbolt, fsync, signed, chained)
//	                    │
//	                    ▼
//	                 uplink ──MQTT──▶ bureau ──ack──▶ ledger outbox cleared
//
// Drivers live in drivers/, rules in policy/, the ledger, uplink and bureau
// in sync/. The local web interface is agent/web, the counter session
// agent/session, the no-install demo agent/demo.
package agent
