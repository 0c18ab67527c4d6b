package mqttclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
)

// prodBroker starts testdata/mosquitto's production config with two tills
// in two regions.
func prodBroker(t *testing.T) (*brokertest.Broker, *brokertest.PKI) {
	t.Helper()
	pki := brokertest.NewPKI(t)
	acl := append(brokertest.TillRegionACL("P1", "T1", "330100"), brokertest.TillRegionACL("P2", "T2", "110000")...)
	return brokertest.Start(t, brokertest.WithProductionConfig(pki, acl...)), pki
}

// collector gathers messages by topic.
type collector struct {
	mu  sync.Mutex
	got []Message
}

func (c *collector) add(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, m)
}

func (c *collector) topics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		out = append(out, m.Topic)
	}
	return out
}

func (c *collector) has(topic string) bool {
	for _, tp := range c.topics() {
		if tp == topic {
			return true
		}
	}
	return false
}

// publish waits for the PUBACK, which mosquitto sends even for a publish
// its ACL denies (docs/field-notes.md): only the subscriber's side tells.
// mosquitto 2.0.11 then drops the connection (a QoS 1 publish it denied);
// forbidden publishes therefore each get a connection of their own.
func publish(t *testing.T, c *Client, topic string, retained bool) {
	t.Helper()
	if err := c.Publish(Message{Topic: topic, Payload: []byte("x"), QoS: 1, Retained: retained}).Wait(wait); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func TestACL_tillCannotPublishAsAnotherTill(t *testing.T) {
	b, pki := prodBroker(t)
	bureau := connect(t, Options{Broker: b.URL(), ClientID: "bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau")})
	var got collector
	if err := bureau.Subscribe("tillguard/v1/+/+/+", 1, got.add); err != nil {
		t.Fatal(err)
	}
	tls := pki.ClientTLS(t, "P1/T1")
	// Forbidden first, then allowed: mosquitto routes a publish before it
	// PUBACKs it, so once the allowed one is in, a forbidden one would be
	// in too.
	for _, tp := range []string{
		"tillguard/v1/P2/T2/tx", "tillguard/v1/P2/T2/status", "tillguard/v1/P1/T1/ack",
		"tillguard/v1/P1/T2/tx", "tillguard/v1/P1/T1/tx/x", "tillguard/v1/policy/330100",
	} {
		c := connect(t, Options{Broker: b.URL(), ClientID: "till1", CleanSession: true, TLS: tls})
		publish(t, c, tp, false)
		c.Close()
	}
	till := connect(t, Options{Broker: b.URL(), ClientID: "till1", CleanSession: true, TLS: tls})
	publish(t, till, "tillguard/v1/P1/T1/status", false)
	publish(t, till, "tillguard/v1/P1/T1/tx", false)
	until(t, "the till's own record at the bureau", func() bool { return got.has("tillguard/v1/P1/T1/tx") })
	if tp := got.topics(); len(tp) != 2 || tp[0] != "tillguard/v1/P1/T1/status" {
		t.Fatalf("bureau received %v, want only P1/T1's status and tx", tp)
	}
}

func TestACL_tillReadsOnlyItsOwnAcksAndRegion(t *testing.T) {
	b, pki := prodBroker(t)
	bureau := connect(t, Options{Broker: b.URL(), ClientID: "bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau")})
	publish(t, bureau, "tillguard/v1/policy/110000", true)
	publish(t, bureau, "tillguard/v1/policy/330100", true)

	till := connect(t, Options{Broker: b.URL(), ClientID: "till1", CleanSession: true, TLS: pki.ClientTLS(t, "P1/T1")})
	var got collector
	for _, f := range []string{"tillguard/v1/P2/T2/ack", "tillguard/v1/+/+/ack", "tillguard/v1/policy/110000", "tillguard/v1/policy/+"} {
		// mosquitto may refuse the subscription outright or accept it and
		// deliver nothing: either way nothing may arrive.
		if err := till.Subscribe(f, 1, got.add); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatalf("subscribe %s: %v", f, err)
		}
	}
	until(t, "the till's region policy", func() bool { return got.has("tillguard/v1/policy/330100") })
	publish(t, bureau, "tillguard/v1/P2/T2/ack", false)
	publish(t, bureau, "tillguard/v1/P1/T1/ack", false)
	until(t, "the till's own ack", func() bool { return got.has("tillguard/v1/P1/T1/ack") })
	for _, tp := range got.topics() {
		if tp != "tillguard/v1/P1/T1/ack" && tp != "tillguard/v1/policy/330100" {
			t.Fatalf("till P1/T1 received %s (all: %v)", tp, got.topics())
		}
	}
}

func TestACL_clientWithoutCertificateRefused(t *testing.T) {
	b, pki := prodBroker(t)
	for name, o := range map[string]Options{
		"no certificate":            {TLS: pki.NoCertTLS()},
		"plain TCP":                 {},
		"certificate of another CA": {TLS: brokertest.NewPKI(t).ClientTLS(t, "P1/T1")},
	} {
		t.Run(name, func(t *testing.T) {
			o.Broker, o.ClientID, o.CleanSession = b.URL(), "intruder", true
			if o.TLS == nil {
				o.Broker = "tcp://" + b.Addr()
			} else {
				o.TLS.RootCAs = pki.NoCertTLS().RootCAs // trust the broker: only the client side is wrong
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			c, err := Connect(ctx, o)
			if err == nil {
				c.Close()
				t.Fatal("connected")
			}
		})
	}
	// Control: the same broker accepts a till with its certificate.
	connect(t, Options{Broker: b.URL(), ClientID: "till1", CleanSession: true, TLS: pki.ClientTLS(t, "P1/T1")})
}
