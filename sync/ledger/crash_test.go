package ledger

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
)

// Crash tests are kept apart from the unit tests: they re-execute the test
// binary and SIGKILL it (README, "Durability": every confirmed sale survives a crash
// at any instant).

// crashEnv names the ledger file the child appends to; set only in the child.
const crashEnv = "TILLGUARD_LEDGER_CRASH_CHILD"

// TestLedger_crashChild is the child of TestCrash_killedAppenderLosesNothing:
// it appends until killed and prints "seq N HASH" once each Append returned.
func TestLedger_crashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrash_killedAppenderLosesNothing")
	}
	// Every start compacts and every 50th append prunes, so kills also
	// land in those.
	if _, err := Compact(path, 0, nil); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	l, err := Open(path, testKey("crash"), nil)
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("ready %d\n", l.Head())
	for i := 0; ; i++ {
		r := newRec(feed.KindSale)
		// Varying sizes so commits touch different numbers of pages.
		r.Reason = strings.Repeat("r", i*37%3000)
		e, err := l.Append(r)
		if err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(2)
		}
		// Written only now that the record is on disk.
		fmt.Printf("seq %d %s\n", e.Seq, feed.Hash(e.Rec))
		if e.Seq%7 == 0 {
			if err := l.Ack(e.Seq - 5); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(2)
			}
		}
		if e.Seq%50 == 0 {
			if _, err := l.Prune(time.Now().Add(-time.Duration(rand.IntN(50)) * time.Millisecond)); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(2)
			}
		}
	}
}

func TestCrash_killedAppenderLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	confirmed := map[uint64]string{}
	for round := range 6 {
		killAfter := rng.IntN(200) // 0: kill right after opening
		got := runAndKill(t, path, killAfter)
		for seq, h := range got {
			confirmed[seq] = h
		}
		l, err := Open(path, testKey("crash"), nil)
		if err != nil {
			t.Fatalf("round %d (killed after %d): Open: %v", round, killAfter, err)
		}
		if err := l.Verify(); err != nil {
			l.Close()
			t.Fatalf("round %d: Verify: %v", round, err)
		}
		first := l.First()
		for seq, h := range confirmed {
			if seq < first {
				if seq > l.Acked() {
					l.Close()
					t.Fatalf("round %d: record %d pruned but not acknowledged (acked %d)", round, seq, l.Acked())
				}
				continue // acknowledged and pruned
			}
			e, err := l.Get(seq)
			if err != nil || feed.Hash(e.Rec) != h {
				l.Close()
				t.Fatalf("round %d: confirmed record %d lost or changed: %v", round, seq, err)
			}
		}
		t.Logf("round %d: killed after %d confirmed; first %d, head %d, acked %d", round, len(got), first, l.Head(), l.Acked())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts the child on path, SIGKILLs it once it has confirmed
// killAfter appends, and returns every seq it confirmed with its hash.
func runAndKill(t *testing.T, path string, killAfter int) map[uint64]string {
	t.Helper()
	// The timeout ends an orphaned child should this test die first.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLedger_crashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed, waited := false, false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	defer func() {
		if !waited {
			kill()
			_ = cmd.Wait()
		}
	}()
	got := map[uint64]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "ready":
			if killAfter == 0 {
				kill()
			}
		case len(f) == 3 && f[0] == "seq":
			seq, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			got[seq] = f[2]
			if len(got) >= killAfter {
				kill()
			}
		case len(f) > 0 && f[0] == "error":
			t.Fatalf("child: %s", line)
		}
	}
	// Lines written before the kill are still read: those are confirmed too.
	err = cmd.Wait()
	waited = true
	if !killed {
		t.Fatalf("child exited by itself: %v\n%s", err, stderr.Bytes())
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL\n%s", err, stderr.Bytes())
	}
	return got
}
