package cardreader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reader commands (docs/devices.md, Commands).
const (
	cmdVersion   = 0x0001
	cmdBeep      = 0x0010
	cmdPresence  = 0x0011
	cmdReset     = 0xC030
	cmdAPDU      = 0xC031
	cmdPowerDown = 0xC032
)

// Reader status words.
const (
	stOK          = 0x0000
	stNoCard      = 0x1001
	stCardComm    = 0x1002
	stUnknownComm = 0x10FF
)

// Defaults for zero Opts fields.
const (
	DefaultPoll    = 200 * time.Millisecond
	DefaultTimeout = 500 * time.Millisecond
)

const (
	beepDuration = 0x0A                   // 10 ms units: a short beep
	beepGap      = 200 * time.Millisecond // beep start to next beep start, so three beeps are heard as three
)

// selectSSSE selects the social-security application by its AID,
// "sx1.sh.社会保障" in GBK.
var selectSSSE = []byte{0x00, 0xA4, 0x04, 0x00, 0x0F,
	0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF}

// EventKind says what happened at the reader.
type EventKind int

// Event kinds. Each insertion yields exactly one CardRead or CardError;
// each removal one CardRemoved.
const (
	CardRead    EventKind = iota + 1 // a card was inserted and read completely
	CardRemoved                      // the card left the reader
	CardError                        // a card was inserted but could not be read; insert it again
)

var _ fmt.Stringer = CardRead

func (k EventKind) String() string {
	switch k {
	case CardRead:
		return "card read"
	case CardRemoved:
		return "card removed"
	case CardError:
		return "card error"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one thing that happened at the reader.
type Event struct {
	Kind EventKind
	Card Card  // for CardRead
	Err  error // for CardError: why
}

// Opts tunes a Dev; nil or zero fields mean the defaults.
type Opts struct {
	Poll    time.Duration // presence poll interval; 0 → 200 ms
	Timeout time.Duration // reply timeout per command; 0 → 500 ms
	Log     *slog.Logger  // nil → discard
}

// Dev is a card reader on a serial line. Beep and Version may be called
// concurrently with Run: commands are serialised.
type Dev struct {
	port io.ReadWriter
	poll time.Duration
	wait time.Duration
	log  *slog.Logger

	mu   sync.Mutex // one command on the wire at a time; guards fr and the buffers
	fr   *FrameReader
	pbuf []byte
	wbuf []byte

	timeouts   atomic.Uint64
	cardErrors atomic.Uint64
}

// New returns a driver for the reader on port. The port's Read should
// return (0, nil) when no data is waiting, as serialport.Port does.
func New(port io.ReadWriter, opts *Opts) *Dev {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Dev{port: port, poll: o.Poll, wait: o.Timeout, log: o.Log, fr: NewFrameReader(port)}
}

// Noise returns how many bytes the driver dropped as line noise so far.
// Like the other counters it does not wait for a command on the wire, so
// a status page can call it at any time.
func (d *Dev) Noise() uint64 { return d.fr.Noise() }

// Timeouts returns how many commands got no reply in time so far.
func (d *Dev) Timeouts() uint64 { return d.timeouts.Load() }

// CardErrors returns how many insertions ended in a CardError so far.
func (d *Dev) CardErrors() uint64 { return d.cardErrors.Load() }

// Run polls the reader for cards and reads each inserted card, calling emit
// from Run's goroutine. It returns nil when ctx is done, and an error
// wrapping ErrPort when the port fails (reopen it and call Run again). Reply
// timeouts and card errors do not stop it.
func (d *Dev) Run(ctx context.Context, emit func(Event)) error {
	present := false
	silent := false // a dead reader is logged once, not every poll
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		in, err := d.presence()
		switch {
		case errors.Is(err, ErrPort):
			return d.portFailed(ctx, err)
		case err != nil:
			if !silent {
				d.log.Warn("card reader not answering", "err", err)
			}
			silent = true
		case in && !present:
			silent, present = false, true
			ev, err := d.readCard(ctx)
			if err != nil {
				return d.portFailed(ctx, err)
			}
			if ev.Kind == CardRead {
				d.log.Info("card read", "region", ev.Card.Region)
			} else {
				d.cardErrors.Add(1)
				d.log.Warn("card read failed", "err", ev.Err)
			}
			emit(ev)
		case !in && present:
			silent, present = false, false
			d.log.Info("card removed")
			emit(Event{Kind: CardRemoved})
		default:
			silent = false
		}
		t.Reset(d.poll)
	}
}

// portFailed is nil when the failure is ctx's end closing the port.
func (d *Dev) portFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Beep sounds n short beeps (00 10 0A each), about 200 ms apart.
func (d *Dev) Beep(n int) error {
	for i := range n {
		if i > 0 {
			time.Sleep(beepGap)
		}
		if _, err := d.command("beep", cmdBeep, []byte{beepDuration}); err != nil {
			return err
		}
	}
	return nil
}

// Version returns the reader's firmware version, e.g. "TGCR-1.2".
func (d *Dev) Version() (string, error) {
	v, err := d.command("version", cmdVersion, nil)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(v), "\x00 "), nil
}

