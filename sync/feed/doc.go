// Package feed is the wire contract between tills and bureaus (docs/feed.md):
// the record every ledger entry holds, the envelope a till publishes, the
// bureau's signed acknowledgement (ack.go), the till's signed retained
// status (status.go), the POS's settlement (settlement.go), and the MQTT
// topics they travel on.
//
// Field names follow the national medical-insurance platform where one
// exists (med_list_codg, drug_trac_codg, rx_flag…), so a record maps onto a
// 3505 sale upload without loss. Renaming a JSON field here is a protocol
// change, and adding one means adding it to decode.go's keys and switch
// too (a test compares the keys with the fields).
package feed
