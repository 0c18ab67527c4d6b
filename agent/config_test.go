package agent_test

import (
	"strings"
	"testing"
	"time"

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
