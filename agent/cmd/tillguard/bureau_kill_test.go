package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/internal/tilltest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/uplink"
)

// childArgs, in the environment, makes the test binary run the tillguard
// command with these arguments (joined by 0x1f) instead of the tests: a
// receiver the test can SIGKILL.
const childArgs = "TILLGUARD_TEST_COMMAND"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgs); args != "" {
		os.Exit(run(context.Background(), strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr))
	}
	pgtest.Main(m)
}

// startReceiver runs `tillguard bureau` as a child process and returns it
// once it consumes.
func startReceiver(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(append([]string{"bureau"}, args...), "\x1f"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = tilltest.LogOnFailure(t, args[len(args)-1]+": ")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "bureau: ") {
				close(ready)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("the receiver did not start")
	}
	return cmd
}

// TestBureau_receiverKilled: three `tillguard bureau` processes share one
// PostgreSQL store and a shared subscription; one is SIGKILLed in the
// middle of the tills' backlogs and started again. Every record is stored
// once, every chain holds, and every outbox drains.
func TestBureau_receiverKilled(t *testing.T) {
	const tills, backlog = 20, 500
	br := brokertest.Start(t)
	dsn := pgtest.NewDB(t)
	enroll := t.TempDir()
	var ts []*tilltest.Till
	for i := range tills {
		tl := tilltest.New(t, fmt.Sprintf("H%011d", i+1), "T1")
		tl.Backlog(t, backlog)
		if err := keys.Enroll(enroll, tl.Pharmacy, tl.Name, tl.Pub()); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tl)
	}
	args := func(i int) []string {
		return []string{"--broker", br.URL(), "--store", dsn, "--enroll", enroll, "--shared",
			"--data-dir", filepath.Join(t.TempDir(), "unused"), "--http", "127.0.0.1:0", "--client-id", fmt.Sprintf("bureau-%d", i)}
	}
	recv := make([]*exec.Cmd, 3)
	for i := range recv {
		recv[i] = startReceiver(t, args(i)...)
	}
	for i, tl := range ts {
		tilltest.StartUplink(t, tl, br.URL(), fmt.Sprintf("till-%d", i+1), &uplink.Opts{AckTimeout: time.Second})
	}
	acked := func(n int) func() bool {
		return func() bool {
			var sum uint64
			for _, tl := range ts {
				sum += tl.L.Acked()
			}
			return sum >= uint64(n)
		}
	}
	tilltest.Until(t, time.Minute, "a fifth acknowledged", acked(tills*backlog/5))
	if err := recv[1].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	recv[1].Wait()
	tilltest.Until(t, 2*time.Minute, "half acknowledged without it", acked(tills*backlog/2))
	recv[1] = startReceiver(t, args(1)...)
	tilltest.Until(t, 5*time.Minute, "every outbox drained", func() bool {
		for _, tl := range ts {
			if !tl.Drained(t)() {
				return false
			}
		}
		return true
	})
	st, err := pgarchive.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tl := range ts {
		tilltest.SameRecords(t, tl, st)
	}
	list, err := st.Tills(context.Background(), archive.TillQuery{Limit: archive.MaxLimit})
	if err != nil || len(list) != tills {
		t.Fatalf("tills %d (%v), want %d", len(list), err, tills)
	}
	for _, ti := range list {
		if ti.Count != backlog || ti.Waiting != 0 {
			t.Errorf("%s/%s: %d stored, %d waiting", ti.Pharmacy, ti.Till, ti.Count, ti.Waiting)
		}
	}
	tilltest.NoAlarms(t, st)
}
