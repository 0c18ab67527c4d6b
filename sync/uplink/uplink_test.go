package uplink

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
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
			if st.BadAcks != tc.wantBad {
				t.Errorf("bad acks = %d, want %d", st.BadAcks, tc.wantBad)
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
		if after != 4 && st.BadAcks != 0 {
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
