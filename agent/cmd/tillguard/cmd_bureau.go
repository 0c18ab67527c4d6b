package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/console"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

func cmdBureau(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if tool, ok := bureauTools[args[0]]; ok { // cmd_bureau_tools.go
			return tool(ctx, args[1:], stdout, stderr)
		}
	}
	fs, f := bureauFlags()
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	for _, p := range f.check() {
		s.add(p)
	}
	if err := s.err(); err != nil {
		return err
	}
	log := newLogger(stderr, 0)
	enrolled, err := dirKeys(*f.enroll)
	if err != nil {
		return err
	}
	var hash []byte
	if *f.password != "" {
		if hash, err = readHash(*f.password); err != nil {
			return err
		}
	}
	mo, err := f.tls()
	if err != nil {
		return err
	}
	st, err := openBureauStore(ctx, *f.store, *f.dataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	// The directory's keys go into the store, where every receiver
	// sharing it finds them.
	if err := st.Enroll(ctx, enrolled); err != nil {
		return fmt.Errorf("bureau: enroll the keys of %s: %w", *f.enroll, err)
	}
	var ackKey ed25519.PrivateKey
	if *f.key != "" {
		if ackKey, err = keys.LoadKeyFile(*f.key); err != nil {
			return fmt.Errorf("bureau: --key: %w", err)
		}
	} else {
		log.Warn("bureau: no --key: acks go unsigned, and tills with --bureau-key refuse them (a trial only)")
	}
	b := bureau.New(st, &bureau.Opts{Shared: *f.shared, GapGrace: *f.gapGrace, StaleAfter: *f.staleAfter, Key: ackKey, Log: log})
	tills, err := b.LoadKeys(ctx)
	if err != nil {
		return err
	}
	if tills == 0 && *f.enroll == "" {
		return fmt.Errorf("bureau: the store %s holds no till's key: give --enroll DIR, or enroll tills into the store (tillguard bureau enroll --store …)",
			storeName(*f.store, *f.dataDir))
	}
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return err
	}
	h := console.New(st, &console.Opts{Password: hash, Receiver: func() any { return b.Stats() }, Log: log})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(stdout, "bureau: %d tills enrolled, store %s, console http://%s/\n", tills, storeName(*f.store, *f.dataDir), ln.Addr())
	mo.Broker, mo.ClientID, mo.Log = *f.broker, *f.clientID, log
	err = b.Run(ctx, *mo)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// dirKeys reads the keys enrolled in dir (keys.Enroll's files); none
// without a dir.
func dirKeys(dir string) ([]archive.EnrolledKey, error) {
	if dir == "" {
		return nil, nil
	}
	m, err := keys.LoadEnrolled(dir)
	if err != nil {
		return nil, err
	}
	out := make([]archive.EnrolledKey, 0, len(m))
	for id, pub := range m {
		p, t, _ := strings.Cut(id, "/")
		out = append(out, archive.EnrolledKey{Pharmacy: p, Till: t, Key: pub})
	}
	return out, nil
}

// openBureauStore opens the production store named by a postgres:// URL,
// or else the embedded archive in dataDir.
func openBureauStore(ctx context.Context, store, dataDir string, log *slog.Logger) (archive.Store, error) {
	opts := &archive.Opts{Log: log}
	if store != "" {
		return pgarchive.Open(ctx, store, opts)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return boltarchive.Open(filepath.Join(dataDir, "archive.db"), opts)
}

// storeName says which store is in use, without a password.
func storeName(store, dataDir string) string {
	if store == "" {
		return filepath.Join(dataDir, "archive.db")
	}
	if i := strings.Index(store, "@"); i >= 0 {
		if j := strings.Index(store, "://"); j >= 0 && j < i {
			if k := strings.Index(store[j+3:i], ":"); k >= 0 {
				return store[:j+3+k] + ":…" + store[i:]
			}
		}
	}
	return store
}

// readHash reads a password hash file made by `tillguard password`.
func readHash(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password hash: %w", err)
	}
	h := []byte(strings.TrimSpace(string(b)))
	if err := console.CheckPassword(h); err != nil {
		return nil, fmt.Errorf("password hash %s: %w (make it with tillguard password)", path, err)
	}
	return h, nil
}

