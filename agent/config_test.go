package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillguard/tillguard/agent"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"64MiB", 64 << 20, true},
		{"64M", 64 << 20, true},
		{"64mb", 64 << 20, true},
		{"1G", 1 << 30, true},
		{"512k", 512 << 10, true},
		{"10B", 10, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"64i", 0, false},
		{"1T", 0, false},
		{"99999999999999999999G", 0, false},
		{"17179869184G", 0, false}, // 2^64: overflows
	}
	for _, tc := range tests {
		got, err := agent.ParseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseDays(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"36h", 36 * time.Hour, true},
		{"2160h", 90 * 24 * time.Hour, true},
		{"", 0, false},
		{"d", 0, false},
		{"-5d", 0, false},
		{"-1h", 0, false},
		{"1.5d", 0, false},
		{"90", 0, false},
	}
	for _, tc := range tests {
		got, err := agent.ParseDays(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestConfigCheck_retention(t *testing.T) {
	base := agent.Config{Pharmacy: "H1", Till: "T1", Region: "330100", Baud: 9600, DataDir: "d"}
	for _, tc := range []struct {
		retention time.Duration
		ok        bool
	}{{0, true}, {agent.DefaultRetention, true}, {agent.MinRetention, true}, {30 * 24 * time.Hour, false}} {
		c := base
		c.Retention = tc.retention
		if err := c.Check(); (err == nil) != tc.ok {
			t.Errorf("Check with retention %v = %v, want ok %v", tc.retention, err, tc.ok)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"64MiB", "1G", "0", "512k", "x", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := agent.ParseBytes(s)
		if err != nil {
			return
		}
		// Whatever parses formats back to the same size.
		back, err := agent.ParseBytes(agent.FormatBytes(n))
		if err != nil || back != n {
			t.Fatalf("%q → %d → %q → %d, %v", s, n, agent.FormatBytes(n), back, err)
		}
	})
}

func FuzzParseDays(f *testing.F) {
	for _, s := range []string{"90d", "36h", "0", "1h30m", "d", "-1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := agent.ParseDays(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("%q → negative %v", s, d)
		}
		back, err := agent.ParseDays(agent.FormatDays(d))
		if err != nil || back != d {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, agent.FormatDays(d), back, err)
		}
	})
}

func TestHostsFlag(t *testing.T) {
	var hosts []string
	f := agent.HostsFlag{L: &hosts}
	for _, s := range []string{"till.shop.example", " pos.shop.example:8443 , 192.168.1.20"} {
		if err := f.Set(s); err != nil {
			t.Fatalf("Set(%q): %v", s, err)
		}
	}
	if got := f.String(); got != "till.shop.example,pos.shop.example:8443,192.168.1.20" {
		t.Errorf("hosts = %q", got)
	}
	for _, bad := range []string{"till/x", "a b", "till:port"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) took it", bad)
		}
	}
	cfg := agent.Config{Pharmacy: "H1", Till: "T1", Region: "330100", Baud: 9600, DataDir: "d",
		HTTPHosts: []string{"ok.example", "bad host"}, ChainCheck: -time.Second}
	err := cfg.Check()
	if err == nil || !strings.Contains(err.Error(), "--http-host") || !strings.Contains(err.Error(), "--chain-check") {
		t.Errorf("Check = %v, want the bad host and the negative period", err)
	}
}

// goodConfig is a configuration with no problem.
func goodConfig() agent.Config {
	return agent.Config{Pharmacy: "H33010200001", Till: "T01", Region: "330100", Baud: 9600, DataDir: "d", HTTP: "127.0.0.1:0"}
}

// TestConfigProblems_allAtOnce: every bad setting is a problem of its
// own, named by its flag, in one list.
func TestConfigProblems_allAtOnce(t *testing.T) {
	c := agent.Config{Region: "12", Baud: -1, Broker: "127.0.0.1:1883", CardPort: "usb:12", HTTP: "0.0.0.0:8080",
		Retention: 24 * time.Hour, ChainCheck: -time.Second}
	want := []string{
		"--pharmacy is required: the pharmacy's national code (医保定点编码), e.g. H33010200001",
		"--till is required",
		"--region 12: want the 6-digit administrative region code",
		"--card-port usb:12: want a path",
		"--baud -1: want a positive rate",
		"--broker 127.0.0.1:1883: want tcp://host:port or ssl://host:port (e.g. tcp://127.0.0.1:1883)",
		"--http 0.0.0.0:8080: only loopback addresses",
		"--data-dir is empty",
		"--retention 1d: want 0 (keep all) or at least 84d",
		"--chain-check -1s: want a positive period",
	}
	ps := c.Problems()
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(ps), len(want), ps)
	}
	err := c.Check()
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check = %v\nwant it to contain %q", err, w)
		}
	}
	if err := goodConfig().Check(); err != nil {
		t.Errorf("a good config: %v", err)
	}
}

