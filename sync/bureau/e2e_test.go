package bureau_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"path/filepath"
	"runtime"
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
// checks each is handled as docs/feed.md says.
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

// TestEndToEnd_signedAcks: a bureau with a key signs its acks and a till
// holding its public half drains on them; acks anyone else publishes on
// the till's ack topic (unsigned, signed by another key, or the bureau's
// key over a record the till does not hold) are refused and counted, and
// the outbox keeps every record they claimed.
func TestEndToEnd_signedAcks(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, _ := openStore(t)
	bureauPub, bureauKey, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	enrolled := map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}
	run := startBureau(t, bureau.New(st, &bureau.Opts{Enrolled: enrolled, Key: bureauKey}), br.URL(), "bureau")
	var refused sync.Map
	u := uplink.New(tl.L, "P1", "T1", &uplink.Opts{BureauKey: bureauPub, AckTimeout: 500 * time.Millisecond,
		OnAckRefused: func(r uplink.AckRefusal) { refused.Store(r.Kind, r.Detail) }})
	startUplink(t, u, br.URL(), "till-1")
	tl.Append(t, 50)
	until(t, waitLong, "drained on signed acks", drained(t, tl))

	run.Stop(t) // nobody acks the next records: only the attacker
	tl.Append(t, 10)
	until(t, waitLong, "new records sent", func() bool { return u.State().SentSeq == 60 })
	atk, _ := attacker(t, br)
	e60, _ := tl.L.Get(60)
	genuine := feed.Ack{Pharmacy: "P1", Till: "T1", UptoSeq: 60, Hash: feed.Hash(e60.Rec), At: time.Now().UTC().Format(time.RFC3339)}
	rolledBack := genuine
	rolledBack.Hash = feed.Hash([]byte("the bureau's record 60 is another"))
	for _, a := range []feed.Ack{genuine, feed.SignAck(genuine, otherKey), feed.SignAck(rolledBack, bureauKey)} {
		payload, _ := json.Marshal(a)
		if err := atk.Publish(mqttclient.Message{Topic: feed.TillTopic("P1", "T1", feed.LeafAck), Payload: payload, QoS: 1}).Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	until(t, waitLong, "forged acks refused", func() bool { s := u.State(); return s.ForgedAcks == 2 && s.MismatchedAcks == 1 })
	if tl.L.Acked() != 50 {
		t.Fatalf("forged acks moved the outbox to %d", tl.L.Acked())
	}
	for _, k := range []string{uplink.AckForged, uplink.AckMismatch} {
		if _, ok := refused.Load(k); !ok {
			t.Errorf("no %s reported", k)
		}
	}

	startBureau(t, bureau.New(st, &bureau.Opts{Enrolled: enrolled, Key: bureauKey}), br.URL(), "bureau")
	until(t, waitLong, "drained once the bureau is back", drained(t, tl))
	sameRecords(t, tl, st)
}

// TestEndToEnd_oversizedDropped: one till's certificate publishing 20 MB
// envelopes on its own tx topic (which the ACL allows) while the store is
// slow costs the bureau a bad_payload alarm, not its memory: it keeps only
// the head of each, and the till's genuine records go on being stored.
func TestEndToEnd_oversizedDropped(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	real, _ := openStore(t)
	st := &stalledStore{Store: real, gate: make(chan struct{})}
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()}})
	startBureau(t, b, br.URL(), "bureau")
	atk, _ := attacker(t, br)

	const n, size = 20, 20 << 20
	big := []byte(`{"rec":{"seq":1,"pharmacy":"P1","till":"T1","kind":"sale","lines":[{"name":"` + strings.Repeat("x", size) + `"}]},"sig":""}`)
	for range n {
		if err := atk.Publish(mqttclient.Message{Topic: feed.TillTopic("P1", "T1", feed.LeafTx), Payload: big, QoS: 1}).Wait(waitLong); err != nil {
			t.Fatal(err)
		}
	}
	until(t, waitLong, "every message taken in, the store stalled", func() bool { return b.Stats().HeldBytes == n*(feed.MaxEnvelope+1) })
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	// The attacker's client (this process too) holds a message and its
	// send buffers; holding every message whole, as a queue bounded by
	// count does, is n sizes more.
	if m.HeapInuse > 8*size {
		t.Errorf("%d MB in use with %d messages of %d MB held", m.HeapInuse>>20, n, size>>20)
	}
	close(st.gate)
	until(t, waitLong, "every big message refused", func() bool {
		as := alarmsOf(t, st)
		return len(as) == 1 && as[0].Kind == archive.AlarmBadPayload && as[0].Count == n
	})
	tl.Append(t, 5)
	startUplink(t, uplink.New(tl.L, "P1", "T1", nil), br.URL(), "till-1")
	until(t, waitLong, "genuine records stored", drained(t, tl))
	if as := alarmsOf(t, st); len(as) != 1 || !strings.Contains(as[0].Detail, "more than") || b.Stats().HeldBytes != 0 {
		t.Errorf("alarms %+v, held %d: want the one bad_payload saying the size, nothing held", as, b.Stats().HeldBytes)
	}
}

