package serialtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// failRecorder is a testing.TB that records failures instead of failing.
type failRecorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// readAll reads p until ErrEnd, returning each Read's bytes.
func readAll(t *testing.T, r io.Reader) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := r.Read(buf)
		if n > 0 {
			got = append(got, bytes.Clone(buf[:n]))
		}
		if errors.Is(err, ErrEnd) {
			return got
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	t.Fatal("conversation did not end")
	return nil
}

func TestPlayback_deviceOnly(t *testing.T) {
	p := NewPlayback(t, []Chunk{DeviceChunk([]byte("]E0690")), DeviceChunk([]byte("1234567892\r")), DeviceChunk(nil)}, 0)
	got := readAll(t, p)
	if len(got) != 2 || string(got[0]) != "]E0690" || string(got[1]) != "1234567892\r" {
		t.Errorf("reads %q: want the two chunks, never merged", got)
	}
	if p.Remaining() != 0 {
		t.Errorf("Remaining = %d", p.Remaining())
	}
}

func TestPlayback_replyOnlyAfterWrite(t *testing.T) {
	p := NewPlayback(t, []Chunk{HostChunk([]byte{1, 2}), DeviceChunk([]byte{9})}, time.Millisecond)
	if n, err := p.Read(make([]byte, 4)); n != 0 || err != nil {
		t.Fatalf("Read before the write = %d, %v; want 0, nil", n, err)
	}
	// Partial writes of one chunk are fine.
	if _, err := p.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Read(make([]byte, 4)); n != 0 {
		t.Fatal("reply released before the whole host chunk was written")
	}
	if _, err := p.Write([]byte{2}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, p); len(got) != 1 || got[0][0] != 9 {
		t.Errorf("reads %v", got)
	}
	if _, err := p.Write([]byte{3}); !errors.Is(err, ErrEnd) {
		t.Errorf("Write past the end = %v, want ErrEnd", err)
	}
}

func TestPlayback_unexpectedWriteShowsExpected(t *testing.T) {
	fr := &failRecorder{}
	p := NewPlayback(fr, []Chunk{HostChunk([]byte{0x02, 0x00, 0x02, 0x00, 0x11, 0x11, 0x03})}, 0)
	if _, err := p.Write([]byte{0x02, 0x00, 0x02, 0x00, 0x01}); err == nil {
		t.Error("a wrong write succeeded")
	}
	if len(fr.msgs) != 1 || !strings.Contains(fr.msgs[0], "want 02 00 02 00 11 11 03") || !strings.Contains(fr.msgs[0], "got 02 00 02 00 01") {
		t.Errorf("failure %q should show both byte strings", fr.msgs)
	}
}

func TestPlayback_lateChunkKeepsOrder(t *testing.T) {
	p := NewPlayback(t, []Chunk{
		HostChunk([]byte{1}),
		{From: Device, Data: []byte("late"), After: 30 * time.Millisecond},
		DeviceChunk([]byte("next")),
	}, time.Millisecond)
	p.Write([]byte{1})
	start := time.Now()
	if n, _ := p.Read(make([]byte, 8)); n != 0 {
		t.Fatal("late chunk readable at once")
	}
	got := readAll(t, p)
	if len(got) != 2 || string(got[0]) != "late" || string(got[1]) != "next" {
		t.Errorf("reads %q", got)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Error("late chunk came early")
	}
}

func TestPlayback_oneByte(t *testing.T) {
	p := NewPlayback(t, []Chunk{DeviceChunk([]byte("abc"))}, 0)
	got := readAll(t, OneByte(p))
	if len(got) != 3 {
		t.Errorf("reads %q, want three single bytes", got)
	}
}

func TestRecorder_replays(t *testing.T) {
	conv := []Chunk{DeviceChunk([]byte("hi")), HostChunk([]byte("ask")), DeviceChunk([]byte("an")), DeviceChunk([]byte("swer"))}
	rec := NewRecorder(NewPlayback(t, conv, 0))
	buf := make([]byte, 16)
	rec.Read(buf)
	rec.Write([]byte("ask"))
	for range 2 {
		for {
			if n, _ := rec.Read(buf); n > 0 {
				break
			}
		}
	}
	got := rec.Conversation()
	if len(got) != len(conv) {
		t.Fatalf("recorded %v", got)
	}
	for i := range conv {
		if got[i].From != conv[i].From || !bytes.Equal(got[i].Data, conv[i].Data) {
			t.Errorf("chunk %d = %v, want %v", i, got[i], conv[i])
		}
	}
	if s := got[1].String(); s != "host: 61 73 6B" {
		t.Errorf("String = %q", s)
	}
}
