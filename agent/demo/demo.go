package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	bureauconsole "github.com/tillguard/tillguard/sync/console"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// The demo's own catalogue: a few drugs and the non-drugs shops try to put
// on the card.
//
//go:embed catalog.csv
var catalogCSV []byte

// The demo pharmacy.
const (
	pharmacy = "H33010200001"
	till     = "T01"
	region   = "330100"
)

// Opts configures the demo.
type Opts struct {
	HTTP    string    // the till's address; busy → any free loopback port
	DataDir string    // "" = a temporary directory, removed on exit
	Out     io.Writer // narration and console replies
	In      io.Reader // console commands; EOF keeps the demo up until ctx ends
	Log     *slog.Logger
}

// Run plays the scene and serves until ctx ends or the console says quit.
func Run(ctx context.Context, o Opts) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tillguard-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	out := &syncWriter{w: o.Out}

	brokerURL, stopBroker, err := startBroker(o.Log)
	if err != nil {
		return err
	}
	defer stopBroker()

	devs, err := sim.Start(&sim.Opts{LinkDir: filepath.Join(dir, "dev"), Log: o.Log})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer devs.Close()

	tillDir := filepath.Join(dir, "till")
	if err := os.MkdirAll(tillDir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	key, err := keys.LoadOrCreate(tillDir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	// The bureau signs its acks, and the till takes only signed ones, as
	// deployed (a till without --bureau-key is a trial).
	bureauKeyFile := filepath.Join(dir, "bureau.key")
	bureauKey, err := keys.LoadKeyFile(bureauKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		bureauKey, err = keys.CreateKeyFile(bureauKeyFile)
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ar, err := boltarchive.Open(filepath.Join(dir, "bureau.db"), &archive.Opts{Log: o.Log})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer ar.Close()
	bur := bureau.New(ar, &bureau.Opts{
		Enrolled: map[string]ed25519.PublicKey{pharmacy + "/" + till: key.Public().(ed25519.PublicKey)},
		Key:      bureauKey,
		Log:      o.Log,
	})
	bureauLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	bureauSrv := &http.Server{
		Handler:           bureauconsole.New(ar, &bureauconsole.Opts{Receiver: func() any { return bur.Stats() }, Log: o.Log}),
		ReadHeaderTimeout: 5 * time.Second,
	}

	httpAddr := o.HTTP
	if ln, err := net.Listen("tcp", httpAddr); err != nil {
		httpAddr = "127.0.0.1:0" // the usual port is taken: any will do
	} else {
		ln.Close()
	}
	t, err := agent.Open(agent.Config{
		DataDir:     tillDir,
		CardPort:    devs.CardPath(),
		ScannerPort: devs.ScannerPath(),
		Baud:        agent.DefaultBaud,
		Broker:      brokerURL,
		BureauKey:   keys.PublicBase64(bureauKey.Public().(ed25519.PublicKey)),
		Pharmacy:    pharmacy,
		Till:        till,
		Region:      region,
		CatalogData: bytes.NewReader(catalogCSV),
		HTTP:        httpAddr,
		Log:         o.Log,
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	defer bureauSrv.Close()
	wg.Add(3)
	go func() { defer wg.Done(); bureauSrv.Serve(bureauLn) }()
	go func() {
		defer wg.Done()
		if err := bur.Run(ctx, mqttclient.Options{Broker: brokerURL, ClientID: "demo-bureau", Log: o.Log}); err != nil && !errors.Is(err, context.Canceled) {
			o.Log.Error("demo: bureau stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := t.Run(ctx); err != nil {
			o.Log.Error("demo: till stopped", "err", err)
		}
	}()

	fmt.Fprintf(out, "tillguard demo — 医保定点零售药店收银台 / a designated pharmacy's till\n")
	fmt.Fprintf(out, "  broker   %s (embedded)\n", brokerURL)
	fmt.Fprintf(out, "  bureau   http://%s/ (console)  /api/tills  /api/alarms\n", bureauLn.Addr())
	fmt.Fprintf(out, "  devices  card reader %s, scanner %s (simulated, real serial drivers)\n", devs.CardPath(), devs.ScannerPath())
	fmt.Fprintf(out, "  till     %s/%s, region %s\n\n", pharmacy, till, region)

	sc := &scene{out: out, till: t, sim: devs, archive: ar}
	if err := sc.play(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nTill screen: http://%s/till   owner's dashboard: http://%[1]s/   self-inspection report: http://%[1]s/report\n", t.Addr())
	fmt.Fprintf(out, "Till API: http://%s/api/session  /api/status  /api/records\n", t.Addr())
	con := &console{out: out, till: t, sim: devs, scene: sc, quit: cancel}
	con.help()
	go con.run(ctx, o.In)
	<-ctx.Done()
	return nil
}

// scene is the narrated counter scene that README describes for `make run`.
type scene struct {
	out     io.Writer
	till    *agent.Till
	sim     *sim.Sim
	archive archive.Store
	step    int
}

// The scene's goods, from catalog.csv: two boxes of metformin (trace
// prefix 8100010, one box = 10 days), a shampoo, and the prescription.
const (
	metforminBox1 = "81000100000000000017"
	metforminBox2 = "81000100000000000024"
	shampoo       = "6903148091050"
	prescription  = "RX20260302000123"
)

func (s *scene) play(ctx context.Context) error {
	wait := func(what string, ok func() bool) error { return waitFor(ctx, 5*time.Second, what, ok) }
	st := func() map[string]string {
		m := map[string]string{}
		for k, v := range s.till.Status().Devices {
			m[k] = v.State
		}
		return m
	}
	if err := wait("devices connected", func() bool { m := st(); return m["card"] == "connected" && m["scanner"] == "connected" }); err != nil {
		return err
	}
	s.say("设备就绪 Devices connected: card reader and scanner")

	// The pharmacist signs in first: metformin is a prescription drug,
	// held while nobody is on duty (pharmacist_absent).
	sess := s.till.Session()
	if err := sess.SignIn("钱药师", "ZY330100001"); err != nil {
		return fmt.Errorf("demo: sign-in: %w", err)
	}
	s.say("药师签到 Pharmacist signed in: 钱药师, practising certificate ZY330100001")

	holder := sim.DemoHolders()[0]
	s.sim.Insert(holder)
	if err := wait("card read", func() bool { v := sess.View(); return v.Card != nil && v.Card.Present }); err != nil {
		return err
	}
	c := sess.View().Card
	s.say("刷卡 Card read: %s %s, region %s", c.Name, c.No, c.Region)

	// Metformin is a prescription drug (rx=1): the prescription comes
	// first, and each box is scanned by its traceability code.
	for _, code := range []string{"]Q1" + prescription, "]C0" + metforminBox1, "]E0" + shampoo, "]C0" + metforminBox2} {
		if err := s.scan(ctx, code); err != nil {
			return err
		}
	}
	rc, err := sess.Checkout(session.PayInsurance, "demo")
	if err != nil {
		return fmt.Errorf("demo: checkout: %w", err)
	}
	s.say("结算 Checkout (insurance): sale seq %d on disk (fsync) before \"done\"", rc.Seq)
	head := s.till.Ledger().Head()
	if err := wait("bureau acknowledgement", func() bool { return s.till.Ledger().Acked() >= head }); err != nil {
		return err
	}
	got, _ := s.archive.Watermark(ctx, pharmacy, till)
	s.say("医保局确认 Bureau verified and stored records 1–%d and signed its ack; the till checked the signature and its record's hash, and its outbox is empty", got.Seq)
	return nil
}

// scan sends what the scanner would (an AIM id may lead the code) and
// narrates the decision, or says why there was none.
func (s *scene) scan(ctx context.Context, data string) error {
	sess := s.till.Session()
	before := sess.View()
	changes, stop := s.till.Changes()
	defer stop()
	if err := s.sim.Scan(data); err != nil {
		return err
	}
	timeout := time.After(settle)
	v := sess.View()
	for totalQty(v) == totalQty(before) && v.Notice == before.Notice {
		select {
		case <-changes:
		case <-timeout:
			return errors.New("no answer from the till: is the scanner connected?")
		case <-ctx.Done():
			return ctx.Err()
		}
		v = sess.View()
	}
	if totalQty(v) == totalQty(before) {
		s.say("扫码 Scan %s → %s / %s", data, v.Notice.ZH, v.Notice.EN)
		return nil
	}
	l := v.Lines[len(v.Lines)-1]
	if len(v.Lines) == len(before.Lines) { // merged into an earlier line
		for i := range v.Lines {
			if v.Lines[i].Qty != before.Lines[i].Qty {
				l = v.Lines[i]
			}
		}
	}
	s.say("扫码 Scan %s %s → %s", l.Barcode, l.Name, verdict(l))
	return nil
}

func totalQty(v session.View) int {
	n := 0
	for _, l := range v.Lines {
		n += l.Qty
	}
	return n
}

func verdict(l session.LineView) string {
	switch l.Decision {
	case "allow":
		return fmt.Sprintf("✔ 允许 allowed (%d 天 days, qty %d)", l.Days, l.Qty)
	case "flag":
		return fmt.Sprintf("⚑ 标记 flagged [%s] %s / %s (%d 天 days, qty %d)", l.Rule, l.ReasonZH, l.ReasonEN, l.Days, l.Qty)
	default:
		return fmt.Sprintf("✘ %s [%s] %s / %s", strings.ToUpper(l.Decision), l.Rule, l.ReasonZH, l.ReasonEN)
	}
}

func (s *scene) say(format string, args ...any) {
	s.step++
	fmt.Fprintf(s.out, "[%d] "+format+"\n", append([]any{s.step}, args...)...)
}

// waitFor polls cond until it holds, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// syncWriter serialises narration and console output.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
