package mqttclient

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// Buffer sizes of conn.
const (
	readBuffer = 64 << 10  // about a hundred tx records or thousands of acks
	maxQueued  = 256 << 10 // Write waits while this much is unsent
)

// conn is the connection paho speaks MQTT over, buffered both ways.
//
// paho reads each packet's fixed header a byte at a time: on a bare socket
// that is three or four system calls per packet, behind the read buffer
// one call takes in a whole window of acks or records.
//
// paho also writes each packet with a Write of its own, a system call per
// publish or PUBACK. Here Write only queues the bytes, and one goroutine
// sends everything queued while its previous send was in the kernel: a
// lone packet leaves at once, a window of them in a few calls. The sender
// bounds each send by its own deadline (paho's, set around a Write that
// only queues, would bound nothing); a send that fails or times out
// closes the connection, which paho sees as lost. What was queued is lost
// with it, as it would have been in the kernel's buffer: nothing here
// relies on a PUBACK (docs/field-notes.md), only on the bureau's ack.
type conn struct {
	net.Conn
	r       *bufio.Reader
	timeout time.Duration // of one send

	mu     sync.Mutex
	room   sync.Cond // broadcast when the queue is taken or err is set
	queue  []byte
	err    error         // why Write fails: the sender's error, or net.ErrClosed after Close
	kick   chan struct{} // cap 1: there may be something to send
	sender chan struct{} // closed when the sender has returned
}

func newConn(c net.Conn, timeout time.Duration) *conn {
	q := &conn{
		Conn:    c,
		r:       bufio.NewReaderSize(c, readBuffer),
		timeout: timeout,
		kick:    make(chan struct{}, 1),
		sender:  make(chan struct{}),
	}
	q.room.L = &q.mu
	go q.send()
	return q
}

func (c *conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the sender; it waits only while maxQueued bytes are
// unsent, so paho slows down with the socket.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.queue) >= maxQueued {
		c.room.Wait()
	}
	if err := c.err; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.queue = append(c.queue, p...)
	c.mu.Unlock()
	c.wake()
	return len(p), nil
}

// SetDeadline bounds reads only: the sender bounds its own sends.
func (c *conn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// SetWriteDeadline does nothing: the sender bounds its own sends.
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// Close sends what is queued (paho's DISCONNECT, typically), at most for
// one send's timeout, then closes the socket.
func (c *conn) Close() error {
	c.stop(net.ErrClosed)
	<-c.sender
	return c.Conn.Close()
}

func (c *conn) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// stop makes every later Write fail with err, unless an error already
// does, and has the sender send what is queued and return.
func (c *conn) stop(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.room.Broadcast()
	c.mu.Unlock()
	c.wake()
}

func (c *conn) send() {
	defer close(c.sender)
	var out []byte
	for range c.kick {
		c.mu.Lock()
		out, c.queue = c.queue, out[:0]
		stopping := c.err != nil
		c.room.Broadcast()
		c.mu.Unlock()
		if len(out) > 0 {
			c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
			if _, err := c.Conn.Write(out); err != nil {
				c.stop(err)
				c.Conn.Close() // paho's reader fails, and paho reconnects
				return
			}
		}
		if stopping {
			return
		}
	}
}
