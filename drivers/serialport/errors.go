package serialport

import "errors"

// Errors the caller branches on.
var (
	// ErrClosed is returned by Read and Write after the port was closed.
	ErrClosed = errors.New("serialport: port closed")
	// ErrUseReturned is the disconnect reason Keep reports when use returned
	// nil while the context was still alive.
	ErrUseReturned = errors.New("serialport: use returned")
)
