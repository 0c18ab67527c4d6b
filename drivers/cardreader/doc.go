// Package cardreader drives the till's contact CPU card reader and reads the
// unauthenticated data of a social-security card (社会保障卡): card
// identification code, issuing region, validity, card number, holder's
// social-security number, name, sex and birth date.
//
// The wire format (STX/LEN/payload/BCC/ETX frames, reader commands, the
// ISO 7816-4 APDUs against the SSSE application, timings and error handling)
// is described in firmware-notes/card-reader.md, written from
// docs/devices.md (card reader). PIN entry and card authentication for fund settlement go
// through the province's certified library and are out of scope here.
//
// The driver talks to any io.ReadWriter whose Read returns (0, nil) when no
// data is waiting (serialport.Port does); reopening a failed port is the
// caller's job (serialport.Keep).
package cardreader
