package agent_test

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/sync/feed"
)

// plugBound is the requirement: an unplug or a replug shows in
// /api/status within 2 s. (Keep's backoff is capped at 1 s.)
const plugBound = 2 * time.Second

// deviceTill is a till on the simulator's ptys, offline, with its API.
type deviceTill struct {
	sim  *sim.Sim
	api  string
	stop func() // stops the till and the simulator, waiting for both
}

func startDeviceTill(t *testing.T, simOpts *sim.Opts) *deviceTill {
	t.Helper()
	return startDeviceTillLog(t, simOpts, nil)
}

// startDeviceTillLog is startDeviceTill with the till's log; nil discards it.
func startDeviceTillLog(t *testing.T, simOpts *sim.Opts, log *slog.Logger) *deviceTill {
	t.Helper()
	dir := t.TempDir()
	if simOpts == nil {
		simOpts = &sim.Opts{}
	}
	simOpts.LinkDir = filepath.Join(dir, "by-id")
	devs, err := sim.Start(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devs.Close() }) // also when runTill fails
	_, api, stopTill := runTill(t, agent.Config{
		DataDir:     filepath.Join(dir, "till"),
		CardPort:    devs.CardPath(),
		ScannerPort: devs.ScannerPath(),
		Baud:        agent.DefaultBaud,
		Pharmacy:    pharmacy,
		Till:        till,
		Region:      "330100",
		Catalog:     "../testdata/catalog.csv",
		HTTP:        "127.0.0.1:0",
		Log:         log,
	})
	stop := func() {
		stopTill()
		devs.Close()
		http.DefaultClient.CloseIdleConnections()
	}
	return &deviceTill{sim: devs, api: api, stop: stop}
}

func (d *deviceTill) devices(t *testing.T) map[string]web.DeviceState {
	t.Helper()
	var st web.Status
	getJSON(t, d.api+"/api/status", &st)
	return st.Devices
}

func (d *deviceTill) view(t *testing.T) session.View {
	t.Helper()
	var v session.View
	getJSON(t, d.api+"/api/session", &v)
	return v
}

// waitBoth polls /api/status until card and scanner are both in state and
// returns how long that took.
func (d *deviceTill) waitBoth(t *testing.T, state string) time.Duration {
	t.Helper()
	start := time.Now()
	waitUntil(t, "card and scanner "+state, func() bool {
		ds := d.devices(t)
		return ds["card"].State == state && ds["scanner"].State == state
	})
	return time.Since(start)
}

// TestTill_devicesUnplugReplug unplugs both devices (the pty masters
// close, the by-id links go) and plugs them back on new ptys: /api/status
// follows within 2 s each way, the next card and scan are read, and
// nothing is left running once the till stops.
func TestTill_devicesUnplugReplug(t *testing.T) {
	before := runtime.NumGoroutine()
	d := startDeviceTill(t, nil)
	d.waitBoth(t, "connected")

	for _, dev := range []string{sim.DevCard, sim.DevScanner} {
		if err := d.sim.Unplug(dev); err != nil {
			t.Fatal(err)
		}
	}
	if took := d.waitBoth(t, "disconnected"); took > plugBound {
		t.Errorf("unplug took %v to show in /api/status, want ≤ %v", took, plugBound)
	}
	for _, dev := range []string{sim.DevCard, sim.DevScanner} {
		if err := d.sim.Replug(dev); err != nil {
			t.Fatal(err)
		}
	}
	took := d.waitBoth(t, "connected")
	if took > plugBound {
		t.Errorf("replug took %v to show in /api/status, want ≤ %v", took, plugBound)
	}
	t.Logf("replug → connected in %v", took)
	for name, ds := range d.devices(t) {
		if ds.Reconnects != 1 || ds.Error != "" {
			t.Errorf("%s: %+v, want 1 reconnect and no error once connected", name, ds)
		}
	}

	h := sim.DemoHolders()[1]
	d.sim.Insert(h)
	waitUntil(t, "the card after the replug", func() bool {
		v := d.view(t)
		return v.Card != nil && v.Card.Present && v.Card.No == feed.MaskCardNo(h.Number)
	})
	if err := d.sim.Scan("]E0" + metformin); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the scan after the replug", func() bool {
		v := d.view(t)
		return len(v.Lines) == 1 && v.Lines[0].Barcode == metformin
	})

	d.stop()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the till stopped, %d before\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestTill_devicesNoise sends random bytes between the card reader's
