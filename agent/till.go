package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
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
	ledger   *ledger.Ledger
	session  *session.Session
	uplink   *uplink.Uplink
	devices  *devices
	alarms   *alarms
	policyV  string
	listener net.Listener
	changes  *broadcast
}

// Open prepares a till: it loads the key, opens and checks the ledger,
// loads the catalogue, rebuilds the history and binds the HTTP address, so
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
	key, err := keys.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	led, err := ledger.Open(filepath.Join(cfg.DataDir, "ledger.db"), key, &ledger.Opts{Now: cfg.Now, Log: cfg.Log})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	hist := session.NewHistory()
	if err := led.Scan(1, func(e ledger.Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return fmt.Errorf("record %d: %w", e.Seq, err)
		}
		hist.Add(r)
		return nil
	}); err != nil {
		led.Close()
		return nil, fmt.Errorf("agent: rebuild history: %w", err)
	}
	t := &Till{
		cfg:     cfg,
		log:     cfg.Log,
		ledger:  led,
		devices: newDevices(cfg.CardPort != "", cfg.ScannerPort != ""),
		alarms:  &alarms{now: cfg.Now},
		policyV: version,
		changes: newBroadcast(),
	}
	t.session = session.New(session.Config{
		Pharmacy: cfg.Pharmacy,
		Till:     cfg.Till,
		Catalog:  cat,
		Limits:   policy.DefaultLimits(),
		Ledger:   &watchedLedger{Ledger: led, alarms: t.alarms},
		History:  hist,
		Now:      cfg.Now,
		Log:      cfg.Log,
		Beep:     t.devices.beep,
		OnChange: t.changes.notify,
	})
	if cfg.Broker != "" {
		t.uplink = uplink.New(led, cfg.Pharmacy, cfg.Till, &uplink.Opts{Log: cfg.Log, Now: cfg.Now})
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

// Ledger is the till's ledger.
func (t *Till) Ledger() *ledger.Ledger { return t.ledger }

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
	if t.uplink != nil {
		run(func() {
			opts := mqttclient.Options{
				Broker:   t.cfg.Broker,
				ClientID: "tillguard-" + t.cfg.Pharmacy + "-" + t.cfg.Till,
				Log:      t.log,
			}
			if err := t.uplink.Run(ctx, opts); err != nil {
				t.log.Error("agent: uplink stopped", "err", err)
			}
		})
	}
	var srv *http.Server
	if t.listener != nil {
		srv = &http.Server{Handler: t.handler(), ReadHeaderTimeout: 5 * time.Second}
		run(func() {
			if err := srv.Serve(t.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				t.log.Error("agent: http stopped", "err", err)
				cancel()
			}
		})
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

func (t *Till) handler() http.Handler {
	return web.New(web.Deps{Session: t.session, Status: t.Status, Records: t.ledger, Log: t.log})
}

// Status is what GET /api/status reports.
func (t *Till) Status() web.Status {
	st := web.Status{
		Pharmacy: t.cfg.Pharmacy,
		Till:     t.cfg.Till,
		HeadSeq:  t.ledger.Head(),
		AckedSeq: t.ledger.Acked(),
		Devices:  t.devices.states(),
		Policy:   web.Policy{Region: t.cfg.Region, Version: t.policyV},
		Alarms:   t.alarms.list(),
	}
	depth, oldest, err := t.ledger.Outbox()
	if err != nil {
		t.log.Error("agent: outbox", "err", err)
	}
	st.Outbox.Depth = depth
	if depth > 0 && !oldest.IsZero() {
		st.Outbox.OldestAgeS = t.cfg.Now().Sub(oldest).Seconds()
	}
	if t.uplink != nil {
		u := t.uplink.State()
		st.Uplink = web.Uplink{Configured: true, Connected: u.Connected}
		if !u.LastAck.IsZero() {
			st.Uplink.LastAck = u.LastAck.Format(time.RFC3339)
		}
	}
	return st
}

// watchedLedger raises the persist alarm while appends fail (SPEC.md §6).
type watchedLedger struct {
	*ledger.Ledger
	alarms *alarms
}

func (w *watchedLedger) Append(r *feed.Record) (ledger.Entry, error) {
	e, err := w.Ledger.Append(r)
	if err != nil {
		w.alarms.raise("ledger", "账本无法写入 / the ledger cannot persist: "+err.Error())
	} else {
		w.alarms.clear("ledger")
	}
	return e, err
}
