package agent

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/drivers/serialport"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Config is what `tillguard run` takes (README, "Configuration").
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
	Policy      string    // policy file (JSON, policy.LoadPolicy); "" = the defaults of docs/rules.md
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

// Defaults of the README's "Configuration" tables.
const (
	DefaultDataDir = "./tillguard-data"
	DefaultBaud    = 9600
	DefaultRegion  = "000000"
	DefaultHTTP    = "127.0.0.1:8080"

	DefaultRetention = 90 * 24 * time.Hour
	DefaultMinFree   = 64 << 20
	// MinRetention is the longest days-supply a prescription allows
	// (docs/rules.md): pruning sooner would forget purchases the rule counts.
	MinRetention = 84 * 24 * time.Hour
)

// Check reports every problem with the configuration at once (Problems).
func (c Config) Check() error {
	ps := c.Problems()
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return fmt.Errorf("agent: config: %w", errors.Join(errs...))
}

// Problem is one thing wrong with a Config, in plain words, named by the
// setting that fixes it: the flag, which is also the config file's name
// for it.
type Problem struct {
	Setting string // the flag without dashes ("region"); "" when no one setting is at fault
	Value   string // the value given; "" when none was
	Want    string // what is wanted instead (with Value), or what is wrong
}

func (p Problem) Error() string {
	switch {
	case p.Setting == "":
		return p.Want
	case p.Value == "":
		return "--" + p.Setting + " " + p.Want
	}
	return "--" + p.Setting + " " + ShowValue(p.Value) + ": " + p.Want
}

// ShowValue writes a value as given, quoted when it would not read as one
// word (empty, spaces, quotes, control characters).
func ShowValue(v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r == 0x7f }) {
		return strconv.Quote(v)
	}
	return v
}

// Problems lists every problem with the settings themselves, without
// reading a file: Preflight adds those of the files they name.
func (c Config) Problems() []Problem {
	var ps []Problem
	ps = append(ps, c.identityProblems()...)
	ps = append(ps, c.portProblems()...)
	ps = append(ps, c.brokerProblems()...)
	ps = append(ps, c.httpProblems()...)
	ps = append(ps, c.ledgerProblems()...)
	return ps
}

// identityProblems: the pharmacy, the till and the region, which name the
// till to the bureau and choose its limits.
func (c Config) identityProblems() []Problem {
	var ps []Problem
	const idChars = "want 1–64 characters from A–Z a–z 0–9 - _"
	switch {
	case c.Pharmacy == "":
		ps = append(ps, Problem{Setting: "pharmacy", Want: `is required: the pharmacy's national code (医保定点编码), e.g. H33010200001: give --pharmacy H33010200001, or "pharmacy = H33010200001" in the --config file`})
	case !feed.ValidID(c.Pharmacy):
		ps = append(ps, Problem{Setting: "pharmacy", Value: c.Pharmacy, Want: idChars + ": the pharmacy's national code (医保定点编码), e.g. H33010200001"})
	}
	switch {
	case c.Till == "":
		ps = append(ps, Problem{Setting: "till", Want: `is required: this till's id within the pharmacy, e.g. T01: give --till T01, or "till = T01" in the --config file`})
	case !feed.ValidID(c.Till):
		ps = append(ps, Problem{Setting: "till", Value: c.Till, Want: idChars + ": this till's id within the pharmacy, e.g. T01"})
	}
	const region = "the 6-digit administrative region code (行政区划代码) whose limits apply, e.g. 330100"
	switch {
	case c.Region == "":
		ps = append(ps, Problem{Setting: "region", Want: "is empty: give " + region})
	case !bundle.ValidRegion(c.Region):
		ps = append(ps, Problem{Setting: "region", Value: c.Region, Want: "want " + region})
	}
	return ps
}

// portProblems: the serial ports, their speed and the scanner's line end.
func (c Config) portProblems() []Problem {
	var ps []Problem
	for _, port := range []struct{ flag, value string }{{"card-port", c.CardPort}, {"scanner-port", c.ScannerPort}} {
		if port.value == "" {
			continue
		}
		if _, err := serialport.ParseSpec(port.value); err != nil {
			ps = append(ps, Problem{Setting: port.flag, Value: port.value, Want: "want a path such as /dev/ttyUSB0 or /dev/serial/by-id/…, or usb:VID:PID[:SERIAL] such as usb:0403:6001"})
		}
	}
	if c.CardPort != "" && c.CardPort == c.ScannerPort {
		ps = append(ps, Problem{Setting: "scanner-port", Value: c.ScannerPort, Want: "is --card-port too: the card reader and the scanner each need a port of their own"})
	}
	if c.Baud <= 0 {
		ps = append(ps, Problem{Setting: "baud", Value: strconv.Itoa(c.Baud), Want: "want a positive rate in bits per second, e.g. 9600 or 115200"})
	}
	if c.ScannerTerminator < scanner.CR || c.ScannerTerminator > scanner.CRLF {
		ps = append(ps, Problem{Setting: "scanner-terminator", Value: c.ScannerTerminator.String(), Want: "want cr, lf or crlf"})
	}
	return ps
}

