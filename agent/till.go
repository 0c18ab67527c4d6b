package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

// Till is the daemon of one till: open, then Run until the context ends.
type Till struct {
	cfg      Config
	log      *slog.Logger
	ledger   tillLedger // a *ledger.Ledger, or a *quarantinedLedger (quarantine.go)
	session  *session.Session
	uplink   *uplink.Uplink
	devices  *devices
	alarms   *alarms
	policyV  string
	listener net.Listener
	changes  *broadcast
	disk     *diskBudget
	policy   *policyState // policybundle.go: the bureau's bundles
	tls      *tls.Config  // to the broker; nil = plain TCP
	metrics  *web.Metrics // decisions per rule and their latency, for /metrics
	chain    *chainCheck  // alarms.go: the ledger's chain, walked now and then; nil while quarantined
	refused  refusals     // appends the ledger refused since start
	web      http.Handler
}

// Open prepares a till: it loads the key, opens and checks the ledger,
// loads the policy and the catalogue and binds the HTTP address, so
// that every startup error surfaces before Run.
func Open(cfg Config) (*Till, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: data dir: %w", err)
	}
	cat, version, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	pol, err := loadPolicy(cfg)
	if err != nil {
		return nil, err
	}
	// The policy in force is the rules' version and the catalogue's bytes.
	version = pol.Version + "+" + version
	bureauKey, err := parseBureauKey(cfg.BureauKey)
	if err != nil {
		return nil, err
	}
	guard, err := loadOwnerPassword(cfg.OwnerPassword)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := mqttclient.TLSFiles(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	key, err := keys.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	ledgerPath := filepath.Join(cfg.DataDir, "ledger.db")
	led, err := openLedger(ledgerPath, key, &ledger.Opts{Now: cfg.Now, Log: cfg.Log}, cfg)
	if err != nil {
		return nil, err
	}
	pruneLedger(led, cfg)
	// The history the rules need (purchases per card, trace codes sold,
	// cards seen) is the ledger's own index, kept in each Append's
	// transaction; ledger.Open built it if the file had none.
	t := &Till{
		cfg:     cfg,
		log:     cfg.Log,
		ledger:  led,
		devices: newDevices(cfg.CardPort != "", cfg.ScannerPort != ""),
		alarms:  &alarms{now: cfg.Now},
		policyV: version,
		changes: newBroadcast(),
		policy:  &policyState{pub: bureauKey, region: cfg.Region, version: version},
		tls:     tlsCfg,
		metrics: web.NewMetrics(),
	}
	t.disk = &diskBudget{dir: cfg.DataDir, min: cfg.MinFree, free: cfg.FreeSpace, alarms: t.alarms, log: cfg.Log}
	if t.disk.free == nil {
		t.disk.free = ledger.FreeSpace
	}
	t.disk.check()
	var app session.Appender = led
	switch l := led.(type) {
	case *ledger.Ledger:
		app = &watchedLedger{Ledger: l, alarms: t.alarms, disk: t.disk, refused: &t.refused}
		t.chain = newChainCheck(l, t.alarms, cfg.Log, cfg.Now)
	case *quarantinedLedger:
		// Every write is refused until an operator acts.
		t.alarms.raise("ledger", l.detail)
		app = countedAppender{l, &t.refused}
	}
	t.session = session.New(session.Config{
		Pharmacy:   cfg.Pharmacy,
		Till:       cfg.Till,
		Catalog:    cat,
		Limits:     pol.Limits(cfg.Region),
		Deny:       pol.Denied,
		Ledger:     app,
		Index:      led,
		Now:        cfg.Now,
		Log:        cfg.Log,
		Beep:       t.devices.beep,
		OnChange:   t.changes.notify,
		OnDecision: t.metrics.ObserveDecision,
	})
	t.restorePolicy() // the bureau's last bundle, if one was saved
	// Quarantined: no uplink, there is nothing to send.
	if onDisk := t.Ledger(); cfg.Broker != "" && onDisk != nil {
		t.uplink = uplink.New(onDisk, cfg.Pharmacy, cfg.Till, &uplink.Opts{
			Log: cfg.Log, Now: cfg.Now, Region: cfg.Region, OnPolicy: t.onPolicy,
			SendLimit: t.chain.sendLimit, BureauKey: bureauKey,
			OnAckRefused: t.ackRefused, OnAckProgress: func() { t.alarms.clear(uplink.AckRegressed) }, StatusKey: key,
		})
		if bureauKey == nil {
			cfg.Log.Warn("agent: no --bureau-key: a trial, acks are taken unsigned and anyone on the broker can clear the outbox")
		}
		t.chain.progress = t.uplink.Recheck
	}
	t.web, err = web.New(web.Deps{
		Session: t.session, Status: t.Status, Records: t.ledger, Log: t.log,
		Changes: t.Changes, Metrics: t.metrics, Now: cfg.Now, Password: guard,
		Hosts: cfg.HTTPHosts, Refused: t.refused.get,
	})
	if err != nil {
		led.Close()
		return nil, fmt.Errorf("agent: http: %w", err)
	}
	if cfg.HTTP != "" {
		t.listener, err = net.Listen("tcp", cfg.HTTP)
		if err != nil {
			led.Close()
			return nil, fmt.Errorf("agent: http: %w", err)
		}
	}
	return t, nil
}

