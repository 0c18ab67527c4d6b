package cardreader

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// step is one exchange of a recorded or scripted conversation: the exact
// bytes the host must write, and the bytes the reader sends back (nil: no
// answer, the host must time out).
type step struct {
	write, reply []byte
	late         []byte // sent lateAfter the write: a reply past the timeout
	lateAfter    time.Duration
}

// errEndOfScript fails the port once the script is used up, which ends Run.
var errEndOfScript = errors.New("end of script")

// playback is a port that replays a conversation. A write other than the
// next expected one fails the test, showing both. Read behaves like a
// serial port with a short read timeout: (0, nil) when nothing is due.
type playback struct {
	t     testing.TB
	mu    sync.Mutex
	steps []step
	done  int
	out   []byte
	wake  chan struct{}
}

func newPlayback(t testing.TB, steps []step) *playback {
	return &playback{t: t, steps: steps, wake: make(chan struct{}, 1)}
}

func (p *playback) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == len(p.steps) {
		return 0, errEndOfScript
	}
	want := p.steps[p.done].write
	if !bytes.Equal(b, want) {
		p.t.Errorf("write #%d:\n got % X\nwant % X", p.done, b, want)
		return 0, errors.New("unexpected write")
	}
	st := p.steps[p.done]
	p.out = append(p.out, st.reply...)
	if st.late != nil {
		time.AfterFunc(st.lateAfter, func() {
			p.mu.Lock()
			p.out = append(p.out, st.late...)
			p.mu.Unlock()
		})
	}
	p.done++
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (p *playback) Read(b []byte) (int, error) {
	p.mu.Lock()
	if len(p.out) > 0 {
		n := copy(b, p.out)
		p.out = p.out[n:]
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	select {
	case <-p.wake:
	case <-time.After(2 * time.Millisecond):
	}
	return 0, nil
}

// remaining reports steps not yet played.
func (p *playback) remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.steps) - p.done
}

// recorder wraps a real port and writes down the conversation: each write
// and every byte read until the next write.
type recorder struct {
	rw interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}
	mu    sync.Mutex
	steps []step
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.steps = append(r.steps, step{write: bytes.Clone(b)})
	r.mu.Unlock()
	return r.rw.Write(b)
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.rw.Read(b)
	r.mu.Lock()
	if k := len(r.steps); k > 0 && n > 0 {
		r.steps[k-1].reply = append(r.steps[k-1].reply, b[:n]...)
	}
	r.mu.Unlock()
	return n, err
}

func (r *recorder) conversation() []step {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]step(nil), r.steps...)
}

// script builds conversations from payloads.
type script []step

// cmd adds a host command and the reader's reply payload (nil: silence).
func (s *script) cmd(host, reply []byte) *script {
	st := step{write: AppendFrame(nil, host)}
	if reply != nil {
		st.reply = AppendFrame(nil, reply)
	}
	*s = append(*s, st)
	return s
}

func (s *script) presence(in bool) *script {
	b := byte(0)
	if in {
		b = 1
	}
	return s.cmd([]byte{0x00, 0x11}, []byte{0x00, 0x00, b})
}

func (s *script) apdu(apdu, resp []byte) *script {
	return s.cmd(append([]byte{0xC0, 0x31}, apdu...), append([]byte{0x00, 0x00}, resp...))
}

// cardContent is a card's content by record; a missing key answers 6A 83.
type cardContent map[byte][]byte

// read adds the reading sequence of PROTOCOLS.md §1.3 for content up to
// the power down (a read card is then beeped: add beep()); pullAt, if
// non-zero, is the record whose READ answers reader status 10 02.
func (s *script) read(content cardContent, pullAt byte) *script {
	s.cmd([]byte{0xC0, 0x30}, []byte{0x00, 0x00, 0x3B, 0x00})
	s.apdu(selectSSSE, []byte{0x90, 0x00})
	file := uint16(0)
	for _, r := range cardRecords() {
		if r.file != file {
			file = r.file
			s.apdu([]byte{0x00, 0xA4, 0x02, 0x00, 0x02, byte(file >> 8), byte(file)}, []byte{0x90, 0x00})
		}
		read := []byte{0x00, 0xB2, r.rr, 0x00, byte(r.size + 2)}
		if r.rr == pullAt {
			s.cmd(append([]byte{0xC0, 0x31}, read...), []byte{0x10, 0x02})
			return s.powerDown()
		}
		v, ok := content[r.rr]
		if !ok {
			s.apdu(read, []byte{0x6A, 0x83})
			continue
		}
		s.apdu(read, append(append([]byte{r.rr, byte(len(v))}, v...), 0x90, 0x00))
	}
	return s.powerDown()
}

func (s *script) powerDown() *script { return s.cmd([]byte{0xC0, 0x32}, []byte{0x00, 0x00}) }
func (s *script) beep() *script      { return s.cmd([]byte{0x00, 0x10, 0x0A}, []byte{0x00, 0x00}) }
