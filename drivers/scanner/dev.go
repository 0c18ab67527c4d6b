package scanner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// Terminator is what ends each line on the wire.
type Terminator int

// Terminators. The zero value, CR, is the scanners' factory default.
const (
	CR   Terminator = iota // 0x0D
	LF                     // 0x0A
	CRLF                   // 0x0D 0x0A
)

// String returns "cr", "lf" or "crlf", the spelling ParseTerminator reads.
func (t Terminator) String() string {
	switch t {
	case CR:
		return "cr"
	case LF:
		return "lf"
	case CRLF:
		return "crlf"
	}
	return fmt.Sprintf("terminator(%d)", int(t))
}

// ParseTerminator reads a terminator from configuration: "cr", "lf" or
// "crlf", in any case.
func ParseTerminator(s string) (Terminator, error) {
	for _, t := range []Terminator{CR, LF, CRLF} {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("scanner: unknown terminator %q (want cr, lf or crlf)", s)
}

// Set reads t with ParseTerminator, so that a *Terminator is a flag.Value.
func (t *Terminator) Set(s string) error {
	v, err := ParseTerminator(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// DefaultMaxLine is the longest line accepted when Opts.MaxLine is unset;
// anything longer is line noise (docs/devices.md, scanner).
const DefaultMaxLine = 512

// Opts configures a Dev. The zero value, like a nil *Opts, means CR and
// DefaultMaxLine.
type Opts struct {
	Terminator Terminator
	MaxLine    int // longest line in bytes, without terminator; ≤ 0 means DefaultMaxLine
}

// Event is one line from the scanner. Err is nil for a classified code; for
// an unknown or malformed line it wraps ErrUnreadable and Code holds only
// the AIM id and data, for the record.
type Event struct {
	Code Code
	Err  error
}

// Dev is a barcode scanner on a serial port.
type Dev struct {
	port       io.Reader
	term       Terminator
	maxLine    int
	dropped    atomic.Uint64
	unreadable atomic.Uint64
}

// New returns a scanner reading port. port's Read may return (0, nil) when
// no data came in time (a serial read timeout); that is never taken for the
// end of the stream. New panics on a Terminator outside CR, LF and CRLF:
// configuration goes through ParseTerminator.
func New(port io.Reader, opts *Opts) *Dev {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Terminator < CR || o.Terminator > CRLF {
		panic(fmt.Sprintf("scanner: unknown terminator %d", int(o.Terminator)))
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	return &Dev{port: port, term: o.Terminator, maxLine: o.MaxLine}
}

// Dropped returns how many overlong lines were dropped since New.
func (d *Dev) Dropped() uint64 { return d.dropped.Load() }

// Unreadable returns how many lines were emitted as unreadable (an Event
// with Err set) since New: unknown codes, bad check digits, line noise.
func (d *Dev) Unreadable() uint64 { return d.unreadable.Load() }

const (
	readSize = 256
	// A port that answers (0, nil) at once, instead of after a read
	// timeout, would make the loop spin; after this many empty reads in a
	// row Run waits idleWait between reads. A human scans far slower.
	idleReads = 16
	idleWait  = 10 * time.Millisecond
)

// Run reads lines and calls emit for each non-empty one, in order, on Run's
// goroutine; emit should hand the event on rather than block. Lines are
// split as the Terminator says:
//
//   - CR: a line ends at CR; an LF is an ordinary byte.
//   - LF: a line ends at LF; a CR is an ordinary byte.
//   - CRLF: a line ends at LF and one CR before it is dropped, so a bare LF
//     also ends a line; a bare CR is an ordinary byte.
//
// An ordinary CR or LF inside a line makes it unreadable: a scanner whose
// terminator does not match the configuration shows up at once as
// unreadable codes (or as nothing at all, when it never sends the byte Run
// splits on) instead of being half understood. A line longer than MaxLine
// is dropped up to its terminator and counted in Dropped; a line still
// open when Run returns is discarded.
//
// Run returns nil when ctx is done, checking it between reads: the caller
// closes the port to wake a Read that blocks. Any read error while ctx is
// live — a closed or unplugged port, or EOF — ends Run with that error
// wrapped. One Run at a time per Dev.
func (d *Dev) Run(ctx context.Context, emit func(Event)) error {
	sp := splitter{term: d.term, max: d.maxLine, drop: func() { d.dropped.Add(1) }}
	onLine := func(line []byte) {
		if ctx.Err() != nil {
			return // the caller stopped listening
		}
		c, err := Classify(line)
		if err != nil {
			d.unreadable.Add(1)
		}
		emit(Event{Code: c, Err: err})
	}
	buf := make([]byte, readSize)
	empty := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := d.port.Read(buf)
		if n > 0 {
			empty = 0
			sp.feed(buf[:n], onLine)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("scanner: read: %w", err)
		}
		if n > 0 {
			continue
		}
		if empty++; empty >= idleReads {
			t := time.NewTimer(idleWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// splitter cuts a byte stream into lines. It holds at most one line, so
// noise without terminators cannot make it grow.
type splitter struct {
	term     Terminator
	max      int
	drop     func()
	line     []byte
	dropping bool
}

func (s *splitter) feed(p []byte, emit func([]byte)) {
	end := byte('\n')
	if s.term == CR {
		end = '\r'
	}
	limit := s.max
	if s.term == CRLF {
		limit++ // room for the CR that is stripped at the LF
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, end)
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !s.dropping {
			if len(s.line)+len(chunk) > limit {
				s.dropping = true
				s.line = s.line[:0]
			} else {
				s.line = append(s.line, chunk...)
			}
		}
		if i < 0 {
			return
		}
		p = p[i+1:]
		s.finish(emit)
	}
}

func (s *splitter) finish(emit func([]byte)) {
	line, dropping := s.line, s.dropping
	s.line, s.dropping = s.line[:0], false
	if s.term == CRLF && len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	switch {
	case dropping || len(line) > s.max:
		s.drop()
	case len(line) > 0:
		emit(line)
	}
}
