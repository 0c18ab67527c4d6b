package mqttclient

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tillguard/tillguard/internal/brokertest"
)

// The production broker takes every client id from the certificate
// (use_username_as_clientid): a certificate cannot take another client's
// id and so knock it off the broker. Every test here shows a client that
// must stay connected still receiving a message published after the other
// connection is up and has done a round trip, and that it never lost its
// connection (OnLost, and the broker's log of a client id taken over).

// takeover is what mosquitto logs when a connection takes a connected
// client's id and closes the old connection.
const takeover = "already connected, closing old connection"

// watched is a client whose dropped connections are counted.
type watched struct {
	*Client
	lost atomic.Int32
	got  collector
}

func connectWatched(t *testing.T, o Options) *watched {
	t.Helper()
	w := &watched{}
	o.OnLost = func(error) { w.lost.Add(1) }
	w.Client = connect(t, o)
	return w
}

// stayed fails the test if w ever lost its connection.
func (w *watched) stayed(t *testing.T, name string) {
	t.Helper()
	if n := w.lost.Load(); n != 0 || !w.Connected() {
		t.Errorf("%s lost its connection %d times (connected now: %v)", name, n, w.Connected())
	}
}

// brokerLog returns the broker's log once it holds everything logged
// before the call: mosquitto's output reaches b.Log through a pipe, so a
// connection made now is waited for in it, since mosquitto logs in order.
func brokerLog(t *testing.T, b *brokertest.Broker, pki *brokertest.PKI) string {
	t.Helper()
	cn := fmt.Sprintf("log-barrier-%d", barriers.Add(1))
	c := connect(t, Options{Broker: b.URL(), ClientID: cn, CleanSession: true, TLS: pki.ClientTLS(t, cn)})
	defer c.Close()
	until(t, "the broker's log", func() bool { return strings.Contains(b.Log(), " as "+cn+" ") })
	return b.Log()
}

var barriers atomic.Int32

// noTakeover fails the test if the broker closed a connection because
// another took its client id.
func noTakeover(t *testing.T, log string) {
	t.Helper()
	if strings.Contains(log, takeover) {
		t.Errorf("the broker closed a connection for a client id taken over; log:\n%s", log)
	}
}

func subscribe(t *testing.T, c *Client, filter string, h func(Message)) {
	t.Helper()
	if err := c.Subscribe(filter, 1, h); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

func TestIdentity_tillCannotTakeTheBureausClientID(t *testing.T) {
	b, pki := prodBroker(t)
	// As tillguard bureau connects by default (--client-id).
	bureau := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau-1")})
	subscribe(t, bureau.Client, "tillguard/v1/+/+/status", bureau.got.add)

	intruder := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, "P1/T1")})
	subscribe(t, intruder.Client, "tillguard/v1/P1/T1/ack", intruder.got.add)
	// The round trip: the bureau gets the intruder's status (published
	// after the intruder is connected) and the intruder the bureau's ack.
	publish(t, intruder.Client, "tillguard/v1/P1/T1/status", false)
	until(t, "the intruder's status at the bureau", func() bool { return bureau.got.has("tillguard/v1/P1/T1/status") })
	publish(t, bureau.Client, "tillguard/v1/P1/T1/ack", false)
	until(t, "the bureau's ack at the intruder", func() bool { return intruder.got.has("tillguard/v1/P1/T1/ack") })

	log := brokerLog(t, b, pki)
	noTakeover(t, log)
	bureau.stayed(t, "the bureau")
	intruder.stayed(t, "the intruder")
	// The broker knows them by their certificates, not by the id sent.
	for _, as := range []string{" as bureau-1 ", " as P1/T1 "} {
		if !strings.Contains(log, as) {
			t.Errorf("no client connected %q; log:\n%s", as, log)
		}
	}
}

