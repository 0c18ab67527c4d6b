package agent_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tillguard/tillguard/internal/brokertest"
)

// The other side of the fault campaign: what a shop would deploy instead
// of tillguard. A vendor POS publishes each sale with bare paho at QoS 1
// to a mosquitto on the till box, with persistence, bridged to the
// bureau's mosquitto; a sale is confirmed at the counter when the local
// broker PUBACKs it. The bureau reads with a persistent session.

// posEnv carries a posConfig, as JSON, to TestVendorPOS_child.
const posEnv = "TILLGUARD_POS_CHILD"

// posTopic is where the POS publishes, under what the bridge carries out
// (brokertest.BridgeTopic).
const posTopic = "tillguard/v1/" + pharmacy + "/" + till + "/pos"

type posConfig struct {
	Broker string // the local mosquitto
	Prefix string // sale ids are Prefix-N: each run of the POS has its own
}

// posPace is the time between two sales, so the POS sells at about the
// rate the tillguard rows reach through the till's API (tens a second).
const posPace = 10 * time.Millisecond

// TestVendorPOS_child is the vendor POS the bridge rows run and kill: it
// sells until killed, publishing each sale at QoS 1 and retrying it until
// the local broker PUBACKs it, then prints "acked ID".
func TestVendorPOS_child(t *testing.T) {
	raw := os.Getenv(posEnv)
	if raw == "" {
		t.Skip("runs only as the child of the fault campaign")
	}
	var pc posConfig
	if err := json.Unmarshal([]byte(raw), &pc); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(2)
	}
	// paho's defaults (clean session, memory store, auto-reconnect), with
	// docs/field-notes.md's write timeout and quick reconnects.
	opts := paho.NewClientOptions().AddBroker(pc.Broker).SetClientID("pos-" + till).
		SetWriteTimeout(time.Second).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond)
	c := paho.NewClient(opts)
	c.Connect().Wait() // with ConnectRetry: until connected
	pad := strings.Repeat("x", 200)
	for n := 0; ; n++ {
		id := fmt.Sprintf("%s-%d", pc.Prefix, n)
		payload := fmt.Appendf(nil, `{"id":%q,"total_fen":1280,"pad":%q}`, id, pad)
		for {
			tok := c.Publish(posTopic, 1, false, payload)
			if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
				break
			}
		}
		fmt.Printf("acked %s\n", id)
		time.Sleep(posPace) // the next customer, not a wait
	}
}

// bridgeRig is the vendor POS's world: the bureau's mosquitto, the local
// one bridged to it, and the bureau's subscriber counting what arrives.
type bridgeRig struct {
	upstream, local *brokertest.Broker
	link            *brokertest.Proxy // between the bridge and upstream

	mu        sync.Mutex
	confirmed map[string]bool // acked by the local broker
	seen      map[string]int  // arrivals at the bureau, by sale id
	gens      int             // POS runs started
}

// newBridgeRig starts the vendor POS's world; the bridge goes through
// link, a relay the test can cut.
func newBridgeRig(t *testing.T) *bridgeRig {
	t.Helper()
	b := &bridgeRig{confirmed: map[string]bool{}, seen: map[string]int{}}
	b.upstream = brokertest.Start(t)
	b.link = brokertest.NewProxy(t, b.upstream.Addr())
	// brokertest's bridge: persistence saved only on a clean exit
	// (autosave_interval 0), which a SIGKILL skips, standing in for
	// mosquitto's default of saving every 1800 s, which a kill between two
	// saves skips as well; reconnecting after 1–2 s (the default is 5–30 s).
	b.local = brokertest.StartBridge(t, b.upstream, brokertest.Through(b.link), brokertest.WithBridgeConfig("restart_timeout 1 2")).Broker
	opts := paho.NewClientOptions().AddBroker(b.upstream.URL()).SetClientID("bureau-pos").
		SetCleanSession(false).SetWriteTimeout(time.Second).SetMaxReconnectInterval(500 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) {
			// A persistent session keeps the subscription; subscribing again is harmless.
			c.Subscribe(posTopic, 1, b.arrived)
		})
	sub := paho.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("bureau subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(250) })
	// Subscribed once a message through the bridge arrives.
	b.mark(t, "start")
	return b
}

func (b *bridgeRig) arrived(_ paho.Client, m paho.Message) {
	var p struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Payload(), &p) != nil {
		return
	}
	b.mu.Lock()
	b.seen[p.ID]++
	b.mu.Unlock()
}

