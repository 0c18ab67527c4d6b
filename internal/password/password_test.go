package password_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tillguard/tillguard/internal/password"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func guard(t *testing.T, pw string) (*password.Guard, *clock) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	g, err := password.NewGuard(h, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return g, c
}

func TestHash(t *testing.T) {
	for _, pw := range []string{"", "seven77", strings.Repeat("x", 73)} {
		if _, err := password.Hash(pw); !errors.Is(err, password.ErrUnusable) {
			t.Errorf("Hash(%d characters): %v, want ErrUnusable", len(pw), err)
		}
	}
	h, err := password.Hash("八个汉字的密码吧") // eight characters, more bytes
	if err != nil {
		t.Fatal(err)
	}
	g, err := password.NewGuard(h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.Check("127.0.0.1:1", "八个汉字的密码吧"); !ok {
		t.Error("the password does not check")
	}
	if _, err := password.NewGuard([]byte("plain"), nil); err == nil {
		t.Error("NewGuard accepts a password that is no hash")
	}
}

func TestGuard_lockout(t *testing.T) {
	g, c := guard(t, "right one")
	const a = "192.0.2.1:1000"
	if ok, wait := g.Check(a, "right one"); !ok || wait != 0 {
		t.Fatalf("right password: %v %v", ok, wait)
	}
	for i := range password.MaxFailures {
		if ok, wait := g.Check(a, "wrong"+strconv.Itoa(i)); ok || wait != 0 {
			t.Fatalf("guess %d: %v %v, want a plain refusal", i, ok, wait)
		}
	}
	if ok, wait := g.Check(a, "one more"); ok || wait != password.Lockout {
		t.Fatalf("a guess after %d failures: %v %v, want locked out for %v", password.MaxFailures, ok, wait, password.Lockout)
	}
	c.Add(password.Lockout / 2)
	if ok, wait := g.Check(a, "right one"); ok || wait != password.Lockout/2 {
		t.Fatalf("half-way: %v %v", ok, wait)
	}
	if ok, _ := g.Check("192.0.2.2:1000", "right one"); !ok {
		t.Fatal("another client is locked out too")
	}
	c.Add(password.Lockout / 2)
	// After the lockout the client has its tries again.
	for i := range password.MaxFailures {
		if _, wait := g.Check(a, "again"+strconv.Itoa(i)); wait != 0 {
			t.Fatalf("try %d after the lockout: locked", i)
		}
	}
	if _, wait := g.Check(a, "again"); wait == 0 {
		t.Fatal("not locked again")
	}
}

func TestGuard_successForgetsTypos(t *testing.T) {
	g, c := guard(t, "right one")
	const a = "192.0.2.1:1000"
	for range password.MaxFailures - 1 {
		g.Check(a, "typo")
	}
	if ok, _ := g.Check(a, "right one"); !ok {
		t.Fatal("right password refused")
	}
	for range password.MaxFailures {
		if _, wait := g.Check(a, "typo"); wait != 0 {
			t.Fatal("typos before a success still count")
		}
	}
	// Failures long ago are forgotten.
	c.Add(password.Forget + time.Second)
	if _, wait := g.Check(a, "typo"); wait != 0 {
		t.Fatal("old failures still count")
	}
}

// TestGuard_concurrentGuesses: many guesses at once from one client get
// no more than MaxFailures checks.
func TestGuard_concurrentGuesses(t *testing.T) {
	g, _ := guard(t, "right one")
	var wg sync.WaitGroup
	var mu sync.Mutex
	checked := 0
	for i := range 50 {
		wg.Go(func() {
			if _, wait := g.Check("192.0.2.9:1", "guess"+strconv.Itoa(i)); wait == 0 {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if checked > password.MaxFailures {
		t.Fatalf("%d guesses checked, want at most %d", checked, password.MaxFailures)
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:80":               "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":   "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:1":        "2001:db8:1:3::/64",
		"not an address":             "not an address",
		"[fe80::1%eth0]:1":           "fe80::1%eth0",
	} {
		if got := password.ClientKey(addr); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.255.0.1:1": true, "[::1]:1": true,
		"10.0.0.1:1": false, "[::2]:1": false, "127.0.0.1": false, "": false, "localhost:80": false,
	} {
		if got := password.Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v", addr, got)
		}
	}
}
