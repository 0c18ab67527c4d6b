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
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
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
	"retain":      cmdBureauRetain,
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

func cmdBureauEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau enroll", flag.ContinueOnError)
	dir := fs.String("enroll", "", "write the key to this directory of enrolled till keys, which the bureau enrolls into its store at start; without it, the key goes straight into the store")
	store := fs.String("store", "", "enroll into the production store, postgres://… as the receiver's --store; empty = the embedded archive in --data-dir. Running receivers take the key in at the till's first record")
	dataDir := fs.String("data-dir", "./bureau-data", "the embedded archive's directory, without --store (the bureau must be stopped: it holds the archive)")
	pharmacy := fs.String("pharmacy", "", "the till's pharmacy (required)")
	till := fs.String("till", "", "the till's id (required)")
	key := fs.String("key", "", "the till's public key as `tillguard keys show` prints it, or a file holding it (required)")
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	if *pharmacy == "" || *till == "" || *key == "" {
		s.addf("--pharmacy, --till and --key are required: the till's pharmacy code and id, and the key `tillguard keys show` prints on it")
	}
	if st := *store; st != "" && !strings.HasPrefix(st, "postgres://") && !strings.HasPrefix(st, "postgresql://") {
		s.add(agent.Problem{Setting: "store", Value: st, Want: "want postgres://user@host:port/db?sslmode=…, or nothing for the embedded archive"})
	}
	if err := s.err(); err != nil {
		return err
	}
	pub, err := keys.PublicFromArg(*key)
	if err != nil {
		return err
	}
	// The store too when it is named, or when there is no directory.
	intoStore := *dir == ""
	fs.Visit(func(f *flag.Flag) { intoStore = intoStore || f.Name == "store" || f.Name == "data-dir" })
	if *dir != "" {
		if err := keys.Enroll(*dir, *pharmacy, *till, pub); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled %s/%s in %s (restart the bureau to take it in)\n", *pharmacy, *till, *dir)
	}
	if !intoStore {
		return nil
	}
	k := archive.EnrolledKey{Pharmacy: *pharmacy, Till: *till, Key: pub}
	if err := archive.ValidateKeys([]archive.EnrolledKey{k}); err != nil {
		return fmt.Errorf("bureau enroll %q/%q: %w", *pharmacy, *till, err)
	}
	st, err := openBureauStore(ctx, *store, *dataDir, nil)
	if errors.Is(err, boltarchive.ErrLocked) {
		return fmt.Errorf("bureau enroll: %w: the running bureau holds the embedded archive; stop it, or enroll with --enroll DIR and restart it", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Enroll(ctx, []archive.EnrolledKey{k}); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled %s/%s in the store %s (running receivers take it in at its next record)\n", *pharmacy, *till, storeName(*store, *dataDir))
	return nil
}

func cmdBureauExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau export", flag.ContinueOnError)
	store := fs.String("store", "", "postgres://… of the production store; empty = the embedded archive in --data-dir")
	dataDir := fs.String("data-dir", "./bureau-data", "the embedded archive's directory (the bureau must be stopped, or use its HTTP API)")
	format := fs.String("format", bureau.FormatJSONL, "jsonl or csv (the records), 3505 (sales) or 3506 (returns) as the national platform takes them")
	check := fs.Bool("check", false, "with --format 3505 or 3506: write no upload, but every record's missing fields and why, and fail if a record is incomplete")
	pharmacy := fs.String("pharmacy", "", "only this pharmacy's till (with --till)")
	till := fs.String("till", "", "only this till (with --pharmacy)")
	from := fs.Uint64("from-seq", 1, "first seq of each till")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	upload := *format == bureau.Format3505 || *format == bureau.Format3506
	if *check && !upload {
		return fmt.Errorf("bureau export: --check goes with --format 3505 or 3506, not %q", *format)
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
	filter := bureau.ExportFilter{Pharmacy: *pharmacy, Till: *till, FromSeq: *from}
	if !upload {
		return bureau.Export(ctx, stdout, st, *format, filter)
	}
	return exportUpload(ctx, stdout, stderr, st, *format, *check, filter)
}

// exportUpload writes a 3505 or 3506 upload, or with check what each
// record lacks; either way an incomplete record is said, and with check it
// fails the command.
func exportUpload(ctx context.Context, stdout, stderr io.Writer, st archive.Store, format string, check bool, f bureau.ExportFilter) error {
	if check {
		sum, err := bureau.CheckUpload(ctx, stdout, st, format, f)
		if err != nil {
			return err
		}
		if sum.Incomplete > 0 {
			return fmt.Errorf("bureau export --check: %d of %d records are incomplete for upload: each is listed above with what it lacks", sum.Incomplete, sum.Records)
		}
		return nil
	}
	sum, err := bureau.ExportUpload(ctx, stdout, st, format, f)
	if err != nil {
		return err
	}
	if sum.Incomplete > 0 {
		fmt.Fprintf(stderr, "bureau export: %s\nbureau export: the incomplete records are written as far as the till knows them; --check lists what each lacks\n", sum)
	}
	return nil
}

func cmdBureauKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bureau keygen", flag.ContinueOnError)
	path := fs.String("key", "bureau.key", "where to write the new signing key of policy bundles and acks (0600; never overwritten); its public half goes beside it as FILE.pub, for the tills' --bureau-key")
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
	policyFile := fs.String("policy", "", "policy file (JSON; none = the defaults of docs/rules.md)")
	out := fs.String("out", "", "write the signed bundle here (default: standard output unless --publish)")
	publish := fs.Bool("publish", false, "publish it retained on tillguard/v1/policy/REGION")
	broker := fs.String("broker", "", "with --publish: tcp://host:port or ssl://host:port")
	clientID := fs.String("client-id", "tillguard-bureau-policy", "with --publish: MQTT client id")
	tlsOpts := tlsFlags(fs)
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	if *region == "" || *version == 0 || *catalog == "" || (*publish && *broker == "") {
		s.addf("--region, --version, --catalog (and --broker with --publish) are required")
	}
	if *region != "" && !bundle.ValidRegion(*region) {
		s.add(agent.Problem{Setting: "region", Value: *region, Want: "want the 6-digit administrative region code (行政区划代码), e.g. 330100"})
	}
	if *publish && *broker != "" {
		if err := agent.CheckBroker(*broker); err != nil {
			s.add(agent.Problem{Setting: "broker", Value: *broker, Want: err.Error()})
		}
	}
	if err := s.err(); err != nil {
		return err
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

// maxKeepMonths bounds --keep-months: a hundred years is past any
// retention law, so more is a typing mistake.
const maxKeepMonths = 1200

// retainNow is the clock of bureau retain (tests set it).
var retainNow = time.Now

// minKeepMonths is the least --keep-months that still keeps every record
// days_supply_cross looks back over: the whole months kept before the
// current one span archive.WindowDays or more, whichever month it is
// (counted over a Gregorian 400-year cycle).
func minKeepMonths() int {
	window := archive.WindowDays * 24 * time.Hour
	for before := 1; ; before++ {
		ok := true
		for m := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); ok && m.Year() < 2400; m = m.AddDate(0, 1, 0) {
			ok = m.AddDate(0, before, 0).Sub(m) >= window
		}
		if ok {
			return before + 1
		}
	}
}

// firstKept is the first month keeping n months keeps at now: the current
// month (UTC, as the store's partitions) and the n-1 before it.
func firstKept(now time.Time, n int) time.Time {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m-time.Month(n-1), 1, 0, 0, 0, 0, time.UTC)
}

