package mqttclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Tuning that docs/field-notes.md asks for or that keeps outages short.
const (
	writeTimeout     = time.Second // without it a publish racing a dying connection blocks 30 s
	connectTimeout   = 5 * time.Second
	keepAlive        = 15 * time.Second
	pingTimeout      = 5 * time.Second
	subscribeTimeout = 10 * time.Second
	closeQuiesce     = 250 // ms paho may spend finishing work on Close
	firstBackoff     = 100 * time.Millisecond
	defaultMaxBackof = 5 * time.Second
)

// Message is one MQTT message, received or to publish.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Options configure a Client. Zero values are usable except Broker.
type Options struct {
	Broker       string // tcp://host:port or ssl://host:port
	ClientID     string
	CleanSession bool
	Will         *Message // published by the broker if the connection dies
	TLS          *tls.Config
	Username     string
	Password     string
	OnConnect    func()      // after every (re)connection, once subscriptions are renewed
	OnLost       func(error) // when a connection drops
	Log          *slog.Logger
	MaxBackoff   time.Duration // cap of the (re)connect backoff; default 5 s
}

// Token tracks one publish.
type Token interface {
	// Wait waits at most timeout for the broker's PUBACK (or the failure).
	// ErrTimeout means the outcome is unknown.
	Wait(timeout time.Duration) error
}

// Client is a connected MQTT client. It is safe for concurrent use.
type Client struct {
	o   Options
	log *slog.Logger
	pc  paho.Client

	mu     sync.Mutex
	subs   map[string]sub // filter → subscription, renewed on reconnect
	closed bool
}

type sub struct {
	qos byte
	h   func(Message)
}

