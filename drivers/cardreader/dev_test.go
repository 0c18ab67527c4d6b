package cardreader

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/serialtest"
)

// wang is the content of a complete card and the Card it reads as.
func wang(t testing.TB) (cardContent, Card) {
	name := gbk(t, "王小明")
	return cardContent{
			0x01: {0x33, 0x01, 0x00, 0xD1, 0x56, 0x00, 0x00, 0x05, 0, 0, 0, 0, 0xA0, 0, 0, 0x01},
			0x03: []byte("3.00"),
			0x05: {0x20, 0x21, 0x03, 0x15},
			0x06: {0x20, 0x31, 0x03, 0x15},
			0x07: []byte("A00000001"),
			0x08: []byte("330100198503150001"),
			0x09: append(name, make([]byte, 30-len(name))...),
			0x0A: []byte("1"),
			0x0D: {0x19, 0x85, 0x03, 0x15},
		}, Card{
			ID: "330100D15600000500000000A0000001", Region: "330100", Version: "3.00",
			Number: "A00000001", SSN: "330100198503150001", Name: "王小明", Sex: "1",
			Issued: "2021-03-15", Expires: "2031-03-15", Birth: "1985-03-15",
		}
}

func without(c cardContent, rr ...byte) cardContent {
	out := cardContent{}
	for k, v := range c {
		out[k] = v
	}
	for _, r := range rr {
		delete(out, r)
	}
	return out
}

// play runs a Dev against the script until the script is used up and
// returns the events.
func play(t *testing.T, s script) []Event {
	t.Helper()
	return playWith(t, s, &Opts{Poll: time.Millisecond, Timeout: 30 * time.Millisecond})
}

// playWith plays s twice, with whole replies and through one-byte reads:
// framing must not depend on how the port fragments the bytes.
func playWith(t *testing.T, s script, opts *Opts) []Event {
	t.Helper()
	whole := playOnce(t, serialtest.NewPlayback(t, s, 0), nil, opts)
	fragmented := playOnce(t, serialtest.NewPlayback(t, s, 0), serialtest.OneByte, opts)
	if kinds(fragmented) != kinds(whole) {
		t.Errorf("one-byte reads gave %s, whole replies %s", kinds(fragmented), kinds(whole))
	}
	for i := range min(len(whole), len(fragmented)) {
		if whole[i].Card != fragmented[i].Card {
			t.Errorf("event %d: one-byte reads gave %+v, whole replies %+v", i, fragmented[i].Card, whole[i].Card)
		}
	}
	return whole
}

func playOnce(t *testing.T, pb *serialtest.Playback, wrap func(io.ReadWriter) io.ReadWriter, opts *Opts) []Event {
	t.Helper()
	var port io.ReadWriter = pb
	if wrap != nil {
		port = wrap(pb)
	}
	d := New(port, opts)
	var events []Event
	err := d.Run(context.Background(), func(e Event) { events = append(events, e) })
	if !errors.Is(err, serialtest.ErrEnd) || !errors.Is(err, ErrPort) {
		t.Errorf("Run = %v, want the end of the script as a port error", err)
	}
	if n := pb.Remaining(); n != 0 {
		t.Errorf("%d scripted chunks not played", n)
	}
	return events
}

func kinds(events []Event) string {
	var s []string
	for _, e := range events {
		s = append(s, e.Kind.String())
	}
	return strings.Join(s, ", ")
}

func TestDev_readsCompleteCard(t *testing.T) {
	content, want := wang(t)
	var s script
	s.presence(false).presence(true).read(content, 0).beep().presence(true).presence(false)
	events := play(t, s)
	if kinds(events) != "card read, card removed" {
		t.Fatalf("events: %s", kinds(events))
	}
	if events[0].Card != want {
		t.Errorf("card\n got %+v\nwant %+v", events[0].Card, want)
	}
}

func TestDev_optionalRecordsMissing(t *testing.T) {
	content, want := wang(t)
	want.Version, want.Issued, want.Sex, want.Birth = "", "", "", ""
	var s script
	s.presence(true).read(without(content, 0x03, 0x05, 0x0A, 0x0D), 0).beep()
	events := play(t, s)
	if len(events) != 1 || events[0].Kind != CardRead || events[0].Card != want {
		t.Fatalf("events %+v, want one CardRead of %+v", events, want)
	}
}

func TestDev_optionalRecordUndecodable(t *testing.T) {
	content, want := wang(t)
	content[0x0D] = []byte{0x19, 0x85, 0x13, 0x45} // month 13
	want.Birth = ""
	var s script
	s.presence(true).read(content, 0).beep()
	events := play(t, s)
	if len(events) != 1 || events[0].Card != want {
		t.Fatalf("events %+v", events)
	}
}

