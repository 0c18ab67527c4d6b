package agent

import (
	"context"
	"errors"
	"sync"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/cardreader"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/drivers/serialport"
	"github.com/tillguard/tillguard/sync/feed"
)

// Device names, as in records and GET /api/status.
const (
	devCard    = "card"
	devScanner = "scanner"
)

// devices tracks the state and counters of both ports and routes beeps to
// the card reader while one is connected.
type devices struct {
	mu     sync.Mutex
	state  map[string]*device
	reader *cardreader.Dev
}

// device is one port's state. Each connection runs a fresh driver whose
// counters start at 0: ds holds the sums of the finished connections, live
// adds the current driver's.
type device struct {
	ds        web.DeviceState
	connected bool // ever: the next connection is a reconnect
	live      func(*web.DeviceState)
}

func newDevices(card, scan bool) *devices {
	initial := func(configured bool) *device {
		if configured {
			return &device{ds: web.DeviceState{State: string(serialport.StateDisconnected)}}
		}
		return &device{ds: web.DeviceState{State: string(serialport.StateMissing)}}
	}
	return &devices{state: map[string]*device{
		devCard:    initial(card),
		devScanner: initial(scan),
	}}
}

// changes reports whether s differs from name's current state.
func (d *devices) changes(name string, s serialport.State) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state[name].ds.State != string(s)
}

// set records a state.
func (d *devices) set(name string, s serialport.State, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev := d.state[name]
	changed := dev.ds.State != string(s)
	dev.ds.State, dev.ds.Error = string(s), ""
	if err != nil && s != serialport.StateConnected {
		dev.ds.Error = err.Error()
	}
	if changed && s == serialport.StateConnected {
		if dev.connected {
			dev.ds.Reconnects++
		}
		dev.connected = true
	}
}

// attach adds a running driver's counters to name's until the returned
// detach folds their final values in.
func (d *devices) attach(name string, live func(*web.DeviceState)) (detach func()) {
	d.mu.Lock()
	d.state[name].live = live
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		dev := d.state[name]
		live(&dev.ds)
		dev.live = nil
	}
}

func (d *devices) states() map[string]web.DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]web.DeviceState, len(d.state))
	for k, v := range d.state {
		ds := v.ds
		if v.live != nil {
			v.live(&ds)
		}
		out[k] = ds
	}
	return out
}

func (d *devices) setReader(dev *cardreader.Dev) {
	d.mu.Lock()
	d.reader = dev
	d.mu.Unlock()
}

// beep sounds n short beeps on the card reader, if one is connected,
// without holding up the session.
func (d *devices) beep(n int) {
	d.mu.Lock()
	dev := d.reader
	d.mu.Unlock()
	if dev != nil {
		go dev.Beep(n)
	}
}

func (t *Till) runCardReader(ctx context.Context) {
	cfg := serialport.Config{Path: t.cfg.CardPort, Baud: t.cfg.Baud}
	serialport.Keep(ctx, cfg, func(ctx context.Context, p serialport.Port) error {
		dev := cardreader.New(p, nil)
		defer t.devices.attach(devCard, func(ds *web.DeviceState) {
			ds.NoiseBytes += dev.Noise()
			ds.Timeouts += dev.Timeouts()
			ds.ReadErrors += dev.CardErrors()
		})()
		t.devices.setReader(dev)
		defer t.devices.setReader(nil)
		return dev.Run(ctx, t.onCard)
	}, t.onDeviceState(devCard))
}

func (t *Till) onCard(ev cardreader.Event) {
	switch ev.Kind {
	case cardreader.CardRead:
		c := ev.Card
		t.session.CardRead(session.Card{Type: feed.CardSSC, No: c.Number, Name: c.Name, Region: c.Region, Expires: c.Expires})
	case cardreader.CardRemoved:
		t.session.CardRemoved()
	case cardreader.CardError:
		t.log.Warn("agent: card read failed", "err", ev.Err)
		t.session.CardError()
	}
}

func (t *Till) runScanner(ctx context.Context) {
	cfg := serialport.Config{Path: t.cfg.ScannerPort, Baud: t.cfg.Baud}
	serialport.Keep(ctx, cfg, func(ctx context.Context, p serialport.Port) error {
		dev := scanner.New(p, &scanner.Opts{Terminator: t.cfg.ScannerTerminator})
		defer t.devices.attach(devScanner, func(ds *web.DeviceState) {
			ds.Unreadable += dev.Unreadable()
			ds.DroppedLines += dev.Dropped()
		})()
		return dev.Run(ctx, t.onScan)
	}, t.onDeviceState(devScanner))
}

func (t *Till) onScan(ev scanner.Event) {
	if ev.Err != nil {
		t.log.Warn("agent: unreadable scan", "err", ev.Err)
		t.session.Unreadable()
		return
	}
	t.session.Scan(ev.Code)
}

// onDeviceState records connects and disconnects in the ledger: the owner's
// availability report and the bureau both need them.
func (t *Till) onDeviceState(name string) func(serialport.State, error) {
	return func(s serialport.State, err error) {
		// Each device reports from one goroutine, so the check and the set
		// below cannot interleave with another report of the same device.
		// The state is published after the record is on disk: whoever sees
		// "connected" on /api/status finds its record in the ledger.
		if !t.devices.changes(name, s) {
			t.devices.set(name, s, err)
			return
		}
		t.log.Info("agent: device", "device", name, "state", s, "err", err)
		r := &feed.Record{
			Pharmacy: t.cfg.Pharmacy, Till: t.cfg.Till, Kind: feed.KindDevice,
			Device: &feed.Device{Name: name, State: string(s)},
		}
		if err != nil {
			r.Reason = err.Error()
		}
		if _, err := t.ledger.Append(r); err != nil && !errors.Is(err, context.Canceled) {
			t.log.Error("agent: record device state", "device", name, "err", err)
		}
		t.devices.set(name, s, err)
		t.changes.notify()
	}
}
