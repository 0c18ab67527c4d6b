package serialport

import (
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// fakeDevice is the device side of a pseudo-terminal. Its master is made
// non-blocking so Close wakes a pending Read; the slave stays open so the
// pty lives until the master closes, which is what an unplug looks like.
type fakeDevice struct {
	master *os.File
	slave  *os.File
}

func newFakeDevice(t *testing.T) *fakeDevice {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Fatalf("pty.Open: %v", err)
	}
	var fd int
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dupErr error
	if err := rc.Control(func(f uintptr) { fd, dupErr = unix.Dup(int(f)) }); err != nil || dupErr != nil {
		t.Fatalf("dup master: %v %v", err, dupErr)
	}
	m.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	d := &fakeDevice{master: os.NewFile(uintptr(fd), "ptmx"), slave: s}
	t.Cleanup(d.unplug)
	return d
}

func (d *fakeDevice) path() string { return d.slave.Name() }

func (d *fakeDevice) unplug() {
	d.master.Close()
	d.slave.Close()
}
