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
	// Path names the port as ParseSpec reads it: a path (prefer
	// /dev/serial/by-id/...) or usb:VID:PID[:SERIAL], looked up again at
	// every Open. "" means no device configured.
	Path        string
	Baud        int           // 0 → 9600
	ReadTimeout time.Duration // 0 → 50ms; bounds how long Read (and Close) can block
	List        Lister        // resolves usb: names; nil → ListUSB
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

// Open resolves cfg.Path (see Resolve) and opens the port at cfg.Baud,
// 8N1, with a bounded read timeout and its input buffer emptied.
func Open(cfg Config) (Port, error) {
	cfg = cfg.withDefaults()
	dev, err := Resolve(cfg.Path, cfg.List)
	if err != nil {
		return nil, err
	}
	name := dev // errors name the node, and the spec it came from
	if dev != cfg.Path {
		name = dev + " (" + cfg.Path + ")"
	}
	sp, err := serial.Open(dev, &serial.Mode{
		BaudRate: cfg.Baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("serialport: open %s: %w", name, err)
	}
	if err := sp.SetReadTimeout(cfg.ReadTimeout); err != nil {
		sp.Close()
		return nil, fmt.Errorf("serialport: set read timeout on %s: %w", name, err)
	}
	// Whatever waits in the input buffer was meant for an earlier owner of
	// the port: a card reader's reply to a till killed mid-command would
	// otherwise answer this one's first command, and every reply after it
	// would be one behind.
	if err := sp.ResetInputBuffer(); err != nil {
		sp.Close()
		return nil, fmt.Errorf("serialport: flush input of %s: %w", name, err)
	}
	return &port{sp: sp, path: name}, nil
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