func cmdBureauRetain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	floor := minKeepMonths()
	fs := flag.NewFlagSet("bureau retain", flag.ContinueOnError)
	store := fs.String("store", "", "postgres://user@host:port/db?sslmode=… of the production store, as the receiver's --store (required; the password from ~/.pgpass or PGPASSWORD)")
	keep := fs.Int("keep-months", 0, fmt.Sprintf("keep `N` calendar months, in UTC: the current month and the N-1 before it; every record of an earlier month is dropped (required, 1 to %d; below %d only with --force)", maxKeepMonths, floor))
	dryRun := fs.Bool("dry-run", false, "count the records that would be dropped, and drop nothing")
	force := fs.Bool("force", false, fmt.Sprintf("allow --keep-months below %d, though days_supply_cross then misses older purchases", floor))
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "keep-months" })
	switch {
	case s.refused["keep-months"]:
	case !given:
		s.addf("--keep-months is required: how many calendar months to keep, the current one included (%d or more keeps all days_supply_cross looks back over)", floor)
	case *keep < 1 || *keep > maxKeepMonths:
		s.addf("--keep-months %d: want 1 to %d months, the current one included", *keep, maxKeepMonths)
	case *keep < floor && !*force:
		s.addf("--keep-months %d keeps less than the %d days days_supply_cross looks back over: "+
			"a card's insurance purchases from before the first month kept would no longer count toward its days supply across tills, "+
			"so over-supply spread over several tills would go unseen. Keep %d months or more, or add --force if a shorter retention is required",
			*keep, archive.WindowDays, floor)
	}
	if *store == "" {
		s.addf("retention needs the PostgreSQL store: give --store postgres://… (the receiver's --store). " +
			"The embedded archive (--data-dir) is for the demo and small deployments and has no retention; move to PostgreSQL to drop old months")
	}
	if err := s.err(); err != nil {
		return err
	}
	now := retainNow()
	from, current := firstKept(now, *keep), firstKept(now, 1)
	st, err := pgarchive.Open(ctx, *store, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	which := fmt.Sprintf("the current one and the %d before it", *keep-1)
	if *keep == 1 {
		which = "the current one only"
	}
	fmt.Fprintf(stdout, "keeping %s: %s through %s (UTC calendar months: %s)\n",
		counted(int64(*keep), "month"), from.Format("2006-01"), current.Format("2006-01"), which)
	if *keep < floor {
		fmt.Fprintf(stderr, "bureau retain: warning (--force): keeping less than %d days; days_supply_cross no longer sees purchases from before %s\n",
			archive.WindowDays, from.Format("2006-01"))
	}
	before := fmt.Sprintf("before %s (at < %s)", from.Format("2006-01"), from.Format(time.RFC3339))
	if *dryRun {
		n, err := st.CountBefore(ctx, from)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dry run: would drop %s from %s; first month kept: %s; nothing dropped (run without --dry-run to drop them)\n",
			counted(n, "record"), before, from.Format("2006-01"))
		return nil
	}
	n, err := st.DropBefore(ctx, from)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dropped %s from %s; first month kept: %s\n", counted(n, "record"), before, from.Format("2006-01"))
	return nil
}

// counted is "1 record", "2 records".
func counted(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
