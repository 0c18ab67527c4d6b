package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
)

func TestHandleAck(t *testing.T) {
	cases := []struct {
		name      string
		payload   string
		wantAcked uint64
		wantBad   uint64
	}{
		{"moves the outbox", `{"upto_seq":3}`, 3, 0},
		{"whole outbox", `{"upto_seq":5}`, 5, 0},
		{"zero is stale", `{"upto_seq":0}`, 0, 0},
		{"beyond head", `{"upto_seq":6}`, 0, 1},
		{"far beyond head", `{"upto_seq":18446744073709551615}`, 0, 1},
		{"not json", `upto 3`, 0, 1},
		{"empty", ``, 0, 1},
		{"no upto_seq", `{"seq":3}`, 0, 1},
		{"negative", `{"upto_seq":-1}`, 0, 1},
		{"string", `{"upto_seq":"3"}`, 0, 1},
		{"float", `{"upto_seq":2.5}`, 0, 1},
		{"null", `{"upto_seq":null}`, 0, 1},
		{"array", `[3]`, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ob := newFakeOutbox(t, 5)
			u := New(ob, "P1", "T1", nil)
			u.handleAck([]byte(tc.payload))
			u.applyAcks()
			st := u.State()
			if ob.Acked() != tc.wantAcked || st.AckedSeq != tc.wantAcked {
				t.Errorf("acked = %d (state %d), want %d", ob.Acked(), st.AckedSeq, tc.wantAcked)
			}
			if refused := st.ForgedAcks + st.MismatchedAcks + st.RegressedAcks; refused != tc.wantBad {
				t.Errorf("refused acks = %d (%+v), want %d", refused, st, tc.wantBad)
			}
			if tc.wantAcked > 0 && st.LastAck.IsZero() {
				t.Error("LastAck not set on progress")
			}
		})
	}
}

func TestHandleAck_coalesces(t *testing.T) {
	ob := newFakeOutbox(t, 10)
	u := New(ob, "P1", "T1", nil)
	for _, n := range []int{2, 5, 3} {
		u.handleAck(fmt.Appendf(nil, `{"upto_seq":%d}`, n))
	}
	if ob.Acked() != 0 {
		t.Fatal("ledger written on the receiving goroutine")
	}
	u.applyAcks()
	if ob.Acked() != 5 || u.staleUpto != 4 {
		t.Fatalf("acked %d, stale note %d; want 5 and 4 (the 3 after the 5)", ob.Acked(), u.staleUpto)
	}
}

func TestHandleAck_neverGoesBack(t *testing.T) {
	ob := newFakeOutbox(t, 10)
	u := New(ob, "P1", "T1", nil)
	for _, n := range []int{4, 2, 7, 7, 1} {
		u.handleAck(fmt.Appendf(nil, `{"upto_seq":%d}`, n))
		u.applyAcks()
	}
	if got := ob.Acked(); got != 7 {
		t.Fatalf("acked = %d, want 7", got)
	}
}

