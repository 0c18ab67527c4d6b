// Package sim emulates the till's two serial devices — the social-security
// card reader and the barcode scanner — on pseudo-terminals, speaking
// exactly the wire formats of docs/devices.md (see firmware-notes/card-reader.md).
// Drivers open the pty slaves like real ports; tests and the demo drive the
// devices from the other side: insert and remove cards, scan codes, inject
// line noise, unplug and replug.
//
// The emulated reader answers every host frame at once and never speaks
// unsolicited. Its cards hold the records of a Holder; a Holder field left
// empty (or that does not encode) is a record the card lacks.
package sim