// loadPolicy reads --policy, or gives the defaults of docs/rules.md without one. A
// bad file stops the start with every problem in it listed.
func loadPolicy(cfg Config) (*policy.Policy, error) {
	if cfg.Policy == "" {
		return policy.DefaultPolicy(), nil
	}
	f, err := os.Open(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("agent: policy: %w", err)
	}
	defer f.Close()
	p, err := policy.LoadPolicy(f)
	if err != nil {
		return nil, fmt.Errorf("agent: policy %s: %w", cfg.Policy, err)
	}
	if _, ok := p.Regions[cfg.Region]; !ok {
		cfg.Log.Info("agent: the policy has no limits for this region: its defaults apply", "region", cfg.Region, "policy", p.Version)
	}
	return p, nil
}

func loadCatalog(cfg Config) (*policy.Catalog, string, error) {
	r := cfg.CatalogData
	if cfg.Catalog != "" {
		f, err := os.Open(cfg.Catalog)
		if err != nil {
			return nil, "", fmt.Errorf("agent: catalogue: %w", err)
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		// No catalogue: every barcode is unknown, so nothing goes on
		// insurance (fail closed) until a policy arrives.
		cat, err := policy.LoadCatalog(strings.NewReader("barcode,name,category,covered\n"))
		return cat, "none", err
	}
	h := sha256.New()
	cat, err := policy.LoadCatalog(io.TeeReader(r, h))
	if err != nil {
		return nil, "", fmt.Errorf("agent: catalogue: %w", err)
	}
	return cat, "local-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Addr is the HTTP address the till serves on, "" if none.
func (t *Till) Addr() string {
	if t.listener == nil {
		return ""
	}
	return t.listener.Addr().String()
}

// Session is the till's counter session.
func (t *Till) Session() *session.Session { return t.session }

// Ledger is the till's ledger; nil while it is quarantined (the till
// runs degraded, refusing sales).
func (t *Till) Ledger() *ledger.Ledger {
	l, _ := t.ledger.(*ledger.Ledger)
	return l
}

// quarantine returns the quarantined ledger, or nil when the ledger is on
// disk and in use.
func (t *Till) quarantine() *quarantinedLedger {
	q, _ := t.ledger.(*quarantinedLedger)
	return q
}

// Changes returns a channel that receives after every session change.
func (t *Till) Changes() (<-chan struct{}, func()) { return t.changes.subscribe() }

// Run runs devices, uplink and web until ctx ends, then closes the ledger.
func (t *Till) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	run(func() { t.runCardReader(ctx) })
	run(func() { t.runScanner(ctx) })
	run(func() { t.maintain(ctx) })
	if t.uplink != nil {
		run(func() {
			opts := mqttclient.Options{
				Broker:   t.cfg.Broker,
				ClientID: "tillguard-" + t.cfg.Pharmacy + "-" + t.cfg.Till,
				TLS:      t.tls,
				Log:      t.log,
			}
			if err := t.uplink.Run(ctx, opts); err != nil {
				t.log.Error("agent: uplink stopped", "err", err)
			}
		})
	}
	var srv *http.Server
	if t.listener != nil {
		srv = web.NewServer(ctx, t.web, nil, t.log)
		run(func() {
			if err := srv.Serve(web.LimitListener(t.listener, web.DefaultLimits.MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.log.Error("agent: http stopped", "err", err)
				cancel()
			}
		})
	}
	if q := t.quarantine(); q != nil {
		t.log.Error("agent: running degraded, sales suspended: "+q.detail, "quarantined", q.path)
	}
	t.log.Info("agent: running", "pharmacy", t.cfg.Pharmacy, "till", t.cfg.Till, "http", t.Addr(), "head_seq", t.ledger.Head())
	<-ctx.Done()
	if srv != nil {
		shut, done := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(shut)
		done()
	}
	wg.Wait()
	return t.ledger.Close()
}

// loadOwnerPassword reads the owner's password hash (--owner-password).
// Lockouts run on the real clock, whatever cfg.Now says.
func loadOwnerPassword(path string) (*password.Guard, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: owner password: %w", err)
	}
	g, err := password.NewGuard(bytes.TrimSpace(b), nil)
	if err != nil {
		return nil, fmt.Errorf("agent: owner password %s: %w", path, err)
	}
	return g, nil
}

// Status is what GET /api/status reports.
func (t *Till) Status() web.Status {
	st := web.Status{
		Pharmacy: t.cfg.Pharmacy,
		Till:     t.cfg.Till,
		HeadSeq:  t.ledger.Head(),
		AckedSeq: t.ledger.Acked(),
		Devices:  t.devices.states(),
		Policy:   web.Policy{Region: t.cfg.Region, Version: t.policy.shownVersion()},
	}
	if q := t.quarantine(); q != nil {
		st.Quarantined = q.path
	}
	t.disk.check() // fresh on every look: statfs is cheap
	st.Alarms = t.alarms.list()
	depth, oldest, err := t.ledger.Outbox()
	if err != nil {
		t.log.Error("agent: outbox", "err", err)
	}
	st.Outbox.Depth = depth
	if depth > 0 && !oldest.IsZero() {
		st.Outbox.OldestAgeS = t.cfg.Now().Sub(oldest).Seconds()
	}
	if t.chain != nil {
		st.Chain = t.chain.status()
	}
	if t.uplink != nil {
		u := t.uplink.State()
		st.Uplink = web.Uplink{Configured: true, Connected: u.Connected, SentSeq: u.SentSeq, HeldFrom: t.chain.heldFrom(), AcksSigned: u.Signed}
		for k, n := range map[string]uint64{uplink.AckForged: u.ForgedAcks, uplink.AckMismatch: u.MismatchedAcks, uplink.AckRegressed: u.RegressedAcks} {
			if n > 0 {
				if st.Uplink.AcksRefused == nil {
					st.Uplink.AcksRefused = map[string]uint64{}
				}
				st.Uplink.AcksRefused[k] = n
			}
		}
		if !u.LastAck.IsZero() {
			st.Uplink.LastAck = u.LastAck.Format(time.RFC3339)
		}
	}
	return st
}

// ackRefused raises the alarm of an ack the uplink refused: a forged or
// mismatched ack stays until the till restarts (someone can publish on
// its ack topic, or the bureau and the till disagree on a record); a
// regression clears when an ack moves the outbox again.
func (t *Till) ackRefused(r uplink.AckRefusal) {
	why := map[string]string{
		uplink.AckForged:    "收到伪造的上传确认，已拒收，待传记录保留 / a forged ack was refused, the outbox is intact",
		uplink.AckMismatch:  "医保局确认的记录与本机账本不符，已拒收，待传记录保留，请联系技术支持 / the bureau acknowledged a record this till does not hold: refused, the outbox is intact; call support",
		uplink.AckRegressed: "医保局确认的序号回退（数据丢失或本机账本被回滚），请联系技术支持 / the bureau's ack went backwards (it lost records, or this ledger was rolled back); call support",
	}[r.Kind]
	t.alarms.raiseFor(r.Kind, web.Alarm{Kind: r.Kind, Seq: r.UptoSeq, Detail: why + ": " + r.Detail})
}

// watchedLedger raises the persist alarm while appends fail, and refuses
// insurance sales while the disk budget is short (README, "Durability").
type watchedLedger struct {
	*ledger.Ledger
	alarms  *alarms
	disk    *diskBudget
	refused *refusals
}

func (w *watchedLedger) Append(r *feed.Record) (ledger.Entry, error) {
	if paysByInsurance(r) {
		if err := w.disk.check(); err != nil {
			return ledger.Entry{}, err
		}
	}
	e, err := w.Ledger.Append(r)
	if err != nil {
		w.refused.add(err)
		w.alarms.raise("ledger", "账本无法写入 / the ledger cannot persist: "+err.Error())
	} else {
		w.alarms.clear("ledger")
	}
	return e, err
}

// refusals counts the appends the ledger refused, for web.Deps.Refused.
type refusals struct {
	mu   sync.Mutex
	n    uint64
	last error
}

func (r *refusals) add(err error) {
	r.mu.Lock()
	r.n, r.last = r.n+1, err
	r.mu.Unlock()
}

func (r *refusals) get() (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.last
}

// countedAppender counts the appends a quarantined ledger refuses.
type countedAppender struct {
	session.Appender
	refused *refusals
}

func (c countedAppender) Append(r *feed.Record) (ledger.Entry, error) {
	e, err := c.Appender.Append(r)
	if err != nil {
		c.refused.add(err)
	}
	return e, err
}

// paysByInsurance reports whether r is a sale with a line on insurance.
func paysByInsurance(r *feed.Record) bool {
	if r.Kind != feed.KindSale {
		return false
	}
	for _, l := range r.Lines {
		if l.Pay == session.PayInsurance {
			return true
		}
	}
	return false
}

// Ledger upkeep (README, "Durability": the file must not grow without bound, and a
// filling disk must stop insurance sales before the ledger cannot persist).
const (
	compactMinReclaim = 8 << 20 // bytes worth a copy of the ledger at start
	diskCheckEvery    = 10 * time.Second
	pruneEvery        = 24 * time.Hour
)

// pruneLedger drops acknowledged records older than the retention. A
// failure only delays it: the records stay.
func pruneLedger(led tillLedger, cfg Config) {
	if cfg.Retention <= 0 {
		return
	}
	if _, err := led.Prune(cfg.Now().Add(-cfg.Retention)); err != nil {
		cfg.Log.Error("agent: prune ledger", "err", err)
	}
}

// maintain walks the ledger's chain, checks the disk budget and prunes the
// ledger until ctx ends. The walk and the prune take turns: a prune in the
// middle of a walk would look like missing records.
func (t *Till) maintain(ctx context.Context) {
	var chain <-chan time.Time
	walk := func() {
		t.chain.run(ctx)
		if t.uplink != nil {
			t.uplink.Recheck() // what the walk held back may go now
		}
	}
	if t.chain != nil {
		walk()
		tick := time.NewTicker(t.cfg.chainCheck())
		defer tick.Stop()
		chain = tick.C
	}
	disk := time.NewTicker(diskCheckEvery)
	defer disk.Stop()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-chain:
			walk()
		case <-disk.C:
			t.disk.check()
		case <-prune.C:
			pruneLedger(t.ledger, t.cfg)
		}
	}
}