func TestIdentity_tillCannotTakeAnotherTillsClientID(t *testing.T) {
	b, pki := prodBroker(t)
	bureau := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau")})
	subscribe(t, bureau.Client, "tillguard/v1/+/+/tx", bureau.got.add)
	// As agent.Till connects: its own id, a persistent session.
	victim := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-P2-T2", TLS: pki.ClientTLS(t, "P2/T2")})
	subscribe(t, victim.Client, "tillguard/v1/P2/T2/ack", victim.got.add)

	// The intruder asks for the victim's id and its persistent session.
	intruder := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-P2-T2", TLS: pki.ClientTLS(t, "P1/T1")})
	subscribe(t, intruder.Client, "tillguard/v1/P1/T1/ack", intruder.got.add)
	publish(t, intruder.Client, "tillguard/v1/P1/T1/tx", false)
	until(t, "the intruder's record at the bureau", func() bool { return bureau.got.has("tillguard/v1/P1/T1/tx") })
	publish(t, bureau.Client, "tillguard/v1/P1/T1/ack", false)
	until(t, "the bureau's ack at the intruder", func() bool { return intruder.got.has("tillguard/v1/P1/T1/ack") })

	// Published after the intruder's round trip: the victim still has its
	// connection and its subscription.
	publish(t, bureau.Client, "tillguard/v1/P2/T2/ack", false)
	until(t, "the victim's ack", func() bool { return victim.got.has("tillguard/v1/P2/T2/ack") })
	publish(t, victim.Client, "tillguard/v1/P2/T2/tx", false)
	until(t, "the victim's record at the bureau", func() bool { return bureau.got.has("tillguard/v1/P2/T2/tx") })

	noTakeover(t, brokerLog(t, b, pki))
	victim.stayed(t, "the victim till")
	intruder.stayed(t, "the intruder")
	bureau.stayed(t, "the bureau")
	if tp := intruder.got.topics(); len(tp) != 1 {
		t.Errorf("the intruder received %v, want only its own ack", tp)
	}
}

func TestIdentity_bureauReceiversWithTheirOwnCertificatesShare(t *testing.T) {
	b, pki := prodBroker(t)
	// The same --client-id on both, as a copied bureau.conf would give:
	// the certificates tell them apart. They consume as bureau.Bureau with
	// Shared does ($share/bureau.ShareGroup/feed.TxFilter).
	var receivers []*watched
	for _, cn := range []string{"bureau-1", "bureau-2"} {
		r := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, cn)})
		subscribe(t, r.Client, "$share/tillguard-bureau/tillguard/v1/+/+/tx", r.got.add)
		receivers = append(receivers, r)
	}
	till := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-P1-T1", TLS: pki.ClientTLS(t, "P1/T1")})
	subscribe(t, till.Client, "tillguard/v1/P1/T1/ack", till.got.add)
	// mosquitto hands a shared subscription's messages round the group:
	// publish until each receiver has had one.
	for i := 0; len(receivers[0].got.topics()) == 0 || len(receivers[1].got.topics()) == 0; i++ {
		if i == 100 {
			t.Fatalf("after %d records: receivers got %d and %d", i, len(receivers[0].got.topics()), len(receivers[1].got.topics()))
		}
		publish(t, till.Client, "tillguard/v1/P1/T1/tx", false)
		n := i + 1
		until(t, "the record at a receiver", func() bool {
			return len(receivers[0].got.topics())+len(receivers[1].got.topics()) == n
		})
	}
	// Both may ack, and the till hears both.
	for _, r := range receivers {
		publish(t, r.Client, "tillguard/v1/P1/T1/ack", false)
	}
	until(t, "both acks at the till", func() bool { return len(till.got.topics()) == 2 })
	noTakeover(t, brokerLog(t, b, pki))
	for i, r := range receivers {
		r.stayed(t, []string{"bureau-1", "bureau-2"}[i])
	}
	till.stayed(t, "the till")
}

