package brokertest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is where the mosquitto broker is expected.
const Binary = "/usr/sbin/mosquitto"

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// Option changes the generated broker config.
type Option func(*config)

type config struct {
	persistence bool
	extra       []string
	prod        *PKI     // non-nil: start testdata/mosquitto/mosquitto.conf with these certificates
	acl         []string // lines appended to testdata/mosquitto/acl
}

// WithPersistence turns on mosquitto's persistence in a temporary directory,
// so sessions and queued messages survive Stop/Restart.
func WithPersistence() Option { return func(c *config) { c.persistence = true } }

// WithConfig appends raw lines to the generated mosquitto.conf.
func WithConfig(lines ...string) Option {
	return func(c *config) { c.extra = append(c.extra, lines...) }
}

// Broker is a running (or stopped) mosquitto owned by one test.
type Broker struct {
	t    testing.TB
	dir  string
	conf string
	port int
	tls  bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *lockedBuffer
}

// Start runs mosquitto on a random free 127.0.0.1 port and returns once it
// accepts connections. It is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("brokertest: mosquitto not found at %s (`make test` installs it): %v", Binary, err)
	}
	var c config
	for _, o := range opts {
		o(&c)
	}
	b := &Broker{t: t, dir: t.TempDir(), log: &lockedBuffer{}, tls: c.prod != nil}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("brokertest: mosquitto log:\n%s", b.log.String())
		}
	})
	// The port is free when probed but may be taken before mosquitto binds
	// it; a few attempts make that race harmless.
	var err error
	for range 5 {
		b.port, err = freePort()
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		if err = b.writeConfig(c); err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		if err = b.start(); err == nil {
			return b
		}
	}
	t.Fatalf("brokertest: start mosquitto: %v\n%s", err, b.log.String())
	return nil
}

// URL is the broker's address for an MQTT client: tcp://127.0.0.1:PORT, or
// ssl://127.0.0.1:PORT for a broker started WithProductionConfig.
func (b *Broker) URL() string {
	if b.tls {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Stop terminates the broker (SIGTERM, so a persistent broker saves its
// state) and waits for it to exit. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(syscall.SIGTERM)
}

// Kill ends the broker with SIGKILL, as a crash or power cut would.
func (b *Broker) Kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopLocked(syscall.SIGKILL)
}

// Restart stops the broker if it runs and starts it again on the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	b.stopLocked(syscall.SIGTERM)
	b.mu.Unlock()
	if err := b.start(); err != nil {
		b.t.Fatalf("brokertest: restart mosquitto: %v\n%s", err, b.log.String())
	}
}

// Log returns what mosquitto has logged so far.
func (b *Broker) Log() string { return b.log.String() }

func (b *Broker) stopLocked(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.done:
	case <-time.After(startTimeout):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd = nil
}

func (b *Broker) writeConfig(c config) error {
	if c.prod != nil {
		return b.writeProductionConfig(c)
	}
	lines := []string{
		"listener " + strconv.Itoa(b.port) + " 127.0.0.1",
		"allow_anonymous true",
		// Default queue limits make mosquitto PUBACK and then drop messages
		// for a slow subscriber (docs/field-notes.md).
		"max_queued_messages 0",
		"max_inflight_messages 0",
		// Acks gate the feed: Nagle on the broker's sockets holds a small
		// ack back for a delayed TCP ACK and halves the drain rate.
		"set_tcp_nodelay true",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		"log_type notice",
		"log_type information",
		"connection_messages true",
	}
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to the mosquitto user, which cannot
		// write the test's temporary directory.
		lines = append(lines, "user root")
	}
	if c.persistence {
		lines = append(lines,
			"persistence true",
			"persistence_location "+b.dir+"/",
			"autosave_interval 0",
			"autosave_on_changes false",
		)
	} else {
		lines = append(lines, "persistence false")
	}
	lines = append(lines, c.extra...)
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l + "\n")
	}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	return os.WriteFile(b.conf, buf.Bytes(), 0o600)
}

// start launches mosquitto and polls until it accepts a TCP connection or
// exits.
func (b *Broker) start() error {
	cmd := exec.Command(Binary, "-c", b.conf)
	cmd.Stdout = b.log
	cmd.Stderr = b.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", Binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			b.mu.Lock()
			b.cmd, b.done = cmd, done
			b.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return errors.New("mosquitto exited before accepting connections")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto did not accept connections on %s within %v", b.Addr(), startTimeout)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects the broker's output from its own goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Keep the log bounded: a long test would otherwise grow it forever.
	if l.buf.Len() > 1<<20 {
		l.buf.Reset()
		l.buf.WriteString("[earlier log dropped]\n")
	}
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