// diskBudget raises the "disk" alarm while the data dir's file system has
// less than min bytes free, and clears it when space returns.
type diskBudget struct {
	dir    string
	min    uint64 // 0 = no check
	free   func(dir string) (uint64, error)
	alarms *alarms
	log    *slog.Logger
	low    atomic.Bool // for logging changes only
}

// check returns an error while the budget is short. A failed statfs counts
// as short: insurance sales fail closed.
func (d *diskBudget) check() error {
	if d.min == 0 {
		return nil
	}
	free, err := d.free(d.dir)
	if err == nil && free >= d.min {
		if d.low.Swap(false) {
			d.log.Info("agent: disk space back", "free_bytes", free, "min_free_bytes", d.min)
		}
		d.alarms.clear("disk")
		return nil
	}
	msg := fmt.Sprintf("磁盘空间不足，暂停医保销售 / low disk: %s free on %s, under --min-free %s: no insurance sale",
		FormatBytes(free), d.dir, FormatBytes(d.min))
	if err != nil {
		msg = "无法检查磁盘空间，暂停医保销售 / cannot check free disk space: no insurance sale: " + err.Error()
	}
	if !d.low.Swap(true) {
		d.log.Error("agent: "+msg, "free_bytes", free, "min_free_bytes", d.min)
	}
	d.alarms.raise("disk", msg)
	// The cashier reads why, rather than that the ledger cannot persist.
	return &session.Refusal{Reason: msg}
}
