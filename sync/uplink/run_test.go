package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

const wait = 20 * time.Second

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openLedger(t *testing.T, n int) *ledger.Ledger {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for range n {
		if _, err := l.Append(&feed.Record{Pharmacy: "P1", Till: "T1", Kind: feed.KindDevice, Device: &feed.Device{Name: "card", State: "connected"}}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// watcher is a bare MQTT client standing in for the bureau.
type watcher struct {
	c      *mqttclient.Client
	mu     sync.Mutex
	tx     []uint64
	status []feed.Status
}

func newWatcher(t *testing.T, url string) *watcher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: url, ClientID: "watcher", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := &watcher{c: c}
	if err := c.Subscribe(feed.TillTopic("P1", "T1", "#"), 1, func(m mqttclient.Message) {
		_, _, leaf, _ := feed.ParseTillTopic(m.Topic)
		w.mu.Lock()
		defer w.mu.Unlock()
		switch leaf {
		case feed.LeafTx:
			_, r, _, err := feed.Open(m.Payload)
			if err != nil {
				t.Errorf("uplink sent a bad envelope: %v", err)
				return
			}
			w.tx = append(w.tx, r.Seq)
		case feed.LeafStatus:
			var s feed.Status
			if err := json.Unmarshal(m.Payload, &s); err != nil {
				t.Errorf("bad status %q", m.Payload)
			}
			w.status = append(w.status, s)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *watcher) ack(t *testing.T, payload string) {
	t.Helper()
	if err := w.c.Publish(mqttclient.Message{Topic: feed.TillTopic("P1", "T1", feed.LeafAck), Payload: []byte(payload), QoS: 1}).Wait(wait); err != nil {
		t.Fatal(err)
	}
}

func (w *watcher) lastStatus() feed.Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.status) == 0 {
		return feed.Status{}
	}
	return w.status[len(w.status)-1]
}

func (w *watcher) txCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.tx)
}

func runUplink(t *testing.T, u *uplink.Uplink, url string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- u.Run(ctx, mqttclient.Options{Broker: url, ClientID: "till", CleanSession: true, MaxBackoff: 300 * time.Millisecond})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRun_acksOnlyOnBureauAck(t *testing.T) {
	b := brokertest.Start(t)
	w := newWatcher(t, b.URL())
	l := openLedger(t, 5)
	u := uplink.New(l, "P1", "T1", &uplink.Opts{AckTimeout: time.Hour})
	stop := runUplink(t, u, b.URL())

	until(t, "online status", func() bool { return w.lastStatus().State == "online" })
	if s := w.lastStatus(); s.HeadSeq != 5 || s.AckedSeq != 0 || s.At == "" {
		t.Fatalf("status %+v", s)
	}
	until(t, "records published", func() bool { return w.txCount() == 5 })
	if l.Acked() != 0 { // every PUBACK is in, but the bureau has said nothing
		t.Fatalf("acked %d on PUBACKs alone", l.Acked())
	}

	w.ack(t, `{"upto_seq":"3"}`)
	w.ack(t, `{"upto_seq":99}`)
	w.ack(t, `{"upto_seq":3}`)
	until(t, "ack applied", func() bool { return l.Acked() == 3 })
	if st := u.State(); st.ForgedAcks != 1 || st.MismatchedAcks != 1 || st.AckedSeq != 3 || !st.Connected {
		t.Fatalf("state %+v", st)
	}

	stop()
	until(t, "offline status", func() bool { return w.lastStatus().State == "offline" })
	if s := w.lastStatus(); s.AckedSeq != 3 || s.HeadSeq != 5 {
		t.Fatalf("offline status %+v", s)
	}
}

func TestRun_willWhenNetworkDies(t *testing.T) {
	b := brokertest.Start(t)
	p := brokertest.NewProxy(t, b.Addr())
	w := newWatcher(t, b.URL())
	l := openLedger(t, 2)
	u := uplink.New(l, "P1", "T1", &uplink.Opts{AckTimeout: 200 * time.Millisecond})
	runUplink(t, u, p.URL())
	until(t, "online", func() bool { return w.lastStatus().State == "online" })
	until(t, "records", func() bool { return w.txCount() >= 2 })

	p.Cut(true)
	until(t, "will published", func() bool { return w.lastStatus().State == "offline" })
	until(t, "uplink sees it is down", func() bool { return !u.State().Connected })

	l2 := w.txCount()
	p.Cut(false)
	until(t, "online again", func() bool { return w.lastStatus().State == "online" })
	// Unacked records go out again after the reconnect.
	until(t, "resent from acked+1", func() bool { return w.txCount() >= l2+2 })
	w.ack(t, `{"upto_seq":2}`)
	until(t, "drained", func() bool { return l.Acked() == 2 })
}

func TestRun_badBroker(t *testing.T) {
	u := uplink.New(openLedger(t, 0), "P1", "T1", nil)
	err := u.Run(context.Background(), mqttclient.Options{Broker: "http://example.com"})
	if !errors.Is(err, mqttclient.ErrBadBroker) {
		t.Fatalf("err = %v, want ErrBadBroker", err)
	}
}

func TestRun_returnsNilWhenCancelledBeforeConnecting(t *testing.T) {
	b := brokertest.Start(t)
	b.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := uplink.New(openLedger(t, 1), "P1", "T1", nil).Run(ctx, mqttclient.Options{Broker: b.URL(), ClientID: "till"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
