//go:build linux

package scanner

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPty returns a pseudo-terminal whose slave end is raw, as a serial
// port opened by the serial library is: no CR→LF translation, no echo.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	raw, err := slave.SyscallConn() // not Fd(): that would make reads blocking and Close unable to wake them
	if err != nil {
		t.Fatal(err)
	}
	var terr error
	err = raw.Control(func(fd uintptr) {
		tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			terr = err
			return
		}
		tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		tio.Oflag &^= unix.OPOST
		tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		tio.Cflag &^= unix.CSIZE | unix.PARENB
		tio.Cflag |= unix.CS8
		tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
		terr = unix.IoctlSetTermios(int(fd), unix.TCSETS, tio)
	})
	if err != nil || terr != nil {
		t.Fatalf("raw mode: %v %v", err, terr)
	}
	return master, slave
}

func TestRun_ptyCancelAndClose(t *testing.T) {
	master, slave := openPty(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 4)
	done := make(chan error, 1)
	go func() { done <- New(slave, nil).Run(ctx, func(e Event) { events <- e }) }()

	if _, err := master.Write([]byte("]E06901234567892\r]C083001234567890123456\r")); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Err != nil || e.Code.Kind != KindEAN13 || e.Code.Product != "6901234567892" {
		t.Errorf("first event = %+v", e)
	}
	if e := <-events; e.Err != nil || e.Code.Kind != KindTrace || e.Code.Trace != "83001234567890123456" {
		t.Errorf("second event = %+v", e)
	}
	cancel()
	slave.Close() // wakes the blocked Read
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run = %v after cancel and close, want nil", err)
	}
}

func TestRun_ptyUnplug(t *testing.T) {
	master, slave := openPty(t)
	events := make(chan Event, 4)
	done := make(chan error, 1)
	go func() {
		done <- New(slave, &Opts{Terminator: CRLF}).Run(context.Background(), func(e Event) { events <- e })
	}()

	if _, err := master.Write([]byte("]Q1RX20240001\r\n")); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Err != nil || e.Code.Rx != "RX20240001" {
		t.Errorf("event = %+v", e)
	}
	master.Close() // the scanner goes away
	err := waitRun(t, done)
	if err == nil || errors.Is(err, ErrUnreadable) {
		t.Fatalf("Run = %v after unplug, want a read error", err)
	}
	t.Logf("after unplug: %v", err)
}
