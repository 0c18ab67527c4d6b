package brokertest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func publishRetained(t *testing.T, addr, topic, payload string) {
	t.Helper()
	publish(t, addr, topic, payload, true)
}

// publish sends one QoS 1 PUBLISH to addr and waits for its PUBACK.
func publish(t *testing.T, addr, topic, payload string, retain bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	body := binary.BigEndian.AppendUint16(nil, uint16(len(topic)))
	body = append(append(body, topic...), 0, 7) // packet id 7
	body = append(body, payload...)
	connect := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 0}
	first := byte(0x32) // PUBLISH QoS 1
	if retain {
		first |= 1
	}
	if _, err := conn.Write(append(packet(0x10, connect), packet(first, body)...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for {
		typ, b, err := readPacket(r)
		if err != nil {
			t.Fatalf("waiting for the PUBACK: %v", err)
		}
		if typ>>4 == 4 && len(b) == 2 && b[1] == 7 {
			return
		}
	}
}

// waitRetained polls addr until topic holds want.
func waitRetained(t *testing.T, addr, topic, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := retained(addr, topic, 200*time.Millisecond)
		if err == nil && string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s = %q, %v; want %q", topic, addr, got, err, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func TestStartBridge_forwardsUpstream(t *testing.T) {
	up := Start(t)
	br := StartBridge(t, up)
	if !br.Connected() || br.URL() == up.URL() {
		t.Fatalf("bridge %s: connected %v, upstream %s", br.URL(), br.Connected(), up.URL())
	}
	topic := "tillguard/v1/P1/T1/status"
	publishRetained(t, br.Addr(), topic, "one")
	waitRetained(t, up.Addr(), topic, "one")

	// Outside BridgeTopic stays local.
	publishRetained(t, br.Addr(), "other/topic", "x")
	waitRetained(t, br.Addr(), "other/topic", "x")
	if got, err := retained(up.Addr(), "other/topic", 300*time.Millisecond); err == nil {
		t.Fatalf("other/topic reached the upstream: %q", got)
	}
}

func TestBridge_killAndRestartSamePortAndDir(t *testing.T) {
	up := Start(t)
	br := StartBridge(t, up, WithBridgeConfig("restart_timeout 1"))
	addr, dir := br.Addr(), br.PersistenceDir()
	br.Kill()
	if br.Connected() {
		t.Fatal("killed bridge says it is connected")
	}
	br.Restart()
	if err := br.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if br.Addr() != addr || br.PersistenceDir() != dir {
		t.Fatalf("restart moved the bridge: %s %s, was %s %s", br.Addr(), br.PersistenceDir(), addr, dir)
	}
	br.Stop()
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.db")); err != nil {
		t.Fatalf("no persistence file after Stop: %v\n%s", err, br.Log())
	}
}

// subscribeRaw subscribes to topic at addr at QoS 0 and returns a
// function that waits for the next message's payload.
func subscribeRaw(t *testing.T, addr, topic string) func(wait time.Duration) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sub := binary.BigEndian.AppendUint16([]byte{0, 1}, uint16(len(topic)))
	sub = append(append(sub, topic...), 0)
	connect := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0}
	if _, err := conn.Write(append(packet(0x10, connect), packet(0x82, sub)...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	next := func(wait time.Duration) (byte, string) {
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		typ, b, err := readPacket(r)
		if err != nil {
			t.Fatalf("subscriber at %s: %v", addr, err)
		}
		if typ>>4 != 3 {
			return typ, ""
		}
		n := int(binary.BigEndian.Uint16(b))
		return typ, string(b[2+n:])
	}
	for typ, _ := next(5 * time.Second); typ>>4 != 9; typ, _ = next(5 * time.Second) { // until the SUBACK
	}
	return func(wait time.Duration) string {
		for {
			if typ, p := next(wait); typ>>4 == 3 {
				return p
			}
		}
	}
}

func TestBridge_upstreamDownQueuesAcrossStop(t *testing.T) {
	up := Start(t)
	br := StartBridge(t, up, WithBridgeConfig("restart_timeout 1"))
	up.Stop()
	topic := "tillguard/v1/P1/T1/tx"
	publish(t, br.Addr(), topic, "queued", false) // held for the bridge's session
	br.Stop()                                     // SIGTERM saves it
	up.Restart()
	next := subscribeRaw(t, up.Addr(), topic)
	br.Restart()
	if got := next(30 * time.Second); got != "queued" {
		t.Fatalf("upstream got %q", got)
	}
}

func TestBridge_throughACutLink(t *testing.T) {
	up := Start(t)
	link := NewProxy(t, up.Addr())
	br := StartBridge(t, up, Through(link), WithBridgeConfig("restart_timeout 1"))
	link.Cut(true)
	deadline := time.Now().Add(30 * time.Second)
	for br.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the bridge still says connected 30 s after its link was cut")
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
	topic := "tillguard/v1/P1/T1/status"
	publishRetained(t, br.Addr(), topic, "held")
	link.Cut(false)
	if err := br.WaitConnected(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitRetained(t, up.Addr(), topic, "held")
}

func TestReadPacket(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		first byte
		body  string
		ok    bool
	}{
		{"connack", []byte{0x20, 2, 0, 0}, 0x20, "\x00\x00", true},
		{"empty body", []byte{0xd0, 0}, 0xd0, "", true},
		{"two-byte length", append([]byte{0x30, 0x80, 1}, make([]byte, 128)...), 0x30, string(make([]byte, 128)), true},
		{"short body", []byte{0x30, 5, 'a'}, 0, "", false},
		{"length over 4 bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 1}, 0, "", false},
		{"nothing", nil, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, body, err := readPacket(bufio.NewReader(bytes.NewReader(tc.in)))
			if (err == nil) != tc.ok || (tc.ok && (first != tc.first || string(body) != tc.body)) {
				t.Fatalf("readPacket = %#x %q %v", first, body, err)
			}
		})
	}
}

func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add(packet(0x32, []byte("hello")))
	f.Fuzz(func(t *testing.T, in []byte) {
		first, body, err := readPacket(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		if len(body) > len(in) {
			t.Fatalf("%x parsed to a body of %d bytes", in, len(body))
		}
		// What parses frames again (in the shortest length encoding) and
		// parses back to itself.
		f2, b2, err := readPacket(bufio.NewReader(bytes.NewReader(packet(first, body))))
		if err != nil || f2 != first || !bytes.Equal(b2, body) {
			t.Fatalf("%x: %#x %x framed and parsed again is %#x %x %v", in, first, body, f2, b2, err)
		}
	})
}
