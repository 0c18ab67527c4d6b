package agent

import (
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/ledger"
)

func rss(t *testing.T) string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, "; ")
}

func TestZZRSS(t *testing.T) {
	dir := "/tmp/rssled"
	if _, err := os.Stat(filepath.Join(dir, "ledger.db")); err != nil {
		os.MkdirAll(dir, 0o700)
		l := testLedger(t, dir, 100_000)
		l.Close()
		t.Log("built; run again")
		return
	}
	seed := sha256.Sum256([]byte("chain"))
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ed25519.NewKeyFromSeed(seed[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	runtime.GC()
	t.Log("before:", rss(t))
	c := newTestCheck(l)
	c.run()
	t.Log("after walk:", rss(t), c.status())
}
