package systembench_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// startSamples is how many starts the start-to-ready median is taken over.
const startSamples = 7

// BenchmarkBudgetProcess is docs/performance.md's idle-memory and start budgets,
// measured on the real binary (buildTillguard) run as a child process, its
// memory read from /proc/PID/status. (Its memory while draining is
// BenchmarkBudgetDrain's, which drains with the same binary.)
//
//   - ms-start-to-ready: from exec to the first 200 from /healthz with a
//     fresh data dir and no broker, the median of startSamples starts;
//     ms-start-to-ready-100k the same with a ledger holding the drain
//     bench's backlog of 100 000 records (about 250 MB), started in turn.
//   - MB-rss-idle: VmRSS of a till connected to the broker with nothing to
//     send (a fresh data dir), the highest of a few samples once settled.
//
// One op is all of it: run with -benchtime=1x.
func BenchmarkBudgetProcess(b *testing.B) {
	const pharmacy, till = "H33010000001", "T1"
	bin := buildTillguard(b)
	br := brokertest.Start(b)
	var ready, readyBacklog []time.Duration
	var idleKB uint64
	for b.Loop() {
		b.StopTimer()
		backlog, _ := tillBacklog(b, bin, pharmacy, till)
		b.StartTimer()
		for range startSamples {
			p := startTill(b, bin, b.TempDir(), "", pharmacy, till)
			ready = append(ready, p.ready)
			p.stop(b)
			p = startTill(b, bin, backlog, "", pharmacy, till)
			readyBacklog = append(readyBacklog, p.ready)
			p.stop(b)
		}

		p := startTill(b, bin, b.TempDir(), br.URL(), pharmacy, till)
		waitFor(b, "the idle till connected", func() bool { return p.status(b).Uplink.Connected })
		for range 5 {
			time.Sleep(200 * time.Millisecond) // sampling interval: idle memory over a second
			idleKB = max(idleKB, p.memKB(b, "VmRSS"))
		}
		p.stop(b)
	}
	b.ReportMetric(median(ready), "ms-start-to-ready")
	b.ReportMetric(median(readyBacklog), "ms-start-to-ready-100k")
	b.ReportMetric(float64(idleKB)/1024, "MB-rss-idle")
}

// buildTillguard builds agent/cmd/tillguard into a temporary directory.
func buildTillguard(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "tillguard")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tillguard/tillguard/agent/cmd/tillguard").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tillBacklog makes a till data dir (its key, a ledger holding the
// drainBacklog sales of drainSale) and returns it with the till's public
// key. It starts bin on it once, offline, so that what only a first start
// does is not part of the starts the benchmark times.
func tillBacklog(b *testing.B, bin, pharmacy, till string) (string, ed25519.PublicKey) {
	b.Helper()
	dir := b.TempDir()
	key, err := keys.LoadOrCreate(dir)
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), key, nil)
	if err != nil {
		b.Fatal(err)
	}
	appendBacklog(b, l, pharmacy, till, drainBacklog)
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	startTill(b, bin, dir, "", pharmacy, till).stop(b)
	return dir, key.Public().(ed25519.PublicKey)
}

// benchBureauKey signs the benchmarks' acks, as a deployed bureau's --key.
var benchBureauKey = func() ed25519.PrivateKey {
	_, key, _ := ed25519.GenerateKey(nil)
	return key
}()

// drainUse is what a drain cost beside its time.
type drainUse struct {
	peakKB, anonKB uint64        // the till's VmHWM, and its highest RssAnon sampled
	tillCPU        time.Duration // the till process's user+system time
	benchCPU       time.Duration // this process's: the bureau, and the polling
}