func FuzzHandleAck(f *testing.F) {
	for _, s := range []string{`{"upto_seq":3}`, `{"upto_seq":99}`, `{}`, `null`, `{"upto_seq":1e3}`, "\xff", `{"upto_seq":3,"upto_seq":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ob := newFakeOutbox(t, 10)
		ob.Ack(4)
		u := New(ob, "P1", "T1", nil)
		u.handleAck(payload)
		u.applyAcks() // fakeOutbox fails the test on an Ack beyond head
		after := ob.Acked()
		if after < 4 || after > 10 {
			t.Fatalf("acked = %d after %q", after, payload)
		}
		st := u.State()
		if after != 4 && st.ForgedAcks+st.MismatchedAcks+st.RegressedAcks != 0 {
			t.Fatalf("acted on a payload it counted as bad: %q", payload)
		}
		if after != 4 && st.AckedSeq != after {
			t.Fatalf("state acked %d, ledger %d", st.AckedSeq, after)
		}
	})
}

// runLoop runs u's loop against a fake broker until the test ends.
func runLoop(t *testing.T, u *Uplink, b *fakeBroker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		u.loop(ctx, b)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func TestLoop_sendsInOrderWithinWindow(t *testing.T) {
	ob := newFakeOutbox(t, 100)
	u := New(ob, "P1", "T1", &Opts{Window: 10, AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	signal(u.connSig)
	until(t, "first window sent", func() bool { return len(b.txSeqs()) == 10 })
	// The window is full: nothing more goes out until an ack.
	select {
	case <-b.sent:
	default:
	}
	u.handleAck([]byte(`{"upto_seq":5}`))
	until(t, "window slides", func() bool { return len(b.txSeqs()) == 15 })
	for i, s := range b.txSeqs() {
		if s != uint64(i+1) {
			t.Fatalf("tx order %v", b.txSeqs())
		}
	}
	if st := u.State(); st.SentSeq != 15 || st.AckedSeq != 5 {
		t.Fatalf("state %+v", st)
	}
}

func TestLoop_nothingSentBeforeConnect(t *testing.T) {
	ob := newFakeOutbox(t, 3)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	ob.append()
	signal(u.connSig)
	until(t, "records after connect", func() bool { return len(b.txSeqs()) == 4 })
	b.mu.Lock()
	first := b.msgs[0]
	b.mu.Unlock()
	if !strings.HasSuffix(first.Topic, "/status") || !first.Retained || !strings.Contains(string(first.Payload), `"online"`) {
		t.Fatalf("first message %s %q, want the retained online status", first.Topic, first.Payload)
	}
}

func TestLoop_ackTimeoutProbesFromAcked(t *testing.T) {
	ob := newFakeOutbox(t, 6)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: 50 * time.Millisecond})
	b := newFakeBroker()
	runLoop(t, u, b)
	signal(u.connSig)
	until(t, "first round", func() bool { return len(b.txSeqs()) == 6 })
	u.handleAck([]byte(`{"upto_seq":2}`))
	until(t, "resend after silence", func() bool { return len(b.txSeqs()) >= 7 })
	if u.State().Resends == 0 {
		t.Fatal("resend not counted")
	}
	// Silence: only the first record the bureau lacks goes again, once
	// per ack timeout, until the bureau acks it.
	u.handleAck([]byte(`{"upto_seq":3}`))
	until(t, "window open again", func() bool { s := b.txSeqs(); return s[len(s)-1] == 6 })
	resent := b.txSeqs()[6:]
	probes := 0
	for probes < len(resent) && resent[probes] == 3 {
		probes++
	}
	if probes == 0 || fmt.Sprint(resent[probes:]) != "[4 5 6]" {
		t.Fatalf("sent again %v, want 3 (as often as the bureau stayed silent), then 4 5 6", resent)
	}
	u.handleAck([]byte(`{"upto_seq":6}`))
	until(t, "outbox empty", func() bool { return ob.Acked() == 6 })
}

func TestLoop_reconnectResendsFromAcked(t *testing.T) {
	ob := newFakeOutbox(t, 4)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	signal(u.connSig)
	until(t, "first round", func() bool { return len(b.txSeqs()) == 4 })
	u.handleAck([]byte(`{"upto_seq":1}`))
	signal(u.connSig) // as after a reconnect
	until(t, "resend", func() bool { return len(b.txSeqs()) == 7 })
	if got := b.txSeqs()[4:]; fmt.Sprint(got) != "[2 3 4]" {
		t.Fatalf("resent %v, want [2 3 4]", got)
	}
}

func TestLoop_staleAckResendsAtOnce(t *testing.T) {
	ob := newFakeOutbox(t, 5)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	signal(u.connSig)
	until(t, "first round", func() bool { return len(b.txSeqs()) == 5 })
	u.handleAck([]byte(`{"upto_seq":2}`))
	until(t, "ack seen", func() bool { return u.State().AckedSeq == 2 })
	// The bureau saw a gap and says again that it has up to 2.
	u.handleAck([]byte(`{"upto_seq":2}`))
	until(t, "resend", func() bool { return len(b.txSeqs()) == 8 })
}

// TestLoop_holeAloneWhenTheBureauHoldsWhatFollows: an ack that says the
// bureau holds records beyond a hole brings the hole again, alone, and the
// stream goes on where it was; the next hole it names goes at once.
func TestLoop_holeAloneWhenTheBureauHoldsWhatFollows(t *testing.T) {
	ob := newFakeOutbox(t, 9)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	signal(u.connSig)
	until(t, "first round", func() bool { return len(b.txSeqs()) == 9 })
	u.handleAck([]byte(`{"upto_seq":2,"waiting_from":5}`)) // 3 and 4 lost
	until(t, "the hole sent again", func() bool { return len(b.txSeqs()) == 11 })
	u.handleAck([]byte(`{"upto_seq":6,"waiting_from":8}`)) // 7 lost too
	until(t, "the next hole sent again", func() bool { return len(b.txSeqs()) == 12 })
	u.handleAck([]byte(`{"upto_seq":9}`))
	until(t, "outbox empty", func() bool { return ob.Acked() == 9 })
	if got := fmt.Sprint(b.txSeqs()[9:]); got != "[3 4 7]" {
		t.Fatalf("sent again %v, want the holes [3 4 7] only", got)
	}
	if st := u.State(); st.HoleResends != 2 || st.Resends != 0 || st.SentSeq != 9 {
		t.Fatalf("state %+v, want two holes resent, no round restarted, sent up to 9", st)
	}
}

func TestLoop_downStopsSendingUntilReconnect(t *testing.T) {
	ob := newFakeOutbox(t, 0)
	u := New(ob, "P1", "T1", &Opts{AckTimeout: time.Hour})
	b := newFakeBroker()
	runLoop(t, u, b)
	b.setDown(true)
	signal(u.connSig)
	ob.append()
	until(t, "publish attempt while down", func() bool { return u.State().SentSeq == 0 && len(b.txSeqs()) == 0 })
	b.setDown(false)
	ob.append()
	signal(u.connSig)
	until(t, "records after reconnect", func() bool { return fmt.Sprint(b.txSeqs()) == "[1 2]" })
}

// TestHandleAck_signed: with the bureau's key, only an ack the bureau
// signed, for this till and for the till's own record, clears the
// outbox; every other is refused, counted and reported, the outbox intact.
func TestHandleAck_signed(t *testing.T) {
	seed := sha256.Sum256([]byte("bureau"))
	key := ed25519.NewKeyFromSeed(seed[:])
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	ob := newFakeOutbox(t, 5)
	own := func(seq uint64) string { e, _ := ob.Get(seq); return feed.Hash(e.Rec) }
	ack := func(seq uint64) feed.Ack {
		return feed.Ack{Pharmacy: "P1", Till: "T1", UptoSeq: seq, Hash: own(seq), At: "2026-03-02T09:00:00Z"}
	}
	cases := []struct {
		name  string
		ack   feed.Ack
		key   ed25519.PrivateKey // nil: unsigned
		acked uint64
		kind  string
	}{
		{"signed, own record", ack(3), key, 3, ""},
		{"unsigned", ack(3), nil, 0, AckForged},
		{"another key", ack(3), other, 0, AckForged},
		{"another till's", func() feed.Ack { a := ack(3); a.Till = "T2"; return a }(), key, 0, AckForged},
		{"no hash", func() feed.Ack { a := ack(3); a.Hash = ""; return a }(), key, 0, AckForged},
		{"other bytes", func() feed.Ack { a := ack(3); a.Hash = feed.Hash([]byte("x")); return a }(), key, 0, AckMismatch},
		{"beyond head", func() feed.Ack { a := ack(3); a.UptoSeq = 9; return a }(), key, 0, AckMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ob := newFakeOutbox(t, 5)
			var told []AckRefusal
			u := New(ob, "P1", "T1", &Opts{BureauKey: key.Public().(ed25519.PublicKey), OnAckRefused: func(r AckRefusal) { told = append(told, r) }})
			a := tc.ack
			if tc.key != nil {
				a = feed.SignAck(a, tc.key)
			}
			payload, _ := json.Marshal(a)
			u.handleAck(payload)
			u.applyAcks()
			if ob.Acked() != tc.acked {
				t.Errorf("acked %d, want %d", ob.Acked(), tc.acked)
			}
			switch {
			case tc.kind == "" && len(told) > 0:
				t.Errorf("refused: %+v", told)
			case tc.kind != "" && (len(told) != 1 || told[0].Kind != tc.kind || told[0].Detail == ""):
				t.Errorf("told %+v, want one %s", told, tc.kind)
			}
			if st := u.State(); !st.Signed || st.ForgedAcks+st.MismatchedAcks != uint64(len(told)) {
				t.Errorf("state %+v after %d refusals", st, len(told))
			}
		})
	}
}

// TestHandleAck_regressed: a lower ack from well after the highest one is
// the bureau going back, and says so until an ack moves the outbox again;
// one from about the same time is a receiver's late ack, and only stale.
func TestHandleAck_regressed(t *testing.T) {
	ob := newFakeOutbox(t, 9)
	var told []string
	progressed := 0
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	u := New(ob, "P1", "T1", &Opts{
		Now:           func() time.Time { return t0.Add(-time.Hour) }, // the till started an hour before
		OnAckRefused:  func(r AckRefusal) { told = append(told, r.Kind) },
		OnAckProgress: func() { progressed++ },
	})
	send := func(seq uint64, at time.Time) {
		e, _ := ob.Get(seq)
		payload, _ := json.Marshal(feed.Ack{Pharmacy: "P1", Till: "T1", UptoSeq: seq, Hash: feed.Hash(e.Rec), At: at.Format(time.RFC3339)})
		u.handleAck(payload)
		u.applyAcks()
	}
	send(5, t0)
	send(3, t0.Add(10*time.Second)) // another receiver's, published late
	if len(told) != 0 || ob.Acked() != 5 {
		t.Fatalf("a late ack: told %v, acked %d", told, ob.Acked())
	}
	send(3, t0.Add(2*time.Minute))
	if len(told) != 1 || told[0] != AckRegressed || ob.Acked() != 5 || u.State().RegressedAcks != 1 {
		t.Fatalf("a lower ack later: told %v, acked %d", told, ob.Acked())
	}
	send(7, t0.Add(3*time.Minute))
	if ob.Acked() != 7 || progressed != 1 {
		t.Errorf("progress after the regression: acked %d, told %d times", ob.Acked(), progressed)
	}
}

// TestHandleAck_trial: without the bureau's key, unsigned acks are taken,
// but one naming other bytes or another till is still refused.
func TestHandleAck_trial(t *testing.T) {
	ob := newFakeOutbox(t, 5)
	u := New(ob, "P1", "T1", nil)
	for _, p := range []string{
		`{"pharmacy":"P1","till":"T1","upto_seq":2,"hash":"00"}`,
		`{"pharmacy":"P1","till":"T9","upto_seq":2}`,
	} {
		u.handleAck([]byte(p))
	}
	u.handleAck([]byte(`{"upto_seq":3}`))
	u.applyAcks()
	if st := u.State(); ob.Acked() != 3 || st.MismatchedAcks != 1 || st.ForgedAcks != 1 || st.Signed {
		t.Errorf("acked %d, state %+v", ob.Acked(), st)
	}
}

// TestStatus_signed: the retained status names the head's hash and, with
// the till's key, verifies as this till's.
func TestStatus_signed(t *testing.T) {
	seed := sha256.Sum256([]byte("till"))
	key := ed25519.NewKeyFromSeed(seed[:])
	ob := newFakeOutbox(t, 3)
	for _, k := range []ed25519.PrivateKey{nil, key} {
		u := New(ob, "P1", "T1", &Opts{StatusKey: k})
		var st feed.Status
		if err := json.Unmarshal(u.status(feed.StateOnline), &st); err != nil {
			t.Fatal(err)
		}
		e, _ := ob.Get(3)
		if st.HeadSeq != 3 || st.HeadHash != feed.Hash(e.Rec) {
			t.Errorf("status %+v, want head 3 and its hash", st)
		}
		if signed := st.Verify("P1", "T1", key.Public().(ed25519.PublicKey)); signed != (k != nil) {
			t.Errorf("key %v: status verifies %v", k != nil, signed)
		}
	}
}
