package serialport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/serialtest"
)

func TestOpen_roundTrip(t *testing.T) {
	dev := newFakeDevice(t)
	p, err := Open(Config{Path: dev.path()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if _, err := dev.master.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := readN(t, p, 5)
	if string(got) != "hello" {
		t.Errorf("port read %q, want %q", got, "hello")
	}

	if _, err := p.Write([]byte{0x02, 0x0d, 0x0a, 0x03}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	dev.master.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(dev.master, buf); err != nil {
		t.Fatal(err)
	}
	// Raw mode: CR and LF must pass unchanged.
	if !bytes.Equal(buf, []byte{0x02, 0x0d, 0x0a, 0x03}) {
		t.Errorf("device read % X", buf)
	}
}

func TestOpen_readTimeoutReturnsNoData(t *testing.T) {
	dev := newFakeDevice(t)
	p, err := Open(Config{Path: dev.path(), ReadTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n, err := p.Read(make([]byte, 8))
	if n != 0 || err != nil {
		t.Errorf("Read = %d, %v; want 0, nil", n, err)
	}
}

// TestOpen_dropsWhatWaitedBeforeOpen: bytes the device sent to an earlier
// owner of the port (a reply to a till killed mid-command) are not read
// by the next one.
func TestOpen_dropsWhatWaitedBeforeOpen(t *testing.T) {
	dev := newFakeDevice(t)
	stale := []byte("stale reply\n")
	if _, err := dev.master.Write(stale); err != nil {
		t.Fatal(err)
	}
	serialtest.WaitUnread(t, dev.slave, len(stale))
	p, err := Open(Config{Path: dev.path()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := dev.master.Write([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 5); string(got) != "fresh" {
		t.Errorf("port read %q, want %q", got, "fresh")
	}
}

func TestOpen_missingPath(t *testing.T) {
	_, err := Open(Config{Path: filepath.Join(t.TempDir(), "nope")})
	if err == nil {
		t.Fatal("Open of a missing path succeeded")
	}
}

func TestPort_closedPortErrors(t *testing.T) {
	dev := newFakeDevice(t)
	p, err := Open(Config{Path: dev.path()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if _, err := p.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestPort_unplugFailsReadAndWrite(t *testing.T) {
	dev := newFakeDevice(t)
	p, err := Open(Config{Path: dev.path()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dev.unplug()
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Error("Read after unplug: nil error")
	}
	if _, err := p.Write([]byte{1}); err == nil {
		t.Error("Write after unplug: nil error")
	}
}

type stateLog struct {
	mu     sync.Mutex
	states []State
	errs   []error
	ch     chan struct{}
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan struct{}, 100)} }

func (l *stateLog) on(s State, err error) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

// waitFor waits until the n-th report (1-based) exists and returns it.
func (l *stateLog) waitFor(t *testing.T, n int) (State, error) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		if len(l.states) >= n {
			s, err := l.states[n-1], l.errs[n-1]
			l.mu.Unlock()
			return s, err
		}
		l.mu.Unlock()
		select {
		case <-l.ch:
		case <-deadline:
			t.Fatalf("no state report #%d; have %v", n, l.snapshot())
		}
	}
}

func (l *stateLog) snapshot() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.states...)
}

// readUntilError is a use func that ignores ctx, as a careless driver would.
func readUntilError(_ context.Context, p Port) error {
	buf := make([]byte, 64)
	for {
		if _, err := p.Read(buf); err != nil {
			return err
		}
	}
}

func TestKeep_reconnectsThroughSymlink(t *testing.T) {
	link := filepath.Join(t.TempDir(), "card")
	dev := newFakeDevice(t)
	if err := os.Symlink(dev.path(), link); err != nil {
		t.Fatal(err)
	}
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: link}, readUntilError, log.on)
	}()

	if s, _ := log.waitFor(t, 1); s != StateConnected {
		t.Fatalf("first state %q, want connected", s)
	}
	dev.unplug()
	if s, err := log.waitFor(t, 2); s != StateDisconnected || err == nil {
		t.Fatalf("after unplug: %q, %v; want disconnected with a reason", s, err)
	}

	dev2 := newFakeDevice(t)
	tmp := link + ".new"
	if err := os.Symlink(dev2.path(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	if s, _ := log.waitFor(t, 3); s != StateConnected {
		t.Fatalf("after replug: %q, want connected; all %v", s, log.snapshot())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Keep did not return after cancel")
	}
	if got := log.snapshot(); len(got) != 3 {
		t.Errorf("states %v, want exactly connected, disconnected, connected", got)
	}
}

func TestKeep_deliversData(t *testing.T) {
	dev := newFakeDevice(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []byte, 1)
	done := make(chan struct{})
	log := newStateLog()
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: dev.path()}, func(ctx context.Context, p Port) error {
			b := readN(t, p, 3)
			got <- b
			<-ctx.Done()
			return nil
		}, log.on)
	}()
	// Once connected: what the device sent before the open is flushed.
	if s, err := log.waitFor(t, 1); s != StateConnected {
		t.Fatalf("first state %s (%v)", s, err)
	}
	if _, err := dev.master.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if string(b) != "abc" {
			t.Errorf("use read %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("use got nothing")
	}
	cancel()
	<-done
}

func TestKeep_emptyPathReportsMissingOnce(t *testing.T) {
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{}, func(context.Context, Port) error {
			t.Error("use called without a path")
			return nil
		}, log.on)
	}()
	if s, _ := log.waitFor(t, 1); s != StateMissing {
		t.Errorf("state %q, want missing", s)
	}
	cancel()
	<-done
	if got := log.snapshot(); len(got) != 1 {
		t.Errorf("states %v, want one", got)
	}
}

func TestKeep_cancelUnblocksRead(t *testing.T) {
	before := runtime.NumGoroutine()
	dev := newFakeDevice(t)
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A long read timeout: only closing the port ends the Read loop.
		Keep(ctx, Config{Path: dev.path(), ReadTimeout: 200 * time.Millisecond}, readUntilError, log.on)
	}()
	log.waitFor(t, 1)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Keep did not return: use still blocked in Read")
	}
	waitGoroutines(t, before)
}

func TestKeep_useReturningNilReopens(t *testing.T) {
	dev := newFakeDevice(t)
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: dev.path()}, func(context.Context, Port) error { return nil }, log.on)
	}()
	if s, err := log.waitFor(t, 2); s != StateDisconnected || !errors.Is(err, ErrUseReturned) {
		t.Errorf("report 2 = %q, %v; want disconnected, ErrUseReturned", s, err)
	}
	if s, _ := log.waitFor(t, 3); s != StateConnected {
		t.Errorf("report 3 = %q, want connected again", s)
	}
	cancel()
	<-done
}

func TestKeep_deviceAppearsLater(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent")
	log := newStateLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Keep(ctx, Config{Path: path}, readUntilError, log.on)
	}()
	if s, err := log.waitFor(t, 1); s != StateDisconnected || err == nil {
		t.Errorf("report 1 = %q, %v; want disconnected with the open error", s, err)
	}
	dev := newFakeDevice(t)
	if err := os.Symlink(dev.path(), path); err != nil {
		t.Fatal(err)
	}
	// Failed reopens in between are not state changes: the next report is
	// the connection.
	if s, _ := log.waitFor(t, 2); s != StateConnected {
		t.Errorf("report 2 = %q, want connected", s)
	}
	cancel()
	<-done
}

func readN(t *testing.T, p Port, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		k, err := p.Read(buf)
		if err != nil {
			t.Errorf("read: %v", err)
			return got
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want ≤ %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond)
	}
}
