package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what the till's HTTP server gives its clients, so that
// idle or slow connections cannot take its memory and a flood cannot
// take the counter's CPU. A nil *Limits means DefaultLimits; a zero field
// takes its default.
type Limits struct {
	// MaxConns is how many connections are served at once; a client
	// beyond waits in the kernel's backlog until one closes
	// (LimitListener).
	MaxConns int
	// MaxEvents is how many live-update streams (/api/events) are open at
	// once; one more is answered 503. Each holds a connection, so it is
	// below MaxConns.
	MaxEvents int
	// ReadHeaderTimeout: a request's headers must arrive within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: a whole request, body included, must arrive within it.
	// net/http lifts the deadline once the body is read, so it does not
	// cut the live-update stream or a slow report.
	ReadTimeout time.Duration
	// IdleTimeout: a kept-alive connection with no next request is closed
	// after it.
	IdleTimeout time.Duration
}

// DefaultLimits: a till serves one screen, an owner's dashboard now and
// then, and the POS software on the same machine; a browser opens at
// most six connections to one host.
var DefaultLimits = Limits{
	MaxConns:          64,
	MaxEvents:         16,
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	IdleTimeout:       60 * time.Second,
}

// maxHeaderBytes bounds a request's headers: the API's are a few hundred
// bytes.
const maxHeaderBytes = 32 << 10

func (l *Limits) orDefault() Limits {
	d := DefaultLimits
	if l == nil {
		return d
	}
	out := *l
	if out.MaxConns <= 0 {
		out.MaxConns = d.MaxConns
	}
	if out.MaxEvents <= 0 {
		out.MaxEvents = d.MaxEvents
	}
	if out.ReadHeaderTimeout <= 0 {
		out.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if out.ReadTimeout <= 0 {
		out.ReadTimeout = d.ReadTimeout
	}
	if out.IdleTimeout <= 0 {
		out.IdleTimeout = d.IdleTimeout
	}
	return out
}

// NewServer returns the server for h (made by New) with lim's timeouts.
// Requests share ctx, so live-update streams end with it instead of
// holding Shutdown up. It sets no WriteTimeout: that would cut the
// live-update stream, which sets a deadline on each of its writes
// instead. Serve it on LimitListener(l, lim.MaxConns).
func NewServer(ctx context.Context, h http.Handler, lim *Limits, log *slog.Logger) *http.Server {
	l := lim.orDefault()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// LimitListener returns l accepting at most n connections at once (n ≤ 0:
// DefaultLimits.MaxConns). Accept waits while n are open; clients beyond
// wait in the kernel's backlog, costing the till nothing, until the
// server's timeouts close an idle one.
func LimitListener(l net.Listener, n int) net.Listener {
	if n <= 0 {
		n = DefaultLimits.MaxConns
	}
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