func TestCheckBroker(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tcp://127.0.0.1:1883", ""},
		{"ssl://broker.bureau.example:8883", ""},
		{"mqtts://[::1]:8883", ""},
		{"127.0.0.1:1883", "want tcp://host:port or ssl://host:port (e.g. tcp://127.0.0.1:1883)"},
		{"localhost:1883", "(e.g. tcp://localhost:1883)"},
		{"broker.example", "(e.g. tcp://broker.example)"},
		{"ws://broker:8080", "ws:// is not supported"},
		{"tcp://broker", "want a host and a port, e.g. tcp://broker:1883"},
		{"ssl://broker", "e.g. ssl://broker:8883"},
		{"tcp://:1883", "want a host and a port"},
		{"tcp://broker:0", `port "0": want 1 to 65535`},
		{"tcp://broker:99999", "want 1 to 65535"},
		{"tcp://user:secret@broker:1883", "no user name or password"},
		{"tcp://broker:1883/x", "nothing after host:port"},
	} {
		err := agent.CheckBroker(tc.in)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckBroker(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	c := goodConfig()
	c.Broker, c.TLSCA = "tcp://broker:1883", "ca.pem"
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "write ssl://broker:1883 to use TLS") {
		t.Errorf("TLS files with tcp://: %v", err)
	}
}

// TestPreflight_catalog: the catalogue is read before the start; one that
// loads with no items, or none at all, is a warning, one that is not UTF-8
// a problem saying how to save it.
func TestPreflight_catalog(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("barcode,name,category,covered\n6903148091050,海飞丝洗发水,daily_goods,0\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, catalog    string
		problem, warning string
	}{
		{"good", "../testdata/catalog.csv", "", ""},
		{"none", "", "", "no --catalog: the till treats every scan as unknown"},
		{"empty", write("empty.csv", "barcode,name,category,covered\n"), "", "has no items: the till treats every scan as unknown"},
		{"missing", filepath.Join(dir, "nope.csv"), "--catalog " + filepath.Join(dir, "nope.csv") + ": no such file", ""},
		{"GBK", write("gbk.csv", gbk), "line 2: not valid UTF-8: 目录文件是 GBK/GB18030 编码", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConfig()
			c.Catalog = tc.catalog
			ps, ws := c.Preflight()
			if got := fmt.Sprint(ps); tc.problem == "" && len(ps) != 0 || tc.problem != "" && (len(ps) != 1 || !strings.Contains(got, tc.problem)) {
				t.Errorf("problems %v, want %q", ps, tc.problem)
			}
			if got := strings.Join(ws, "\n"); tc.warning == "" && len(ws) != 0 || tc.warning != "" && !strings.Contains(got, tc.warning) {
				t.Errorf("warnings %q, want %q", ws, tc.warning)
			}
		})
	}
}

// TestPreflight_files: each file a setting names is read before the
// start, and every one that fails is its own problem.
func TestPreflight_files(t *testing.T) {
	dir := t.TempDir()
	c := goodConfig()
	c.Catalog = "../testdata/catalog.csv"
	c.Policy = filepath.Join(dir, "policy.json")
	c.OwnerPassword = filepath.Join(dir, "owner.hash")
	c.BureauKey = "not-a-key"
	c.TLSCert = filepath.Join(dir, "till.pem")
	c.Broker = "ssl://broker:8883"
	ps, _ := c.Preflight()
	got := fmt.Sprint(ps)
	for _, want := range []string{
		"--policy " + c.Policy + ": no such file",
		"--owner-password " + c.OwnerPassword + ": no such file",
		"--bureau-key not-a-key:",
		"--tls-cert and --tls-key go together",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %v\nwant %q", got, want)
		}
	}
	if len(ps) != 4 {
		t.Errorf("%d problems, want 4: %v", len(ps), got)
	}
}
