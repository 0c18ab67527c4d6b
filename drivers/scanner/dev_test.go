package scanner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// idleReader returns (0, nil) — a serial read timeout — before every read
// of the underlying reader, as a port does while the scanner is quiet.
type idleReader struct {
	r    io.Reader
	idle bool
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.idle = !r.idle
	if r.idle {
		return 0, nil
	}
	return r.r.Read(p)
}

// readers wraps a stream the ways a serial port can deliver it.
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one_byte", iotest.OneByteReader},
	{"idle", func(r io.Reader) io.Reader { return &idleReader{r: r} }},
	{"one_byte_idle", func(r io.Reader) io.Reader { return &idleReader{r: iotest.OneByteReader(r)} }},
}

// runAll runs a Dev over in until the input ends, and returns what it
// emitted. The input ends with io.EOF, which Run must report.
func runAll(t *testing.T, r io.Reader, opts *Opts) ([]Event, *Dev) {
	t.Helper()
	d := New(r, opts)
	var got []Event
	err := d.Run(context.Background(), func(e Event) { got = append(got, e) })
	if !errors.Is(err, io.EOF) || !strings.HasPrefix(err.Error(), "scanner: read: ") {
		t.Fatalf("Run = %v, want scanner: read: EOF", err)
	}
	return got, d
}

// want is one expected event: the line that Classify gets.
func wantEvents(lines ...string) []Event {
	var es []Event
	for _, l := range lines {
		c, err := Classify([]byte(l))
		es = append(es, Event{Code: c, Err: err})
	}
	return es
}

func sameEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
	}
	for i := range got {
		if got[i].Code != want[i].Code || errString(got[i].Err) != errString(want[i].Err) {
			t.Errorf("event %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRun_terminators(t *testing.T) {
	tests := []struct {
		name  string
		term  Terminator
		in    string
		lines []string // what Classify must see, in order
	}{
		{name: "cr", term: CR,
			in:    "]E06901234567892\r]E496385074\r]C081234567890123456789\r",
			lines: []string{"]E06901234567892", "]E496385074", "]C081234567890123456789"}},
		{name: "cr empty lines", term: CR,
			in:    "\r\r6901234567892\r\r\r",
			lines: []string{"6901234567892"}},
		{name: "cr gets crlf", term: CR,
			in:    "6901234567892\r\n96385074\r\n",
			lines: []string{"6901234567892", "\n96385074"}},
		{name: "cr open line discarded", term: CR,
			in:    "6901234567892\r9638507",
			lines: []string{"6901234567892"}},
		{name: "lf", term: LF,
			in:    "]Q1RX123456\n]d20106901234567892" + "21SN1" + gsS + "\n",
			lines: []string{"]Q1RX123456", "]d20106901234567892" + "21SN1" + gsS}},
		{name: "lf gets crlf", term: LF,
			in:    "6901234567892\r\n",
			lines: []string{"6901234567892\r"}},
		{name: "lf never sees lf", term: LF,
			in:    "6901234567892\r96385074\r",
			lines: nil},
		{name: "crlf", term: CRLF,
			in:    "]E06901234567892\r\n]Q1token-1\r\n\r\n",
			lines: []string{"]E06901234567892", "]Q1token-1"}},
		{name: "crlf bare lf ends a line", term: CRLF,
			in:    "6901234567892\n96385074\r\n",
			lines: []string{"6901234567892", "96385074"}},
		{name: "crlf bare cr is data", term: CRLF,
			in:    "6901234567892\r96385074\r\n",
			lines: []string{"6901234567892\r96385074"}},
		{name: "crlf only one cr stripped", term: CRLF,
			in:    "96385074\r\r\n",
			lines: []string{"96385074\r"}},
		{name: "noise line between codes", term: CR,
			in:    "6901234567892\r\x00\xff\x07\r96385074\r",
			lines: []string{"6901234567892", "\x00\xff\x07", "96385074"}},
	}
	for _, tc := range tests {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, d := runAll(t, rd.wrap(strings.NewReader(tc.in)), &Opts{Terminator: tc.term})
				sameEvents(t, got, wantEvents(tc.lines...))
				if d.Dropped() != 0 {
					t.Errorf("Dropped = %d, want 0", d.Dropped())
				}
			})
		}
	}
}

func TestRun_overlongLines(t *testing.T) {
	voucher := func(n int) string { return "]Q1" + strings.Repeat("v", n-3) } // n bytes in all
	tests := []struct {
		name    string
		opts    *Opts
		in      string
		lines   []string
		dropped uint64
	}{
		{name: "512 kept", opts: nil,
			in: voucher(512) + "\r", lines: []string{voucher(512)}},
		{name: "513 dropped", opts: nil,
			in: voucher(513) + "\r6901234567892\r", lines: []string{"6901234567892"}, dropped: 1},
		{name: "long noise dropped up to the terminator", opts: &Opts{},
			in:    strings.Repeat("\x00\xff", 2000) + "\r96385074\r" + strings.Repeat("x", 600) + "\r",
			lines: []string{"96385074"}, dropped: 2},
		{name: "crlf max counts without cr", opts: &Opts{Terminator: CRLF, MaxLine: 8},
			in:    "96385074\r\n963850741\r\n96385074\n963850741\n",
			lines: []string{"96385074", "96385074"}, dropped: 2},
		{name: "crlf max plus cr plus cr", opts: &Opts{Terminator: CRLF, MaxLine: 8},
			in:    "96385074\r\r\n96385074\r\n",
			lines: []string{"96385074"}, dropped: 1},
		{name: "open overlong line not counted", opts: &Opts{MaxLine: 8},
			in:    "96385074\r963850741234",
			lines: []string{"96385074"}, dropped: 0},
	}
	for _, tc := range tests {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				got, d := runAll(t, rd.wrap(strings.NewReader(tc.in)), tc.opts)
				sameEvents(t, got, wantEvents(tc.lines...))
				if d.Dropped() != tc.dropped {
					t.Errorf("Dropped = %d, want %d", d.Dropped(), tc.dropped)
				}
			})
		}
	}
}

