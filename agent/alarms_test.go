package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// TestAlarms_causes: a kind raised for two causes is two alarms, each
// cleared on its own; a cause raised again keeps its first time.
func TestAlarms_causes(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a := &alarms{now: func() time.Time { return now }}
	a.raise("ledger", "cannot persist")
	now = now.Add(time.Minute)
	a.raiseFor(causeChain, web.Alarm{Kind: "ledger", Detail: "record 7", Seq: 7})
	a.raise("ledger", "cannot persist, still")
	got := a.list()
	if len(got) != 2 || got[0].Detail != "cannot persist, still" || got[0].Since != "2026-03-02T09:00:00Z" || got[1].Seq != 7 {
		t.Fatalf("alarms = %+v", got)
	}
	a.clear("ledger") // a write succeeded
	if got := a.list(); len(got) != 1 || got[0].Seq != 7 {
		t.Errorf("after the write cleared its cause: %+v, want the chain alarm", got)
	}
}

// testLedger is a real ledger of n typical sales, appended in batches.
func testLedger(tb testing.TB, dir string, n int) *ledger.Ledger {
	tb.Helper()
	seed := sha256.Sum256([]byte("chain"))
	l, err := ledger.Open(filepath.Join(dir, "ledger.db"), ed25519.NewKeyFromSeed(seed[:]), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	for int(l.Head()) < n {
		rs := make([]*feed.Record, min(1000, n-int(l.Head())))
		for j := range rs {
			rs[j] = &feed.Record{
				Pharmacy: "H33010200001", Till: "T01", Kind: feed.KindSale,
				Card:    &feed.Card{Type: feed.CardSSC, No: "330100********1234", Region: "330100", Name: "张*"},
				Cashier: "c01",
				Lines: []feed.Line{
					{Barcode: "6901234567892", MedListCodg: "XA01ABC123B001010100001", Name: "阿莫西林胶囊", Qty: 2, Days: 7, PriceFen: 1850, Decision: feed.Allow, Pay: "insurance"},
					{Barcode: fmt.Sprintf("69%011d", int(l.Head())+j), Name: "维生素C片", Qty: 1, PriceFen: 990, Decision: feed.Allow, Pay: "cash"},
				},
				Payment: &feed.Payment{Method: "split", InsuranceFen: 3700, CashFen: 990},
			}
		}
		if _, err := l.AppendBatch(rs); err != nil {
			tb.Fatal(err)
		}
	}
	return l
}

func newTestCheck(l chainLedger) *chainCheck {
	return newChainCheck(l, &alarms{now: time.Now}, slog.New(slog.DiscardHandler), time.Now)
}

// TestChainCheck_soundLedger: a sound ledger walks clean and holds
// nothing back once walked, and everything before.
func TestChainCheck_soundLedger(t *testing.T) {
	l := testLedger(t, t.TempDir(), 600) // more than one Scan chunk
	c := newTestCheck(l)
	if c.sendLimit() != 0 {
		t.Errorf("before the first walk: limit %d, want 0", c.sendLimit())
	}
	c.run(context.Background())
	if st := c.status(); !st.OK || st.Checked == "" || c.sendLimit() != ^uint64(0) || c.heldFrom() != 0 {
		t.Errorf("sound ledger: %+v, limit %d, held %d", st, c.sendLimit(), c.heldFrom())
	}
	select {
	case <-c.first:
	default:
		t.Error("the first walk did not say it ended")
	}
}

// editedLedger is a ledger whose record seq reads back with one byte
// changed, as a record edited on disk without the till's key.
type editedLedger struct {
	*ledger.Ledger
	seq uint64
}

func (l editedLedger) Scan(from uint64, fn func(ledger.Entry) error) error {
	return l.Ledger.Scan(from, func(e ledger.Entry) error {
		if e.Seq == l.seq {
			e.Rec = append([]byte(nil), e.Rec...)
			e.Rec[len(e.Rec)-2] ^= 1
		}
		return fn(e)
	})
}

// TestChainCheck_firstWalkVouches: while the first walk runs, the uplink
// may send what the walk has vouched for, and is told as that grows; an
// edited record is never within it.
func TestChainCheck_firstWalkVouches(t *testing.T) {
	const bad = 2*vouchEvery + 7
	l := testLedger(t, t.TempDir(), 3*vouchEvery)
	for _, tc := range []struct {
		name    string
		led     chainLedger
		maxSeen uint64
	}{
		{"sound", l, 3*vouchEvery - 1},
		{"edited", editedLedger{l, bad}, 2*vouchEvery - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCheck(tc.led)
			var seen []uint64
			c.progress = func() { seen = append(seen, c.sendLimit()) }
			if c.sendLimit() != 0 {
				t.Errorf("before the first walk: limit %d, want 0", c.sendLimit())
			}
			c.run(context.Background())
			if len(seen) == 0 || seen[0] != vouchEvery-1 || seen[len(seen)-1] != tc.maxSeen {
				t.Errorf("limits told during the walk: %v, want %d … %d", seen, vouchEvery-1, tc.maxSeen)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] <= seen[i-1] {
					t.Errorf("limit went from %d to %d", seen[i-1], seen[i])
				}
			}
			if tc.name == "edited" && (c.heldFrom() != bad || c.sendLimit() != bad-1) {
				t.Errorf("after the walk: held from %d, limit %d, want %d", c.heldFrom(), c.sendLimit(), bad)
			}
			n := len(seen)
			c.run(context.Background()) // a later walk tells nothing as it goes
			if len(seen) != n {
				t.Errorf("a later walk told the uplink %v", seen[n:])
			}
		})
	}
}

// TestChainCheck_blame: when a record does not link to its predecessor,
// the predecessor is blamed if its signature fails (its bytes changed),
// else the record (its prev changed).
func TestChainCheck_blame(t *testing.T) {
	l := testLedger(t, t.TempDir(), 3)
	c := newTestCheck(l)
	e1, err := l.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := l.Get(2)
	var brk *chainBreak
	if err := c.badLink(e1, e2); !errors.As(err, &brk) || brk.seq != 2 {
		t.Errorf("sound predecessor: blamed %v, want record 2", err)
	}
	edited := e1
	edited.Rec = append([]byte(nil), e1.Rec...)
	edited.Rec[len(edited.Rec)-2] ^= 1
	if err := c.badLink(edited, e2); !errors.As(err, &brk) || brk.seq != 1 {
		t.Errorf("edited predecessor: blamed %v, want record 1", err)
	}
	// The uplink stops below a blamed record, never below what the
	// bureau already has.
	c.once.Do(func() { close(c.first) }) // as a walk that found record 2 bad
	c.mu.Lock()
	c.badSeq = 2
	c.mu.Unlock()
	if c.sendLimit() != 1 || c.heldFrom() != 2 {
		t.Errorf("bad 2: limit %d held %d, want 1 and 2", c.sendLimit(), c.heldFrom())
	}
}

// BenchmarkChainWalk is the cost of the periodic check on docs/performance.md's
// 100 000-record ledger, next to ledger.Verify's full check (-benchtime=1x;
// building the ledger is not timed).
func BenchmarkChainWalk(b *testing.B) {
	l := testLedger(b, b.TempDir(), 100_000)
	c := newTestCheck(l)
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if err := c.walk(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := l.Verify(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/check")
	})
}