// bureauSettings are the values of `tillguard bureau`'s flags.
type bureauSettings struct {
	broker, store, dataDir, addr, enroll, clientID, password, key *string
	shared                                                        *bool
	gapGrace, staleAfter                                          *time.Duration
	tls                                                           func() (*mqttclient.Options, error)
}

// bureauFlags are the flags of `tillguard bureau` (deploy/bureau.conf is
// checked against them).
func bureauFlags() (*flag.FlagSet, bureauSettings) {
	fs := flag.NewFlagSet("bureau", flag.ContinueOnError)
	fs.String("config", "", "settings `FILE` of name = value lines (flags win)")
	return fs, bureauSettings{
		broker:     fs.String("broker", "", "tcp://host:port or ssl://host:port (required)"),
		store:      fs.String("store", "", "postgres://user@host:port/db?sslmode=… for the production store; empty = the embedded archive in --data-dir"),
		dataDir:    fs.String("data-dir", "./bureau-data", "the embedded archive's directory (without --store)"),
		addr:       fs.String("http", "127.0.0.1:8090", "listen address of the console and its API"),
		password:   fs.String("password", "", "file holding the console's password hash (tillguard password): needed for an --http beyond loopback"),
		enroll:     fs.String("enroll", "", "directory of enrolled till public keys (<pharmacy>.<till>.pub), enrolled into the store at start; optional once the store holds keys (tillguard bureau enroll --store)"),
		key:        fs.String("key", "", "the bureau's private key (tillguard bureau keygen), which signs the acks; tills check them with its public half (--bureau-key). Without it acks go unsigned: a trial"),
		shared:     fs.Bool("shared", false, "consume through a shared subscription, so several receivers split the load (one --store for all)"),
		clientID:   fs.String("client-id", "tillguard-bureau", "MQTT client id (distinct per receiver with --shared)"),
		gapGrace:   fs.Duration("gap-grace", archive.DefaultGapGrace, "how long a hole in a till's records may stay open before it is a gap alarm"),
		staleAfter: fs.Duration("stale-after", archive.DefaultStaleAfter, "how long records a till has announced (its signed status's head) may stay missing before they are an outbox_stale alarm"),
		tls:        tlsFlags(fs),
	}
}

// check lists every problem with the settings at once.
func (f bureauSettings) check() []agent.Problem {
	var ps []agent.Problem
	switch {
	case *f.broker == "":
		ps = append(ps, agent.Problem{Setting: "broker", Want: "is required: the MQTT broker the tills send to, tcp://host:port or ssl://host:port (e.g. ssl://broker.bureau.example:8883)"})
	default:
		if err := agent.CheckBroker(*f.broker); err != nil {
			ps = append(ps, agent.Problem{Setting: "broker", Value: *f.broker, Want: err.Error()})
		}
	}
	if s := *f.store; s != "" && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		ps = append(ps, agent.Problem{Setting: "store", Value: s, Want: "want postgres://user@host:port/db?sslmode=…, or nothing for the embedded archive"})
	}
	if *f.password == "" {
		if host, _, _ := net.SplitHostPort(*f.addr); host != "localhost" && !password.Loopback(*f.addr) {
			ps = append(ps, agent.Problem{Setting: "http", Value: *f.addr, Want: "only loopback addresses are served without --password (a hash made by tillguard password)"})
		}
	}
	if *f.gapGrace < time.Minute {
		ps = append(ps, agent.Problem{Setting: "gap-grace", Value: f.gapGrace.String(), Want: "want a minute or more, time for tills to send again"})
	}
	if *f.staleAfter < *f.gapGrace {
		ps = append(ps, agent.Problem{Setting: "stale-after", Value: f.staleAfter.String(), Want: fmt.Sprintf("want at least --gap-grace (%v): a till's announced records get time to arrive", *f.gapGrace)})
	}
	return ps
}
