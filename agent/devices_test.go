package agent_test

import (
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

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
