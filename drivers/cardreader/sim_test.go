package cardreader

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tillguard/tillguard/drivers/serialport"
	"github.com/tillguard/tillguard/drivers/serialtest"
	"github.com/tillguard/tillguard/drivers/sim"
)

func dashed(d string) string {
	if d == "" {
		return ""
	}
	return d[:4] + "-" + d[4:6] + "-" + d[6:]
}

// cardOf is the Card a simulated holder must read as.
func cardOf(h sim.Holder) Card {
	return Card{
		ID: h.CardID, Region: h.CardID[:6], Version: h.Version, Number: h.Number, SSN: h.SSN,
		Name: h.Name, Sex: h.Sex, Issued: dashed(h.Issued), Expires: dashed(h.Expires), Birth: dashed(h.Birth),
	}
}

// rig is a Dev running against the simulator over a real pty.
type rig struct {
	sim    *sim.Sim
	dev    *Dev
	events chan Event
	cancel context.CancelFunc
	done   chan error
}

func startRig(t *testing.T, simOpts *sim.Opts, wrap func(serialport.Port) io.ReadWriter) *rig {
	t.Helper()
	s, err := sim.Start(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return startRigOn(t, s, wrap)
}

// startRigOn runs a Dev against s, which the caller has started.
func startRigOn(t *testing.T, s *sim.Sim, wrap func(serialport.Port) io.ReadWriter) *rig {
	t.Helper()
	p, err := serialport.Open(serialport.Config{Path: s.CardPath()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	var rw io.ReadWriter = p
	if wrap != nil {
		rw = wrap(p)
	}
	r := &rig{sim: s, dev: New(rw, &Opts{Poll: 5 * time.Millisecond}), events: make(chan Event, 100), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.dev.Run(ctx, func(e Event) { r.events <- e }) }()
	t.Cleanup(r.stop(t))
	return r
}

func (r *rig) stop(t *testing.T) func() {
	return func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	}
}

func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return Event{}
	}
}

func TestDev_simReadsDemoCards(t *testing.T) {
	tests := []struct {
		name string
		wrap func(serialport.Port) io.ReadWriter
	}{
		{"pty", nil},
		{"one byte reads", func(p serialport.Port) io.ReadWriter { return serialtest.OneByte(p) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startRig(t, nil, tt.wrap)
			for i, h := range sim.DemoHolders() {
				r.sim.Insert(h)
				e := nextEvent(t, r.events)
				if e.Kind != CardRead || e.Card != cardOf(h) {
					t.Fatalf("holder %d: %v %v\n got %+v\nwant %+v", i, e.Kind, e.Err, e.Card, cardOf(h))
				}
				if got := r.sim.Beeps(); got != i+1 {
					t.Errorf("after read %d: %d beeps", i+1, got)
				}
				r.sim.Remove()
				if e := nextEvent(t, r.events); e.Kind != CardRemoved {
					t.Fatalf("after removal: %v", e.Kind)
				}
			}
			if v, err := r.dev.Version(); err != nil || v != "TGCR-1.2" {
				t.Errorf("Version = %q, %v", v, err)
			}
		})
	}
}

// TestDev_simReplyLeftByDeadHost: a till killed between a command and
// its reply leaves the reply unread on the line (here in the pty, which
// the simulator holds open). The next till's driver must not take it for
// the answer to its own first command: every reply after it would be one
// behind, and the card would fail to read until it is taken out.
func TestDev_simReplyLeftByDeadHost(t *testing.T) {
	s, err := sim.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := sim.DemoHolders()[0]
	s.Insert(h)

	dead, err := os.OpenFile(s.CardPath(), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Write(AppendFrame(nil, []byte{cmdPresence >> 8, cmdPresence & 0xFF})); err != nil {
		t.Fatal(err)
	}
	// The whole reply (status and the presence byte) is on the line, unread.
	serialtest.WaitUnread(t, dead, len(AppendFrame(nil, make([]byte, 3))))
	dead.Close()

	r := startRigOn(t, s, nil)
	if e := nextEvent(t, r.events); e.Kind != CardRead || e.Card != cardOf(h) {
		t.Fatalf("after a dead host's reply: %v %v %+v", e.Kind, e.Err, e.Card)
	}
}

func TestDev_simPulledMidRead(t *testing.T) {
	var s atomic.Pointer[sim.Sim]
	var pulled atomic.Bool
	readRecord08 := []byte{0xC0, 0x31, 0x00, 0xB2, 0x08}
	r := startRig(t, &sim.Opts{OnFrame: func(p []byte) {
		if len(p) >= 5 && string(p[:5]) == string(readRecord08) && !pulled.Swap(true) {
			s.Load().Remove()
		}
	}}, nil)
	s.Store(r.sim)
	h := sim.DemoHolders()[0]
	r.sim.Insert(h)
	e := nextEvent(t, r.events)
	if e.Kind != CardError || !errors.Is(e.Err, ErrCardPulled) {
		t.Fatalf("event %v %v, want CardError ErrCardPulled", e.Kind, e.Err)
	}
	if e := nextEvent(t, r.events); e.Kind != CardRemoved {
		t.Fatalf("event %v, want CardRemoved", e.Kind)
	}
	r.sim.Insert(h)
	if e := nextEvent(t, r.events); e.Kind != CardRead || e.Card != cardOf(h) {
		t.Fatalf("reinserted: %v %v", e.Kind, e.Err)
	}
	if got := r.sim.Beeps(); got != 1 {
		t.Errorf("%d beeps, want 1: a failed read is silent", got)
	}
}

func TestDev_simIncompleteCard(t *testing.T) {
	r := startRig(t, nil, nil)
	h := sim.DemoHolders()[1]
	h.SSN = ""
	r.sim.Insert(h)
	if e := nextEvent(t, r.events); e.Kind != CardError || !errors.Is(e.Err, ErrIncomplete) {
		t.Fatalf("event %v %v, want CardError ErrIncomplete", e.Kind, e.Err)
	}
}

// TestDev_simNoiseNeverMakesACard injects random bytes — STX and ETX among
// them — before half of the reader's replies while cards come and go. A card
// read must always be exactly the inserted card.
func TestDev_simNoiseNeverMakesACard(t *testing.T) {
	var (
		s   atomic.Pointer[sim.Sim]
		mu  sync.Mutex
		rng = rand.New(rand.NewPCG(1, 2))
	)
	noise := func() []byte {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(2) == 0 {
			return nil
		}
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = []byte{0x02, 0x03, 0x00, 0x01, byte(rng.UintN(256))}[rng.IntN(5)]
		}
		return b
	}
	r := startRig(t, &sim.Opts{OnFrame: func([]byte) {
		if b := noise(); b != nil {
			s.Load().Noise(sim.DevCard, b)
		}
	}}, nil)
	s.Store(r.sim)
	holders := sim.DemoHolders()
	reads := 0
	for round := range 12 {
		h := holders[round%len(holders)]
		r.sim.Insert(h)
		e := nextEvent(t, r.events)
		switch e.Kind {
		case CardRead:
			reads++
			if e.Card != cardOf(h) {
				t.Fatalf("round %d: read %+v, want %+v", round, e.Card, cardOf(h))
			}
		case CardError: // noise may cost a read; it must never forge one
			t.Logf("round %d: %v", round, e.Err)
		default:
			t.Fatalf("round %d: %v", round, e.Kind)
		}
		r.sim.Remove()
		for e := nextEvent(t, r.events); e.Kind != CardRemoved; e = nextEvent(t, r.events) {
			t.Fatalf("round %d: %v %v before removal", round, e.Kind, e.Err)
		}
	}
	t.Logf("%d of 12 cards read, %d noise bytes dropped", reads, r.dev.Noise())
	if reads == 0 {
		t.Error("no card read through the noise at all")
	}
	if r.dev.Noise() == 0 {
		t.Error("Noise() = 0 after injecting noise")
	}
}

