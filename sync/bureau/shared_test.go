package bureau_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/internal/tilltest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/uplink"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// province is tills with backlogs, receivers sharing one PostgreSQL store
// through a shared subscription, and a real mosquitto between them.
type province struct {
	br       *brokertest.Broker
	dsn      string
	tills    []*till
	enrolled map[string]ed25519.PublicKey
	recv     []*receiver
}

// receiver is one bureau process: its own pool on the store, its own
// client id.
type receiver struct {
	id string
	st archive.Store
	b  *bureau.Bureau
	r  *tilltest.Runner
}

func newProvince(t *testing.T, tills, backlog int) *province {
	t.Helper()
	p := &province{br: brokertest.Start(t), dsn: pgtest.NewDB(t), enrolled: map[string]ed25519.PublicKey{}}
	for i := range tills {
		tl := newTill(t, fmt.Sprintf("H%011d", i+1), "T1")
		tl.Backlog(t, backlog)
		p.tills = append(p.tills, tl)
		p.enrolled[tl.Pharmacy+"/"+tl.Name] = tl.Pub()
	}
	return p
}

func (p *province) openStore(t *testing.T) archive.Store {
	t.Helper()
	st, err := pgarchive.Open(context.Background(), p.dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startReceiver starts receiver i (again, if it ran before).
func (p *province) startReceiver(t *testing.T, i int) {
	t.Helper()
	for len(p.recv) <= i {
		p.recv = append(p.recv, &receiver{id: fmt.Sprintf("bureau-%d", len(p.recv)+1)})
	}
	rc := p.recv[i]
	if rc.st == nil {
		rc.st = p.openStore(t)
	}
	rc.b = bureau.New(rc.st, &bureau.Opts{Enrolled: p.enrolled, Shared: true})
	rc.r = startBureau(t, rc.b, p.br.URL(), rc.id)
}

func (p *province) startTills(t *testing.T) {
	for i, tl := range p.tills {
		u := uplink.New(tl.L, tl.Pharmacy, tl.Name, &uplink.Opts{AckTimeout: time.Second})
		startUplink(t, u, p.br.URL(), fmt.Sprintf("till-%d", i+1))
	}
}

func (p *province) drained(t *testing.T) func() bool {
	return func() bool {
		for _, tl := range p.tills {
			if !drained(t, tl)() {
				return false
			}
		}
		return true
	}
}

// check: every till's records are in the store exactly once, in order,
// chained, and nothing raised an alarm.
func (p *province) check(t *testing.T) {
	t.Helper()
	st := p.openStore(t)
	for _, tl := range p.tills {
		sameRecords(t, tl, st)
	}
	list, err := st.Tills(context.Background(), archive.TillQuery{Limit: archive.MaxLimit})
	if err != nil || len(list) != len(p.tills) {
		t.Fatalf("tills %d (%v), want %d", len(list), err, len(p.tills))
	}
	for _, ti := range list {
		if ti.Count != ti.Contiguous || ti.Waiting != 0 {
			t.Errorf("%s/%s: %d stored, contiguous %d, %d waiting", ti.Pharmacy, ti.Till, ti.Count, ti.Contiguous, ti.Waiting)
		}
	}
	noIntegrityAlarms(t, st)
	var stored uint64
	for _, rc := range p.recv {
		stored += rc.b.Stats().Stored
	}
	if stored > uint64(len(p.tills))*p.tills[0].L.Head() {
		t.Errorf("receivers stored %d records, more than the %d there are", stored, uint64(len(p.tills))*p.tills[0].L.Head())
	}
}

const (
	scaleTills   = 50
	scaleBacklog = 1000
	// The fault tests' province is smaller: what they show is the fault's
	// repair, and -race makes every record cost several times more.
	faultTills   = 20
	faultBacklog = 500
)

// TestShared_threeReceivers: three receivers on one store and one shared
// subscription take 50 tills' backlogs of 1 000 records in whatever order
// the broker spreads them.
func TestShared_threeReceivers(t *testing.T) {
	p := newProvince(t, scaleTills, scaleBacklog)
	for i := range 3 {
		p.startReceiver(t, i)
	}
	p.startTills(t)
	until(t, 5*time.Minute, "every outbox drained", p.drained(t))
	p.check(t)
}

// TestShared_receiverRestarted: one receiver stops in the middle (what it
// had taken in but not stored is lost with it) and comes back.
func TestShared_receiverRestarted(t *testing.T) {
	p := newProvince(t, faultTills, faultBacklog)
	for i := range 3 {
		p.startReceiver(t, i)
	}
	p.startTills(t)
	until(t, 2*time.Minute, "a fifth acknowledged", p.acked(faultTills*faultBacklog/5))
	p.recv[1].r.Stop(t)
	until(t, 2*time.Minute, "more acknowledged without it", p.acked(faultTills*faultBacklog/2))
	p.startReceiver(t, 1)
	until(t, 5*time.Minute, "every outbox drained", p.drained(t))
	p.check(t)
}

// TestShared_databaseRestarted: PostgreSQL restarts in the middle; every
// receiver's Puts fail until it is back, nothing is acked meanwhile, and
// the tills send again what was lost.
func TestShared_databaseRestarted(t *testing.T) {
	p := newProvince(t, faultTills, faultBacklog)
	for i := range 3 {
		p.startReceiver(t, i)
	}
	p.startTills(t)
	until(t, 2*time.Minute, "a fifth acknowledged", p.acked(faultTills*faultBacklog/5))
	pgtest.Restart(t)
	until(t, 5*time.Minute, "every outbox drained", p.drained(t))
	p.check(t)
}

// acked reports whether the tills' acknowledged records add up to n.
func (p *province) acked(n int) func() bool {
	return func() bool {
		var sum uint64
		for _, tl := range p.tills {
			sum += tl.L.Acked()
		}
		return sum >= uint64(n)
	}
}

// TestShared_alarmsOutliveReceivers: a forged, a replayed and a conflicting
// record each give their alarm once, however often they come and whichever
// receiver takes them, and the alarms are there after every receiver has
// restarted.
func TestShared_alarmsOutliveReceivers(t *testing.T) {
	p := newProvince(t, 1, 3)
	for i := range 2 {
		p.startReceiver(t, i)
	}
	p.startTills(t)
	until(t, waitLong, "the backlog acknowledged", p.drained(t))
	tl := p.tills[0]
	e2, _ := tl.L.Get(2)
	e3, _ := tl.L.Get(3)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forged := sale(tl.Pharmacy, tl.Name, 9)
	forged.Seq, forged.ID, forged.Prev, forged.At = 4, "forged", feed.Hash(e3.Rec), "2025-03-01T09:00:00+08:00"
	forgedRec := marshalRecord(t, forged)
	var conflict feed.Record
	if err := json.Unmarshal(e3.Rec, &conflict); err != nil {
		t.Fatal(err)
	}
	conflict.Cashier = "someone else"
	conflictRec := marshalRecord(t, &conflict)
	_, pub := attacker(t, p.br)
	for range 5 { // every kind many times: tills and attackers resend
		pub(tl.Pharmacy, tl.Name, forgedRec, ed25519.Sign(otherKey, forgedRec))
		pub(tl.Pharmacy, tl.Name, e2.Rec, e2.Sig) // a replay: stored already, no alarm
		pub(tl.Pharmacy, tl.Name, conflictRec, ed25519.Sign(tl.Key, conflictRec))
	}
	st := p.openStore(t)
	want := map[string]bool{archive.AlarmBadSignature: true, archive.AlarmConflict: true}
	counted := func(as []archive.Alarm) int {
		n := 0
		for _, a := range as {
			n += a.Count
		}
		return n
	}
	until(t, waitLong, "both alarms, each raised five times", func() bool { return counted(alarmsOf(t, st)) == 10 })
	for i := range p.recv {
		p.recv[i].r.Stop(t)
		p.recv[i].st.Close()
		p.recv[i].st = nil
		p.startReceiver(t, i)
	}
	as := alarmsOf(t, p.openStore(t))
	if len(as) != len(want) {
		t.Fatalf("alarms after restarting every receiver %+v", as)
	}
	for _, a := range as {
		if !want[a.Kind] || a.Seq == 0 || len(a.Records) == 0 || a.Count != 5 {
			t.Errorf("alarm %+v, want a bad_signature or conflict on its record, raised five times", a)
		}
	}
	if w, _ := st.Watermark(context.Background(), tl.Pharmacy, tl.Name); w.Seq != 3 {
		t.Errorf("watermark %d, want 3", w.Seq)
	}
}