// startPOS runs a vendor POS against the local broker.
func (b *bridgeRig) startPOS(t *testing.T) *child {
	t.Helper()
	b.mu.Lock()
	b.gens++
	pc := posConfig{Broker: b.local.URL(), Prefix: fmt.Sprintf("pos%d", b.gens)}
	b.mu.Unlock()
	raw, err := json.Marshal(pc)
	if err != nil {
		t.Fatal(err)
	}
	return startChild(t, "TestVendorPOS_child", posEnv+"="+string(raw), func(line string) {
		if id, ok := strings.CutPrefix(line, "acked "); ok {
			b.mu.Lock()
			b.confirmed[id] = true
			b.mu.Unlock()
		}
	})
}

func (b *bridgeRig) count() (confirmed, seen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.confirmed), len(b.seen)
}

// mark publishes a marker through the local broker and waits for it at
// the bureau: what the bridge queued before it has been carried.
func (b *bridgeRig) mark(t *testing.T, name string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(b.local.URL()).SetClientID("marker").SetWriteTimeout(time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("marker client: %v", tok.Error())
	}
	defer c.Disconnect(250)
	id := "marker-" + name
	arrived := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.seen[id] > 0
	}
	// Published again until it arrives: the bureau's subscription may not
	// be in place yet, and the bridge may still be connecting.
	deadline := time.Now().Add(60 * time.Second)
	for !arrived() {
		if time.Now().After(deadline) {
			t.Fatalf("marker %s did not reach the bureau in 60 s\nlocal mosquitto:\n%s", name, b.local.Log())
		}
		c.Publish(posTopic, 1, false, fmt.Appendf(nil, `{"id":%q}`, id)).WaitTimeout(2 * time.Second)
		for wait := time.Now().Add(time.Second); !arrived() && time.Now().Before(wait); {
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
}

// settle waits until the bridge has carried what it will: the marker is
// through, then nothing more arrives for two seconds.
func (b *bridgeRig) settle(t *testing.T) {
	t.Helper()
	b.mark(t, "end")
	_, last := b.count()
	quietSince := time.Now()
	eventually(t, 60*time.Second, "arrivals at the bureau to stop", func() bool {
		if _, n := b.count(); n != last {
			last, quietSince = n, time.Now()
		}
		return time.Since(quietSince) > 2*time.Second
	})
}

// row counts the confirmed sales at the bureau.
func (b *bridgeRig) row(fault string, times int) campaignRow {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := campaignRow{system: "vendor POS + mosquitto bridge", fault: fault, times: times, confirmed: len(b.confirmed)}
	for id := range b.confirmed {
		if b.seen[id] > 0 {
			r.stored++
		} else {
			r.lost++
		}
	}
	for id, n := range b.seen {
		if n > 1 && !strings.HasPrefix(id, "marker-") {
			r.dup++
		}
	}
	return r
}

// campaignBridgeKillBroker SIGKILLs the local mosquitto at random moments
// under sales and starts it again on its port and persistence directory.
func campaignBridgeKillBroker(t *testing.T, rng *rand.Rand) campaignRow {
	return bridgeKillBroker(t, rng, false)
}

// campaignBridgeKillBrokerLinkDown is campaignTillKillLinkDown's
// campaign against the bridge: the local mosquitto SIGKILLed with the link
// to the bureau cut in a random half of the rounds.
func campaignBridgeKillBrokerLinkDown(t *testing.T, rng *rand.Rand) campaignRow {
	return bridgeKillBroker(t, rng, true)
}

func bridgeKillBroker(t *testing.T, rng *rand.Rand, cutLink bool) campaignRow {
	b := newBridgeRig(t)
	pos := b.startPOS(t)
	const kills = 30
	for i := range kills {
		if cutLink {
			b.link.Cut(rng.IntN(2) == 0)
		}
		pause(rng, 50, 950)
		b.local.Kill()
		b.local.Restart()
		if i%10 == 9 {
			n, seen := b.count()
			t.Logf("kill %d: %d confirmed, %d at the bureau so far", i, n, seen)
		}
	}
	fault := "local mosquitto SIGKILLed during sales"
	if cutLink {
		b.link.Cut(false)
		fault += linkDown
	}
	pause(rng, 300, 1000)
	pos.kill()
	b.settle(t)
	return b.row(fault, kills)
}

// campaignBridgeKillPOS SIGKILLs the vendor POS at random moments under
// sales and starts it again.
func campaignBridgeKillPOS(t *testing.T, rng *rand.Rand) campaignRow {
	b := newBridgeRig(t)
	const kills = 30
	for i := range kills {
		pos := b.startPOS(t)
		pause(rng, 50, 950)
		pos.kill()
		if i%10 == 9 {
			n, seen := b.count()
			t.Logf("kill %d: %d confirmed, %d at the bureau so far", i, n, seen)
		}
	}
	b.settle(t)
	return b.row("POS SIGKILLed during sales", kills)
}
