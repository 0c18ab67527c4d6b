package cardreader

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseFrame_cases(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		payload []byte
		n       int
		err     error
	}{
		{"valid", []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x03}, []byte{0x00, 0x11}, 7, nil},
		{"valid with trailing bytes", []byte{0x02, 0x00, 0x03, 0x00, 0x00, 0x01, 0x01, 0x03, 0xFF}, []byte{0x00, 0x00, 0x01}, 8, nil},
		{"empty", nil, nil, 0, ErrShortFrame},
		{"only STX", []byte{0x02}, nil, 0, ErrShortFrame},
		{"header only", []byte{0x02, 0x00, 0x02}, nil, 0, ErrShortFrame},
		{"missing ETX", []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11}, nil, 0, ErrShortFrame},
		{"no STX", []byte{0x55, 0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x03}, nil, 0, ErrBadFrame},
		{"LEN 1", []byte{0x02, 0x00, 0x01, 0x00, 0x00, 0x03}, nil, 0, ErrBadFrame},
		{"LEN 0", []byte{0x02, 0x00, 0x00, 0x00, 0x03}, nil, 0, ErrBadFrame},
		{"LEN 1025", []byte{0x02, 0x04, 0x01}, nil, 0, ErrBadFrame},
		{"bad BCC", []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x10, 0x03}, nil, 0, ErrBadFrame},
		{"bad ETX", []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x04}, nil, 0, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, n, err := ParseFrame(tt.in)
			if !errors.Is(err, tt.err) || n != tt.n || !bytes.Equal(p, tt.payload) {
				t.Errorf("ParseFrame(% X) = % X, %d, %v; want % X, %d, %v", tt.in, p, n, err, tt.payload, tt.n, tt.err)
			}
		})
	}
}

func TestAppendFrame_limits(t *testing.T) {
	for _, size := range []int{MinPayload, 255, 256, MaxPayload} {
		p := bytes.Repeat([]byte{0xA5}, size)
		f := AppendFrame([]byte{0xEE}, p) // appends after existing bytes
		if f[0] != 0xEE || len(f) != size+frameExtra+1 {
			t.Fatalf("size %d: frame of %d bytes", size, len(f))
		}
		got, n, err := ParseFrame(f[1:])
		if err != nil || n != len(f)-1 || !bytes.Equal(got, p) {
			t.Errorf("size %d: round trip = %d, %v", size, n, err)
		}
	}
}

// chunks is a reader that returns its chunks one per Read, then (0, nil):
// a quiet serial line. With eof set, the line ends after one quiet read.
type chunks struct {
	c     [][]byte
	eof   bool
	quiet bool
}

func (r *chunks) Read(p []byte) (int, error) {
	if len(r.c) == 0 {
		if r.eof && r.quiet {
			return 0, io.EOF
		}
		r.quiet = true
		return 0, nil
	}
	n := copy(p, r.c[0])
	if n < len(r.c[0]) {
		r.c[0] = r.c[0][n:]
	} else {
		r.c = r.c[1:]
	}
	return n, nil
}

func frameOf(p ...byte) []byte { return AppendFrame(nil, p) }

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestFrameReader_resync(t *testing.T) {
	a := frameOf(0x00, 0x00, 0x01)
	b := frameOf(0x10, 0x02)
	badBCC := []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x99, 0x03}
	badETX := []byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x7F}
	bigLen := []byte{0x02, 0x03, 0xFF, 0x41} // promises 1023 bytes that never come
	tests := []struct {
		name   string
		chunks [][]byte
		want   [][]byte
		noise  uint64
	}{
		{"clean", [][]byte{a, b}, [][]byte{{0x00, 0x00, 0x01}, {0x10, 0x02}}, 0},
		{"one chunk", [][]byte{cat(a, b)}, [][]byte{{0x00, 0x00, 0x01}, {0x10, 0x02}}, 0},
		{"garbage before", [][]byte{{0xFF, 0x00, 0x13}, a}, [][]byte{{0x00, 0x00, 0x01}}, 3},
		{"garbage between", [][]byte{cat(a, []byte{0x03, 0x03}, b)}, [][]byte{{0x00, 0x00, 0x01}, {0x10, 0x02}}, 2},
		{"bad BCC", [][]byte{cat(badBCC, a)}, [][]byte{{0x00, 0x00, 0x01}}, uint64(len(badBCC))},
		{"bad ETX", [][]byte{badETX, a}, [][]byte{{0x00, 0x00, 0x01}}, uint64(len(badETX))},
		{"LEN out of range", [][]byte{cat([]byte{0x02, 0x04, 0x01}, a)}, [][]byte{{0x00, 0x00, 0x01}}, 3},
		{"LEN zero", [][]byte{cat([]byte{0x02, 0x00, 0x00}, a)}, [][]byte{{0x00, 0x00, 0x01}}, 3},
		{"STX inside bad frame", [][]byte{cat([]byte{0x02, 0x00, 0x09}, a)}, [][]byte{{0x00, 0x00, 0x01}}, 3},
		{"noise STX with long LEN", [][]byte{cat(bigLen, a)}, [][]byte{{0x00, 0x00, 0x01}}, uint64(len(bigLen))},
		{"split header", [][]byte{a[:1], a[1:2], a[2:5], a[5:]}, [][]byte{{0x00, 0x00, 0x01}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := NewFrameReader(&chunks{c: tt.chunks})
			for i, want := range tt.want {
				got, err := fr.Next(time.Now().Add(time.Second))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("frame %d = % X, %v; want % X", i, got, err, want)
				}
			}
			if _, err := fr.Next(time.Now().Add(10 * time.Millisecond)); !errors.Is(err, ErrTimeout) {
				t.Errorf("after the frames: %v, want ErrTimeout", err)
			}
			if fr.Noise() != tt.noise {
				t.Errorf("Noise() = %d, want %d", fr.Noise(), tt.noise)
			}
		})
	}
}

