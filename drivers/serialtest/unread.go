package serialtest

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// WaitUnread waits until at least n bytes wait unread on f, a terminal
// (a pty's slave, say): for a test that leaves bytes on a line for the
// port's next owner.
func WaitUnread(tb testing.TB, f *os.File, n int) {
	tb.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	unread := func() (k int) {
		var ierr error
		if err := rc.Control(func(fd uintptr) { k, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil || ierr != nil {
			tb.Fatalf("serialtest: TIOCINQ on %s: %v %v", f.Name(), err, ierr)
		}
		return k
	}
	deadline := time.Now().Add(5 * time.Second)
	for unread() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("serialtest: %d bytes unread on %s after 5 s, want %d", unread(), f.Name(), n)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}