// Connect dials the broker and returns once the first connection is up,
// retrying with a capped, jittered backoff; it gives up only when ctx ends
// or the address can never work. Later drops are repaired in the background.
func Connect(ctx context.Context, o Options) (*Client, error) {
	if err := checkBroker(o.Broker); err != nil {
		return nil, err
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = defaultMaxBackof
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{o: o, log: log.With("broker", o.Broker, "client_id", o.ClientID), subs: map[string]sub{}}

	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		pc := paho.NewClient(c.pahoOptions())
		tok := pc.Connect()
		err := waitCtx(ctx, tok, connectTimeout+time.Second)
		if err == nil {
			c.mu.Lock()
			c.pc = pc
			c.mu.Unlock()
			return c, nil
		}
		if ctx.Err() != nil {
			// The attempt may still complete in the background: end it then.
			go func() {
				tok.WaitTimeout(connectTimeout + time.Second)
				pc.Disconnect(0)
			}()
			return nil, fmt.Errorf("mqttclient: connect %s: %w", o.Broker, ctx.Err())
		}
		c.log.Warn("mqttclient: connect failed", "attempt", attempt, "err", err)
		wait := jitter(backoff)
		backoff = min(2*backoff, o.MaxBackoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("mqttclient: connect %s: %w", o.Broker, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func checkBroker(broker string) error {
	u, err := url.Parse(broker)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadBroker, broker, err)
	}
	switch u.Scheme {
	case "tcp", "ssl", "tls", "mqtt", "mqtts":
	default:
		return fmt.Errorf("%w: %q: scheme must be tcp or ssl", ErrBadBroker, broker)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: %q: no host", ErrBadBroker, broker)
	}
	return nil
}

func (c *Client) pahoOptions() *paho.ClientOptions {
	po := paho.NewClientOptions().
		AddBroker(c.o.Broker).
		SetClientID(c.o.ClientID).
		SetCleanSession(c.o.CleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(false). // pending tokens after Disconnect; we retry ourselves
		SetResumeSubs(false).   // we renew subscriptions in onConnect
		SetMaxReconnectInterval(c.o.MaxBackoff).
		SetConnectTimeout(connectTimeout).
		SetKeepAlive(keepAlive).
		SetPingTimeout(pingTimeout).
		SetWriteTimeout(writeTimeout).
		SetOrderMatters(true).
		SetCustomOpenConnectionFn(dial).
		SetOnConnectHandler(func(paho.Client) { c.onConnect() }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.log.Warn("mqttclient: connection lost", "err", err)
			if c.o.OnLost != nil {
				c.o.OnLost(err)
			}
		})
	if c.o.Will != nil {
		po.SetBinaryWill(c.o.Will.Topic, c.o.Will.Payload, c.o.Will.QoS, c.o.Will.Retained)
	}
	if c.o.TLS != nil {
		po.SetTLSConfig(c.o.TLS)
	}
	if c.o.Username != "" {
		po.SetUsername(c.o.Username)
		po.SetPassword(c.o.Password)
	}
	return po
}

// dial opens the connection paho speaks MQTT over (checkBroker has
// allowed only TCP and TLS schemes), buffered both ways (conn.go). Go's
// TCP sockets have TCP_NODELAY on, which acks need (docs/field-notes.md).
// Unlike paho's own dialer it ignores proxy variables: a till talks to its
// broker directly.
func dial(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "ssl", "tls", "mqtts":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		c, err = d.Dial("tcp", uri.Host)
	}
	if err != nil {
		return nil, err
	}
	return newConn(c, writeTimeout), nil
}

// onConnect renews every subscription, then tells the caller. paho runs it
// on its own goroutine after each connection.
func (c *Client) onConnect() {
	c.mu.Lock()
	subs := make(map[string]sub, len(c.subs))
	for f, s := range c.subs {
		subs[f] = s
	}
	pc := c.pc
	c.mu.Unlock()
	if pc != nil { // nil during the first connection: nothing subscribed yet
		for f, s := range subs {
			if err := c.subscribe(pc, f, s); err != nil {
				c.log.Error("mqttclient: renew subscription", "filter", f, "err", err)
			}
		}
	}
	c.log.Info("mqttclient: connected")
	if c.o.OnConnect != nil {
		c.o.OnConnect()
	}
}

// Publish sends m. While the connection is down it fails at once with
// ErrNotConnected rather than queueing in memory.
func (c *Client) Publish(m Message) Token {
	if c.isClosed() {
		return errToken{ErrClosed}
	}
	if !c.pc.IsConnectionOpen() {
		return errToken{ErrNotConnected}
	}
	return pahoToken{c.pc.Publish(m.Topic, m.QoS, m.Retained, m.Payload)}
}

// Subscribe registers h for filter and subscribes now if connected; the
// subscription is renewed after every reconnect. h runs on the client's
// receiving goroutine, in order: it must not block for long and must not
// wait on a Token. An error means the broker refused or did not answer;
// the subscription stays registered and is retried on the next reconnect.
func (c *Client) Subscribe(filter string, qos byte, h func(Message)) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	s := sub{qos: qos, h: h}
	c.subs[filter] = s
	c.mu.Unlock()
	if !c.pc.IsConnectionOpen() {
		return nil
	}
	return c.subscribe(c.pc, filter, s)
}

func (c *Client) subscribe(pc paho.Client, filter string, s sub) error {
	tok := pc.Subscribe(filter, s.qos, func(_ paho.Client, m paho.Message) {
		s.h(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retained: m.Retained()})
	})
	if err := (pahoToken{tok}).Wait(subscribeTimeout); err != nil {
		return fmt.Errorf("mqttclient: subscribe %q: %w", filter, err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("mqttclient: subscribe %q: %w (code %#x)", f, ErrRefused, code)
			}
		}
	}
	return nil
}

// Connected reports whether the connection is up right now.
func (c *Client) Connected() bool { return !c.isClosed() && c.pc.IsConnectionOpen() }

// Close disconnects cleanly (so the will is not published) and stops
// reconnecting. It is safe to call more than once.
func (c *Client) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.pc.Disconnect(closeQuiesce)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

type pahoToken struct{ t paho.Token }

func (p pahoToken) Wait(timeout time.Duration) error {
	if timeout <= 0 { // a poll: no timer
		select {
		case <-p.t.Done():
		default:
			return ErrTimeout
		}
	} else if !p.t.WaitTimeout(timeout) {
		return ErrTimeout
	}
	if err := p.t.Error(); err != nil {
		return fmt.Errorf("mqttclient: %w", err)
	}
	return nil
}

type errToken struct{ err error }

func (e errToken) Wait(time.Duration) error { return e.err }

// waitCtx waits for tok until timeout or ctx ends.
func waitCtx(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrTimeout
	}
}

// jitter spreads d over [d/2, d) so many tills do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}