func TestDev_simBeepDuringRun(t *testing.T) {
	r := startRig(t, nil, nil)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := r.dev.Beep(3); err != nil {
				t.Error(err)
			}
		})
	}
	r.sim.Insert(sim.DemoHolders()[2])
	if e := nextEvent(t, r.events); e.Kind != CardRead {
		t.Errorf("event %v %v", e.Kind, e.Err)
	}
	wg.Wait()
	if got := r.sim.Beeps(); got != 7 {
		t.Errorf("%d beeps, want 7", got)
	}
}

// TestDev_simKeepSurvivesUnplug runs the driver the way the agent does:
// under serialport.Keep, through a by-id style symlink.
func TestDev_simKeepSurvivesUnplug(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := sim.Start(&sim.Opts{LinkDir: filepath.Join(t.TempDir(), "by-id")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events := make(chan Event, 10)
	states := make(chan serialport.State, 10)
	runErrs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		serialport.Keep(ctx, serialport.Config{Path: s.CardPath()}, func(ctx context.Context, p serialport.Port) error {
			err := New(p, &Opts{Poll: 5 * time.Millisecond}).Run(ctx, func(e Event) { events <- e })
			runErrs <- err
			return err
		}, func(st serialport.State, _ error) { states <- st })
	}()
	wantState := func(want serialport.State) {
		t.Helper()
		select {
		case st := <-states:
			if st != want {
				t.Fatalf("state %q, want %q", st, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no state %q", want)
		}
	}
	wantState(serialport.StateConnected)
	h := sim.DemoHolders()[0]
	s.Insert(h)
	if e := nextEvent(t, events); e.Kind != CardRead {
		t.Fatalf("event %v %v", e.Kind, e.Err)
	}
	if err := s.Unplug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	wantState(serialport.StateDisconnected)
	if err := <-runErrs; !errors.Is(err, ErrPort) {
		t.Errorf("Run after unplug = %v, want ErrPort", err)
	}
	if err := s.Replug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	wantState(serialport.StateConnected)
	// The card is still in: a new connection reads it afresh.
	if e := nextEvent(t, events); e.Kind != CardRead || e.Card != cardOf(h) {
		t.Fatalf("after replug: %v %v", e.Kind, e.Err)
	}
	cancel()
	<-done
	if err := <-runErrs; err != nil {
		t.Errorf("Run at shutdown = %v, want nil", err)
	}
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left, had %d", n, before)
	}
}

// TestDev_recordedConversationReplays records a session with the simulator
// and replays it without one: same bytes written, same events.
func TestDev_recordedConversationReplays(t *testing.T) {
	s, err := sim.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := serialport.Open(serialport.Config{Path: s.CardPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rec := serialtest.NewRecorder(p)
	ch := make(chan Event, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- New(rec, &Opts{Poll: 5 * time.Millisecond}).Run(ctx, func(e Event) { ch <- e }) }()
	s.Insert(sim.DemoHolders()[1])
	live := []Event{nextEvent(t, ch)}
	s.Remove()
	live = append(live, nextEvent(t, ch))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	conv := rec.Conversation()
	if len(conv) < 30 {
		t.Fatalf("recorded only %d chunks", len(conv))
	}
	replayed := play(t, script(conv))
	if len(replayed) != len(live) {
		t.Fatalf("replayed %s, live %s", kinds(replayed), kinds(live))
	}
	for i := range live {
		if replayed[i].Kind != live[i].Kind || replayed[i].Card != live[i].Card {
			t.Errorf("event %d: replayed %+v, live %+v", i, replayed[i], live[i])
		}
	}
}
