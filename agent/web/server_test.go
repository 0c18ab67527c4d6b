package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// tillServer serves f's handler as the till does — NewServer on a
// LimitListener on a loopback port — with lim, until the test ends.
func tillServer(t *testing.T, h http.Handler, lim *Limits) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(ctx, h, lim, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(LimitListener(ln, lim.orDefault().MaxConns)) }()
	t.Cleanup(func() {
		cancel()
		shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := srv.Shutdown(shut); err != nil {
			srv.Close()
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial opens a raw connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed waits until the server closes c: a read returns EOF (or a
// reset). A failsafe deadline turns a server that never closes into a
// failure instead of a hang.
func waitClosed(t *testing.T, c net.Conn, r io.Reader, failsafe time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(failsafe))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server left the connection open for %v", failsafe)
	}
}

func getOn(t *testing.T, c net.Conn, br *bufio.Reader, addr, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestServer_idleClosed: a kept-alive connection with no next request is
// closed after IdleTimeout, and one that never sends its headers after
// ReadHeaderTimeout.
func TestServer_idleClosed(t *testing.T) {
	f := newFullServer(t, nil)
	const idle = 200 * time.Millisecond
	addr := tillServer(t, f.srv.Config.Handler, &Limits{IdleTimeout: idle, ReadHeaderTimeout: idle})

	c := dial(t, addr)
	br := bufio.NewReader(c)
	start := time.Now()
	if resp := getOn(t, c, br, addr, "/healthz"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("healthz = %d close %v, want 200 kept alive", resp.StatusCode, resp.Close)
	}
	waitClosed(t, c, br, 10*time.Second)
	if took := time.Since(start); took < idle {
		t.Errorf("closed after %v, before the idle timeout %v", took, idle)
	}

	silent := dial(t, addr)
	io.WriteString(silent, "GET /healthz HTTP/1.1\r\n") // and never the rest
	waitClosed(t, silent, silent, 10*time.Second)
}

// TestServer_connectionCap: with MaxConns open, the next client is not
// served until one of them closes.
func TestServer_connectionCap(t *testing.T) {
	f := newFullServer(t, nil)
	addr := tillServer(t, f.srv.Config.Handler, &Limits{MaxConns: 2, ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute})
	held := []net.Conn{dial(t, addr), dial(t, addr)}
	for _, c := range held {
		// A first request on each: the server has accepted both.
		if resp := getOn(t, c, bufio.NewReader(c), addr, "/healthz"); resp.StatusCode != 200 {
			t.Fatalf("held connection: %d", resp.StatusCode)
		}
	}
	third := dial(t, addr) // the kernel takes it into the backlog
	br := bufio.NewReader(third)
	io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	// Nothing to wait for while both are held: the answer must not come
	// within a while that a served request takes a fraction of.
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection answered with two held and a cap of 2: %v", err)
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v %v", resp, err)
	}
}

// openEvents opens /api/events on addr; the stream ends with the test.
func openEvents(t *testing.T, addr string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// TestServer_eventsCap: with MaxEvents streams open the next is refused
// with 503 and Retry-After; when one closes, a new one is served.
func TestServer_eventsCap(t *testing.T) {
	f := newFullServer(t, nil)
	h := mustNew(t, Deps{Session: f.s, Status: func() Status { return Status{} }, Records: f.led,
		Changes: (&changes{subs: map[chan struct{}]bool{}}).subscribe, Limits: &Limits{MaxEvents: 1}, Metrics: NewMetrics()})
	addr := tillServer(t, h, &Limits{MaxEvents: 1})
	first, r := openEvents(t, addr)
	if first.StatusCode != 200 {
		t.Fatalf("first stream = %d", first.StatusCode)
	}
	readEvent(t, r) // served: the stream holds its slot
	code, body := do(t, "GET", "http://"+addr+"/api/events", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "too many live screens") {
		t.Fatalf("second stream = %d %s, want 503", code, body)
	}
	if _, m := do(t, "GET", "http://"+addr+"/metrics", ""); !strings.Contains(m, "tillguard_http_events_refused_total 1\n") {
		t.Errorf("metrics lack the refused stream:\n%s", m)
	}
	first.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, r := openEvents(t, addr)
		if resp.StatusCode == 200 {
			readEvent(t, r)
			resp.Body.Close()
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("no stream served after the first closed")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestServer_eventsOutliveReadTimeout: the live-update stream stays open
// past the server's ReadTimeout and still pushes changes.
func TestServer_eventsOutliveReadTimeout(t *testing.T) {
	f := newFullServer(t, nil)
	const timeout = 200 * time.Millisecond
	h := f.srv.Config.Handler
	addr := tillServer(t, h, &Limits{ReadTimeout: timeout, ReadHeaderTimeout: timeout})
	resp, r := openEvents(t, addr)
	if resp.StatusCode != 200 {
		t.Fatalf("events = %d", resp.StatusCode)
	}
	readEvent(t, r)
	readEvent(t, r)
	// A connection opened after the stream's request, and closed by the
	// server for its silence, shows that the stream's ReadTimeout has
	// passed.
	probe := dial(t, addr)
	waitClosed(t, probe, probe, 10*time.Second)
	basket(f.s)
	for {
		name, data := readEvent(t, r) // fails if the stream was cut
		if name == "session" && strings.Contains(data, `"rule":"non_drug"`) {
			return
		}
	}
}
