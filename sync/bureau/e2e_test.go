package bureau_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

const waitLong = 60 * time.Second

// till is a real till ledger with its key.
type till struct {
	pharmacy, name string
	key            ed25519.PrivateKey
	l              *ledger.Ledger
}

func newTill(t testing.TB, pharmacy, name string) *till {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &till{pharmacy: pharmacy, name: name, key: key, l: l}
}

func (tl *till) pub() ed25519.PublicKey { return tl.key.Public().(ed25519.PublicKey) }

// sale is a typical sale record, about 500 bytes on the wire.
func sale(pharmacy, till string, i int) *feed.Record {
	return &feed.Record{
		Pharmacy: pharmacy, Till: till, Kind: feed.KindSale,
		Card:    &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
		Cashier: "c01",
		Lines: []feed.Line{
			{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
			{Barcode: fmt.Sprintf("69%011d", i), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
		},
		Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
	}
}

func (tl *till) appendN(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		if _, err := tl.l.Append(sale(tl.pharmacy, tl.name, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// runner runs something until stopped or the test ends.
type runner struct {
	cancel context.CancelFunc
	done   chan error
}

func run(t testing.TB, f func(ctx context.Context) error) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- f(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runner) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("run did not stop")
	}
}

// startBureau runs b and returns once it consumes.
func startBureau(t testing.TB, b *bureau.Bureau, url, clientID string) *runner {
	t.Helper()
	r := run(t, func(ctx context.Context) error {
		return b.Run(ctx, mqttclient.Options{Broker: url, ClientID: clientID, MaxBackoff: 500 * time.Millisecond})
	})
	until(t, waitLong, "bureau subscribed", func() bool { return b.Stats().Connected })
	return r
}

func startUplink(t testing.TB, u *uplink.Uplink, url, clientID string) *runner {
	return run(t, func(ctx context.Context) error {
		return u.Run(ctx, mqttclient.Options{Broker: url, ClientID: clientID, CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	})
}

// until polls cond until it holds or the deadline passes.
func until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drained(t testing.TB, tl *till) func() bool {
	return func() bool {
		depth, _, err := tl.l.Outbox()
		if err != nil {
			t.Fatal(err)
		}
		return depth == 0 && tl.l.Acked() == tl.l.Head()
	}
}

// sameRecords checks that the store holds exactly the till's ledger.
func sameRecords(t testing.TB, tl *till, st archive.Store) {
	t.Helper()
	head := tl.l.Head()
	w, err := st.Watermark(ctx, tl.pharmacy, tl.name)
	if err != nil || w.Seq != head {
		t.Fatalf("%s/%s: store watermark %d (%v), ledger head %d", tl.pharmacy, tl.name, w.Seq, err, head)
	}
	n := uint64(0)
	err = st.Scan(ctx, tl.pharmacy, tl.name, 1, 0, func(seq uint64, rec, sig []byte) error {
		n++
		e, err := tl.l.Get(seq)
		if err != nil {
			return err
		}
		if seq != n || !bytes.Equal(rec, e.Rec) || !bytes.Equal(sig, e.Sig) {
			return fmt.Errorf("seq %d: store differs from ledger", seq)
		}
		return nil
	})
	if err != nil || n != head {
		t.Fatalf("%s/%s: scanned %d of %d: %v", tl.pharmacy, tl.name, n, head, err)
	}
}

// noIntegrityAlarms checks the store raised nothing: no gap, no conflict,
// no bad chain.
func noIntegrityAlarms(t testing.TB, st archive.Store) {
	t.Helper()
	as, err := st.Alarms(ctx, archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		t.Errorf("unexpected alarm %+v", a)
	}
}

var ctx = context.Background()

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

func alarmsOf(t testing.TB, st archive.Store) []archive.Alarm {
	t.Helper()
	as, err := st.Alarms(ctx, archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return as
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
	tl.appendN(t, 100) // a backlog from before the network came up
	st, _ := openStore(t)
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"H33010000001/T1": tl.pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.l, tl.pharmacy, tl.name, &uplink.Opts{Window: 32})
	startUplink(t, u, br.URL(), "till-1")

	until(t, waitLong, "backlog drained", drained(t, tl))
	tl.appendN(t, 20) // live records
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
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.l, tl.pharmacy, tl.name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")

	const total = 600
	appended := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := tl.l.Append(sale("P1", "T1", i)); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	until(t, waitLong, "some records acked", func() bool { return tl.l.Acked() >= 50 })
	br.Stop()
	down := tl.l.Head()
	until(t, waitLong, "appends go on while the broker is down", func() bool { return tl.l.Head() >= down+100 || tl.l.Head() == total })
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
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.pub()}})
	startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.l, tl.pharmacy, tl.name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")
	tl.appendN(t, 100)
	br.Kill() // whatever the broker held in memory is gone
	tl.appendN(t, 100)
	br.Restart()
	until(t, waitLong, "outbox drained after the crash", drained(t, tl))
	sameRecords(t, tl, st)
	noIntegrityAlarms(t, st)
}

func TestEndToEnd_bureauRestart(t *testing.T) {
	br := brokertest.Start(t)
	tl := newTill(t, "P1", "T1")
	st, path := openStore(t)
	enrolled := map[string]ed25519.PublicKey{"P1/T1": tl.pub()}
	b := bureau.New(st, &bureau.Opts{Enrolled: enrolled})
	bur := startBureau(t, b, br.URL(), "bureau")
	u := uplink.New(tl.l, tl.pharmacy, tl.name, &uplink.Opts{AckTimeout: 500 * time.Millisecond})
	startUplink(t, u, br.URL(), "till-1")

	tl.appendN(t, 150)
	until(t, waitLong, "bureau stores some", func() bool { return tl.l.Acked() >= 20 })
	bur.stop(t)
	st.Close()
	tl.appendN(t, 100) // while the bureau is away

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
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.pub()}, Shared: true})
	if !strings.HasPrefix(b.Filter(), "$share/tillguard-bureau/") {
		t.Fatalf("filter %q", b.Filter())
	}
	startBureau(t, b, br.URL(), "bureau")
	startUplink(t, uplink.New(tl.l, "P1", "T1", nil), br.URL(), "till-1")
	tl.appendN(t, 30)
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
	b := bureau.New(st, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": tl.pub()}, GapGrace: 300 * time.Millisecond})
	startBureau(t, b, br.URL(), "bureau")

	// The genuine till delivers 3 records first.
	tl.appendN(t, 3)
	up := startUplink(t, uplink.New(tl.l, "P1", "T1", nil), br.URL(), "till-1")
	until(t, waitLong, "genuine records acked", drained(t, tl))
	up.stop(t) // the attacker has the topic to itself

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
	e2, _ := tl.l.Get(2)
	e3, _ := tl.l.Get(3)
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
			publish("P1", "T1", rec, ed25519.Sign(tl.key, rec))
		}, archive.AlarmBadChain},
		{"replay", func() { publish("P1", "T1", e2.Rec, e2.Sig) }, ""},
		{"conflict", func() {
			var r feed.Record
			if err := json.Unmarshal(e3.Rec, &r); err != nil {
				t.Fatal(err)
			}
			r.Cashier = "someone else"
			rec, _ := json.Marshal(r)
			publish("P1", "T1", rec, ed25519.Sign(tl.key, rec))
		}, archive.AlarmConflict},
		{"gap", func() {
			rec := next(func(r *feed.Record) { r.Seq = 6 })
			publish("P1", "T1", rec, ed25519.Sign(tl.key, rec))
		}, archive.AlarmGap},
		{"unenrolled till", func() {
			stranger.appendN(t, 1)
			e, _ := stranger.l.Get(1)
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
	tl.appendN(t, 1)
	startUplink(t, uplink.New(tl.l, "P1", "T1", nil), br.URL(), "till-1")
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
