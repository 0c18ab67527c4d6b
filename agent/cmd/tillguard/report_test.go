package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
)

// tillWithBlock makes a till data dir whose ledger holds one blocked
// shampoo, appended now, and returns it with the till's key.
func tillWithBlock(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	key, err := keys.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	led := openLedger(t, dir, key)
	_, err = led.Append(&feed.Record{
		Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindBlocked,
		Card:  &feed.Card{Type: feed.CardSSC, No: "A12345678", Name: "王**"},
		Lines: []feed.Line{{Barcode: "6903148091050", Name: "海飞丝去屑洗发水", Qty: 1, Decision: feed.Block, Rule: "non_drug", ReasonZH: "非药品"}},
	})
	if cerr := led.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func openLedger(t *testing.T, dir string, key ed25519.PrivateKey) *ledger.Ledger {
	t.Helper()
	led, err := ledger.Open(filepath.Join(dir, "ledger.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return led
}

func TestReport_command(t *testing.T) {
	dir, _ := tillWithBlock(t)
	today := time.Now().Format("2006-01-02")
	out := filepath.Join(t.TempDir(), "report.html")
	noKey := t.TempDir() // a ledger whose key has gone missing
	if err := os.WriteFile(filepath.Join(noKey, "ledger.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string // in stdout and stderr, or the --out file
		outFile  bool
	}{
		{"csv today", []string{"--format", "csv"}, 0, []string{
			"rule,non_drug,非药品不得医保支付,Non-drug goods on insurance,1,0,0,1",
			"period,H33010200001,T01," + today + "," + today,
		}, false},
		{"html to a file", []string{"--out", out}, 0, []string{`<tr class="" data-rule="non_drug">`}, true},
		{"a period without it", []string{"--from", "2020-01-01", "--to", "2020-01-31", "--format", "csv"}, 0, []string{"rule,non_drug,非药品不得医保支付,Non-drug goods on insurance,0,0,0,0"}, false},
		{"bad format", []string{"--format", "pdf"}, 2, []string{`--format "pdf"`}, false},
		{"bad period", []string{"--from", "2020-02-01", "--to", "2020-01-01"}, 2, []string{"before"}, false},
		{"no ledger", []string{"--data-dir", t.TempDir()}, 1, []string{"no ledger"}, false},
		{"no key", []string{"--data-dir", noKey}, 1, []string{"the till's key"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"report", "--data-dir", dir}, tt.args...)
			code := run(context.Background(), args, nil, &stdout, &stderr)
			got := stdout.String() + stderr.String()
			if tt.outFile {
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if code != tt.code {
				t.Fatalf("tillguard %v = %d %q, want %d", args, code, got, tt.code)
			}
			for _, want := range tt.contains {
				if !strings.Contains(got, want) {
					t.Errorf("tillguard %v: %q does not contain %q", args, got, want)
				}
			}
			if strings.Contains(got, "A12345678") {
				t.Error("the report shows the card number unmasked")
			}
		})
	}
	// A report reads: it never makes a signing key.
	if _, err := os.Stat(filepath.Join(noKey, "till.key")); err == nil {
		t.Error("report created a till key beside a ledger that had none")
	}
}

// TestReport_tillRunning: while the till holds the ledger, the command
// says where the report is instead of waiting.
func TestReport_tillRunning(t *testing.T) {
	dir, key := tillWithBlock(t)
	led := openLedger(t, dir, key)
	defer led.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"report", "--data-dir", dir}, nil, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "/report") {
		t.Errorf("report on a running till = %d %q, want 1 pointing at /report", code, stderr.String())
	}
}

func TestPassword_command(t *testing.T) {
	out := filepath.Join(t.TempDir(), "owner.hash")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"password", "--out", out}, strings.NewReader("店主的密码 2026\n"), &stdout, &stderr); code != 0 {
		t.Fatalf("password = %d %s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("hash file mode %v, want 0600", fi.Mode().Perm())
	}
	g, err := password.NewGuard(bytes.TrimSpace(b), nil)
	if ok, _ := g.Check("127.0.0.1:1", "店主的密码 2026"); err != nil || !ok {
		t.Errorf("hash %q: NewGuard %v, or the password does not check", b, err)
	} else if ok, _ := g.Check("127.0.0.1:1", "店主的密码"); ok {
		t.Errorf("hash %q checks a wrong password", b)
	}
	if code := run(context.Background(), []string{"password"}, strings.NewReader("short\n"), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "at least 8") {
		t.Errorf("short password = %d %q, want refused", code, stderr.String())
	}
	// With the hash, --http beyond loopback passes the config check, and
	// the check reads the hash file before anything starts.
	stderr.Reset()
	args := []string{"run", "--pharmacy", "H1", "--till", "T1", "--data-dir", t.TempDir(), "--http", "0.0.0.0:0", "--owner-password", out + ".missing"}
	if code := run(context.Background(), args, nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--owner-password "+out+".missing: no such file") || strings.Contains(stderr.String(), "only loopback") {
		t.Errorf("run with --owner-password = %d %q, want the missing hash file reported", code, stderr.String())
	}
}
