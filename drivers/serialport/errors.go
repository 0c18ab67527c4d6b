package serialport

import "errors"

// Errors the caller branches on.
var (
	// ErrClosed is returned by Read and Write after the port was closed.
	ErrClosed = errors.New("serialport: port closed")
	// ErrUseReturned is the disconnect reason Keep reports when use returned
	// nil while the context was still alive.
	ErrUseReturned = errors.New("serialport: use returned")

	// ErrBadSpec: a port name that ParseSpec cannot read.
	ErrBadSpec = errors.New("serialport: bad port name")
	// ErrNoDevice: no USB serial port matches a usb:VID:PID name (the
	// adapter is unplugged); Keep retries.
	ErrNoDevice = errors.New("serialport: no such usb device")
	// ErrAmbiguous: several USB serial ports match a usb:VID:PID name;
	// add the serial number.
	ErrAmbiguous = errors.New("serialport: several usb devices match")
)
