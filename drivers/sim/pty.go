package sim

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// line is one plugged-in device: a pty whose master the simulator drives.
// The simulator keeps the slave open too, so the pty survives a driver
// closing and reopening it; closing the master is an unplug.
type line struct {
	master *os.File // non-blocking, so Close wakes a pending Read
	slave  *os.File
	done   chan struct{} // closed when the line's goroutine has exited
}

func openLine() (*line, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("sim: open pty: %w", err)
	}
	// Raw before anything passes: no echo (the reader would hear its own
	// replies), no CR/LF translation (the scanner's terminator is CR).
	if err := control(s, makeRaw); err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("sim: raw mode on %s: %w", s.Name(), err)
	}
	// pty.Open's master is a blocking file whose Close does not wake a
	// Read; a non-blocking duplicate goes through Go's poller.
	var fd int
	err = control(m, func(f int) (err error) {
		fd, err = unix.Dup(f)
		return err
	})
	m.Close()
	if err == nil {
		unix.CloseOnExec(fd)
		if err = unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sim: pty master: %w", err)
	}
	return &line{master: os.NewFile(uintptr(fd), "/dev/ptmx"), slave: s, done: make(chan struct{})}, nil
}

func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// makeRaw is cfmakeraw(3).
func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

func (l *line) path() string { return l.slave.Name() }

// close unplugs the line and waits for its goroutine.
func (l *line) close() {
	l.master.Close()
	l.slave.Close()
	<-l.done
}

// relink points link at target atomically, as udev does for by-id links.
func relink(target, link string) error {
	tmp := filepath.Join(filepath.Dir(link), "."+filepath.Base(link)+".tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("sim: link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sim: link %s: %w", link, err)
	}
	return nil
}
