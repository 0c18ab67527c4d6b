package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// bureauTools are the `tillguard bureau SUBCOMMAND` tools; without one,
// `tillguard bureau` runs the receiver.
var bureauTools = map[string]func(context.Context, []string, io.Writer, io.Writer) error{
	"enroll":      cmdBureauEnroll,
	"export":      cmdBureauExport,
	"keygen":      cmdBureauKeygen,
	"sign-policy": cmdBureauSignPolicy,
}

// tlsFlags adds --tls-ca, --tls-cert and --tls-key to fs.
func tlsFlags(fs *flag.FlagSet) func() (*mqttclient.Options, error) {
	ca := fs.String("tls-ca", "", "CA certificate (PEM) that signed the broker's certificate")
	cert := fs.String("tls-cert", "", "client certificate (PEM; CN = bureau)")
	key := fs.String("tls-key", "", "the key of --tls-cert (PEM)")
	return func() (*mqttclient.Options, error) {
		cfg, err := mqttclient.TLSFiles(*ca, *cert, *key)
		if err != nil {
			return nil, err
		}
		return &mqttclient.Options{TLS: cfg}, nil
	}
}

func cmdBureauEnroll(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau enroll", flag.ContinueOnError)
	dir := fs.String("enroll", "", "directory of enrolled till keys (required)")
	pharmacy := fs.String("pharmacy", "", "the till's pharmacy (required)")
	till := fs.String("till", "", "the till's id (required)")
	key := fs.String("key", "", "the till's public key as `tillguard keys show` prints it, or a file holding it (required)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *dir == "" || *pharmacy == "" || *till == "" || *key == "" {
		fmt.Fprintln(stderr, "bureau enroll: --enroll, --pharmacy, --till and --key are required")
		return errUsage
	}
	pub, err := keys.PublicFromArg(*key)
	if err != nil {
		return err
	}
	if err := keys.Enroll(*dir, *pharmacy, *till, pub); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled %s/%s in %s (restart the bureau to take it in)\n", *pharmacy, *till, *dir)
	return nil
}

func cmdBureauExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau export", flag.ContinueOnError)
	store := fs.String("store", "", "postgres://… of the production store; empty = the embedded archive in --data-dir")
	dataDir := fs.String("data-dir", "./bureau-data", "the embedded archive's directory (the bureau must be stopped, or use its HTTP API)")
	format := fs.String("format", bureau.FormatJSONL, "jsonl or csv")
	pharmacy := fs.String("pharmacy", "", "only this pharmacy's till (with --till)")
	till := fs.String("till", "", "only this till (with --pharmacy)")
	from := fs.Uint64("from-seq", 1, "first seq of each till")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *store == "" {
		if _, err := os.Stat(filepath.Join(*dataDir, "archive.db")); err != nil {
			return fmt.Errorf("bureau export: %w", err) // never create an empty archive here
		}
	}
	st, err := openBureauStore(ctx, *store, *dataDir, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	return bureau.Export(ctx, stdout, st, *format, bureau.ExportFilter{Pharmacy: *pharmacy, Till: *till, FromSeq: *from})
}

func cmdBureauKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau keygen", flag.ContinueOnError)
	path := fs.String("key", "bureau.key", "where to write the new policy-signing key (0600; never overwritten)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	key, err := keys.CreateKeyFile(*path)
	if err != nil {
		return err
	}
	pub := keys.PublicBase64(key.Public().(ed25519.PublicKey))
	// The public half beside it, for the tills' --bureau-key.
	if err := os.WriteFile(*path+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, pub)
	return nil
}

func cmdBureauSignPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau sign-policy", flag.ContinueOnError)
	keyPath := fs.String("key", "bureau.key", "the bureau's policy-signing key (tillguard bureau keygen)")
	region := fs.String("region", "", "6-digit region code (required)")
	version := fs.Uint64("version", 0, "bundle version, higher than the region's last one (required)")
	catalog := fs.String("catalog", "", "catalogue CSV (required)")
	policyFile := fs.String("policy", "", "policy file (JSON; none = RULES.md's defaults)")
	out := fs.String("out", "", "write the signed bundle here (default: standard output unless --publish)")
	publish := fs.Bool("publish", false, "publish it retained on tillguard/v1/policy/REGION")
	broker := fs.String("broker", "", "with --publish: tcp://host:port or ssl://host:port")
	clientID := fs.String("client-id", "tillguard-bureau-policy", "with --publish: MQTT client id")
	tlsOpts := tlsFlags(fs)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *region == "" || *version == 0 || *catalog == "" || (*publish && *broker == "") {
		fmt.Fprintln(stderr, "bureau sign-policy: --region, --version, --catalog (and --broker with --publish) are required")
		return errUsage
	}
	key, err := keys.LoadKeyFile(*keyPath)
	if err != nil {
		return err
	}
	cat, err := os.ReadFile(*catalog)
	if err != nil {
		return err
	}
	var pol []byte
	if *policyFile != "" {
		if pol, err = os.ReadFile(*policyFile); err != nil {
			return err
		}
	}
	b, err := bureau.PolicyBundle(*region, *version, time.Now().Format(time.RFC3339), cat, pol)
	if err != nil {
		return err
	}
	payload, err := bundle.Sign(b, key)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, payload, 0o644); err != nil {
			return err
		}
	} else if !*publish {
		if _, err := stdout.Write(append(payload, '\n')); err != nil {
			return err
		}
	}
	if *publish {
		mo, err := tlsOpts()
		if err != nil {
			return err
		}
		mo.Broker, mo.ClientID, mo.CleanSession = *broker, *clientID, true
		mo.Log = newLogger(stderr, 0)
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := bureau.PublishPolicy(ctx, *mo, payload, key.Public().(ed25519.PublicKey)); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("bureau sign-policy: broker %s not reached within a minute: %w", *broker, err)
			}
			return err
		}
		fmt.Fprintf(stderr, "published region %s version %d\n", *region, *version)
	}
	return nil
}