// frames and between and inside scanned lines: no card and no item come
// of them, and /api/status counts them.
func TestTill_devicesNoise(t *testing.T) {
	// One generator per device: the card's runs on the simulator's
	// goroutine, the scanner's on the test's, so each sequence is fixed.
	var (
		noisy   atomic.Bool
		devs    atomic.Pointer[sim.Sim]
		cardRng = rand.New(rand.NewPCG(1, 2))
		scanRng = rand.New(rand.NewPCG(3, 4))
	)
	randomB := func(rng *rand.Rand, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			// STX, ETX and LEN-like bytes make the most misleading noise.
			b[i] = []byte{0x02, 0x03, 0x00, 0x01, byte(rng.UintN(256))}[rng.IntN(5)]
		}
		return b
	}
	noisy.Store(true)
	d := startDeviceTill(t, &sim.Opts{OnFrame: func([]byte) {
		if s := devs.Load(); s != nil && noisy.Load() {
			s.Noise(sim.DevCard, randomB(cardRng, 4+cardRng.IntN(12)))
		}
	}})
	devs.Store(d.sim)
	d.waitBoth(t, "connected")

	// No card is inserted: whatever the noise looks like, none appears.
	const cardNoise = 60
	waitUntil(t, "card noise counted", func() bool {
		if v := d.view(t); v.Card != nil {
			t.Fatalf("noise made a card: %+v", v.Card)
		}
		return d.devices(t)["card"].NoiseBytes >= cardNoise
	})

	// Scanner: noise lines, noise before codes, and noise inside codes
	// (never a terminator there: a CR inside a line could leave a whole
	// code after it, which is a real scan, not noise).
	codes := []string{"]E0" + metformin, "]E0" + shampoo, "]C083001234567890123456"}
	spoiled := 0
	for i := range 30 {
		switch i % 3 {
		case 0:
			if err := d.sim.Noise(sim.DevScanner, append(randomB(scanRng, 1+scanRng.IntN(20)), '\r')); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := d.sim.Noise(sim.DevScanner, randomB(scanRng, 1+scanRng.IntN(8))); err != nil {
				t.Fatal(err)
			}
		}
		code := codes[i%len(codes)]
		at := 1 + scanRng.IntN(len(code)-1)
		junk := randomB(scanRng, 1+scanRng.IntN(4))
		for j, b := range junk {
			if b == '\r' || b == '\n' {
				junk[j] = 0x7f
			}
		}
		if err := d.sim.Scan(code[:at] + string(junk) + code[at:]); err != nil {
			t.Fatal(err)
		}
		spoiled++
	}
	// A clean line fence: once its item shows, every line before it was
	// handled.
	if err := d.sim.Noise(sim.DevScanner, []byte{'\r'}); err != nil {
		t.Fatal(err)
	}
	if err := d.sim.Scan("]E0" + metformin); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the clean scan after the noise", func() bool { return len(d.view(t).Lines) > 0 })
	v := d.view(t)
	if len(v.Lines) != 1 || v.Lines[0].Barcode != metformin || v.Lines[0].Qty != 1 {
		t.Errorf("lines %+v: want only the one clean metformin scan", v.Lines)
	}
	if v.Card != nil {
		t.Errorf("card %+v appeared", v.Card)
	}
	ds := d.devices(t)
	if ds["scanner"].Unreadable < uint64(spoiled) {
		t.Errorf("scanner %+v: want at least the %d spoiled codes counted unreadable", ds["scanner"], spoiled)
	}
	if ds["card"].NoiseBytes < cardNoise || ds["card"].State != "connected" {
		t.Errorf("card %+v", ds["card"])
	}

	// The reader still reads a real card once the line is clean, on a new
	// connection whose driver starts counting from 0: the counts add up.
	noisy.Store(false)
	if err := d.sim.Unplug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "card disconnected", func() bool { return d.devices(t)["card"].State == "disconnected" })
	if err := d.sim.Replug(sim.DevCard); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "card connected", func() bool { return d.devices(t)["card"].State == "connected" })
	if got := d.devices(t)["card"]; got.NoiseBytes < ds["card"].NoiseBytes || got.Reconnects != 1 {
		t.Errorf("after a reconnect card %+v, had %+v: counters must not restart", got, ds["card"])
	}
	h := sim.DemoHolders()[0]
	d.sim.Insert(h)
	waitUntil(t, "a real card after the noise", func() bool {
		v := d.view(t)
		return v.Card != nil && v.Card.No == feed.MaskCardNo(h.Number)
	})
	t.Logf("card %+v; scanner %+v", ds["card"], ds["scanner"])
}

// alarm returns the till's alarm of kind from /api/status, if raised.
func alarmOf(t *testing.T, api, kind string) (web.Alarm, bool) {
	t.Helper()
	var st web.Status
	getJSON(t, api+"/api/status", &st)
	for _, a := range st.Alarms {
		if a.Kind == kind {
			return a, true
		}
	}
	return web.Alarm{}, false
}

// alarmMetric is the /metrics line of a raised alarm kind.
func alarmMetric(kind string) string { return `tillguard_alarm{kind="` + kind + `"} 1` }

// notConnected is the WARN line of a device going away, up to its port.
func notConnected(device string) string {
	return `level=WARN msg="agent: device not connected" device=` + device + ` port=`
}