// brokerProblems: an address the uplink could never connect to would
// leave a till that says it is ready and never syncs.
func (c Config) brokerProblems() []Problem {
	if c.Broker == "" {
		return nil
	}
	if err := CheckBroker(c.Broker); err != nil {
		return []Problem{{Setting: "broker", Value: c.Broker, Want: err.Error()}}
	}
	if tlsGiven(c) && !brokerTLS(c.Broker) {
		// mqttclient dials tcp:// in the clear whatever TLS it is given.
		return []Problem{{Setting: "broker", Value: c.Broker, Want: "is plain TCP, but --tls-ca, --tls-cert or --tls-key is given: write ssl://" + brokerHost(c.Broker) + " to use TLS"}}
	}
	return nil
}

// httpProblems: the address the pages and the API are served on and the
// names they answer to.
func (c Config) httpProblems() []Problem {
	var ps []Problem
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			ps = append(ps, Problem{Setting: "http", Value: c.HTTP, Want: "want host:port, e.g. 127.0.0.1:8080"})
		} else if c.OwnerPassword == "" && !loopback(c.HTTP) {
			ps = append(ps, Problem{Setting: "http", Value: c.HTTP, Want: "only loopback addresses are served without --owner-password (a hash made by tillguard password)"})
		}
	}
	for _, h := range c.HTTPHosts {
		if web.CheckHost(h) != nil {
			ps = append(ps, Problem{Setting: "http-host", Value: h, Want: hostWant})
		}
	}
	return ps
}

// hostWant is what --http-host takes.
const hostWant = "want a host name or address, with a port or without, e.g. till.shop.example or 192.168.1.20:8080"

// ledgerProblems: where the ledger lives and how it is kept.
func (c Config) ledgerProblems() []Problem {
	var ps []Problem
	if c.DataDir == "" {
		ps = append(ps, Problem{Setting: "data-dir", Want: "is empty: give the directory of the ledger and the till's key, e.g. /var/lib/tillguard"})
	}
	if c.Retention != 0 && c.Retention < MinRetention {
		ps = append(ps, Problem{Setting: "retention", Value: FormatDays(c.Retention),
			Want: fmt.Sprintf("want 0 (keep all) or at least %dd, the longest days-supply", MinRetention/(24*time.Hour))})
	}
	if c.ChainCheck < 0 {
		ps = append(ps, Problem{Setting: "chain-check", Value: c.ChainCheck.String(), Want: "want a positive period, e.g. 10m"})
	}
	return ps
}

// CheckBroker checks a broker address as mqttclient dials it: tcp:// in
// the clear or ssl:// (also written tls://, mqtt://, mqtts://), a host and
// a port. It says what to write instead, in plain words.
func CheckBroker(s string) error {
	eg := "tcp://127.0.0.1:1883"
	if !strings.Contains(s, "://") && s != "" {
		eg = "tcp://" + s
	}
	want := fmt.Errorf("want tcp://host:port or ssl://host:port (e.g. %s)", eg)
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return want
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	case "ws", "wss", "http", "https":
		return fmt.Errorf("%s:// is not supported: %w", u.Scheme, want)
	default:
		return want
	}
	if u.User != nil {
		// The address is logged; the till proves who it is with --tls-cert.
		return errors.New("no user name or password in the address, which is logged: the till proves who it is with --tls-cert")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Errorf("nothing after host:port: %w", want)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return fmt.Errorf("want a host and a port, e.g. %s://%s:%s", u.Scheme, cmp.Or(u.Hostname(), "127.0.0.1"), defaultPort(u.Scheme))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}

// defaultPort is MQTT's registered port for a scheme, for examples.
func defaultPort(scheme string) string {
	if brokerTLS(scheme + "://") {
		return "8883"
	}
	return "1883"
}

// brokerTLS reports whether a broker address is dialled over TLS.
func brokerTLS(broker string) bool {
	scheme, _, _ := strings.Cut(broker, "://")
	return scheme == "ssl" || scheme == "tls" || scheme == "mqtts"
}

// brokerHost is the host:port of a broker address.
func brokerHost(broker string) string {
	_, host, _ := strings.Cut(broker, "://")
	return host
}

