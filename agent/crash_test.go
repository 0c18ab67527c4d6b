package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Crash and fault tests run a till in a child process (this test binary,
// re-executed) and SIGKILL it, so they are kept apart from the unit tests
// and skipped under -short (README, "Durability": every confirmed sale survives a
// crash at any instant).

const ibuprofen = "6901222003562" // acute, no prescription: always allowed

// childEnv carries a childConfig, as JSON, to TestAgent_child.
const childEnv = "TILLGUARD_AGENT_CHILD"

type childConfig struct {
	DataDir, CardPort, ScannerPort, Broker, Catalog string
	FileLimit                                       uint64 // RLIMIT_FSIZE in bytes; 0 = none
}

// TestAgent_child is the till the crash and fault tests run, kill and
// restart: it prints "ready ADDR" once the API listens and runs until
// killed or sent SIGTERM.
func TestAgent_child(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("runs only as the child of the crash and fault tests")
	}
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	// Without SIGXFSZ a write past a file-size limit (set here, or later by
	// the parent with prlimit) fails with EFBIG, as on a full disk, instead
	// of killing the process.
	signal.Ignore(syscall.SIGXFSZ)
	if cc.FileLimit > 0 {
		var lim syscall.Rlimit
		err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim)
		if err == nil {
			// Only the soft limit: the parent may give the space back.
			lim.Cur = cc.FileLimit
			err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
		}
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(2)
		}
	}
	tl, err := agent.Open(agent.Config{
		DataDir:     cc.DataDir,
		CardPort:    cc.CardPort,
		ScannerPort: cc.ScannerPort,
		Baud:        agent.DefaultBaud,
		Broker:      cc.Broker,
		Pharmacy:    pharmacy,
		Till:        till,
		Region:      "330100",
		Catalog:     cc.Catalog,
		HTTP:        "127.0.0.1:0",
		Retention:   agent.DefaultRetention,
		Log:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("ready %s\n", tl.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := tl.Run(ctx); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// rig is what a child till talks to: simulated devices, a real mosquitto
// and a bureau, all in the parent so they outlive every child.
type rig struct {
	dir    string
	devs   *sim.Sim
	broker *brokertest.Broker
	ar     archive.Store
	bur    *bureau.Bureau
	key    ed25519.PrivateKey
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	devs, err := sim.Start(&sim.Opts{LinkDir: filepath.Join(dir, "dev")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devs.Close() })
	broker := brokertest.Start(t)
	// The key exists before the first child so the bureau can enrol it.
	key, err := keys.LoadOrCreate(filepath.Join(dir, "till"))
	if err != nil {
		t.Fatal(err)
	}
	ar, err := boltarchive.Open(filepath.Join(dir, "bureau.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bur := bureau.New(ar, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{pharmacy + "/" + till: key.Public().(ed25519.PublicKey)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bur.Run(ctx, mqttclient.Options{Broker: broker.URL(), ClientID: "bureau", MaxBackoff: 500 * time.Millisecond})
	}()
	eventually(t, 30*time.Second, "the bureau subscribed", func() bool { return bur.Stats().Connected })
	t.Cleanup(func() { cancel(); <-done; ar.Close() })
	return &rig{dir: dir, devs: devs, broker: broker, ar: ar, bur: bur, key: key}
}

func (r *rig) childConfig() childConfig {
	cat, _ := filepath.Abs("../testdata/catalog.csv")
	return childConfig{
		DataDir:     filepath.Join(r.dir, "till"),
		CardPort:    r.devs.CardPath(),
		ScannerPort: r.devs.ScannerPath(),
		Broker:      r.broker.URL(),
		Catalog:     cat,
	}
}

// child is one run of TestAgent_child.
type child struct {
	cmd    *exec.Cmd
	ready  chan string // the API's base URL, once
	exited chan struct{}
	stderr lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// spawn starts a child till and returns at once; it is killed when the
// test ends.
func spawn(t *testing.T, cc childConfig) *child {
	t.Helper()
	raw, err := json.Marshal(cc)
	if err != nil {
		t.Fatal(err)
	}
	return startChild(t, "TestAgent_child", childEnv+"="+string(raw), nil)
}

// startChild re-executes this test binary to run only test, with env
// added, and returns at once; it is killed when the test ends. A "ready
// ADDR" line on its stdout is the API's address, an "error …" line goes
// with its stderr, and onLine (if set) sees every other line.
func startChild(t *testing.T, test, env string, onLine func(string)) *child {
	t.Helper()
	// The timeout ends an orphaned child should this test die first.
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), env)
	c := &child{cmd: cmd, ready: make(chan string, 1), exited: make(chan struct{})}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "ready "); ok {
				c.ready <- "http://" + addr
			} else if strings.HasPrefix(line, "error ") {
				c.stderr.Write([]byte(line + "\n"))
			} else if onLine != nil {
				onLine(line)
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(c.kill)
	return c
}

// waitReady returns the child's API base URL.
func (c *child) waitReady(t *testing.T) string {
	t.Helper()
	select {
	case api := <-c.ready:
		return api
	case <-c.exited:
		t.Fatalf("child exited before ready:\n%s", c.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("child not ready after 60 s:\n%s", c.stderr.String())
	}
	return ""
}

// kill SIGKILLs the child and waits for it to be gone.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// stop ends the child cleanly (SIGTERM) and waits.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("child did not stop on SIGTERM:\n%s", c.stderr.String())
	}
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.ExitStatus() != 0 {
		t.Fatalf("child ended with %v:\n%s", c.cmd.ProcessState, c.stderr.String())
	}
}

// client is an HTTP client for a till that may die mid-request: errors are
// returned, never fatal.
var client = &http.Client{Timeout: 10 * time.Second}

var errNoLine = errors.New("scanned line did not show up")

// lastRefusal is the body of the last checkout that was not confirmed, for
// failure messages.
var lastRefusal atomic.Value

// sell scans code and checks out with payment. It returns the receipt
// when the API confirmed the sale, the status code otherwise, and an error
// when the till could not be reached.
func sell(ctx context.Context, api string, devs *sim.Sim, code, payment string) (session.Receipt, int, error) {
	// A scan sent before the till has its scanner port open is flushed
	// at the open, as it would be on hardware: wait for "connected".
	for deadline := time.Now().Add(3 * time.Second); ; {
		var st web.Status
		if err := getErr(ctx, api+"/api/status", &st); err != nil {
			return session.Receipt{}, 0, err
		}
		if st.Devices["scanner"].State == "connected" {
			break
		}
		if time.Now().After(deadline) {
			return session.Receipt{}, 0, errNoLine
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	var v session.View
	for deadline := time.Now().Add(3 * time.Second); len(v.Lines) == 0; {
		if err := devs.Scan("]E0" + code); err != nil {
			return session.Receipt{}, 0, err
		}
		for seen := time.Now().Add(time.Second); len(v.Lines) == 0 && time.Now().Before(seen); {
			if err := getErr(ctx, api+"/api/session", &v); err != nil {
				return session.Receipt{}, 0, err
			}
			if len(v.Lines) == 0 {
				time.Sleep(5 * time.Millisecond) // polling interval
			}
		}
		if time.Now().After(deadline) && len(v.Lines) == 0 {
			return session.Receipt{}, 0, errNoLine
		}
	}
	body := fmt.Sprintf(`{"payment":%q,"cashier":"c01"}`, payment)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/session/checkout", strings.NewReader(body))
	if err != nil {
		return session.Receipt{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return session.Receipt{}, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return session.Receipt{}, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		lastRefusal.Store(string(b))
		return session.Receipt{}, resp.StatusCode, nil
	}
	var rc session.Receipt
	if err := json.Unmarshal(b, &rc); err != nil || rc.Seq == 0 || rc.ID == "" {
		return session.Receipt{}, resp.StatusCode, fmt.Errorf("confirmed sale with body %s", b)
	}
	return rc, resp.StatusCode, nil
}

func getErr(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s = %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func status(t *testing.T, api string) web.Status {
	t.Helper()
	var st web.Status
	if err := getErr(context.Background(), api+"/api/status", &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// drained waits until the bureau has acknowledged everything the till has.
// It first waits for both devices to connect: their connect records are the
// last the till writes on its own, and a drain seen before them is not the
// end.
func drained(t *testing.T, api string, r *rig) uint64 {
	t.Helper()
	eventually(t, 30*time.Second, "both devices to connect", func() bool {
		st := status(t, api)
		return st.Devices["card"].State == "connected" && st.Devices["scanner"].State == "connected"
	})
	var head uint64
	eventually(t, 90*time.Second, "the outbox to drain", func() bool {
		st := status(t, api)
		head = st.HeadSeq
		w, _ := r.ar.Watermark(context.Background(), pharmacy, till)
		contig := w.Seq
		return st.AckedSeq == st.HeadSeq && st.Outbox.Depth == 0 && contig == head
	})
	return head
}

// checkEndToEnd opens the stopped till's ledger and checks it against the
// confirmed sales and the bureau's archive: every confirmed sale is there
// with its id, the chain verifies, and the archive holds 1..head exactly
// once each with the till's bytes, chained.
func checkEndToEnd(t *testing.T, r *rig, confirmed map[uint64]string) {
	t.Helper()
	l, err := ledger.Open(filepath.Join(r.dir, "till", "ledger.db"), r.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Verify(); err != nil {
		t.Fatalf("till ledger: %v", err)
	}
	for seq, id := range confirmed {
		e, err := l.Get(seq)
		if err != nil {
			t.Errorf("confirmed sale %d (%s): %v", seq, id, err)
			continue
		}
		var rec feed.Record
		if err := json.Unmarshal(e.Rec, &rec); err != nil || rec.ID != id || rec.Kind != feed.KindSale {
			t.Errorf("seq %d holds %s %s, want the confirmed sale %s (%v)", seq, rec.Kind, rec.ID, id, err)
		}
	}
	head := l.Head()
	if w, err := r.ar.Watermark(context.Background(), pharmacy, till); err != nil || w.Seq != head {
		t.Fatalf("bureau contiguous to %d (%v), till head %d", w.Seq, err, head)
	}
	want, prev := uint64(1), ""
	err = r.ar.Scan(context.Background(), pharmacy, till, 1, 0, func(seq uint64, rec, sig []byte) error {
		if seq != want {
			return fmt.Errorf("archive seq %d, want %d", seq, want)
		}
		e, err := l.Get(seq)
		if err != nil {
			return err
		}
		if !bytes.Equal(e.Rec, rec) || !bytes.Equal(e.Sig, sig) {
			return fmt.Errorf("archive seq %d differs from the till's record", seq)
		}
		var c struct {
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(rec, &c); err != nil || c.Prev != prev {
			return fmt.Errorf("archive seq %d: prev %q, want %q (%v)", seq, c.Prev, prev, err)
		}
		prev = feed.Hash(rec)
		want++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want != head+1 {
		t.Fatalf("archive holds 1..%d, till head %d", want-1, head)
	}
	as, err := r.ar.Alarms(context.Background(), archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		t.Errorf("bureau alarm %+v", a)
	}
}

// TestCrash_killedTillLosesNoConfirmedSale sells through the API while the
// till is SIGKILLed at random moments and restarted, many times.
func TestCrash_killedTillLosesNoConfirmedSale(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	r := newRig(t)
	cc := r.childConfig()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	const rounds = 40
	sold, kills := killRounds(t, r, cc, rounds, rng, nil)
	c := spawn(t, cc)
	api := c.waitReady(t)
	head := drained(t, api, r)
	c.stop(t)
	confirmed := sold.snapshot()
	if len(confirmed) < rounds {
		t.Fatalf("only %d sales confirmed in %d rounds: the test did not sell", len(confirmed), rounds)
	}
	t.Logf("%d kills, %d confirmed sales, head %d", kills, len(confirmed), head)
	for _, r := range sold.reused {
		t.Error(r)
	}
	checkEndToEnd(t, r, confirmed)
}

// killRounds runs rounds child tills on cc, selling through each while it
// lives and SIGKILLing it at a random moment (now and then while it is
// still opening). before, if set, runs before each round. It returns what
// was sold and how many kills there were.
func killRounds(t *testing.T, r *rig, cc childConfig, rounds int, rng *rand.Rand, before func()) (*sales, int) {
	t.Helper()
	sold := newSales()
	kills := 0
	for round := range rounds {
		if before != nil {
			before()
		}
		c := spawn(t, cc)
		if rng.IntN(6) == 0 {
			// Killed while opening: compaction, checks, history rebuild.
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // a random moment, not a wait
			c.kill()
			kills++
			continue
		}
		api := c.waitReady(t)
		stop := sold.sell(api, r.devs, session.PayCash)
		time.Sleep(time.Duration(50+rng.IntN(900)) * time.Millisecond) // a random moment to kill at, not a wait
		c.kill()
		kills++
		stop()
		t.Logf("round %d: %d confirmed so far", round, sold.count())
	}
	return sold, kills
}

// sales is what sellers confirmed, across tills that come and go.
type sales struct {
	mu        sync.Mutex
	confirmed map[uint64]string // seq → sale id, as the API confirmed them
	reused    []string          // a seq confirmed for two sales: one of them is lost
	refused   int               // checkouts answered with another status
}

func newSales() *sales { return &sales{confirmed: map[uint64]string{}} }

// sell sells code after code through api in the background until the
// returned stop is called. A till that is gone or a device that is
// unplugged only fails that attempt: selling goes on until stopped.
func (s *sales) sell(api string, devs *sim.Sim, payment string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rc, code, err := sell(ctx, api, devs, ibuprofen, payment)
			switch {
			case err != nil:
				if !errors.Is(err, errNoLine) {
					time.Sleep(20 * time.Millisecond) // retry pace while the till or a device is gone
				}
			case code == http.StatusOK:
				s.mu.Lock()
				if old, ok := s.confirmed[rc.Seq]; ok && old != rc.ID {
					s.reused = append(s.reused, fmt.Sprintf("seq %d confirmed as %s and as %s", rc.Seq, old, rc.ID))
				}
				s.confirmed[rc.Seq] = rc.ID
				s.mu.Unlock()
			default:
				s.mu.Lock()
				s.refused++
				s.mu.Unlock()
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (s *sales) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.confirmed)
}

func (s *sales) refusals() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// snapshot copies the confirmed sales.
func (s *sales) snapshot() map[uint64]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]string, len(s.confirmed))
	for seq, id := range s.confirmed {
		out[seq] = id
	}
	return out
}