func TestDev_requiredRecordMissing(t *testing.T) {
	content, _ := wang(t)
	for _, rr := range []byte{0x01, 0x06, 0x07, 0x08, 0x09} {
		t.Run(string("0123456789ABCDEF"[rr>>4])+string("0123456789ABCDEF"[rr&15]), func(t *testing.T) {
			var s script
			// No beep; the card stays in and is not read again.
			s.presence(true).read(without(content, rr), 0).presence(true).presence(true).presence(false)
			events := play(t, s)
			if kinds(events) != "card error, card removed" {
				t.Fatalf("events: %s", kinds(events))
			}
			if !errors.Is(events[0].Err, ErrIncomplete) {
				t.Errorf("error %v, want ErrIncomplete", events[0].Err)
			}
		})
	}
}

func TestDev_requiredRecordUndecodable(t *testing.T) {
	content, _ := wang(t)
	content[0x09] = []byte{0x81, 0x00} // a GBK lead byte cut off
	var s script
	s.presence(true).read(content, 0)
	events := play(t, s)
	if len(events) != 1 || !errors.Is(events[0].Err, ErrIncomplete) || !strings.Contains(events[0].Err.Error(), "record 09") {
		t.Fatalf("events %+v, want CardError naming record 09", events)
	}
}

func TestDev_pulledMidRead(t *testing.T) {
	content, want := wang(t)
	var s script
	s.presence(true).read(content, 0x08). // status 10 02
						presence(false).                        // gone
						presence(true).read(content, 0).beep(). // inserted again: read again
						presence(true)
	events := play(t, s)
	if kinds(events) != "card error, card removed, card read" {
		t.Fatalf("events: %s", kinds(events))
	}
	if !errors.Is(events[0].Err, ErrCardPulled) || !errors.Is(events[0].Err, ErrCardComm) {
		t.Errorf("error %v, want ErrCardPulled from status 10 02", events[0].Err)
	}
	if events[2].Card != want {
		t.Errorf("second read %+v", events[2].Card)
	}
}

func TestDev_noCardStatusMidRead(t *testing.T) {
	var s script
	s.presence(true).cmd([]byte{0xC0, 0x30}, []byte{0x10, 0x01}).powerDown().presence(false)
	events := play(t, s)
	if kinds(events) != "card error, card removed" || !errors.Is(events[0].Err, ErrCardPulled) {
		t.Fatalf("events %+v", events)
	}
}

func TestDev_notASocialSecurityCard(t *testing.T) {
	var s script
	s.presence(true).cmd([]byte{0xC0, 0x30}, []byte{0x00, 0x00, 0x3B}).
		apdu(selectSSSE, []byte{0x6A, 0x82}).powerDown()
	events := play(t, s)
	if len(events) != 1 || !errors.Is(events[0].Err, ErrCard) {
		t.Fatalf("events %+v, want CardError ErrCard", events)
	}
}

func TestDev_replyTimeoutIsNotFatal(t *testing.T) {
	content, want := wang(t)
	var s script
	s.cmd([]byte{0x00, 0x11}, nil). // no answer
					presence(true).read(content, 0).beep()
	events := play(t, s)
	if len(events) != 1 || events[0].Card != want {
		t.Fatalf("events %+v", events)
	}
}

func TestDev_timeoutMidReadIsACardError(t *testing.T) {
	var s script
	s.presence(true).cmd([]byte{0xC0, 0x30}, []byte{0x00, 0x00}).
		cmd(append([]byte{0xC0, 0x31}, selectSSSE...), nil).powerDown().presence(false)
	events := play(t, s)
	if kinds(events) != "card error, card removed" || !errors.Is(events[0].Err, ErrTimeout) {
		t.Fatalf("events %+v", events)
	}
}

func TestDev_lateReplyIsNotTakenForTheNext(t *testing.T) {
	// The reader answers a presence poll "card inserted" after the 30 ms
	// timeout. The driver must swallow it, not take it for the answer to
	// its next command: it keeps polling and never resets a card.
	s := script{
		serialtest.HostChunk(AppendFrame(nil, []byte{0x00, 0x11})),
		{From: serialtest.Device, Data: AppendFrame(nil, []byte{0x00, 0x00, 0x01}), After: 40 * time.Millisecond},
	}
	s.presence(false).presence(false)
	// Polls 20 ms apart: the late reply lands before the next poll.
	events := playWith(t, s, &Opts{Poll: 20 * time.Millisecond, Timeout: 30 * time.Millisecond})
	if len(events) != 0 {
		t.Fatalf("events %+v from a stale reply", events)
	}
}

