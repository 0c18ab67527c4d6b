package sim

import "errors"

// Errors the caller branches on.
var (
	ErrUnknownDevice = errors.New("sim: unknown device")
	ErrUnplugged     = errors.New("sim: device unplugged")
	ErrClosed        = errors.New("sim: closed")
)
