package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// EnvRequire names the variable that turns a missing PostgreSQL from a
// skip into a failure.
const EnvRequire = "TILLGUARD_REQUIRE_POSTGRES"

// ErrNotInstalled reports that no PostgreSQL binaries were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; `make deps` installs it)")

// binGlob is where Debian's postgresql packages put their binaries.
const binGlob = "/usr/lib/postgresql/*/bin"

// dirPrefix names the clusters' temporary directories, so a later run can
// find and remove those of a test binary that died without cleaning up.
const dirPrefix = "tillguard-pgtest-"

// superuser is the role initdb creates; every database belongs to it.
const superuser = "tg"

// Bin returns the newest PostgreSQL binary directory, or ErrNotInstalled.
func Bin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	best, bestVer := "", -1
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			v = 0
		}
		if v > bestVer {
			best, bestVer = d, v
		}
	}
	if best == "" {
		return "", ErrNotInstalled
	}
	return best, nil
}

// Cluster is one throwaway PostgreSQL cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	bin  string // initdb, pg_ctl, psql
	dir  string // data/, log, owner, the unix socket
	port int
	// runAs is the user initdb and pg_ctl run as ("" for the current one).
	runAs string

	mu      sync.Mutex
	running bool
	removed bool
	dbs     atomic.Int64
}

// New makes a cluster in a new temporary directory and starts it.
// Remove stops it and deletes the directory.
func New() (*Cluster, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	removeAbandoned()
	c := &Cluster{bin: bin}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the postgres user that Debian's package creates: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.runAs = "postgres"
	}
	if c.dir, err = os.MkdirTemp("", dirPrefix); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			c.Remove()
		}
	}()
	if err := os.WriteFile(filepath.Join(c.dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if uid >= 0 {
		if err := searchable(filepath.Dir(c.dir)); err != nil {
			return nil, err
		}
		if err := chownAll(c.dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	// --no-sync skips flushing the fresh cluster's files: a throwaway
	// cluster need not survive a power cut before its first start. The
	// server itself runs with fsync on.
	if out, err := c.run(filepath.Join(c.bin, "initdb"), "-D", c.data(), "-A", "trust", "-U", superuser,
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A port free when probed may be taken before the server binds it: a
	// few attempts make that race harmless.
	for range 5 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		if err = c.Start(); err == nil {
			ok = true
			return c, nil
		}
		if !strings.Contains(c.Log(), "could not bind") && !strings.Contains(c.Log(), "in use") {
			break
		}
	}
	return nil, err
}

// Port is the TCP port the cluster listens on (127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's temporary directory; the unix socket is in it.
func (c *Cluster) Dir() string { return c.dir }

// DSN is the URL of database db on the cluster.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, c.port, db)
}

// CreateDB creates a new, empty database and returns its name.
func (c *Cluster) CreateDB() (string, error) {
	name := "db" + strconv.FormatInt(c.dbs.Add(1), 10)
	if _, err := c.SQL("postgres", "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return name, nil
}

// DropDB drops database name, ending its sessions.
func (c *Cluster) DropDB(name string) error {
	_, err := c.SQL("postgres", "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// SQL runs query in database db with psql and returns what it printed,
// unaligned and without headers: one row a line, columns split by '|'.
func (c *Cluster) SQL(db, query string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", superuser, "-d", db, "-c", query)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pgtest: psql %q: %w: %s", query, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Start starts a stopped cluster on its port and returns once it accepts
// connections; after Kill, that includes crash recovery.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return errors.New("pgtest: start: cluster removed")
	}
	if c.running {
		return nil
	}
	if out, err := c.pgctl("start", "-l", c.logPath(), "-t", "60", "-o", c.serverOpts()); err != nil {
		return fmt.Errorf("pgtest: pg_ctl start on port %d: %w\n%s\nserver log:\n%s", c.port, err, out, c.Log())
	}
	c.running = true
	return nil
}

// Stop shuts the cluster down cleanly (-m fast): sessions are ended, and
// what was committed is checkpointed.
func (c *Cluster) Stop() error { return c.stop("fast") }

// Kill stops the cluster as a crash would (-m immediate): no checkpoint;
// the next Start recovers from the WAL.
func (c *Cluster) Kill() error { return c.stop("immediate") }

func (c *Cluster) stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if out, err := c.pgctl("stop", "-m", mode, "-t", "60"); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop -m %s: %w\n%s", mode, err, out)
	}
	c.running = false
	return nil
}

// Restart stops the cluster (-m fast) and starts it again on the same
// port, as pg_ctl restart does: every client connection is dropped.
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start()
}

// Remove stops the cluster and deletes its directory. Later calls do
// nothing.
func (c *Cluster) Remove() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return nil
	}
	c.removed = true
	if _, err := os.Stat(c.dir); os.IsNotExist(err) {
		return nil // removed from outside, as removeAbandoned does
	}
	var err error
	if c.running {
		// Its data is about to go: no checkpoint is worth waiting for.
		if out, e := c.pgctl("stop", "-m", "immediate", "-t", "60"); e != nil {
			err = fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", e, out)
		}
		c.running = false
	}
	if e := os.RemoveAll(c.dir); e != nil && err == nil {
		err = fmt.Errorf("pgtest: %w", e)
	}
	return err
}

// Log returns the server's log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logPath())
	return string(b)
}

func (c *Cluster) data() string    { return filepath.Join(c.dir, "data") }
func (c *Cluster) logPath() string { return filepath.Join(c.dir, "log") }

// serverOpts are the postgres options pg_ctl passes through its shell.
func (c *Cluster) serverOpts() string {
	return strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", shellQuote(c.dir),
		"-c", "listen_addresses=127.0.0.1",
		// Several pools (receivers) per test, each up to a few connections.
		"-c", "max_connections=200",
		// Durability tests rely on both; they are the defaults, set here
		// so a site-wide postgresql.conf cannot change them.
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
	}, " ")
}

func (c *Cluster) pgctl(args ...string) (string, error) {
	return c.run(filepath.Join(c.bin, "pg_ctl"), append([]string{"-D", c.data(), "-w"}, args...)...)
}

// run runs a server-side program, as the postgres user when we are root.
func (c *Cluster) run(name string, args ...string) (string, error) {
	var cmd *exec.Cmd
	if c.runAs != "" {
		line := shellQuote(name)
		for _, a := range args {
			line += " " + shellQuote(a)
		}
		cmd = exec.Command("su", c.runAs, "-s", "/bin/sh", "-c", line)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.Dir = c.dir // readable by the postgres user, unlike the caller's directory perhaps
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// searchable checks that another user can reach dir: the postgres user
// must traverse every parent of the cluster's directory.
func searchable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgtest: %s is not searchable by the postgres user; set TMPDIR to a directory that is (such as /tmp)", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func chownAll(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// removeAbandoned stops and deletes the clusters of test binaries that
// exited without removing them (a test timeout panics past every
// cleanup).
func removeAbandoned() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		bin, err := Bin()
		if err != nil {
			return
		}
		c := &Cluster{bin: bin, dir: d, running: true}
		if os.Geteuid() == 0 {
			c.runAs = "postgres"
		}
		_ = c.Remove()
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