// drainProcess runs a bureau and the till binary on dir's backlog until
// the till's ledger is acknowledged to its head, adds what it used to u,
// and returns the time from exec.
func drainProcess(b *testing.B, bin, dir, url, pharmacy, till string, pub ed25519.PublicKey, u *drainUse) time.Duration {
	ar, err := boltarchive.Open(filepath.Join(b.TempDir(), "bureau.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ar.Close()
	bu := bureau.New(ar, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{pharmacy + "/" + till: pub}, Key: benchBureauKey})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bu.Run(ctx, mqttclient.Options{Broker: url, ClientID: "bench-bureau-process", CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	waitFor(b, "the bureau subscribed", func() bool { return bu.Stats().Connected })

	cpu0 := selfCPU(b)
	p := startTill(b, bin, dir, url, pharmacy, till)
	defer p.stop(b)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		u.anonKB = max(u.anonKB, p.memKB(b, "RssAnon"))
		if st := p.status(b); st.HeadSeq == drainBacklog && st.AckedSeq == st.HeadSeq {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the till did not drain in 5 minutes:\n%s", p.log.String())
		}
		time.Sleep(20 * time.Millisecond) // sampling interval; light, so as not to load the till
	}
	took := time.Since(p.started)
	u.benchCPU += selfCPU(b) - cpu0
	u.tillCPU += p.cpu(b)
	u.peakKB = max(u.peakKB, p.memKB(b, "VmHWM"))

	return took
}

// median returns the median of ds in milliseconds.
func median(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1e3
}

// tillProcess is a running `tillguard run`.
type tillProcess struct {
	cmd     *exec.Cmd
	http    string
	started time.Time
	ready   time.Duration // exec to the first 200 from /healthz
	exited  chan struct{}
	log     *strings.Builder
}

// startTill runs the binary on dir and returns once /healthz answers.
func startTill(b *testing.B, bin, dir, broker, pharmacy, till string) *tillProcess {
	b.Helper()
	addr := freeAddr(b)
	args := []string{"run", "--data-dir", dir, "--pharmacy", pharmacy, "--till", till, "--http", addr}
	if broker != "" { // as deployed: acks signed by the bureau, checked by the till
		args = append(args, "--broker", broker, "--bureau-key", keys.PublicBase64(benchBureauKey.Public().(ed25519.PublicKey)))
	}
	p := &tillProcess{cmd: exec.Command(bin, args...), http: "http://" + addr, exited: make(chan struct{}), log: &strings.Builder{}}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	client := &http.Client{Timeout: 100 * time.Millisecond}
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	b.Cleanup(func() { p.stop(b) })
	deadline := p.started.Add(30 * time.Second)
	for {
		if resp, err := client.Get(p.http + "/healthz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Since(p.started)
				return p
			}
		}
		select {
		case <-p.exited:
			b.Fatalf("tillguard run exited before it was ready:\n%s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("tillguard run not ready within 30 s:\n%s", p.log.String())
		}
		time.Sleep(500 * time.Microsecond) // polling interval, not a wait for an event
	}
}

// tillStatus is the part of GET /api/status the bench reads.
type tillStatus struct {
	HeadSeq  uint64 `json:"head_seq"`
	AckedSeq uint64 `json:"acked_seq"`
	Uplink   struct {
		Connected bool `json:"connected"`
	} `json:"uplink"`
}

func (p *tillProcess) status(b *testing.B) tillStatus {
	b.Helper()
	resp, err := http.Get(p.http + "/api/status")
	if err != nil {
		b.Fatalf("status: %v\n%s", err, p.log.String())
	}
	defer resp.Body.Close()
	var st tillStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatalf("status: %v", err)
	}
	return st
}

// memKB reads one field (VmRSS, VmHWM) of /proc/PID/status, in kB.
func (p *tillProcess) memKB(b *testing.B, field string) uint64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			b.Fatalf("/proc status %s: %q: %v", field, value, err)
		}
		return kb
	}
	b.Fatalf("/proc status has no %s", field)
	return 0
}

// cpu is the process's user+system time so far, from /proc/PID/stat.
func (p *tillProcess) cpu(b *testing.B) time.Duration {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may
	// hold blanks: state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			b.Fatalf("/proc stat: %v", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux this runs on.
const clockTicks = 100

// selfCPU is this process's user+system time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stop ends the till with SIGTERM, as systemd would, and waits for it.
func (p *tillProcess) stop(b *testing.B) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		b.Errorf("tillguard run ignored SIGTERM for 10 s:\n%s", p.log.String())
	}
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
