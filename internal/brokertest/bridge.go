package brokertest

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// BridgeTopic is what a Bridge carries to its upstream: every tillguard
// topic, out only, at QoS 1.
const BridgeTopic = "tillguard/v1/#"

// Bridge is the alternative to tillguard that a shop would deploy: a
// mosquitto on the till with persistence on, bridged to the bureau's broker
// (connection, topic tillguard/v1/# out 1, cleansession false). A publisher
// on the till talks to it (URL, Addr); it forwards to the upstream broker.
//
// The embedded *Broker is the local broker: Stop (SIGTERM, which saves
// the persistence file), Kill (SIGKILL, as a crash or power cut), Restart
// (same port, config and PersistenceDir, so what was saved comes back) and
// Log are its.
type Bridge struct {
	*Broker
	upstream *Broker
	name     string
}

// BridgeOption changes a Bridge's configuration.
type BridgeOption func(*bridgeConfig)

type bridgeConfig struct {
	lines []string
	via   *Proxy
}

// WithBridgeConfig appends lines to the bridge's connection section, e.g.
// "restart_timeout 1" (mosquitto's default reconnects after a random
// 5–30 s once the upstream has gone away).
func WithBridgeConfig(lines ...string) BridgeOption {
	return func(c *bridgeConfig) { c.lines = append(c.lines, lines...) }
}

// Through has the bridge reach its upstream through p, a relay in front
// of it that the test can cut (a lost link).
func Through(p *Proxy) BridgeOption {
	return func(c *bridgeConfig) { c.via = p }
}

// StartBridge starts a local mosquitto bridged to upstream (a plain TCP
// broker from Start) and returns once the bridge is connected. Both are
// stopped when the test ends (upstream by its own Start).
func StartBridge(t testing.TB, upstream *Broker, opts ...BridgeOption) *Bridge {
	t.Helper()
	if upstream.tls {
		t.Fatalf("brokertest: StartBridge needs a plain TCP upstream, got %s", upstream.URL())
	}
	var c bridgeConfig
	for _, o := range opts {
		o(&c)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	name := "tillbridge-" + hex.EncodeToString(id[:])
	addr := upstream.Addr()
	if c.via != nil {
		addr = c.via.Addr()
	}
	// The connection section comes last: mosquitto reads every bridge
	// option after "connection" as this bridge's.
	section := append([]string{
		"connection " + name,
		"address " + addr,
		"remote_clientid " + name,
		"topic " + BridgeTopic + " out 1",
		"cleansession false",
		"bridge_protocol_version mqttv311",
		// Publishes 1/0 on StateTopic, retained, locally and upstream:
		// how Connected tells.
		"notifications true",
	}, c.lines...)
	// Persistence saved on a clean exit only (autosave_interval 0), as
	// mosquitto's default 30-minute autosave would do in a short test.
	b := &Bridge{Broker: Start(t, WithPersistence(), WithConfig(section...)), upstream: upstream, name: name}
	if err := b.WaitConnected(startTimeout); err != nil {
		t.Fatalf("brokertest: %v\nlocal log:\n%s", err, b.Log())
	}
	return b
}

// PersistenceDir holds the local broker's mosquitto.db.
func (b *Bridge) PersistenceDir() string { return b.dir }

// StateTopic is where the bridge publishes, retained, "1" when connected
// upstream and "0" when not.
func (b *Bridge) StateTopic() string { return "$SYS/broker/connection/" + b.name + "/state" }

// Connected reports whether the local broker runs and says its bridge is
// connected upstream.
func (b *Bridge) Connected() bool {
	state, err := retained(b.Addr(), b.StateTopic(), 500*time.Millisecond)
	return err == nil && string(state) == "1"
}

// WaitConnected polls Connected until it holds or timeout passes, e.g.
// after Restart.
func (b *Bridge) WaitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !b.Connected() {
		if time.Now().After(deadline) {
			return fmt.Errorf("brokertest: bridge %s not connected to %s within %v", b.name, b.upstream.Addr(), timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
	return nil
}

// retained subscribes to topic at addr with a throwaway MQTT 3.1.1
// session and returns the retained message's payload (an error if none
// comes within wait). brokertest does not import an MQTT client: the
// layering keeps paho in sync/mqttclient.
func retained(addr, topic string, wait time.Duration) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	// CONNECT: "MQTT" level 4, clean session, keepalive 10 s, empty id.
	connect := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 0}
	// SUBSCRIBE packet id 1, the topic at QoS 0.
	sub := binary.BigEndian.AppendUint16([]byte{0, 1}, uint16(len(topic)))
	sub = append(append(sub, topic...), 0)
	if _, err := conn.Write(append(packet(0x10, connect), packet(0x82, sub)...)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	for {
		typ, body, err := readPacket(r)
		if err != nil {
			return nil, err
		}
		switch typ >> 4 {
		case 2: // CONNACK
			if len(body) != 2 || body[1] != 0 {
				return nil, fmt.Errorf("connack %x", body)
			}
		case 3: // PUBLISH, QoS 0 as subscribed
			if len(body) < 2 {
				return nil, errors.New("short publish")
			}
			n := int(binary.BigEndian.Uint16(body))
			if len(body) < 2+n || string(body[2:2+n]) != topic {
				continue
			}
			return body[2+n:], nil
		}
	}
}

// packet frames an MQTT control packet.
func packet(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

// readPacket reads one MQTT control packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	first, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		d, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mult
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("remaining length over 4 bytes")
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return first, body, nil
}
