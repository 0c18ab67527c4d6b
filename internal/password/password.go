// Package password holds the one credential scheme of tillguard's web
// interfaces: a bcrypt hash of a password given over HTTP basic auth. The
// till's dashboard (agent/web, the owner's password) and the bureau's
// console (sync/console, the analysts' password) both use it; it lives
// under internal/ so that sync need not import agent.
//
// A Guard checks a password and counts failures per client address: after
// MaxFailures wrong passwords a client is locked out for Lockout, so a
// guesser gets a few tries a minute, and bcrypt's ~50 ms a check cannot be
// turned into a way to load the machine.
package password

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// MinLen is the shortest password accepted, in characters.
const MinLen = 8

// ErrUnusable: a password that cannot be set (too short, or longer than
// bcrypt's 72 bytes).
var ErrUnusable = errors.New("password: unusable password")

// Hash hashes a password for storage (bcrypt, default cost).
func Hash(pw string) ([]byte, error) {
	if utf8.RuneCountInString(pw) < MinLen {
		return nil, fmt.Errorf("%w: want at least %d characters", ErrUnusable, MinLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		// bcrypt refuses more than 72 bytes rather than cutting them off.
		return nil, fmt.Errorf("%w: %w", ErrUnusable, err)
	}
	return h, nil
}

// Defaults of a Guard.
const (
	MaxFailures = 5                // wrong passwords before a lockout
	Lockout     = time.Minute      // how long a lockout lasts
	Forget      = 15 * time.Minute // failures older than this no longer count
)

// maxGood bounds the cache of verified passwords: there is one account.
const maxGood = 8

// maxClients bounds the failure table, so a flood from many addresses
// cannot grow it without end; the stalest entry makes room.
const maxClients = 4096

// Guard checks passwords against one hash and locks out clients that keep
// giving wrong ones. It is safe for concurrent use.
type Guard struct {
	hash []byte
	now  func() time.Time

	mu      sync.Mutex
	good    map[[32]byte]bool // passwords already verified: bcrypt is slow on purpose
	clients map[string]*client
}

type client struct {
	failures int
	last     time.Time // last failure, or start of a check under way
	until    time.Time // locked out until
}

// NewGuard checks against a hash made by Hash (or any bcrypt hash). now
// may be nil (time.Now).
func NewGuard(hash []byte, now func() time.Time) (*Guard, error) {
	if _, err := bcrypt.Cost(hash); err != nil {
		return nil, fmt.Errorf("password: hash: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Guard{hash: hash, now: now, good: map[[32]byte]bool{}, clients: map[string]*client{}}, nil
}

// Check reports whether pw is the password, for the client at addr (a
// net/http RemoteAddr, "host:port"). A locked-out client gets false and
// how long it must wait, whatever it sends: a correct guess during a
// lockout tells the guesser nothing.
func (g *Guard) Check(addr, pw string) (ok bool, wait time.Duration) {
	k := sha256.Sum256([]byte(pw))
	key := ClientKey(addr)
	now := g.now()

	g.mu.Lock()
	c := g.clients[key]
	if c != nil && now.Before(c.until) {
		g.mu.Unlock()
		return false, c.until.Sub(now)
	}
	if g.good[k] {
		g.mu.Unlock()
		return true, 0
	}
	// The attempt counts before bcrypt runs, so that many checks at once
	// from one client cannot each get a guess in before the lockout.
	c = g.fail(key, now)
	if c.failures > MaxFailures {
		// After the lockout the client has MaxFailures tries again: a
		// few guesses a minute at most.
		c.failures, c.until = 0, now.Add(Lockout)
		g.mu.Unlock()
		return false, Lockout
	}
	g.mu.Unlock()

	if bcrypt.CompareHashAndPassword(g.hash, []byte(pw)) != nil {
		return false, 0
	}
	g.mu.Lock()
	// Whoever knows the password needs no guesses: its typos are
	// forgotten, unless a lockout began meanwhile.
	if c := g.clients[key]; c != nil && !now.Before(c.until) {
		delete(g.clients, key)
	}
	if len(g.good) >= maxGood {
		clear(g.good)
	}
	g.good[k] = true
	g.mu.Unlock()
	return true, 0
}

// fail counts one attempt for key; g.mu is held.
func (g *Guard) fail(key string, now time.Time) *client {
	c := g.clients[key]
	if c != nil && now.Sub(c.last) > Forget {
		c.failures = 0
	}
	if c == nil {
		if len(g.clients) >= maxClients {
			g.evict(now)
		}
		c = &client{}
		g.clients[key] = c
	}
	c.failures++
	c.last = now
	return c
}

// evict drops every forgotten entry, or else the stalest one; g.mu is held.
func (g *Guard) evict(now time.Time) {
	var stalest string
	var at time.Time
	for k, c := range g.clients {
		if now.Sub(c.last) > Forget && !now.Before(c.until) {
			delete(g.clients, k)
			continue
		}
		if stalest == "" || c.last.Before(at) {
			stalest, at = k, c.last
		}
	}
	if len(g.clients) >= maxClients {
		delete(g.clients, stalest)
	}
}

// ClientKey is what failures are counted by: the client's IP address, and
// for IPv6 its /64, as one host is commonly given a whole /64.
func ClientKey(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// Loopback reports whether addr (a RemoteAddr) is this machine: 127.0.0.0/8
// or ::1.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
