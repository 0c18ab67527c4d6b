package mqttclient

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tillguard/tillguard/internal/brokertest"
)

func TestTLSFiles(t *testing.T) {
	pki := brokertest.NewPKI(t)
	cert, key := pki.Client(t, "P1/T1")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	tests := []struct {
		name          string
		ca, cert, key string
		ok, nilConfig bool
	}{
		{"none: plain TCP", "", "", "", true, true},
		{"all three", pki.CAFile, cert, key, true, false},
		{"CA only", pki.CAFile, "", "", true, false},
		{"cert without key", pki.CAFile, cert, "", false, true},
		{"key without cert", pki.CAFile, "", key, false, true},
		{"missing CA", filepath.Join(t.TempDir(), "none"), "", "", false, true},
		{"CA not PEM", notPEM, "", "", false, true},
		{"cert and key swapped", pki.CAFile, key, cert, false, true},
	}
	for _, tt := range tests {
		cfg, err := TLSFiles(tt.ca, tt.cert, tt.key)
		if tt.ok != (err == nil) || tt.nilConfig != (cfg == nil) {
			t.Errorf("%s: TLSFiles = %v, %v", tt.name, cfg, err)
		}
		if tt.name == "all three" && (len(cfg.Certificates) != 1 || cfg.RootCAs == nil) {
			t.Errorf("%s: config %+v", tt.name, cfg)
		}
	}
}
