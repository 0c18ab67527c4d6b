package agent

import (
	"context"
	"errors"
	"fmt"
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
	reported  bool // Keep has reported a state since the till started
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

// changes reports whether s differs from name's current state, and
// whether it is the first state reported since the till started, which
// says whether a configured device is there at all.
func (d *devices) changes(name string, s serialport.State) (changed, first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dev := d.state[name]
	first, dev.reported = !dev.reported, true
	return dev.ds.State != string(s), first
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

// deviceInfo is how a device is named to the people who read its alarm
// and log lines, and the alarm it raises while it is not connected.
type deviceInfo struct {
	zh, en  string // 读卡器 / card reader
	flag    string // the flag that names its port
	alarm   string // alarm kind
	port    string // as configured; "" = none
	without string // what a till without it cannot do
}

// Alarm kinds of the devices: raised while a configured device is not
// connected, cleared when it is.
const (
	alarmDeviceCard    = "device_card"
	alarmDeviceScanner = "device_scanner"
)

func (t *Till) deviceInfo(name string) deviceInfo {
	if name == devCard {
		return deviceInfo{zh: "读卡器", en: "card reader", flag: "--card-port", alarm: alarmDeviceCard, port: t.cfg.CardPort,
			without: "no insurance card is read"}
	}
	return deviceInfo{zh: "扫码枪", en: "scanner", flag: "--scanner-port", alarm: alarmDeviceScanner, port: t.cfg.ScannerPort,
		without: "items can only be keyed in"}
}

// announce logs a device's new state and raises or clears its alarm. Keep
// reports transitions only, not each retry, so a device that stays away
// is logged once.
func (t *Till) announce(name string, s serialport.State, err error) {
	d := t.deviceInfo(name)
	switch s {
	case serialport.StateConnected:
		t.alarms.clear(d.alarm)
		t.log.Info("agent: device connected", "device", name, "port", d.port)
	case serialport.StateDisconnected:
		reason := serialport.Reason(err)
		t.alarms.raise(d.alarm, fmt.Sprintf("%s未连接 / %s not connected (%s: %s)", d.zh, d.en, d.port, reason))
		attrs := []any{"device", name, "port", d.port, "reason", reason}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		t.log.Warn("agent: device not connected", attrs...)
	case serialport.StateMissing:
		// Not configured: a choice, not a fault, so no alarm; but one
		// worth a line, since sales then lack what the device reads.
		t.log.Warn("agent: no "+d.flag+": the till runs without a "+d.en+", so "+d.without, "device", name)
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

// onDeviceState takes Keep's reports of a device: it records connects and
// disconnects in the ledger, publishes the state, and logs it and raises
// or clears the device's alarm (announce).
func (t *Till) onDeviceState(name string) func(serialport.State, error) {
	return func(s serialport.State, err error) {
		// Each device reports from one goroutine, so the check and the set
		// below cannot interleave with another report of the same device.
		// The state is published after the record is on disk: whoever sees
		// "connected" on /api/status finds its record in the ledger.
		changed, first := t.devices.changes(name, s)
		if changed {
			t.recordDevice(name, s, err)
		}
		// The first report may repeat the state the till starts with (a
		// configured device not there, one not configured): nothing to
		// record, but news all the same.
		t.devices.set(name, s, err)
		if changed || first {
			t.announce(name, s, err)
			t.changes.notify()
		}
	}
}

// recordDevice appends a device's new state to the ledger: the owner's
// availability report and the bureau both need them.
func (t *Till) recordDevice(name string, s serialport.State, reason error) {
	r := &feed.Record{
		Pharmacy: t.cfg.Pharmacy, Till: t.cfg.Till, Kind: feed.KindDevice,
		Device: &feed.Device{Name: name, State: string(s)},
	}
	if reason != nil {
		r.Reason = reason.Error()
	}
	if _, err := t.ledger.Append(r); err != nil && !errors.Is(err, context.Canceled) {
		t.log.Error("agent: record device state", "device", name, "err", err)
	}
}
