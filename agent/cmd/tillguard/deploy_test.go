package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/drivers/serialport"
)

// The sample configurations in deploy/ are what a till and a bureau are
// installed with: every setting must be a flag of its command and parse.
func TestDeploy_sampleConfigsParse(t *testing.T) {
	runFS, cfg, _ := runFlags()
	bureauFS, _ := bureauFlags()
	for _, tt := range []struct {
		file string
		fs   *flag.FlagSet
		want map[string]string
	}{
		{"tillguard.conf", runFS, map[string]string{"pharmacy": "H33010200001", "till": "T01", "region": "330100", "retention": "90d", "min-free": "64MiB"}},
		{"bureau.conf", bureauFS, map[string]string{"enroll": "/etc/tillguard/tills", "shared": "true", "gap-grace": "10m0s",
			"store": "postgres://tillguard@db.bureau.example:5432/tillguard?sslmode=verify-full"}},
	} {
		f, err := os.Open(filepath.Join("..", "..", "..", "deploy", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		err = applyConfig(tt.fs, f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		for name, want := range tt.want {
			if got := tt.fs.Lookup(name).Value.String(); got != want {
				t.Errorf("%s: %s = %q, want %q", tt.file, name, got, want)
			}
		}
	}
	for _, port := range []string{cfg.CardPort, cfg.ScannerPort} {
		if _, err := serialport.ParseSpec(port); err != nil {
			t.Errorf("tillguard.conf: port %q: %v", port, err)
		}
	}
}

// The systemd units start the commands with the sample configurations and
// pass systemd's own check where systemd-analyze is installed.
func TestDeploy_systemdUnits(t *testing.T) {
	for unit, conf := range map[string]string{
		"tillguard.service":        "run --config /etc/tillguard/tillguard.conf",
		"tillguard-bureau.service": "bureau --config /etc/tillguard/bureau.conf",
	} {
		path := filepath.Join("..", "..", "..", "deploy", unit)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "ExecStart=/usr/local/bin/tillguard "+conf+"\n") {
			t.Errorf("%s: ExecStart does not run tillguard %s", unit, conf)
		}
		for _, must := range []string{"Restart=always", "NoNewPrivileges=yes", "ProtectSystem=strict"} {
			if !strings.Contains(string(b), must+"\n") {
				t.Errorf("%s: missing %s", unit, must)
			}
		}
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			continue
		}
		out, _ := exec.Command(sa, "verify", path).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			// The binary is not installed where the unit expects it here.
			if line != "" && !strings.Contains(line, "is not executable") {
				t.Errorf("systemd-analyze verify %s: %s", unit, line)
			}
		}
	}
}
