// Package serialport opens the till's serial devices and keeps them open
// across unplugs. It is the only package in tillguard that imports
// go.bug.st/serial; drivers see a Port, an io.ReadWriteCloser whose Read
// returns (0, nil) when no data came within the read timeout.
//
// Keep owns the reconnect policy: a port that fails is closed and reopened
// with capped exponential backoff, by path, so a /dev/serial/by-id symlink
// finds the device again after Linux renumbers it. See FIELD-NOTES.md for how
// go.bug.st/serial behaves on timeouts and unplugs.
package serialport
