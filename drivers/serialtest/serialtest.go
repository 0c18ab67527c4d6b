package serialtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// ErrEnd is returned once the conversation is over: by Write after the last
// chunk, and by Read when every chunk was written or read. It ends a
// driver's Run the way an unplug would.
var ErrEnd = errors.New("serialtest: end of conversation")

// errUnexpected is returned for a write the conversation did not expect
// (the test has failed by then).
var errUnexpected = errors.New("serialtest: unexpected write")

// From says which side sent a chunk.
type From int

// Sides of a conversation.
const (
	Host   From = iota + 1 // written by the driver
	Device                 // read by the driver
)

// Chunk is one piece of a conversation.
type Chunk struct {
	From From
	Data []byte
	// After delays a device chunk: it becomes readable this long after the
	// host chunk before it was written (a reply past the driver's timeout).
	// Later chunks wait for it, so the order holds.
	After time.Duration
}

// HostChunk returns a chunk the host must write.
func HostChunk(b []byte) Chunk { return Chunk{From: Host, Data: b} }

// DeviceChunk returns a chunk the device sends.
func DeviceChunk(b []byte) Chunk { return Chunk{From: Device, Data: b} }

// DefaultReadTimeout is how long a Read with nothing due waits before it
// returns (0, nil), the serial "no data yet".
const DefaultReadTimeout = 2 * time.Millisecond

// Playback replays a conversation as a port. It is safe for concurrent use.
type Playback struct {
	t    testing.TB
	wait time.Duration

	mu      sync.Mutex
	conv    []Chunk
	next    int // first chunk not yet released or fully written
	off     int // bytes of conv[next] written, when it is a host chunk
	writes  int
	pending []due // released device chunks not yet fully read
	wake    chan struct{}
}

type due struct {
	at   time.Time
	data []byte
}

// NewPlayback returns a port playing conv. readTimeout ≤ 0 means
// DefaultReadTimeout.
func NewPlayback(t testing.TB, conv []Chunk, readTimeout time.Duration) *Playback {
	if readTimeout <= 0 {
		readTimeout = DefaultReadTimeout
	}
	p := &Playback{t: t, wait: readTimeout, conv: conv, wake: make(chan struct{}, 1)}
	p.mu.Lock()
	p.release(time.Now())
	p.mu.Unlock()
	return p
}

// release makes the device chunks at the cursor due; p.mu must be held.
func (p *Playback) release(now time.Time) {
	for p.next < len(p.conv) && p.conv[p.next].From == Device {
		c := p.conv[p.next]
		at := now.Add(c.After)
		if n := len(p.pending); n > 0 && p.pending[n-1].at.After(at) {
			at = p.pending[n-1].at
		}
		if len(c.Data) > 0 {
			p.pending = append(p.pending, due{at: at, data: c.Data})
		}
		p.next++
	}
}

// Write accepts b if it is the next expected host bytes. A write may cover
// part of a host chunk, never more than one.
func (p *Playback) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.writes
	p.writes++
	if len(b) == 0 {
		return 0, nil
	}
	if p.next == len(p.conv) {
		return 0, ErrEnd
	}
	want := p.conv[p.next].Data[p.off:]
	if !bytes.HasPrefix(want, b) {
		p.t.Helper()
		p.t.Errorf("serialtest: write #%d (chunk %d of %d):\n got % X\nwant % X", n, p.next, len(p.conv), b, want)
		return 0, errUnexpected
	}
	p.off += len(b)
	if p.off == len(p.conv[p.next].Data) {
		p.next++
		p.off = 0
		p.release(time.Now())
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

// Read returns bytes of the first due device chunk, never of two; with
// nothing due it waits up to the read timeout and returns (0, nil).
func (p *Playback) Read(b []byte) (int, error) {
	deadline := time.Now().Add(p.wait)
	for {
		p.mu.Lock()
		now := time.Now()
		if len(p.pending) > 0 && !p.pending[0].at.After(now) {
			n := copy(b, p.pending[0].data)
			if p.pending[0].data = p.pending[0].data[n:]; len(p.pending[0].data) == 0 {
				p.pending = p.pending[1:]
			}
			p.mu.Unlock()
			return n, nil
		}
		if len(p.pending) == 0 && p.next == len(p.conv) {
			p.mu.Unlock()
			return 0, ErrEnd
		}
		wait := deadline.Sub(now)
		if len(p.pending) > 0 {
			wait = min(wait, p.pending[0].at.Sub(now))
		}
		p.mu.Unlock()
		if wait <= 0 {
			return 0, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-p.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Remaining returns how many chunks are not yet written, or not yet read
// to the end.
func (p *Playback) Remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conv) - p.next + len(p.pending)
}

// OneByte returns rw with reads of at most one byte
// (testing/iotest.OneByteReader), the worst fragmentation a port can do.
func OneByte(rw io.ReadWriter) io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{iotest.OneByteReader(rw), rw}
}

// Recorder wraps a live port and writes the conversation down: each write
// and each read that returned data is a chunk, in order. It is safe for
// concurrent use.
type Recorder struct {
	rw    io.ReadWriter
	mu    sync.Mutex
	chunk []Chunk
}

// NewRecorder returns a Recorder around rw.
func NewRecorder(rw io.ReadWriter) *Recorder { return &Recorder{rw: rw} }

// Write records b before writing it, so that a reply read on another
// goroutine cannot be recorded ahead of it; bytes the port did not take
// are dropped from the record.
func (r *Recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	i := len(r.chunk)
	r.chunk = append(r.chunk, Chunk{From: Host, Data: bytes.Clone(b)})
	r.mu.Unlock()
	n, err := r.rw.Write(b)
	if n < len(b) {
		r.mu.Lock()
		r.chunk[i].Data = r.chunk[i].Data[:max(n, 0)]
		r.mu.Unlock()
	}
	return n, err
}

func (r *Recorder) Read(b []byte) (int, error) {
	n, err := r.rw.Read(b)
	if n > 0 {
		r.mu.Lock()
		r.chunk = append(r.chunk, Chunk{From: Device, Data: bytes.Clone(b[:n])})
		r.mu.Unlock()
	}
	return n, err
}

// Conversation returns what was recorded so far.
func (r *Recorder) Conversation() []Chunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Chunk(nil), r.chunk...)
}

// String shows a chunk as "host: 02 00 …" or "device: …", for failures.
func (c Chunk) String() string {
	side := "host"
	if c.From == Device {
		side = "device"
	}
	if c.After > 0 {
		side += fmt.Sprintf(" after %v", c.After)
	}
	return fmt.Sprintf("%s: % X", side, c.Data)
}
