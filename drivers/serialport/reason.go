package serialport

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"

	"go.bug.st/serial"
)

// Reason says in a few plain words why a port is not connected ("no such
// file", "unplugged", "permission denied", …), for the alarm and the log
// line the till shows an installer; "" for nil. Only this package can
// tell go.bug.st/serial's errors apart, so the wording lives here.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if r := specReason(err); r != "" {
		return r
	}
	if r := portReason(err); r != "" {
		return r
	}
	if r := errnoReason(err); r != "" {
		return r
	}
	// Anything else is said as it is, without the package names.
	return strings.ReplaceAll(err.Error(), "serialport: ", "")
}

// specReason covers what goes wrong before a node is opened.
func specReason(err error) string {
	switch {
	case errors.Is(err, ErrNoDevice):
		return "no such USB device"
	case errors.Is(err, ErrAmbiguous):
		return "several USB devices match: add :SERIAL to the port name"
	case errors.Is(err, ErrBadSpec):
		return "bad port name"
	case errors.Is(err, ErrUseReturned):
		return "the driver stopped"
	}
	return ""
}

// portReason covers go.bug.st/serial's own errors, which it returns as
// a *PortError and sometimes as a PortError.
func portReason(err error) string {
	var code serial.PortErrorCode
	var p *serial.PortError
	var v serial.PortError
	switch {
	case errors.As(err, &p):
		code = p.Code()
	case errors.As(err, &v):
		code = v.Code()
	default:
		return ""
	}
	switch code {
	case serial.PortClosed:
		// Linux reads a port whose device has gone as zero bytes, which
		// the library reports as closed: an unplug.
		return "unplugged"
	case serial.PortBusy:
		return "busy: another program has it open"
	case serial.PermissionDenied:
		return "permission denied"
	case serial.InvalidSerialPort:
		return "not a serial port"
	case serial.PortNotFound:
		return "no such file"
	}
	return ""
}

// errnoReason covers the system's errors, which the library passes on.
func errnoReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.EISDIR):
		return "not a serial port"
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.ENXIO), errors.Is(err, syscall.ENODEV):
		return "unplugged"
	}
	return ""
}