// A certificate is good for one connection at a time: a second connection
// with it takes the client id and closes the first, which takes it back on
// reconnecting, and so on. That is why every receiver needs a certificate
// of its own.
func TestIdentity_oneCertificateOneConnection(t *testing.T) {
	b, pki := prodBroker(t)
	tls := pki.ClientTLS(t, "bureau-1")
	first := connectWatched(t, Options{Broker: b.URL(), ClientID: "receiver-a", CleanSession: true, TLS: tls})
	second := connectWatched(t, Options{Broker: b.URL(), ClientID: "receiver-b", CleanSession: true, TLS: tls})
	until(t, "each connection closed by the other", func() bool { return first.lost.Load() > 0 && second.lost.Load() > 0 })
	first.Close()
	if log := brokerLog(t, b, pki); !strings.Contains(log, "Client bureau-1 "+takeover) {
		t.Errorf("no takeover of bureau-1 logged; log:\n%s", log)
	}
}

// Policy bundles are published with a certificate of their own,
// bureau-policy, so a publish never closes a receiver's connection; a
// receiver's certificate may not publish them.
func TestIdentity_policyPublisherHasItsOwnCertificate(t *testing.T) {
	b, pki := prodBroker(t)
	receiver := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau-1")})
	till := connectWatched(t, Options{Broker: b.URL(), ClientID: "tillguard-P1-T1", CleanSession: true, TLS: pki.ClientTLS(t, "P1/T1")})
	subscribe(t, till.Client, "tillguard/v1/policy/330100", till.got.add)
	// Denied first (on a connection of its own: mosquitto 2.0.11 drops it
	// after a denied QoS 1 publish), then allowed: mosquitto routes a
	// publish before it PUBACKs it.
	forger := connect(t, Options{Broker: b.URL(), ClientID: "forger", CleanSession: true, TLS: pki.ClientTLS(t, "bureau-2")})
	publish(t, forger, "tillguard/v1/policy/330100", true)
	forger.Close()
	policy := connect(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau-policy", CleanSession: true, TLS: pki.ClientTLS(t, "bureau-policy")})
	publish(t, policy, "tillguard/v1/policy/330100", true)
	until(t, "the bundle at the till", func() bool { return till.got.has("tillguard/v1/policy/330100") })
	if n := len(till.got.topics()); n != 1 {
		t.Errorf("the till received %d bundles, want only bureau-policy's", n)
	}
	noTakeover(t, brokerLog(t, b, pki))
	receiver.stayed(t, "the receiver")
	till.stayed(t, "the till")
}

// A till's persistent session is kept under its CN: it finds it again
// whatever client id it sends, here a different one each time.
func TestIdentity_tillSessionKeptUnderItsCertificate(t *testing.T) {
	b, pki := prodBroker(t)
	tls := pki.ClientTLS(t, "P1/T1")
	// Bare paho: its default handler takes what the session queued, which
	// arrives before a Client could subscribe.
	got := make(chan string, 10)
	dial := func(id string) (paho.Client, bool) {
		t.Helper()
		c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(id).SetCleanSession(false).
			SetTLSConfig(tls).SetAutoReconnect(false).
			SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }))
		tok := c.Connect()
		if !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("connect as %s: %v", id, tok.Error())
		}
		return c, tok.(*paho.ConnectToken).SessionPresent()
	}
	first, present := dial("tillguard-P1-T1")
	if present {
		t.Fatal("a session before the till's first connection")
	}
	if tok := first.Subscribe("tillguard/v1/P1/T1/ack", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	first.Disconnect(100)

	bureau := connect(t, Options{Broker: b.URL(), ClientID: "tillguard-bureau", CleanSession: true, TLS: pki.ClientTLS(t, "bureau-1")})
	if err := bureau.Publish(Message{Topic: "tillguard/v1/P1/T1/ack", Payload: []byte("ack 1"), QoS: 1}).Wait(wait); err != nil {
		t.Fatal(err)
	}
	again, present := dial("some-other-id")
	defer again.Disconnect(100)
	if !present {
		t.Fatal("the till's session is gone on reconnecting with another client id")
	}
	select {
	case m := <-got:
		if m != "ack 1" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(wait):
		t.Fatal("the ack queued in the till's session did not arrive")
	}
}
