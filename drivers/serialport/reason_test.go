package serialport

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestReason_openFailures: each way an open fails reads as a few plain
// words, the ones an installer sees in the till's alarm.
func TestReason_openFailures(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-tty")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Path: filepath.Join(dir, "ttyUSB9")}, "no such file"},
		{Config{Path: file}, "not a serial port"},
		{Config{Path: dir}, "not a serial port"},
		{Config{Path: "usb:0403:6001", List: list()}, "no such USB device"},
		{Config{Path: "usb:0403:6001", List: list(USBPort{Path: "/dev/a", VID: "0403", PID: "6001"}, USBPort{Path: "/dev/b", VID: "0403", PID: "6001"})}, "several USB devices match: add :SERIAL to the port name"},
	} {
		p, err := Open(tc.cfg)
		if err == nil {
			p.Close()
			t.Errorf("Open(%s) opened", tc.cfg.Path)
			continue
		}
		if got := Reason(err); got != tc.want {
			t.Errorf("Open(%s): Reason(%v) = %q, want %q", tc.cfg.Path, err, got, tc.want)
		}
	}
	if Reason(nil) != "" {
		t.Error("Reason(nil) is not empty")
	}
}

// TestReason_unplug: a device that goes away while open reads as
// unplugged.
func TestReason_unplug(t *testing.T) {
	dev := newFakeDevice(t)
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: dev.path()}, readUntilError, log.on)
	}()
	defer func() { cancel(); <-done }()
	if s, _ := log.waitFor(t, 1); s != StateConnected {
		t.Fatalf("first state %q, want connected", s)
	}
	dev.unplug()
	s, err := log.waitFor(t, 2)
	if s != StateDisconnected || Reason(err) != "unplugged" {
		t.Errorf("after unplug: %s, Reason(%v) = %q, want unplugged", s, err, Reason(err))
	}
}
