package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

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
	HTTP        string
	Cashier     string

	Log *slog.Logger
	Now func() time.Time
}

// Defaults of SPEC.md §2.
const (
	DefaultDataDir = "./tillguard-data"
	DefaultBaud    = 9600
	DefaultRegion  = "000000"
	DefaultHTTP    = "127.0.0.1:8080"
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
	if !validRegion(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q: want a 6-digit region code", c.Region))
	}
	if c.Baud <= 0 {
		errs = append(errs, fmt.Errorf("--baud %d: want a positive rate", c.Baud))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	if c.HTTP != "" {
		if err := loopbackOnly(c.HTTP); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: config: %w", err)
	}
	return nil
}

func validRegion(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// loopbackOnly refuses listen addresses beyond this machine: serving the
// till's API to the shop's network needs the owner's password, which this
// build does not have yet.
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
	return fmt.Errorf("--http %q: only loopback addresses are served (an owner password for other addresses is not supported yet)", addr)
}