func TestFrameReader_oneByteReads(t *testing.T) {
	stream := cat([]byte{0x7E, 0x02, 0x05}, frameOf(0x00, 0x00, 'T', 'G'), []byte{0x02, 0x00, 0x02, 0x00, 0x00, 0x01, 0x03}, frameOf(0x00, 0x00))
	fr := NewFrameReader(iotest.OneByteReader(&chunks{c: [][]byte{stream}}))
	for _, want := range [][]byte{{0x00, 0x00, 'T', 'G'}, {0x00, 0x00}} {
		got, err := fr.Next(time.Now().Add(time.Second))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Next = % X, %v; want % X", got, err, want)
		}
	}
	if fr.Noise() != 10 {
		t.Errorf("Noise() = %d, want 10", fr.Noise())
	}
}

func TestFrameReader_readError(t *testing.T) {
	fr := NewFrameReader(iotest.ErrReader(io.ErrClosedPipe))
	if _, err := fr.Next(time.Now().Add(time.Second)); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Next = %v, want the reader's error", err)
	}
}

func TestFrameReader_payloadIsACopy(t *testing.T) {
	fr := NewFrameReader(&chunks{c: [][]byte{cat(frameOf(1, 2), frameOf(3, 4))}})
	p1, _ := fr.Next(time.Now().Add(time.Second))
	p2, _ := fr.Next(time.Now().Add(time.Second))
	if !bytes.Equal(p1, []byte{1, 2}) || !bytes.Equal(p2, []byte{3, 4}) {
		t.Errorf("payloads % X, % X", p1, p2)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x03})
	f.Add([]byte{0x02, 0x04, 0x00})
	f.Add([]byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x10, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := ParseFrame(b)
		if err != nil {
			if n != 0 || p != nil {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n > len(b) || len(p) < MinPayload || len(p) > MaxPayload {
			t.Fatalf("n=%d len(p)=%d for %d bytes", n, len(p), len(b))
		}
		if !bytes.Equal(AppendFrame(nil, p), b[:n]) {
			t.Fatalf("re-encoding differs: % X vs % X", AppendFrame(nil, p), b[:n])
		}
	})
}

// FuzzFrameReader feeds arbitrary bytes, then one valid frame. Every
// payload returned must be a frame that is really in the stream, and after
// a quiet line the valid frame must come out.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0x02, 0x03, 0xFF}, []byte{0x00, 0x00, 0x01}, uint8(3))
	f.Add([]byte{0x02, 0x00, 0x02, 0x00}, []byte{0x10, 0x02}, uint8(1))
	f.Add([]byte{}, []byte{0x00, 0x00}, uint8(0))
	f.Fuzz(func(t *testing.T, noise, payload []byte, chunk uint8) {
		if len(payload) < MinPayload || len(payload) > MaxPayload || len(noise) > 4096 {
			return
		}
		frame := AppendFrame(nil, payload)
		stream := cat(noise, frame)
		var parts [][]byte
		size := int(chunk%16) + 1
		for rest := stream; len(rest) > 0; {
			k := min(size, len(rest))
			parts = append(parts, rest[:k])
			rest = rest[k:]
		}
		fr := NewFrameReader(&chunks{c: parts, eof: true})
		found, overlapped := false, false
		for {
			p, err := fr.Next(time.Now().Add(time.Minute))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			f := AppendFrame(nil, p)
			i := bytes.Index(stream, f)
			if i < 0 {
				t.Fatalf("payload % X is not a frame in the stream", p)
			}
			// A noise frame with a valid BCC that runs into the real
			// frame is indistinguishable from a real one and eats it.
			if i < len(noise) && i+len(f) > len(noise) {
				overlapped = true
			}
			if bytes.Equal(p, payload) {
				found = true
			}
		}
		if !found && !overlapped {
			t.Fatalf("the final valid frame was lost (noise % X)", noise)
		}
		if fr.Noise() > uint64(len(stream)) {
			t.Fatalf("noise %d > stream %d", fr.Noise(), len(stream))
		}
	})
}
