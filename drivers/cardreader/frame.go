package cardreader

import (
	"bytes"
	"io"
	"sync/atomic"
	"time"
)

// Frame bytes and limits (docs/devices.md, Frame).
const (
	STX        = 0x02
	ETX        = 0x03
	MinPayload = 2
	MaxPayload = 1024
	frameExtra = 5 // STX, LEN_H, LEN_L, BCC, ETX
)

// AppendFrame appends payload framed as STX LEN_H LEN_L payload BCC ETX.
// The payload must be 2..1024 bytes long; the driver only frames commands it
// builds itself.
func AppendFrame(dst, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, STX, byte(n>>8), byte(n))
	dst = append(dst, payload...)
	return append(dst, bcc(payload), ETX)
}

// ParseFrame decodes the frame at the start of b. It returns the payload
// (aliasing b) and the number of bytes the frame takes; ErrShortFrame if b
// is a valid beginning that needs more bytes; ErrBadFrame if b does not
// start with a valid frame.
func ParseFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) == 0 {
		return nil, 0, ErrShortFrame
	}
	if b[0] != STX {
		return nil, 0, ErrBadFrame
	}
	if len(b) < 3 {
		return nil, 0, ErrShortFrame
	}
	size := int(b[1])<<8 | int(b[2])
	if size < MinPayload || size > MaxPayload {
		return nil, 0, ErrBadFrame
	}
	n = size + frameExtra
	if len(b) < n {
		return nil, 0, ErrShortFrame
	}
	payload = b[3 : 3+size]
	if b[n-2] != bcc(payload) || b[n-1] != ETX {
		return nil, 0, ErrBadFrame
	}
	return payload, n, nil
}

func bcc(p []byte) byte {
	var x byte
	for _, c := range p {
		x ^= c
	}
	return x
}

// FrameReader reads frames from a serial line, dropping line noise. Its
// reader's Read may return (0, nil) for "no data yet"; a Read that blocks
// for long delays the deadline by as much.
type FrameReader struct {
	r     io.Reader
	buf   []byte
	tmp   []byte
	noise atomic.Uint64 // read by Dev.Noise while a command runs
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, tmp: make([]byte, MaxPayload+frameExtra)}
}

// Noise returns how many bytes were dropped as line noise so far.
func (fr *FrameReader) Noise() uint64 { return fr.noise.Load() }

// Next returns the payload of the next valid frame. It returns ErrTimeout
// once deadline passes without one, and the reader's error if Read fails.
// The payload is a fresh copy.
func (fr *FrameReader) Next(deadline time.Time) ([]byte, error) {
	for {
		if p, ok := fr.extract(); ok {
			return p, nil
		}
		if !time.Now().Before(deadline) {
			return nil, ErrTimeout
		}
		n, err := fr.r.Read(fr.tmp)
		fr.buf = append(fr.buf, fr.tmp[:n]...)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			// The line is quiet: if what we wait for started with a noise
			// STX whose LEN promises more than will ever come, a real frame
			// may already sit behind it.
			if p, ok := fr.extractQuiet(); ok {
				return p, nil
			}
		}
	}
}

// Discard drops buffered bytes, counting them as noise. The reader never
// speaks unsolicited, so anything buffered before a command is stale.
func (fr *FrameReader) Discard() {
	fr.noise.Add(uint64(len(fr.buf)))
	fr.buf = fr.buf[:0]
}

// Drain reads and drops bytes until deadline: after a timeout it swallows
// a late reply so that it is not taken for the answer to the next command.
func (fr *FrameReader) Drain(deadline time.Time) error {
	fr.Discard()
	for time.Now().Before(deadline) {
		n, err := fr.r.Read(fr.tmp)
		fr.noise.Add(uint64(n))
		if err != nil {
			return err
		}
	}
	return nil
}

// extract takes the first valid frame out of the buffer, dropping noise
// before it.
func (fr *FrameReader) extract() ([]byte, bool) {
	for {
		i := bytes.IndexByte(fr.buf, STX)
		if i < 0 {
			fr.drop(len(fr.buf))
			return nil, false
		}
		fr.drop(i)
		p, n, err := ParseFrame(fr.buf)
		switch err {
		case nil:
			out := bytes.Clone(p)
			fr.consume(n)
			return out, true
		case ErrShortFrame:
			return nil, false
		default:
			fr.drop(1) // resynchronise on the next STX
		}
	}
}

// extractQuiet looks past an incomplete frame at the head of the buffer for
// a complete valid frame that ends exactly where the received bytes end.
func (fr *FrameReader) extractQuiet() ([]byte, bool) {
	for j := 1; j < len(fr.buf); j++ {
		if fr.buf[j] != STX {
			continue
		}
		p, n, err := ParseFrame(fr.buf[j:])
		if err == nil && j+n == len(fr.buf) {
			out := bytes.Clone(p)
			fr.drop(j)
			fr.consume(n)
			return out, true
		}
	}
	return nil, false
}

func (fr *FrameReader) drop(n int) {
	fr.noise.Add(uint64(n))
	fr.consume(n)
}

func (fr *FrameReader) consume(n int) {
	// Copy down rather than reslice so the buffer does not creep through
	// ever new backing arrays on a long-lived port.
	m := copy(fr.buf, fr.buf[n:])
	fr.buf = fr.buf[:m]
}
