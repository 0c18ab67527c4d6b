package serialport

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestParseSpec_table(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  bool
	}{
		{in: "/dev/ttyUSB0", want: Spec{Path: "/dev/ttyUSB0"}},
		{in: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K5ZQ1-if00-port0",
			want: Spec{Path: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K5ZQ1-if00-port0"}},
		{in: "ttyS0", want: Spec{Path: "ttyS0"}},
		{in: "usb:0403:6001", want: Spec{VID: "0403", PID: "6001"}},
		{in: "usb:1a86:7523", want: Spec{VID: "1A86", PID: "7523"}},
		{in: "USB:067B:2303", want: Spec{VID: "067B", PID: "2303"}},
		{in: "usb:0403:6001:A10K5ZQ1", want: Spec{VID: "0403", PID: "6001", Serial: "A10K5ZQ1"}},
		{in: "usb:0403:6001:a:b c", want: Spec{VID: "0403", PID: "6001", Serial: "a:b c"}},
		{in: "usbfoo", want: Spec{Path: "usbfoo"}}, // a relative path, not a scheme
		{in: "", err: true},
		{in: "usb:", err: true},
		{in: "usb:0403", err: true},
		{in: "usb:0403:", err: true},
		{in: "usb:403:6001", err: true},
		{in: "usb:04030:6001", err: true},
		{in: "usb:0x03:6001", err: true},
		{in: "usb:0403:600g", err: true},
		{in: "usb:0403:6001:", err: true},
		{in: "usb:0403:6001:A1\x00", err: true},
		{in: "usb:0403:6001:A1\n", err: true},
		{in: "usb:0403:6001:\xff", err: true},
		{in: "/dev/tty\x00USB0", err: true},
	}
	for _, tc := range tests {
		got, err := ParseSpec(tc.in)
		if tc.err {
			if err == nil || !errors.Is(err, ErrBadSpec) {
				t.Errorf("ParseSpec(%q) = %+v, %v; want ErrBadSpec", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseSpec(got.String()); err != nil || back != got {
			t.Errorf("ParseSpec(%q.String() = %q) = %+v, %v", tc.in, got.String(), back, err)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"/dev/ttyUSB0", "usb:0403:6001", "USB:1a86:7523:A10K5ZQ1", "usb:0403:6001:", "usb::", "usb:0403:6001:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("ParseSpec(%q) error %v does not wrap ErrBadSpec", in, err)
			}
			return
		}
		if s.IsUSB() == (s.Path != "") {
			t.Fatalf("ParseSpec(%q) = %+v: exactly one of path and usb ids", in, s)
		}
		if s.IsUSB() && (!isHex4(s.VID) || !isHex4(s.PID)) {
			t.Fatalf("ParseSpec(%q) = %+v: ids not canonical", in, s)
		}
		canon := s.String()
		back, err := ParseSpec(canon)
		if err != nil || back != s {
			t.Fatalf("round trip %q → %+v → %q → %+v, %v", in, s, canon, back, err)
		}
		if back.String() != canon {
			t.Fatalf("String not stable: %q → %q", canon, back.String())
		}
	})
}

func list(ports ...USBPort) Lister {
	return func() ([]USBPort, error) { return ports, nil }
}

func TestResolve_table(t *testing.T) {
	ftdiA := USBPort{Path: "/dev/ttyUSB0", VID: "0403", PID: "6001", Serial: "A10K5ZQ1"}
	ftdiB := USBPort{Path: "/dev/ttyUSB1", VID: "0403", PID: "6001", Serial: "B20X"}
	ch340 := USBPort{Path: "/dev/ttyUSB2", VID: "1a86", PID: "7523"}
	listErr := errors.New("sysfs unreadable")
	tests := []struct {
		name    string
		in      string
		list    Lister
		want    string
		wantErr error
	}{
		{name: "path untouched", in: "/dev/serial/by-id/x", list: func() ([]USBPort, error) {
			t.Error("a path must not enumerate")
			return nil, nil
		}, want: "/dev/serial/by-id/x"},
		{name: "vid pid", in: "usb:1A86:7523", list: list(ftdiA, ch340), want: "/dev/ttyUSB2"},
		{name: "lower-case list", in: "usb:1a86:7523", list: list(ch340), want: "/dev/ttyUSB2"},
		{name: "serial picks one", in: "usb:0403:6001:B20X", list: list(ftdiA, ftdiB, ch340), want: "/dev/ttyUSB1"},
		{name: "two alike", in: "usb:0403:6001", list: list(ftdiA, ftdiB), wantErr: ErrAmbiguous},
		{name: "serial is exact", in: "usb:0403:6001:b20x", list: list(ftdiA, ftdiB), wantErr: ErrNoDevice},
		{name: "unplugged", in: "usb:0403:6001", list: list(ch340), wantErr: ErrNoDevice},
		{name: "nothing plugged", in: "usb:0403:6001", list: list(), wantErr: ErrNoDevice},
		{name: "list fails", in: "usb:0403:6001", list: func() ([]USBPort, error) { return nil, listErr }, wantErr: listErr},
		{name: "bad spec", in: "usb:0403", list: list(ftdiA), wantErr: ErrBadSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.in, tc.list)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve = %q, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestResolve_ambiguousNamesCandidates(t *testing.T) {
	_, err := Resolve("usb:0403:6001", list(
		USBPort{Path: "/dev/ttyUSB0", VID: "0403", PID: "6001"},
		USBPort{Path: "/dev/ttyUSB3", VID: "0403", PID: "6001"}))
	if err == nil || !strings.Contains(err.Error(), "/dev/ttyUSB0, /dev/ttyUSB3") {
		t.Errorf("error %v should name both candidates", err)
	}
}

func TestListUSB_neverFails(t *testing.T) {
	// Whatever this machine has (often nothing), listing must not fail on
	// Linux, and every entry must carry a path and ids.
	ports, err := ListUSB()
	if err != nil {
		t.Skipf("enumerator unavailable here: %v", err)
	}
	for _, p := range ports {
		if p.Path == "" || p.VID == "" || p.PID == "" {
			t.Errorf("incomplete port %+v", p)
		}
	}
}

// renumbering stands in for the enumerator: it reports the adapter at
// whatever pty it was last plugged into, and counts lookups.
type renumbering struct {
	mu    sync.Mutex
	path  string
	calls int
}

func (r *renumbering) list() ([]USBPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.path == "" {
		return nil, nil
	}
	return []USBPort{{Path: r.path, VID: "0403", PID: "6001", Serial: "A10K5ZQ1"}}, nil
}

func (r *renumbering) plug(path string) {
	r.mu.Lock()
	r.path = path
	r.mu.Unlock()
}

// TestKeep_usbSpecResolvedOnEveryReopen: the adapter comes back on another
// node after a replug and Keep finds it by VID/PID.
func TestKeep_usbSpecResolvedOnEveryReopen(t *testing.T) {
	dev := newFakeDevice(t)
	usb := &renumbering{}
	usb.plug(dev.path())
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: "usb:0403:6001:A10K5ZQ1", List: usb.list}, readUntilError, log.on)
	}()
	if s, _ := log.waitFor(t, 1); s != StateConnected {
		t.Fatalf("first state %q, want connected", s)
	}
	usb.plug("")
	dev.unplug()
	if s, err := log.waitFor(t, 2); s != StateDisconnected || err == nil {
		t.Fatalf("after unplug: %q, %v", s, err)
	}
	dev2 := newFakeDevice(t)
	usb.plug(dev2.path())
	if s, _ := log.waitFor(t, 3); s != StateConnected {
		t.Fatalf("after replug: %q; all %v", s, log.snapshot())
	}
	cancel()
	<-done
	usb.mu.Lock()
	calls := usb.calls
	usb.mu.Unlock()
	if calls < 2 {
		t.Errorf("enumerated %d times, want once per open attempt", calls)
	}
	if got := log.snapshot(); len(got) != 3 {
		t.Errorf("states %v, want connected, disconnected, connected", got)
	}
}

func TestOpen_usbSpecNoDevice(t *testing.T) {
	_, err := Open(Config{Path: "usb:0403:6001", List: list()})
	if !errors.Is(err, ErrNoDevice) {
		t.Errorf("Open = %v, want ErrNoDevice", err)
	}
}
