package scanner

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/serialport"
	"github.com/tillguard/tillguard/drivers/serialtest"
	"github.com/tillguard/tillguard/drivers/sim"
)

// playScanner runs a Dev over a played conversation, with the chunks as
// they are and through one-byte reads, and returns the events of both.
func playScanner(t *testing.T, conv []serialtest.Chunk, opts *Opts) (whole, oneByte []Event, d *Dev) {
	t.Helper()
	run := func(r io.Reader) ([]Event, *Dev) {
		d := New(r, opts)
		var got []Event
		err := d.Run(context.Background(), func(e Event) { got = append(got, e) })
		if !errors.Is(err, serialtest.ErrEnd) {
			t.Fatalf("Run = %v, want the end of the conversation", err)
		}
		return got, d
	}
	whole, d = run(serialtest.NewPlayback(t, conv, 0))
	oneByte, _ = run(serialtest.OneByte(serialtest.NewPlayback(t, conv, 0)))
	return whole, oneByte, d
}

func chunks(parts ...string) []serialtest.Chunk {
	var c []serialtest.Chunk
	for _, p := range parts {
		c = append(c, serialtest.DeviceChunk([]byte(p)))
	}
	return c
}

// TestRun_playbackFragmented replays scanner output cut at awkward places:
// inside the AIM id, between CR and LF, inside a GS1 string.
func TestRun_playbackFragmented(t *testing.T) {
	tests := []struct {
		name       string
		term       Terminator
		conv       []serialtest.Chunk
		lines      []string
		unreadable uint64
	}{
		{name: "aim split", term: CR,
			conv:  chunks("]", "E0", "6901234567892", "\r]E4963", "85074\r"),
			lines: []string{"]E06901234567892", "]E496385074"}},
		{name: "crlf split", term: CRLF,
			conv:  chunks("]C083001234567890123456\r", "\n]d201069012345678921", "7261231"+"10LOT42"+gsS, "21SN0001\r\n"),
			lines: []string{"]C083001234567890123456", "]d20106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001"}},
		{name: "noise between and inside", term: CR,
			conv:  chunks("\x00\xff\r", "6901234\x07567892\r", "96385074\r"),
			lines: []string{"\x00\xff", "6901234\x07567892", "96385074"}, unreadable: 2},
		{name: "bad check digit", term: LF,
			conv:  chunks("6901234567893\n"),
			lines: []string{"6901234567893"}, unreadable: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			whole, oneByte, d := playScanner(t, tc.conv, &Opts{Terminator: tc.term})
			want := wantEvents(tc.lines...)
			sameEvents(t, whole, want)
			sameEvents(t, oneByte, want)
			if d.Unreadable() != tc.unreadable {
				t.Errorf("Unreadable = %d, want %d", d.Unreadable(), tc.unreadable)
			}
		})
	}
}

// TestRun_recordedConversationReplays records what the simulator's
// scanner sends over a real pty and replays it: the same events.
func TestRun_recordedConversationReplays(t *testing.T) {
	s, err := sim.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := serialport.Open(serialport.Config{Path: s.ScannerPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := serialtest.NewRecorder(p)
	codes := []string{"]E06901234567892", "]C083001234567890123456", "]Q1RX20240001", "]E06901234567893"}
	events := make(chan Event, len(codes))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(rec, nil).Run(ctx, func(e Event) { events <- e }) }()
	var live []Event
	for _, c := range codes {
		if err := s.Scan(c); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-events:
			live = append(live, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("no event for %q", c)
		}
	}
	cancel()
	p.Close()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	sameEvents(t, live, wantEvents(codes...))
	whole, oneByte, d := playScanner(t, rec.Conversation(), nil)
	sameEvents(t, whole, live)
	sameEvents(t, oneByte, live)
	if d.Unreadable() != 1 {
		t.Errorf("Unreadable = %d, want 1 (the bad check digit)", d.Unreadable())
	}
}
