package serialport

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.bug.st/serial/enumerator"
)

// usbScheme starts a port name that is a USB adapter, not a path.
const usbScheme = "usb:"

// Spec is a parsed port name: a path (a device node, or a
// /dev/serial/by-id link), or a USB adapter named by vendor and product id
// and, when several identical adapters are plugged in, its serial number.
type Spec struct {
	Path   string // set for a path; empty for a USB spec
	VID    string // 4 upper-case hex digits; set for a USB spec
	PID    string // 4 upper-case hex digits
	Serial string // USB serial number, matched exactly; "" matches any
}

// IsUSB reports whether s names a USB adapter rather than a path.
func (s Spec) IsUSB() bool { return s.VID != "" }

// String returns the canonical spelling that ParseSpec reads back.
func (s Spec) String() string {
	if !s.IsUSB() {
		return s.Path
	}
	out := usbScheme + s.VID + ":" + s.PID
	if s.Serial != "" {
		out += ":" + s.Serial
	}
	return out
}

// ParseSpec reads a port name: "usb:VID:PID" or "usb:VID:PID:SERIAL" (hex
// ids in either case, e.g. usb:0403:6001 or usb:0403:6001:A10K5ZQ1), or
// else a path such as /dev/serial/by-id/usb-FTDI_…-if00-port0. The serial
// number is everything after the third colon. An empty name is an error:
// "no device" is decided by the caller before it gets here.
func ParseSpec(name string) (Spec, error) {
	if name == "" {
		return Spec{}, fmt.Errorf("serialport: empty port name: %w", ErrBadSpec)
	}
	if len(name) < len(usbScheme) || !strings.EqualFold(name[:len(usbScheme)], usbScheme) {
		if strings.ContainsRune(name, 0) {
			return Spec{}, fmt.Errorf("serialport: port path %q holds a NUL: %w", name, ErrBadSpec)
		}
		return Spec{Path: name}, nil
	}
	parts := strings.SplitN(name[len(usbScheme):], ":", 3)
	if len(parts) < 2 {
		return Spec{}, fmt.Errorf("serialport: %q: want usb:VID:PID[:SERIAL]: %w", name, ErrBadSpec)
	}
	s := Spec{VID: strings.ToUpper(parts[0]), PID: strings.ToUpper(parts[1])}
	if !isHex4(s.VID) || !isHex4(s.PID) {
		return Spec{}, fmt.Errorf("serialport: %q: vendor and product ids are 4 hex digits: %w", name, ErrBadSpec)
	}
	if len(parts) == 3 {
		s.Serial = parts[2]
		if !validSerial(s.Serial) {
			return Spec{}, fmt.Errorf("serialport: %q: serial number must be printable and non-empty: %w", name, ErrBadSpec)
		}
	}
	return s, nil
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func validSerial(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// USBPort is one USB serial port the system has now.
type USBPort struct {
	Path   string // device node, e.g. /dev/ttyUSB0
	VID    string // hex, any case
	PID    string
	Serial string
}

// Lister lists the USB serial ports present now. ListUSB is the real one;
// tests pass their own, since the enumerator never lists pseudo-terminals.
type Lister func() ([]USBPort, error)

// ListUSB lists USB serial ports with go.bug.st/serial/enumerator, which
// reads sysfs on Linux without probing the devices.
func ListUSB() ([]USBPort, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("serialport: list usb ports: %w", err)
	}
	var out []USBPort
	for _, p := range ports {
		if p == nil || !p.IsUSB || p.Name == "" {
			continue
		}
		out = append(out, USBPort{Path: p.Name, VID: p.VID, PID: p.PID, Serial: p.SerialNumber})
	}
	return out, nil
}

// Resolve returns the device path for a port name: a path as it is, a USB
// spec as the one port list reports for it. No match wraps ErrNoDevice;
// more than one (identical adapters, no serial number given) wraps
// ErrAmbiguous, naming the candidates — tillguard never guesses which
// device is the card reader. A nil list means ListUSB.
func Resolve(name string, list Lister) (string, error) {
	s, err := ParseSpec(name)
	if err != nil {
		return "", err
	}
	if !s.IsUSB() {
		return s.Path, nil
	}
	if list == nil {
		list = ListUSB
	}
	ports, err := list()
	if err != nil {
		return "", fmt.Errorf("serialport: resolve %s: %w", s, err)
	}
	var found []string
	for _, p := range ports {
		if strings.EqualFold(p.VID, s.VID) && strings.EqualFold(p.PID, s.PID) &&
			(s.Serial == "" || p.Serial == s.Serial) {
			found = append(found, p.Path)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("serialport: resolve %s: %w", s, ErrNoDevice)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("serialport: resolve %s: %w: %s (add :SERIAL)", s, ErrAmbiguous, strings.Join(found, ", "))
}
