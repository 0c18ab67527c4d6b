package serialport

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"
)

// Port is an open serial port. Read returns (0, nil) when ReadTimeout passes
// without data; after Close or an unplug every call returns an error.
type Port interface{ io.ReadWriteCloser }

// Config names a port and how to talk to it.
type Config struct {
	Path        string        // prefer /dev/serial/by-id/...; "" means no device configured
	Baud        int           // 0 → 9600
	ReadTimeout time.Duration // 0 → 50ms; bounds how long Read (and Close) can block
}

// Defaults for a zero Config field.
const (
	DefaultBaud        = 9600
	DefaultReadTimeout = 50 * time.Millisecond
)

func (c Config) withDefaults() Config {
	if c.Baud <= 0 {
		c.Baud = DefaultBaud
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	return c
}

// Open opens cfg.Path at cfg.Baud, 8N1, with a bounded read timeout.
func Open(cfg Config) (Port, error) {
	cfg = cfg.withDefaults()
	sp, err := serial.Open(cfg.Path, &serial.Mode{
		BaudRate: cfg.Baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", cfg.Path, err)
	}
	if err := sp.SetReadTimeout(cfg.ReadTimeout); err != nil {
		sp.Close()
		return nil, fmt.Errorf("serialport: set read timeout on %s: %w", cfg.Path, err)
	}
	return &port{sp: sp, path: cfg.Path}, nil
}

// port guards go.bug.st/serial's handle: its Write and Read do not check
// for a concurrent Close, and a closed descriptor number can be reused by
// another file. Close therefore waits for in-flight calls, which the read
// timeout bounds.
type port struct {
	sp     serial.Port
	path   string
	mu     sync.RWMutex // held shared by Read/Write, exclusively by Close
	closed atomic.Bool
}

func (p *port) Read(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, err := p.sp.Read(b)
	if err != nil {
		return n, fmt.Errorf("serialport: read %s: %w", p.path, err)
	}
	return n, nil
}

func (p *port) Write(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, err := p.sp.Write(b)
	if err != nil {
		return n, fmt.Errorf("serialport: write %s: %w", p.path, err)
	}
	if n < len(b) {
		return n, fmt.Errorf("serialport: write %s: %w", p.path, io.ErrShortWrite)
	}
	return n, nil
}

// Close closes the port; a second Close is a no-op.
func (p *port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.sp.Close(); err != nil {
		return fmt.Errorf("serialport: close %s: %w", p.path, err)
	}
	return nil
}
