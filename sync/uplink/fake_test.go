package uplink

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// fakeOutbox is an in-memory Outbox that checks how it is used.
type fakeOutbox struct {
	t        testing.TB
	mu       sync.Mutex
	recs     [][]byte // recs[i] is seq i+1
	acked    uint64
	appended chan struct{}
}

func newFakeOutbox(t testing.TB, n int) *fakeOutbox {
	f := &fakeOutbox{t: t, appended: make(chan struct{}, 1)}
	for range n {
		f.append()
	}
	return f
}

func (f *fakeOutbox) append() {
	f.mu.Lock()
	seq := len(f.recs) + 1
	f.recs = append(f.recs, fmt.Appendf(nil, `{"seq":%d,"pharmacy":"P1","till":"T1"}`, seq))
	f.mu.Unlock()
	select {
	case f.appended <- struct{}{}:
	default:
	}
}

func (f *fakeOutbox) Pending(after uint64, max int) ([]ledger.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.Entry
	for s := after + 1; s <= uint64(len(f.recs)) && len(out) < max; s++ {
		out = append(out, ledger.Entry{Seq: s, Rec: f.recs[s-1], Sig: []byte("sig")})
	}
	return out, nil
}

func (f *fakeOutbox) Get(seq uint64) (ledger.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq == 0 || seq > uint64(len(f.recs)) {
		return ledger.Entry{}, ledger.ErrNotFound
	}
	return ledger.Entry{Seq: seq, Rec: f.recs[seq-1], Sig: []byte("sig")}, nil
}

func (f *fakeOutbox) Ack(upto uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if upto > uint64(len(f.recs)) {
		f.t.Errorf("Ack(%d) beyond head %d reached the ledger", upto, len(f.recs))
		return ledger.ErrAckBeyondHead
	}
	f.acked = max(f.acked, upto)
	return nil
}

func (f *fakeOutbox) Head() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return uint64(len(f.recs))
}

func (f *fakeOutbox) Acked() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acked
}

func (f *fakeOutbox) Appended() <-chan struct{} { return f.appended }

// fakeBroker records publishes; it can be "down".
type fakeBroker struct {
	mu   sync.Mutex
	down bool
	tx   []uint64 // seqs published on the tx topic, in order
	msgs []mqttclient.Message
	sent chan struct{}
}

func newFakeBroker() *fakeBroker { return &fakeBroker{sent: make(chan struct{}, 1)} }

type doneToken struct{ err error }

func (d doneToken) Wait(time.Duration) error { return d.err }

func (b *fakeBroker) Publish(m mqttclient.Message) mqttclient.Token {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return doneToken{mqttclient.ErrNotConnected}
	}
	b.msgs = append(b.msgs, m)
	if _, _, leaf, _ := feed.ParseTillTopic(m.Topic); leaf == feed.LeafTx {
		_, r, _, err := feed.Open(m.Payload)
		if err != nil {
			panic(err)
		}
		b.tx = append(b.tx, r.Seq)
	}
	select {
	case b.sent <- struct{}{}:
	default:
	}
	return doneToken{}
}

func (b *fakeBroker) txSeqs() []uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]uint64(nil), b.tx...)
}

func (b *fakeBroker) setDown(v bool) {
	b.mu.Lock()
	b.down = v
	b.mu.Unlock()
}

// until polls cond until it holds or ten seconds pass.
func until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
