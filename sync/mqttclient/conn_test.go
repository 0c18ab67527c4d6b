package mqttclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// pipe returns a conn over one end of a synchronous pipe, the other end,
// and the counter of the conn's socket writes.
func pipe(t *testing.T, timeout time.Duration) (*conn, net.Conn, *countingConn) {
	t.Helper()
	a, b := net.Pipe()
	cc := &countingConn{Conn: a}
	c := newConn(cc, timeout)
	t.Cleanup(func() {
		c.Close()
		b.Close()
		select {
		case <-c.sender:
		case <-time.After(10 * time.Second):
			t.Error("the sender did not return after Close")
		}
	})
	return c, b, cc
}

func TestConn_writesLeaveInOrderInFewSends(t *testing.T) {
	c, peer, cc := pipe(t, 10*time.Second)
	// The peer reads only once everything is written: the first send
	// blocks in the pipe, and the rest queues behind it.
	var want bytes.Buffer
	for i := range 1000 {
		p := fmt.Appendf(nil, "packet %d;", i)
		want.Write(p)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the peer read other bytes than were written")
	}
	if n := cc.writes.Load(); n > 2 {
		t.Fatalf("1000 writes took %d sends, want at most 2", n)
	}
}

func TestConn_writerWaitsForRoomAndLosesNothing(t *testing.T) {
	c, peer, _ := pipe(t, 10*time.Second)
	total := 4*maxQueued + 12345
	p := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	done := make(chan error, 1)
	go func() {
		var err error
		for sent := 0; sent < total && err == nil; sent += len(p) {
			_, err = c.Write(p[:min(len(p), total-sent)])
		}
		done <- err
	}()
	got := make([]byte, total)
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != p[i%len(p)] {
			t.Fatalf("byte %d is %q, want %q", i, got[i], p[i%len(p)])
		}
	}
}

func TestConn_closeSendsWhatIsQueued(t *testing.T) {
	c, peer, _ := pipe(t, 10*time.Second)
	c.Write([]byte("PUBLISH;"))
	c.Write([]byte("DISCONNECT"))
	go c.Close()
	got, err := io.ReadAll(peer) // until the conn closes its end
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "PUBLISH;DISCONNECT" {
		t.Fatalf("peer read %q before the close", got)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

func TestConn_failedSendFailsWritesAndCloses(t *testing.T) {
	c, peer, _ := pipe(t, 10*time.Second)
	peer.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write([]byte("x")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Write still succeeds 10 s after the peer went away")
		}
		time.Sleep(time.Millisecond) // polling for the sender to fail
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read succeeds after a failed send")
	}
}

func TestConn_stuckPeerTimesOut(t *testing.T) {
	c, _, _ := pipe(t, 50*time.Millisecond) // the peer never reads
	done := make(chan error, 1)
	go func() {
		p := make([]byte, 4096)
		var err error
		for err == nil {
			_, err = c.Write(p)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write failed with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocks for ever behind a peer that reads nothing")
	}
}
