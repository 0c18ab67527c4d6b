// Package scanner reads a barcode scanner on a serial port and tells what
// each scanned line means: a retail product code (EAN-13, EAN-8), a drug
// traceability code, a GS1 symbol or GS1 Digital Link, a prescription
// reference or a medical-insurance electronic voucher — or an unreadable
// code, which is never guessed into an item. A pack's code in a plain QR
// is that code, never the buyer's voucher.
//
// The wire format, the AIM identifiers, GS1 handling and how to configure a
// real scanner are in firmware-notes/scanner.md; the contract is
// docs/devices.md (scanner). The package sees only an io.Reader: opening the port
// (and the serial library) belongs to package serialport.
package scanner
