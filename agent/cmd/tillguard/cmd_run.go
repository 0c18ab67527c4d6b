package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/tillguard/tillguard/agent"
)

func cmdRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs, cfg, verbose := runFlags()
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	// Every setting and every file it names is checked before anything
	// starts, and every problem is listed at once.
	problems, warnings := cfg.Preflight()
	for _, p := range problems {
		s.add(p)
	}
	if err := s.err(); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Log = newLogger(stderr, level)
	for _, w := range warnings {
		cfg.Log.Warn("tillguard: " + w)
	}
	// One P unless the operator sets GOMAXPROCS: a till's work is waiting
	// on devices, disk and network, and with a P per core Go's scheduler
	// spins for work on cores the POS software needs. Draining a backlog
	// took about 30 % less CPU per record with one (make bench, 2 cores).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	t, err := agent.Open(*cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tillguard: ready, http://%s/\n", t.Addr())
	return t.Run(ctx)
}

// runFlags are the flags of `tillguard run`, filling the returned config
// (deploy/tillguard.conf is checked against them).
func runFlags() (fs *flag.FlagSet, cfg *agent.Config, verbose *bool) {
	fs = flag.NewFlagSet("run", flag.ContinueOnError)
	cfg = &agent.Config{}
	fs.String("config", "", "settings `FILE` of name = value lines (flags win)")
	fs.StringVar(&cfg.DataDir, "data-dir", agent.DefaultDataDir, "`DIR` of the ledger, keys and state")
	fs.StringVar(&cfg.CardPort, "card-port", "", "card reader serial `PORT`: a path, a /dev/serial/by-id link or usb:VID:PID[:SERIAL] (none: reported missing)")
	fs.StringVar(&cfg.ScannerPort, "scanner-port", "", "barcode scanner serial `PORT`, named like --card-port (none: reported missing)")
	fs.Var(&cfg.ScannerTerminator, "scanner-terminator", "what ends each scanned line: `cr|lf|crlf`")
	fs.IntVar(&cfg.Baud, "baud", agent.DefaultBaud, "`RATE` of both ports, in bits per second")
	fs.StringVar(&cfg.Broker, "broker", "", "the bureau's MQTT broker, `tcp://host:port` or ssl://host:port; none = offline, buffer only")
	fs.StringVar(&cfg.Pharmacy, "pharmacy", "", "the pharmacy's national `CODE` (医保定点编码), e.g. H33010200001 (required)")
	fs.StringVar(&cfg.Till, "till", "", "this till's `ID` within the pharmacy, e.g. T01 (required)")
	fs.StringVar(&cfg.Region, "region", agent.DefaultRegion, "6-digit region `CODE` (行政区划代码) whose limits apply, e.g. 330100")
	fs.StringVar(&cfg.Catalog, "catalog", "", "catalogue CSV `FILE` (UTF-8) to seed from")
	fs.StringVar(&cfg.Policy, "policy", "", "policy `FILE`: limits per region, deny list (JSON; none = the defaults of docs/rules.md)")
	fs.StringVar(&cfg.HTTP, "http", agent.DefaultHTTP, "listen `ADDRESS` of the dashboard, till screen and API")
	fs.StringVar(&cfg.OwnerPassword, "owner-password", "", "`FILE` holding the owner's password hash (tillguard password): needed for an --http beyond loopback")
	fs.Var(agent.HostsFlag{L: &cfg.HTTPHosts}, "http-host", "names the dashboard, till screen and API answer to besides the --http address, comma-separated (`till.shop.example[:port]`); requests for any other Host are refused")
	fs.DurationVar(&cfg.ChainCheck, "chain-check", agent.DefaultChainCheck, "how often the ledger's chain is walked, besides at start (a `PERIOD` such as 10m); a broken record raises the ledger alarm and holds the uplink")
	fs.StringVar(&cfg.TLSCA, "tls-ca", "", "CA certificate `FILE` (PEM) that signed the broker's certificate")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "this till's client certificate `FILE` (PEM; CN = pharmacy/till)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the key `FILE` of --tls-cert (PEM)")
	fs.StringVar(&cfg.BureauKey, "bureau-key", "", "the bureau's policy-signing public `KEY`: base64, or a file holding it (none = policy bundles are not taken)")
	cfg.Retention, cfg.MinFree = agent.DefaultRetention, agent.DefaultMinFree
	fs.Var(agent.DurationFlag{D: &cfg.Retention}, "retention", "prune acknowledged records older than this `AGE` (90d, 2160h; 0 = keep all)")
	fs.Var(agent.BytesFlag{N: &cfg.MinFree}, "min-free", "refuse insurance sales below this `SIZE` of free disk for --data-dir (64MiB, 1G; 0 = no check)")
	fs.BoolVar(&cfg.AcceptNewLedger, "accept-new-ledger", false, "start a fresh ledger (a new chain from seq 1) when the last one was quarantined as corrupt and no ledger.db is left; for one start by an operator (README: Durability)")
	verbose = fs.Bool("v", false, "log debug detail")
	return fs, cfg, verbose
}
