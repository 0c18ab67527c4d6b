// Package tilltest holds what tests of the bureau, its stores and its
// command share: real tills (a ledger and a key), their backlogs and
// uplinks, and the checks that the bureau holds exactly what they sent.
package tilltest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
	"github.com/tillguard/tillguard/sync/uplink"
)

// Till is a real till ledger with its key.
type Till struct {
	Pharmacy, Name string
	Key            ed25519.PrivateKey
	L              *ledger.Ledger
}

// New opens a fresh till in a temporary directory, closed when the test
// ends.
func New(t testing.TB, pharmacy, name string) *Till {
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
	return &Till{Pharmacy: pharmacy, Name: name, Key: key, L: l}
}

// Pub is the till's public key, as the bureau enrols it.
func (tl *Till) Pub() ed25519.PublicKey { return tl.Key.Public().(ed25519.PublicKey) }

// ID is "pharmacy/till", the bureau's enrolment key.
func (tl *Till) ID() string { return tl.Pharmacy + "/" + tl.Name }

// Sale is a typical sale record, about 500 bytes on the wire. Its card is
// the pharmacy's own customer's: tills of different pharmacies selling to
// one card would be a cross-till alarm.
func Sale(pharmacy, till string, i int) *feed.Record {
	return &feed.Record{
		Pharmacy: pharmacy, Till: till, Kind: feed.KindSale,
		Card:    &feed.Card{Type: feed.CardSSC, No: "3301" + pharmacy, Region: "330100", Name: "张*"},
		Cashier: "c01",
		Lines: []feed.Line{
			{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
			{Barcode: fmt.Sprintf("69%011d", i), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
		},
		Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
	}
}

// Append appends n sales one by one, each committed as the counter does.
func (tl *Till) Append(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		if _, err := tl.L.Append(Sale(tl.Pharmacy, tl.Name, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// Backlog appends n sales a few hundred per transaction, as if the network
// had been away while they were made.
func (tl *Till) Backlog(t testing.TB, n int) {
	t.Helper()
	for i := 0; i < n; i += 500 {
		rs := make([]*feed.Record, min(500, n-i))
		for j := range rs {
			rs[j] = Sale(tl.Pharmacy, tl.Name, i+j)
		}
		if _, err := tl.L.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
	}
}

// Drained reports whether the bureau has acknowledged the whole ledger.
func (tl *Till) Drained(t testing.TB) func() bool {
	return func() bool {
		depth, _, err := tl.L.Outbox()
		if err != nil {
			t.Fatal(err)
		}
		return depth == 0 && tl.L.Acked() == tl.L.Head()
	}
}

// SameRecords checks that st holds exactly the till's ledger: 1..head,
// byte for byte, with the till's signatures.
func SameRecords(t testing.TB, tl *Till, st archive.Store) {
	t.Helper()
	head := tl.L.Head()
	ctx := context.Background()
	w, err := st.Watermark(ctx, tl.Pharmacy, tl.Name)
	if err != nil || w.Seq != head {
		t.Fatalf("%s: store watermark %d (%v), ledger head %d", tl.ID(), w.Seq, err, head)
	}
	n := uint64(0)
	err = st.Scan(ctx, tl.Pharmacy, tl.Name, 1, 0, func(seq uint64, rec, sig []byte) error {
		n++
		e, err := tl.L.Get(seq)
		if err != nil {
			return err
		}
		if seq != n || !bytes.Equal(rec, e.Rec) || !bytes.Equal(sig, e.Sig) {
			return fmt.Errorf("seq %d: store differs from ledger", seq)
		}
		return nil
	})
	if err != nil || n != head {
		t.Fatalf("%s: scanned %d of %d: %v", tl.ID(), n, head, err)
	}
}

// NoAlarms fails the test for every alarm st holds.
func NoAlarms(t testing.TB, st archive.Store) {
	t.Helper()
	for _, a := range Alarms(t, st) {
		t.Errorf("unexpected alarm %+v", a)
	}
}

// Alarms returns every alarm st holds, oldest first.
func Alarms(t testing.TB, st archive.Store) []archive.Alarm {
	t.Helper()
	as, err := st.Alarms(context.Background(), archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// Until polls cond until it holds, or fails the test after timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Runner runs something until stopped or the test ends.
type Runner struct {
	cancel context.CancelFunc
	done   chan error
}

// Run runs f in a goroutine until Stop or the test's end.
func Run(t testing.TB, f func(ctx context.Context) error) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- f(ctx) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop ends the run and fails the test if f returned an error or did not
// return within 10 s. Stopping again does nothing.
func (r *Runner) Stop(t testing.TB) {
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

// StartUplink runs an uplink of the till to the broker at url.
func StartUplink(t testing.TB, tl *Till, url, clientID string, opts *uplink.Opts) (*uplink.Uplink, *Runner) {
	u := uplink.New(tl.L, tl.Pharmacy, tl.Name, opts)
	return u, Run(t, func(ctx context.Context) error {
		return u.Run(ctx, mqttclient.Options{Broker: url, ClientID: clientID, CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	})
}

// LogOnFailure returns a writer that keeps what a child process writes and
// logs it, prefixed, only if the test fails.
func LogOnFailure(t testing.TB, prefix string) io.Writer {
	w := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, line := range strings.Split(strings.TrimRight(w.b.String(), "\n"), "\n") {
				t.Log(prefix + line)
			}
		}
	})
	return w
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
