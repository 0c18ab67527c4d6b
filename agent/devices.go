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

// devices tracks the state of both ports and routes beeps to the card
// reader while one is connected.
type devices struct {
	mu     sync.Mutex
	state  map[string]web.DeviceState
	reader *cardreader.Dev
}

func newDevices(card, scan bool) *devices {
	initial := func(configured bool) web.DeviceState {
		if configured {
			return web.DeviceState{State: string(serialport.StateDisconnected)}
		}
		return web.DeviceState{State: string(serialport.StateMissing)}
	}
	return &devices{state: map[string]web.DeviceState{
		devCard:    initial(card),
		devScanner: initial(scan),
	}}
}

// set records a state and reports whether it changed.
func (d *devices) set(name string, s serialport.State, err error) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ds := web.DeviceState{State: string(s)}
	if err != nil && s != serialport.StateConnected {
		ds.Error = err.Error()
	}
	changed := d.state[name].State != ds.State
	d.state[name] = ds
	return changed
}

func (d *devices) states() map[string]web.DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]web.DeviceState, len(d.state))
	for k, v := range d.state {
		out[k] = v
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
		return scanner.New(p, nil).Run(ctx, t.onScan)
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
		if !t.devices.set(name, s, err) {
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
		t.changes.notify()
	}
}
