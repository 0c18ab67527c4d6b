package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/feed"
)

// Config is what `tillguard run` takes (SPEC.md §2).
type Config struct {
	DataDir     string
	CardPort    string // "" = not configured (reported missing)
	ScannerPort string
	Baud        int
	Broker      string // "" = offline: buffer only
	Pharmacy    string
	Till        string
	Region      string
	Catalog     string    // catalogue CSV to seed from
	CatalogData io.Reader // instead of Catalog, for the demo's embedded one
	Policy      string    // policy file (JSON, policy.LoadPolicy); "" = RULES.md's defaults
	HTTP        string
	Cashier     string
	// OwnerPassword is a file holding the bcrypt hash of the owner's
	// password (`tillguard password`): required to serve --http beyond
	// loopback; clients not on loopback must then give it. "" = none.
	OwnerPassword string
	// HTTPHosts (--http-host) are the names, besides the address it
	// listens on, that the till's HTTP interface answers to: a request
	// for any other Host is refused, so that no other site's name can be
	// pointed at the till (DNS rebinding). "till.shop.example" allows any
	// port, "till.shop.example:8443" that one.
	HTTPHosts []string

	// ChainCheck (--chain-check) is how often the ledger's chain is
	// walked, besides once at start; 0 = DefaultChainCheck.
	ChainCheck time.Duration

	// TLS to the broker (--tls-ca, --tls-cert, --tls-key): the CA that
	// signed the broker's certificate, and this till's certificate and key
	// (Common Name "{pharmacy}/{till}", its identity in the broker's ACL).
	TLSCA, TLSCert, TLSKey string
	// BureauKey is the bureau's policy-signing public key (--bureau-key):
	// base64, or a file holding it. "" = policy bundles are not taken.
	BureauKey string

	// ScannerTerminator ends each scanned line (--scanner-terminator); the
	// zero value, CR, is the scanners' factory default.
	ScannerTerminator scanner.Terminator

	// Retention: acknowledged records appended longer ago are pruned at
	// start and daily; 0 keeps everything.
	Retention time.Duration
	// MinFree: below this many free bytes on the data dir's file system,
	// insurance sales are refused and the "disk" alarm raised, before the
	// ledger runs out of room; 0 = no check.
	MinFree uint64
	// FreeSpace reports free bytes for a dir; nil = ledger.FreeSpace (statfs).
	FreeSpace func(dir string) (uint64, error)

	// AcceptNewLedger (--accept-new-ledger) lets a start that finds a
	// quarantined ledger and no ledger.db begin a fresh ledger (a new chain
	// from seq 1); without it such a till stays degraded. It never applies
	// to a file quarantined by the same start.
	AcceptNewLedger bool

	Log *slog.Logger
	Now func() time.Time
}

// Defaults of SPEC.md §2.
const (
	DefaultDataDir = "./tillguard-data"
	DefaultBaud    = 9600
	DefaultRegion  = "000000"
	DefaultHTTP    = "127.0.0.1:8080"

	DefaultRetention = 90 * 24 * time.Hour
	DefaultMinFree   = 64 << 20
	// MinRetention is the longest days-supply a prescription allows
	// (RULES.md): pruning sooner would forget purchases the rule counts.
	MinRetention = 84 * 24 * time.Hour
)