// TestTill_deviceAlarm: a device unplugged is an alarm on /api/status,
// with the sentence the till screen's banner shows, and on /metrics, and
// one WARN line with its port and why; plugged back, the alarm clears.
func TestTill_deviceAlarm(t *testing.T) {
	logs := &syncBuffer{}
	d := startDeviceTillLog(t, nil, slog.New(slog.NewTextHandler(logs, nil)))
	d.waitBoth(t, "connected")
	port := d.sim.ScannerPath() // the by-id link the till is configured with
	for _, kind := range []string{"device_card", "device_scanner"} {
		if a, ok := alarmOf(t, d.api, kind); ok {
			t.Fatalf("both connected, yet alarm %+v", a)
		}
	}

	if err := d.sim.Unplug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	var al web.Alarm
	waitUntil(t, "the scanner's alarm", func() bool {
		var ok bool
		al, ok = alarmOf(t, d.api, "device_scanner")
		return ok
	})
	if want := "扫码枪未连接 / scanner not connected (" + port + ": unplugged)"; al.Detail != want || al.Since == "" {
		t.Errorf("alarm %+v, want detail %q and since", al, want)
	}
	if m := string(get(t, d.api+"/metrics").body); !strings.Contains(m, alarmMetric("device_scanner")) || strings.Contains(m, alarmMetric("device_card")) {
		t.Errorf("/metrics, want the scanner's alarm alone:\n%s", m)
	}
	waitUntil(t, "the WARN line", func() bool {
		return strings.Contains(logs.String(), notConnected("scanner")+port+" reason=unplugged")
	})

	if err := d.sim.Replug(sim.DevScanner); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the scanner's alarm cleared", func() bool {
		_, ok := alarmOf(t, d.api, "device_scanner")
		return !ok
	})
	if m := string(get(t, d.api+"/metrics").body); strings.Contains(m, `tillguard_alarm{kind="device_`) {
		t.Errorf("/metrics after the replug still has a device alarm:\n%s", m)
	}
	waitUntil(t, "the connected line", func() bool {
		return strings.Count(logs.String(), `msg="agent: device connected" device=scanner`) == 2
	})
	out := logs.String()
	if n := strings.Count(out, notConnected("scanner")); n != 1 {
		t.Errorf("%d WARN lines for one unplug, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "<nil>") {
		t.Errorf("a log line says <nil>:\n%s", out)
	}
}

// TestTill_deviceAbsentAtStart: a configured device that is not there when
// the till starts is an alarm and one WARN line at once, however often the
// port is tried again; a device not configured is a WARN line and no
// alarm; the device plugged in clears its alarm.
func TestTill_deviceAbsentAtStart(t *testing.T) {
	dir := t.TempDir()
	// A plain file where the scanner should be: every open of it is seen
	// (inotify), so the test knows the port has been retried.
	port := filepath.Join(dir, "scanner")
	if err := os.WriteFile(port, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opens := watchOpens(t, port)
	logs := &syncBuffer{}
	_, api, _ := runTill(t, agent.Config{
		DataDir: filepath.Join(dir, "till"), ScannerPort: port, Baud: agent.DefaultBaud,
		Pharmacy: pharmacy, Till: till, Region: "330100", Catalog: "../testdata/catalog.csv",
		HTTP: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	var al web.Alarm
	waitUntil(t, "the scanner's alarm", func() bool {
		var ok bool
		al, ok = alarmOf(t, api, "device_scanner")
		return ok
	})
	if want := "扫码枪未连接 / scanner not connected (" + port + ": not a serial port)"; al.Detail != want {
		t.Errorf("alarm %q, want %q", al.Detail, want)
	}
	waitUntil(t, "three more tries of the port", func() bool { return opens() >= 4 })
	out := logs.String()
	if n := strings.Count(out, notConnected("scanner")+port+` reason="not a serial port"`); n != 1 {
		t.Errorf("%d WARN lines for a port tried %d times, want 1:\n%s", n, opens(), out)
	}
	if !strings.Contains(out, `level=WARN msg="agent: no --card-port: the till runs without a card reader, so no insurance card is read" device=card`) {
		t.Errorf("no WARN line for the card reader not configured:\n%s", out)
	}
	if a, ok := alarmOf(t, api, "device_card"); ok {
		t.Errorf("a card reader not configured raised %+v", a)
	}

	// Plug the scanner in where the till looks for it.
	devs, err := sim.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devs.Close() })
	if err := os.Remove(port); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(devs.ScannerPath(), port); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the scanner's alarm cleared", func() bool {
		_, ok := alarmOf(t, api, "device_scanner")
		return !ok
	})
}

// watchOpens counts the opens of path from now on, as inotify reports
// them.
func watchOpens(t *testing.T, path string) (count func() int) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	n := 0
	buf := make([]byte, 4096)
	return func() int {
		for {
			m, err := unix.Read(fd, buf)
			if err != nil || m <= 0 {
				return n // EAGAIN: nothing more yet
			}
			for off := 0; off+unix.SizeofInotifyEvent <= m; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&unix.IN_OPEN != 0 {
					n++
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}
