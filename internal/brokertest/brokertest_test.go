package brokertest

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// mqttConnect sends a minimal MQTT 3.1.1 CONNECT and reports whether the
// broker answered with a CONNACK that accepts it.
func mqttConnect(t *testing.T, addr string) bool {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	// CONNECT, protocol "MQTT" level 4, clean session, keepalive 10 s, client id "bt".
	pkt := []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 2, 'b', 't'}
	if _, err := conn.Write(pkt); err != nil {
		return false
	}
	ack := make([]byte, 4)
	if _, err := conn.Read(ack); err != nil {
		return false
	}
	return ack[0] == 0x20 && ack[3] == 0
}

func TestStart_acceptsMQTT(t *testing.T) {
	b := Start(t)
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL = %q", b.URL())
	}
	if !mqttConnect(t, b.Addr()) {
		t.Fatalf("broker at %s did not accept an MQTT connection", b.Addr())
	}
}

func TestBroker_stopAndRestartSamePort(t *testing.T) {
	b := Start(t)
	url := b.URL()
	b.Stop()
	if mqttConnect(t, b.Addr()) {
		t.Fatal("stopped broker still accepts connections")
	}
	b.Stop() // a second stop is harmless
	b.Restart()
	if b.URL() != url {
		t.Fatalf("restart moved the broker: %s, was %s", b.URL(), url)
	}
	if !mqttConnect(t, b.Addr()) {
		t.Fatal("restarted broker does not accept connections")
	}
	b.Kill()
	if mqttConnect(t, b.Addr()) {
		t.Fatal("killed broker still accepts connections")
	}
}

func TestStart_persistence(t *testing.T) {
	b := Start(t, WithPersistence())
	b.Restart()
	if !mqttConnect(t, b.Addr()) {
		t.Fatal("persistent broker does not accept connections after restart")
	}
	b.Stop()
	if !strings.Contains(b.Log(), "Saving in-memory database") {
		t.Fatalf("persistent broker did not save on stop; log:\n%s", b.Log())
	}
}

func TestStart_twoBrokersDifferentPorts(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.URL() == b.URL() {
		t.Fatalf("two brokers share %s", a.URL())
	}
}

func TestProxy_cut(t *testing.T) {
	b := Start(t)
	p := NewProxy(t, b.Addr())
	addr := strings.TrimPrefix(p.URL(), "tcp://")
	if !mqttConnect(t, addr) {
		t.Fatal("no MQTT through the proxy")
	}
	p.Cut(true)
	if mqttConnect(t, addr) {
		t.Fatal("proxy relays while down")
	}
	p.Cut(false)
	if !mqttConnect(t, addr) {
		t.Fatal("no MQTT through the proxy after it came back")
	}
}

func TestStart_productionConfig(t *testing.T) {
	pki := NewPKI(t)
	b := Start(t, WithProductionConfig(pki, TillRegionACL("P1", "T1", "330100")...))
	if !strings.HasPrefix(b.URL(), "ssl://127.0.0.1:") {
		t.Fatalf("URL = %q", b.URL())
	}
	if mqttConnect(t, b.Addr()) {
		t.Fatal("the TLS listener took plain MQTT")
	}
	handshake := func(cfg *tls.Config) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", b.Addr(), cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		pkt := []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 2, 'b', 't'}
		if _, err := conn.Write(pkt); err != nil {
			return err
		}
		ack := make([]byte, 4)
		_, err = io.ReadFull(conn, ack)
		return err
	}
	if err := handshake(pki.ClientTLS(t, "P1/T1")); err != nil {
		t.Fatalf("a client with a certificate: %v", err)
	}
	if err := handshake(pki.NoCertTLS()); err == nil {
		t.Fatal("a client without a certificate got a CONNACK")
	}
	if !strings.Contains(b.Log(), "u'P1/T1'") {
		t.Fatalf("the certificate's CN is not the username; log:\n%s", b.Log())
	}
}