// Check reports every problem with the configuration at once.
func (c Config) Check() error {
	var errs []error
	if !feed.ValidID(c.Pharmacy) {
		errs = append(errs, fmt.Errorf("--pharmacy %q: want 1–64 characters from A–Z a–z 0–9 - _", c.Pharmacy))
	}
	if !feed.ValidID(c.Till) {
		errs = append(errs, fmt.Errorf("--till %q: want 1–64 characters from A–Z a–z 0–9 - _", c.Till))
	}
	if !bundle.ValidRegion(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q: want a 6-digit region code", c.Region))
	}
	if c.Baud <= 0 {
		errs = append(errs, fmt.Errorf("--baud %d: want a positive rate", c.Baud))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	if c.ScannerTerminator < scanner.CR || c.ScannerTerminator > scanner.CRLF {
		errs = append(errs, fmt.Errorf("--scanner-terminator %v: want cr, lf or crlf", c.ScannerTerminator))
	}
	if c.Retention != 0 && c.Retention < MinRetention {
		errs = append(errs, fmt.Errorf("--retention %s: want 0 (keep all) or at least %dd, the longest days-supply", FormatDays(c.Retention), MinRetention/(24*time.Hour)))
	}
	if c.HTTP != "" && c.OwnerPassword == "" {
		if err := loopbackOnly(c.HTTP); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range c.HTTPHosts {
		if err := web.CheckHost(h); err != nil {
			errs = append(errs, fmt.Errorf("--http-host: %w", err))
		}
	}
	if c.ChainCheck < 0 {
		errs = append(errs, fmt.Errorf("--chain-check %s: want a positive period", c.ChainCheck))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: config: %w", err)
	}
	return nil
}

// chainCheck is the period of the chain walk.
func (c Config) chainCheck() time.Duration {
	if c.ChainCheck <= 0 {
		return DefaultChainCheck
	}
	return c.ChainCheck
}

// HostsFlag is a flag.Value for a list of names: comma-separated, and
// added to each time it is given.
type HostsFlag struct{ L *[]string }

func (f HostsFlag) String() string {
	if f.L == nil {
		return ""
	}
	return strings.Join(*f.L, ",")
}

func (f HostsFlag) Set(s string) error {
	for h := range strings.SplitSeq(s, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if err := web.CheckHost(h); err != nil {
			return err
		}
		*f.L = append(*f.L, h)
	}
	return nil
}

// loopbackOnly refuses listen addresses beyond this machine: serving the
// till's API to the shop's network needs the owner's password.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http %q: only loopback addresses are served without --owner-password (a hash made by tillguard password)", addr)
}

// DurationFlag is a flag.Value for a duration written in days ("90d") or
// as Go writes durations ("36h").
type DurationFlag struct{ D *time.Duration }

func (f DurationFlag) String() string {
	if f.D == nil {
		return ""
	}
	return FormatDays(*f.D)
}

func (f DurationFlag) Set(s string) error {
	d, err := ParseDays(s)
	if err == nil {
		*f.D = d
	}
	return err
}

// ParseDays reads "90d" (whole days) or a Go duration ("36h", "1h30m").
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 32)
		if err != nil || days > maxDays {
			return 0, fmt.Errorf("%q: want whole days like 90d, at most %dd", s, maxDays)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want days like 90d or a duration like 36h", s)
	}
	return d, nil
}

// maxDays keeps days × 24 h inside a time.Duration.
const maxDays = 100000

// FormatDays writes d as ParseDays reads it, in days when whole.
func FormatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d/(24*time.Hour) <= maxDays {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// BytesFlag is a flag.Value for a size: "64MiB", "64M" (both 2^20), "1G",
// "512k" or plain bytes.
type BytesFlag struct{ N *uint64 }

func (f BytesFlag) String() string {
	if f.N == nil {
		return ""
	}
	return FormatBytes(*f.N)
}

func (f BytesFlag) Set(s string) error {
	n, err := ParseBytes(s)
	if err == nil {
		*f.N = n
	}
	return err
}

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"G", 30}, {"M", 20}, {"K", 10}, {"", 0}}

// ParseBytes reads a size: digits, then optionally K, M or G (powers of
// 1024, with or without "iB" or "B", any case).
func ParseBytes(s string) (uint64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimSuffix(u, "B")
	if len(u) >= 2 && u[len(u)-1] == 'I' && strings.ContainsRune("KMG", rune(u[len(u)-2])) {
		u = u[:len(u)-1] // "MiB"
	}
	for _, bu := range byteUnits {
		num, ok := strings.CutSuffix(u, bu.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n > (1<<63)>>bu.shift {
			break
		}
		return n << bu.shift, nil
	}
	return 0, fmt.Errorf("%q: want a size like 64MiB, 1G or 1048576", s)
}

// FormatBytes writes n as ParseBytes reads it, in the largest exact unit.
func FormatBytes(n uint64) string {
	for _, bu := range byteUnits[:3] {
		if n != 0 && n%(1<<bu.shift) == 0 {
			return strconv.FormatUint(n>>bu.shift, 10) + bu.suffix + "iB"
		}
	}
	return strconv.FormatUint(n, 10)
}