func TestDev_noiseDropped(t *testing.T) {
	content, want := wang(t)
	var s script
	s.presence(true).read(content, 0).beep()
	replies := 0
	for i := range s {
		if s[i].From == serialtest.Device {
			s[i].Data = append([]byte{0xFF, 0x02, 0x00, 0x01, 0x03}, s[i].Data...)
			replies++
		}
	}
	pb := serialtest.NewPlayback(t, s, 0)
	d := New(pb, &Opts{Poll: time.Millisecond, Timeout: 30 * time.Millisecond})
	var events []Event
	d.Run(context.Background(), func(e Event) { events = append(events, e) })
	if len(events) != 1 || events[0].Card != want {
		t.Fatalf("events %+v", events)
	}
	if got, wantNoise := d.Noise(), uint64(5*replies); got != wantNoise {
		t.Errorf("Noise() = %d, want %d", got, wantNoise)
	}
}

func TestDev_runReturnsNilWhenCancelled(t *testing.T) {
	var s script
	for range 1000 {
		s.presence(false)
	}
	pb := serialtest.NewPlayback(t, s, 0)
	d := New(pb, &Opts{Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx, func(Event) {}) }()
	deadline := time.Now().Add(5 * time.Second)
	for pb.Remaining() > 1990 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestDev_beepAndVersion(t *testing.T) {
	var s script
	s.cmd([]byte{0x00, 0x01}, append([]byte{0x00, 0x00}, "TGCR-1.2"...))
	s.beep().beep().beep()
	s.cmd([]byte{0x00, 0x10, 0x0A}, []byte{0x10, 0xFF})
	pb := serialtest.NewPlayback(t, s, 0)
	d := New(pb, nil)
	if v, err := d.Version(); err != nil || v != "TGCR-1.2" {
		t.Errorf("Version = %q, %v", v, err)
	}
	start := time.Now()
	if err := d.Beep(3); err != nil {
		t.Errorf("Beep(3): %v", err)
	}
	if el := time.Since(start); el < 2*beepGap {
		t.Errorf("three beeps in %v: not spaced", el)
	}
	if err := d.Beep(1); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("Beep on a reader without a buzzer: %v", err)
	}
	if err := d.Beep(1); !errors.Is(err, ErrPort) {
		t.Errorf("Beep past the script: %v, want ErrPort", err)
	}
}

func TestDev_beepConcurrentWithRun(t *testing.T) {
	// Commands from Beep and Run interleave only at frame boundaries: the
	// playback accepts any order of whole presence and beep frames.
	fr := &anyOrder{replies: map[string][]byte{
		string(AppendFrame(nil, []byte{0x00, 0x11})):       AppendFrame(nil, []byte{0x00, 0x00, 0x00}),
		string(AppendFrame(nil, []byte{0x00, 0x10, 0x0A})): AppendFrame(nil, []byte{0x00, 0x00}),
	}, t: t}
	d := New(fr, &Opts{Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx, func(e Event) { t.Errorf("event %v", e) }) }()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := d.Beep(2); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := fr.count(string(AppendFrame(nil, []byte{0x00, 0x10, 0x0A}))); n != 6 {
		t.Errorf("%d beep frames, want 6", n)
	}
}

// anyOrder answers each whole known frame; anything else fails the test.
type anyOrder struct {
	t       *testing.T
	replies map[string][]byte
	mu      sync.Mutex
	seen    map[string]int
	out     []byte
}

func (a *anyOrder) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.replies[string(b)]
	if !ok {
		a.t.Errorf("unexpected write % X", b)
		return 0, errors.New("unexpected write")
	}
	if a.seen == nil {
		a.seen = map[string]int{}
	}
	a.seen[string(b)]++
	a.out = append(a.out, r...)
	return len(b), nil
}

func (a *anyOrder) Read(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := copy(b, a.out)
	a.out = a.out[n:]
	return n, nil
}

func (a *anyOrder) count(k string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[k]
}

func TestEventKind_String(t *testing.T) {
	for k, want := range map[EventKind]string{CardRead: "card read", CardRemoved: "card removed", CardError: "card error", 9: "EventKind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", int(k), k.String())
		}
	}
}

func TestDev_countersTimeoutsAndCardErrors(t *testing.T) {
	content, _ := wang(t)
	var s script
	s.cmd([]byte{0x00, 0x11}, nil). // poll unanswered: one timeout
					presence(true).read(without(content, 0x08), 0). // incomplete: a card error
					presence(false).
					presence(true).read(content, 0x07). // pulled: another
					presence(false)
	pb := serialtest.NewPlayback(t, s, 0)
	d := New(pb, &Opts{Poll: time.Millisecond, Timeout: 30 * time.Millisecond})
	var events []Event
	d.Run(context.Background(), func(e Event) { events = append(events, e) })
	if kinds(events) != "card error, card removed, card error, card removed" {
		t.Fatalf("events: %s", kinds(events))
	}
	if d.Timeouts() != 1 || d.CardErrors() != 2 || d.Noise() != 0 {
		t.Errorf("Timeouts %d, CardErrors %d, Noise %d; want 1, 2, 0", d.Timeouts(), d.CardErrors(), d.Noise())
	}
}