func tlsGiven(c Config) bool { return c.TLSCA != "" || c.TLSCert != "" || c.TLSKey != "" }

// Preflight checks what Open will find wrong, before anything starts: the
// settings (Problems), and the files they name, read but not kept (the
// catalogue, the policy file, the owner's password, the TLS files, the
// bureau's key). It opens no ledger, binds no address and writes nothing.
// Warnings are what starts all the same but is likely a mistake.
func (c Config) Preflight() (problems []Problem, warnings []string) {
	problems = c.Problems()
	p, w := c.checkCatalog()
	problems, warnings = append(problems, p...), append(warnings, w...)
	problems = append(problems, c.fileProblems()...)
	warnings = append(warnings, c.warnings()...)
	return problems, warnings
}

// checkCatalog reads --catalog as Open will. No items is no mistake the
// loader sees, but it leaves every scan unknown: it is warned about.
func (c Config) checkCatalog() ([]Problem, []string) {
	const unknown = "the till treats every scan as unknown and puts nothing on insurance"
	until := ""
	if c.BureauKey != "" {
		until = ", until the bureau sends a policy bundle"
	}
	if c.Catalog == "" {
		if c.CatalogData != nil {
			return nil, nil // the demo's, embedded: read by Open alone
		}
		return nil, []string{"no --catalog: " + unknown + until}
	}
	f, err := os.Open(c.Catalog)
	if err != nil {
		return []Problem{{Setting: "catalog", Value: c.Catalog, Want: plainErr(err, c.Catalog)}}, nil
	}
	defer f.Close()
	cat, err := policy.LoadCatalog(f)
	if err != nil {
		return []Problem{{Setting: "catalog", Value: c.Catalog, Want: plainErr(err, c.Catalog)}}, nil
	}
	if cat.Len() == 0 {
		return nil, []string{"--catalog " + c.Catalog + " has no items: " + unknown + until}
	}
	return nil, nil
}

// fileProblems reads the other files Open reads, each as Open does.
func (c Config) fileProblems() []Problem {
	var ps []Problem
	if c.Policy != "" {
		if err := checkPolicyFile(c.Policy); err != nil {
			ps = append(ps, Problem{Setting: "policy", Value: c.Policy, Want: plainErr(err, c.Policy)})
		}
	}
	if c.OwnerPassword != "" {
		if _, err := loadOwnerPassword(c.OwnerPassword); err != nil {
			ps = append(ps, Problem{Setting: "owner-password", Value: c.OwnerPassword, Want: plainErr(err, c.OwnerPassword)})
		}
	}
	if _, err := mqttclient.TLSFiles(c.TLSCA, c.TLSCert, c.TLSKey); err != nil {
		ps = append(ps, Problem{Want: plainErr(err, "")})
	}
	if c.BureauKey != "" {
		if _, err := parseBureauKey(c.BureauKey); err != nil {
			ps = append(ps, Problem{Setting: "bureau-key", Value: c.BureauKey, Want: strings.TrimPrefix(plainErr(err, c.BureauKey), "--bureau-key: ")})
		}
	}
	return ps
}

func checkPolicyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = policy.LoadPolicy(f)
	return err
}

// warnings are settings that start but are likely mistakes.
func (c Config) warnings() []string {
	var ws []string
	if c.Broker == "" && tlsGiven(c) {
		ws = append(ws, "--tls-ca, --tls-cert or --tls-key without --broker: unused, the till runs offline")
	}
	if c.Broker == "" && c.BureauKey != "" {
		ws = append(ws, "--bureau-key without --broker: unused, no bundle or ack arrives offline")
	}
	return ws
}

// plainErr says an error without the names of the packages it passed
// through, and a missing file in fewer words: just "no such file" when it
// is the setting's own value.
func plainErr(err error, value string) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) && pe.Path == value {
		return "no such file"
	}
	s := err.Error()
	for _, pkg := range []string{"agent: ", "policy: ", "keys: ", "mqttclient: ", "password: "} {
		s = strings.ReplaceAll(s, pkg, "")
	}
	return strings.ReplaceAll(s, "no such file or directory", "no such file")
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
		if web.CheckHost(h) != nil {
			if strings.Contains(s, ",") {
				return fmt.Errorf("%s: %s", ShowValue(h), hostWant)
			}
			return errors.New(hostWant)
		}
		*f.L = append(*f.L, h)
	}
	return nil
}

// loopback reports whether a listen address stays on this machine: serving
// the till's API to the shop's network needs the owner's password.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
			return 0, fmt.Errorf("want whole days like 90d, at most %dd", maxDays)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("want days like 90d or a duration like 36h")
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
	return 0, errors.New("want a size like 64MiB, 1G or 1048576")
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