func (d *Dev) presence() (bool, error) {
	v, err := d.command("presence", cmdPresence, nil)
	switch {
	case errors.Is(err, ErrNoCard):
		return false, nil
	case err != nil:
		return false, err
	case len(v) != 1:
		return false, fmt.Errorf("cardreader: presence: reply % X: %w", v, ErrStatus)
	}
	return v[0] == 0x01, nil
}

// readCard reads the inserted card. Its error is only for a failed port or
// a done ctx; everything about the card is in the event.
func (d *Dev) readCard(ctx context.Context) (Event, error) {
	fail := func(err error) (Event, error) {
		if errors.Is(err, ErrPort) {
			return Event{}, err
		}
		if errors.Is(err, ErrNoCard) || errors.Is(err, ErrCardComm) {
			err = fmt.Errorf("%w: %w", ErrCardPulled, err)
		}
		// Best effort: leave the card unpowered; a pulled card cannot answer.
		if _, perr := d.command("power down", cmdPowerDown, nil); errors.Is(perr, ErrPort) {
			return Event{}, perr
		}
		return Event{Kind: CardError, Err: err}, nil
	}

	if _, err := d.command("card reset", cmdReset, nil); err != nil {
		return fail(err)
	}
	if err := d.selectFile("select SSSE", selectSSSE); err != nil {
		return fail(err)
	}
	var (
		card    Card
		file    uint16
		missing []error
	)
	for _, r := range cardRecords() {
		if ctx.Err() != nil {
			return Event{}, ctx.Err()
		}
		if r.file != file {
			file = r.file
			name := fmt.Sprintf("select EF%04X", file)
			if err := d.selectFile(name, []byte{0x00, 0xA4, 0x02, 0x00, 0x02, byte(file >> 8), byte(file)}); err != nil {
				return fail(err)
			}
		}
		name := fmt.Sprintf("read record %02X", r.rr)
		resp, err := d.command(name, cmdAPDU, []byte{0x00, 0xB2, r.rr, 0x00, byte(r.size + 2)})
		if err != nil {
			return fail(err)
		}
		v, err := parseRecord(r.rr, resp)
		if err == nil {
			err = decodeRecord(&card, r.rr, v)
		}
		if err != nil {
			// What the card holds is its own business; only the
			// records a read card needs make the read fail.
			err = fmt.Errorf("cardreader: %s: %w", name, err)
			if r.required {
				missing = append(missing, err)
			} else {
				d.log.Debug("optional record skipped", "err", err)
			}
		}
	}
	if len(missing) > 0 {
		return fail(fmt.Errorf("%w: %w", ErrIncomplete, errors.Join(missing...)))
	}
	if _, err := d.command("power down", cmdPowerDown, nil); err != nil {
		return fail(err)
	}
	// The cashier hears that the card was read; a silent reader is not a
	// reason to reject the card.
	if _, err := d.command("beep", cmdBeep, []byte{beepDuration}); errors.Is(err, ErrPort) {
		return Event{}, err
	}
	return Event{Kind: CardRead, Card: card}, nil
}

func (d *Dev) selectFile(name string, apdu []byte) error {
	resp, err := d.command(name, cmdAPDU, apdu)
	if err != nil {
		return err
	}
	if len(resp) != 2 || resp[0] != 0x90 || resp[1] != 0x00 {
		return fmt.Errorf("cardreader: %s: %w: response % X", name, ErrCard, resp)
	}
	return nil
}

// command sends one command frame and returns the reply DATA of a status
// 00 00 reply. Port failures wrap ErrPort; reader statuses map to the
// status sentinels.
func (d *Dev) command(name string, cmd uint16, data []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fr.Discard()
	d.pbuf = append(append(d.pbuf[:0], byte(cmd>>8), byte(cmd)), data...)
	d.wbuf = AppendFrame(d.wbuf[:0], d.pbuf)
	if _, err := d.port.Write(d.wbuf); err != nil {
		return nil, fmt.Errorf("cardreader: %s: %w: %w", name, ErrPort, err)
	}
	reply, err := d.fr.Next(time.Now().Add(d.wait))
	if errors.Is(err, ErrTimeout) {
		d.timeouts.Add(1)
		if err := d.fr.Drain(time.Now().Add(d.wait)); err != nil {
			return nil, fmt.Errorf("cardreader: %s: %w: %w", name, ErrPort, err)
		}
		return nil, fmt.Errorf("cardreader: %s: %w", name, ErrTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("cardreader: %s: %w: %w", name, ErrPort, err)
	}
	switch st := uint16(reply[0])<<8 | uint16(reply[1]); st {
	case stOK:
		return reply[2:], nil
	case stNoCard:
		return nil, fmt.Errorf("cardreader: %s: %w", name, ErrNoCard)
	case stCardComm:
		return nil, fmt.Errorf("cardreader: %s: %w", name, ErrCardComm)
	case stUnknownComm:
		return nil, fmt.Errorf("cardreader: %s: %w", name, ErrUnknownCommand)
	default:
		return nil, fmt.Errorf("cardreader: %s: %w %02X %02X", name, ErrStatus, reply[0], reply[1])
	}
}