// TestRun_noiseInsideLines sends good codes with noise bytes spliced into
// some of them: the spoiled lines come out unreadable, the others intact,
// and no item appears that was not sent.
func TestRun_noiseInsideLines(t *testing.T) {
	var in bytes.Buffer
	sent := map[Code]bool{}
	var clean int
	for i, line := range goodLines(t) {
		if i%2 == 0 {
			c, _ := Classify([]byte(line))
			sent[c] = true
			clean++
		} else {
			at := i % (len(line) + 1)
			line = line[:at] + string([]byte{noiseBytes[i%len(noiseBytes)]}) + line[at:]
		}
		in.WriteString(line + "\r")
	}
	got, _ := runAll(t, &idleReader{r: iotest.OneByteReader(&in)}, nil)
	var items int
	for _, e := range got {
		if e.Err != nil {
			if !errors.Is(e.Err, ErrUnreadable) {
				t.Errorf("error %v does not wrap ErrUnreadable", e.Err)
			}
			continue
		}
		items++
		if !sent[e.Code] {
			t.Errorf("got %+v, which was not sent", e.Code)
		}
	}
	if items != clean {
		t.Errorf("got %d codes, want the %d clean ones", items, clean)
	}
}

// blockingIdle returns (0, nil) on every read, like a quiet port with a
// read timeout, and reports its first read.
type blockingIdle struct {
	once  sync.Once
	first chan struct{}
}

func (r *blockingIdle) Read([]byte) (int, error) {
	r.once.Do(func() { close(r.first) })
	return 0, nil
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s")
		return nil
	}
}

func TestRun_cancelWhileIdle(t *testing.T) {
	r := &blockingIdle{first: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- New(r, nil).Run(ctx, func(Event) {}) }()
	<-r.first
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
}

func TestRun_cancelThenCloseBlockedRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event, 1)
	done := make(chan error, 1)
	go func() { done <- New(pr, nil).Run(ctx, func(e Event) { events <- e }) }()
	if _, err := pw.Write([]byte("]E06901234567892\r")); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Err != nil || e.Code.Product != "6901234567892" {
		t.Fatalf("event = %+v", e)
	}
	// Run is now blocked in Read: cancel, then close the port as the
	// caller does.
	cancel()
	pr.CloseWithError(errors.New("port closed"))
	if err := waitRun(t, done); err != nil {
		t.Errorf("Run = %v after cancel and close, want nil", err)
	}
}

func TestRun_portFails(t *testing.T) {
	unplugged := errors.New("device not configured")
	pr, pw := io.Pipe()
	events := make(chan Event, 2)
	done := make(chan error, 1)
	go func() { done <- New(pr, nil).Run(context.Background(), func(e Event) { events <- e }) }()
	if _, err := pw.Write([]byte("96385074\r6901234567893\r")); err != nil {
		t.Fatal(err)
	}
	pw.CloseWithError(unplugged)
	err := waitRun(t, done)
	if !errors.Is(err, unplugged) || err.Error() != "scanner: read: device not configured" {
		t.Errorf("Run = %v, want scanner: read: %v", err, unplugged)
	}
	if e := <-events; e.Err != nil || e.Code.Product != "96385074" {
		t.Errorf("first event = %+v", e)
	}
	if e := <-events; !errors.Is(e.Err, ErrUnreadable) || e.Code.Data != "6901234567893" {
		t.Errorf("second event = %+v, want unreadable 6901234567893", e)
	}
}

// TestRun_noEmitAfterCancel: once ctx is done, lines already read are not
// handed to a caller that stopped listening.
func TestRun_noEmitAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []Event
	r := strings.NewReader("96385074\r6901234567892\r4006381333931\r")
	err := New(r, nil).Run(ctx, func(e Event) {
		got = append(got, e)
		cancel()
	})
	if err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if len(got) != 1 {
		t.Errorf("got %d events after cancel in the first, want 1", len(got))
	}
}

func TestNew_badTerminatorPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New with Terminator(7) did not panic")
		}
	}()
	New(strings.NewReader(""), &Opts{Terminator: 7})
}

func TestParseTerminator(t *testing.T) {
	tests := []struct {
		in   string
		want Terminator
		ok   bool
	}{
		{"cr", CR, true}, {"LF", LF, true}, {"CrLf", CRLF, true},
		{"", 0, false}, {"\\r", 0, false}, {"crlf ", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseTerminator(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTerminator(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for _, term := range []Terminator{CR, LF, CRLF} {
		if got, err := ParseTerminator(term.String()); err != nil || got != term {
			t.Errorf("ParseTerminator(%q) = %v, %v", term.String(), got, err)
		}
	}
}

func TestTerminator_Set(t *testing.T) {
	var term Terminator
	if err := term.Set("CRLF"); err != nil || term != CRLF {
		t.Errorf("Set(CRLF) = %v, term %v", err, term)
	}
	if err := term.Set("tab"); err == nil || term != CRLF {
		t.Errorf("Set(tab) = %v, term %v; want an error and no change", err, term)
	}
}
