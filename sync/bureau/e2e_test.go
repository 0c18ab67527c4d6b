package bureau_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/internal/tilltest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

const waitLong = 60 * time.Second

type till = tilltest.Till

var (
	newTill           = tilltest.New
	sale              = tilltest.Sale
	until             = tilltest.Until
	sameRecords       = tilltest.SameRecords
	noIntegrityAlarms = tilltest.NoAlarms
	alarmsOf          = tilltest.Alarms
)

var ctx = context.Background()

// startBureau runs b and returns once it consumes.
func startBureau(t testing.TB, b *bureau.Bureau, url, clientID string) *tilltest.Runner {
	t.Helper()
	r := tilltest.Run(t, func(ctx context.Context) error {
		return b.Run(ctx, mqttclient.Options{Broker: url, ClientID: clientID, MaxBackoff: 500 * time.Millisecond})
	})
	until(t, waitLong, "bureau subscribed", func() bool { return b.Stats().Connected })
	return r
}

func startUplink(t testing.TB, u *uplink.Uplink, url, clientID string) *tilltest.Runner {
	return tilltest.Run(t, func(ctx context.Context) error {
		return u.Run(ctx, mqttclient.Options{Broker: url, ClientID: clientID, CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	})
}

func drained(t testing.TB, tl *till) func() bool { return tl.Drained(t) }

func openStore(t testing.TB) (archive.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "archive.db")
	st, err := boltarchive.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// attacker connects a client that publishes on any till's tx topic, as
// anyone the broker lets in could, and returns it with its publish.
func attacker(t testing.TB, br *brokertest.Broker) (*mqttclient.Client, func(pharmacy, till string, rec, sig []byte)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	atk, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: br.URL(), ClientID: "attacker", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(atk.Close)
	return atk, func(pharmacy, till string, rec, sig []byte) {
		t.Helper()
		payload, err := feed.Seal(rec, sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := atk.Publish(mqttclient.Message{Topic: feed.TillTopic(pharmacy, till, feed.LeafTx), Payload: payload, QoS: 1}).Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func marshalRecord(t testing.TB, r *feed.Record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEndToEnd_drainsOutbox(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "H33010000001", "T1")
	tl.Append(t, 100) // a backlog from before the network came up
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"H33010000001/T1": tl.Pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, &uplink.Opts{Window: 32})
	startUplink(t, u, br.URL(), "till-1")

	until(t, waitLong, "backlog drained", drained(t, tl))
	tl.Append(t, 20) // live records
	until(t, waitLong, "live records drained", drained(t, tl))
	sameRecords(t, tl, st)
	noIntegrityAlarms(t, st)
	if st := u.State(); !st.Connected || st.AckedSeq != 120 || st.LastAck.IsZero() {
		t.Fatalf("uplink state %+v", st)
	}
}

func TestEndToEnd_brokerRestartUnderAppends(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")

	const total = 600
	appended := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := tl.L.Append(sale("P1", "T1", i)); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	until(t, waitLong, "some records acked", func() bool { return tl.L.Acked() >= 50 })
	br.Stop()
	down := tl.L.Head()
	until(t, waitLong, "appends go on while the broker is down", func() bool { return tl.L.Head() >= down+100 || tl.L.Head() == total })
	br.Restart()
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	until(t, waitLong, "outbox drained after the restart", drained(t, tl))
	sameRecords(t, tl, st)
	noIntegrityAlarms(t, st)
}

func TestEndToEnd_brokerKilledWithPersistence(t *testing.T) {
	br := brokertest.Start(t, brokertest.WithPersistence())
	tl := newTill(t, "P1", "T1")
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")
	tl.Append(t, 100)
	br.Kill() // whatever the broker held in memory is gone
	tl.Append(t, 100)
	br.Restart()
	until(t, waitLong, "outbox drained after the crash", drained(t, tl))
	sameRecords(t, tl, st)
	noIntegrityAlarms(t, st)
}

func TestEndToEnd_bureauRestart(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, path := openStore(t)
	enrolled := map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}
	b := bureau.New(st, &bureau.Opts{Enrolled: enrolled})
	bur := startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")

	tl.Append(t, 150)
	until(t, waitLong, "bureau stores some", func() bool { return tl.L.Acked() >= 20 })
	bur.Stop(t)
	st.Close()
	tl.Append(t, 100) // while the bureau is away

	st2, err := boltarchive.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	// The broker queued nothing for the bureau while it was away (it
	// subscribes at QoS 0): the 100 records appended meanwhile come from
	// the till, sent again after its ack timeout, in small batches here.
	b2 := bureau.New(st2, &bureau.Opts{Enrolled: enrolled, Batch: 4})
	startBureau(t, b2, br.URL(), "bureau")
	until(t, waitLong, "outbox drained after the bureau came back", drained(t, tl))
	sameRecords(t, tl, st2)
	noIntegrityAlarms(t, st2)
}

func TestEndToEnd_sharedSubscription(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}, Shared: true})
	if !strings.HasPrefix(b.Filter(), "$share/tillguard-bureau/") {
		t.Fatalf("filter %q", b.Filter())
	}
	startBureau(t, b, br.URL(), "bureau")
	startUplink(t, uplink.New(tl.L, "P1", "T1", nil), br.URL(), "till-1")
	tl.Append(t, 30)
	until(t, waitLong, "drained through a shared subscription", drained(t, tl))
	sameRecords(t, tl, st)
}

