// Package serialport opens the till's serial devices and keeps them open
// across unplugs. It is the only package in tillguard that imports
// go.bug.st/serial; drivers see a Port, an io.ReadWriteCloser whose Read
// returns (0, nil) when no data came within the read timeout, and none of
// what the device sent before the port was opened.
//
// Ports are named by path, by /dev/serial/by-id link, or by USB adapter:
// usb:VID:PID or usb:VID:PID:SERIAL (ParseSpec), looked up with
// go.bug.st/serial/enumerator behind the Lister function type, so tests can
// stand in for it (the enumerator never lists pseudo-terminals).
//
// Keep owns the reconnect policy: a port that fails is closed and reopened
// with capped exponential backoff, by name, resolving the name again each
// time, so a by-id link or a VID/PID finds the device after Linux renumbers
// it (ttyUSB0 → ttyUSB1 after a replug). See docs/field-notes.md for how
// go.bug.st/serial behaves on timeouts and unplugs, and
// firmware-notes/card-reader.md for finding a port by VID/PID.
package serialport
