package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestQuarantine_neverOverwrites: two files quarantined in one second both
// keep their bytes.
func TestQuarantine_neverOverwrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	now := time.Date(2026, 11, 23, 11, 30, 0, 0, time.FixedZone("CST", 8*3600))
	var got []string
	for _, body := range []string{"first", "second"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := quarantine(path, now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
		if b, err := os.ReadFile(q); err != nil || string(b) != body {
			t.Errorf("%s = %q, %v: want %q", q, b, err, body)
		}
	}
	if want := path + ".corrupt-20261123T033000Z"; got[0] != want {
		t.Errorf("first quarantined as %s, want %s (UTC)", got[0], want)
	}
	if got[0] == got[1] {
		t.Errorf("both quarantined as %s", got[0])
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("ledger.db after quarantine: %v, want none", err)
	}
}