// TestEndToEnd_attacks publishes hostile records next to a genuine till and
// checks each is handled as SPEC.md §4 says.
func TestEndToEnd_attacks(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	stranger := newTill(t, "P9", "T9") // never enrolled
	st, _ := openStore(t)
	// A short grace, so the hole the attacker opens is a gap within the test.
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}, GapGrace: 300 * time.Millisecond})
	startBureau(t, b, br.URL(), "bureau")

	// The genuine till delivers 3 records first.
	tl.Append(t, 3)
	up := startUplink(t, uplink.New(tl.L, "P1", "T1", nil), br.URL(), "till-1")
	until(t, waitLong, "genuine records acked", drained(t, tl))
	up.Stop(t) // the attacker has the topic to itself

	atk, publish := attacker(t, br)
	var mu sync.Mutex
	acks := map[string][]uint64{}
	if err := atk.Subscribe(feed.Root+"/+/+/"+feed.LeafAck, 1, func(m mqttclient.Message) {
		p, tn, _, _ := feed.ParseTillTopic(m.Topic)
		a, err := feed.ParseAck(m.Payload)
		if err != nil {
			t.Errorf("bureau sent a bad ack %q", m.Payload)
		}
		mu.Lock()
		acks[p+"/"+tn] = append(acks[p+"/"+tn], a.UptoSeq)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	e2, _ := tl.L.Get(2)
	e3, _ := tl.L.Get(3)
	next := func(mod func(r *feed.Record)) []byte {
		r := sale("P1", "T1", 99)
		r.Seq, r.ID, r.Prev, r.At = 4, "x", feed.Hash(e3.Rec), "2025-03-01T09:00:00+08:00"
		mod(r)
		rec, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)

	cases := []struct {
		name      string
		send      func()
		wantAlarm string
	}{
		{"forged signature", func() {
			rec := next(func(*feed.Record) {})
			publish("P1", "T1", rec, ed25519.Sign(otherKey, rec))
		}, archive.AlarmBadSignature},
		{"broken chain", func() {
			rec := next(func(r *feed.Record) { r.Prev = feed.Hash(e2.Rec) })
			publish("P1", "T1", rec, ed25519.Sign(tl.Key, rec))
		}, archive.AlarmBadChain},
		{"replay", func() { publish("P1", "T1", e2.Rec, e2.Sig) }, ""},
		{"conflict", func() {
			var r feed.Record
			if err := json.Unmarshal(e3.Rec, &r); err != nil {
				t.Fatal(err)
			}
			r.Cashier = "someone else"
			rec, _ := json.Marshal(r)
			publish("P1", "T1", rec, ed25519.Sign(tl.Key, rec))
		}, archive.AlarmConflict},
		{"gap", func() {
			rec := next(func(r *feed.Record) { r.Seq = 6 })
			publish("P1", "T1", rec, ed25519.Sign(tl.Key, rec))
		}, archive.AlarmGap},
		{"unenrolled till", func() {
			stranger.Append(t, 1)
			e, _ := stranger.L.Get(1)
			publish("P9", "T9", e.Rec, e.Sig)
		}, archive.AlarmUnenrolled},
		{"garbage", func() {
			if err := atk.Publish(mqttclient.Message{Topic: feed.TillTopic("P1", "T1", feed.LeafTx), Payload: []byte("{oops"), QoS: 1}).Wait(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		}, archive.AlarmBadPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(alarmsOf(t, st))
			mu.Lock()
			nacks := len(acks["P1/T1"])
			mu.Unlock()
			tc.send()
			if tc.wantAlarm == "" {
				// A replay raises nothing and is acked again.
				until(t, waitLong, "replay acked", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(acks["P1/T1"]) > nacks
				})
			} else {
				until(t, waitLong, tc.wantAlarm+" alarm", func() bool { return len(alarmsOf(t, st)) > before })
			}
			if got := alarmsOf(t, st)[before:]; tc.wantAlarm == "" && len(got) != 0 || tc.wantAlarm != "" && got[0].Kind != tc.wantAlarm {
				t.Fatalf("alarms %+v, want %q", got, tc.wantAlarm)
			}
			if w, _ := st.Watermark(ctx, "P1", "T1"); w.Seq != 3 {
				t.Fatalf("store watermark %d, want 3", w.Seq)
			}
		})
	}

	// Barrier: the genuine till sends one more; once its ack arrives every
	// earlier ack has too (one publisher, in order).
	tl.Append(t, 1)
	startUplink(t, uplink.New(tl.L, "P1", "T1", nil), br.URL(), "till-1")
	until(t, waitLong, "genuine record 4 acked", drained(t, tl))
	until(t, waitLong, "ack 4 seen", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(acks["P1/T1"], 4)
	})
	mu.Lock()
	defer mu.Unlock()
	if a := acks["P9/T9"]; len(a) != 0 {
		t.Fatalf("unenrolled till acked: %v", a)
	}
	for _, a := range acks["P1/T1"] {
		if a > 4 {
			t.Fatalf("acked %d: beyond what was genuinely stored", a)
		}
	}
	if tills, _ := st.Tills(ctx, archive.TillQuery{}); len(tills) != 1 || tills[0].Count != 4 {
		t.Fatalf("store %+v", tills)
	}
	sameRecords(t, tl, st)
}