// stalledStore is a store whose writes wait until gate is closed, as a
// database that has stopped answering.
type stalledStore struct {
	archive.Store
	gate chan struct{}
}

func (s *stalledStore) Put(ctx context.Context, in []archive.Incoming) (archive.Result, error) {
	<-s.gate
	return s.Store.Put(ctx, in)
}

func (s *stalledStore) Raise(ctx context.Context, alarms []archive.Alarm) (int, error) {
	<-s.gate
	return s.Store.Raise(ctx, alarms)
}

// TestEndToEnd_announcedHead: a till's signed status announces its head,
// which the bureau keeps; a later status with a lower head, one with the
// same head over other bytes, one with a bad signature, and records
// announced that never arrive each give their alarm.
func TestEndToEnd_announcedHead(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.Pub()},
		GapGrace: 300 * time.Millisecond, StaleAfter: 300 * time.Millisecond})
	startBureau(t, b, br.URL(), "bureau")
	tl.Append(t, 10)
	up := startUplink(t, uplink.New(tl.L, "P1", "T1", &uplink.Opts{StatusKey: tl.Key}), br.URL(), "till-1")
	until(t, waitLong, "drained", drained(t, tl))
	e10, _ := tl.L.Get(10)
	announced := func() archive.Announcement {
		ts, err := st.Tills(ctx, archive.TillQuery{Pharmacy: "P1"})
		if err != nil || len(ts) != 1 {
			t.Fatalf("Tills: %+v %v", ts, err)
		}
		return ts[0].Announced
	}
	until(t, waitLong, "head announced", func() bool { return announced().Seq == 10 })
	if a := announced(); a.Hash != feed.Hash(e10.Rec) {
		t.Fatalf("announced %+v, want record 10's hash", a)
	}
	noIntegrityAlarms(t, st)
	up.Stop(t)

	atk, _ := attacker(t, br)
	status := func(st feed.Status, key ed25519.PrivateKey) {
		t.Helper()
		st.At = time.Now().Add(time.Minute).Format(time.RFC3339) // after the till's own
		payload, _ := json.Marshal(feed.SignStatus(st, "P1", "T1", key))
		if err := atk.Publish(mqttclient.Message{Topic: feed.TillTopic("P1", "T1", feed.LeafStatus), Payload: payload, QoS: 1, Retained: true}).Wait(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	_, otherKey, _ := ed25519.GenerateKey(nil)
	e5, _ := tl.L.Get(5)
	for _, tc := range []struct {
		name string
		send func()
		want string
	}{
		{"rolled back", func() {
			status(feed.Status{State: feed.StateOnline, HeadSeq: 5, HeadHash: feed.Hash(e5.Rec), AckedSeq: 5}, tl.Key)
		}, archive.AlarmHeadRegressed},
		{"other history", func() {
			status(feed.Status{State: feed.StateOnline, HeadSeq: 10, HeadHash: feed.Hash([]byte("another 10")), AckedSeq: 10}, tl.Key)
		}, archive.AlarmHeadContradicted},
		{"forged", func() { status(feed.Status{State: feed.StateOnline, HeadSeq: 30, AckedSeq: 0}, otherKey) }, archive.AlarmBadStatus},
		{"never delivered", func() {
			status(feed.Status{State: feed.StateOnline, HeadSeq: 20, HeadHash: feed.Hash([]byte("20")), AckedSeq: 10}, tl.Key)
		}, archive.AlarmOutboxStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.send()
			until(t, waitLong, tc.want+" alarm", func() bool {
				return slices.ContainsFunc(alarmsOf(t, st), func(a archive.Alarm) bool { return a.Kind == tc.want })
			})
		})
	}
	if a := announced(); a.Seq != 20 {
		t.Errorf("announced %+v, want the highest, 20", a)
	}
}
