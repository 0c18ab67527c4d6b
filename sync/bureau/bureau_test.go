package bureau

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

func TestProcess_storesChainAndAcks(t *testing.T) {
	b, st, c := setup(t)
	if got := acksString(b.process(next(c), next(c), next(c))); got != "P1/T1:3" {
		t.Fatalf("acks %q", got)
	}
	// The next batch chains onto what the store holds.
	if got := acksString(b.process(next(c))); got != "P1/T1:4" {
		t.Fatalf("acks %q", got)
	}
	if n := watermark(t, st, "P1", "T1"); n != 4 {
		t.Fatalf("watermark %d", n)
	}
	if kinds := alarmKinds(t, st); len(kinds) != 0 {
		t.Fatalf("alarms %v", kinds)
	}
	if s := b.Stats(); s.Received != 4 || s.Stored != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// Each case runs on a till that already has seq 1 and 2 stored.
func TestProcess_refusals(t *testing.T) {
	cases := []struct {
		name       string
		msgs       func(c, other *archivetest.Chain) []mqttclient.Message
		wantAlarms []string
		wantAcks   string
		wantContig uint64
	}{
		{
			name: "forged signature",
			msgs: func(c, other *archivetest.Chain) []mqttclient.Message {
				in := c.Seal(c.Template())
				in.Sig = ed25519.Sign(other.Key, in.Rec)
				return []mqttclient.Message{msg(in)}
			},
			wantAlarms: []string{archive.AlarmBadSignature}, wantContig: 2,
		},
		{
			name: "short signature",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				in := c.Seal(c.Template())
				in.Sig = []byte{1, 2, 3}
				return []mqttclient.Message{msg(in)}
			},
			wantAlarms: []string{archive.AlarmBadSignature}, wantContig: 2,
		},
		{
			name: "broken chain",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				r := c.Template()
				r.Prev = feed.Hash([]byte("something else"))
				return []mqttclient.Message{msg(c.Seal(r))}
			},
			wantAlarms: []string{archive.AlarmBadChain}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "replay",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				return []mqttclient.Message{msg(c.Record(1)), msg(c.Record(2))}
			},
			wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "conflict",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				r := *c.Record(2).Parsed
				r.Cashier = "someone else"
				return []mqttclient.Message{msg(c.Seal(r))}
			},
			wantAlarms: []string{archive.AlarmConflict}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "a hole waits, no alarm yet",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				c.Next(nil) // seq 3, lost on the way
				return []mqttclient.Message{next(c), next(c)}
			},
			wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "unenrolled till",
			msgs: func(_, other *archivetest.Chain) []mqttclient.Message {
				return []mqttclient.Message{next(other), next(other)}
			},
			wantAlarms: []string{archive.AlarmUnenrolled}, wantContig: 2,
		},
		{
			name: "record on another till's topic",
			msgs: func(c, other *archivetest.Chain) []mqttclient.Message {
				m := next(c)
				m.Topic = feed.TillTopic(other.Pharmacy, other.Till, feed.LeafTx)
				return []mqttclient.Message{m}
			},
			wantAlarms: []string{archive.AlarmBadPayload}, wantContig: 2,
		},
		{
			name: "not an envelope",
			msgs: func(*archivetest.Chain, *archivetest.Chain) []mqttclient.Message {
				return []mqttclient.Message{{Topic: feed.TillTopic("P1", "T1", feed.LeafTx), Payload: []byte("hello")}}
			},
			wantAlarms: []string{archive.AlarmBadPayload}, wantContig: 2,
		},
		{
			name: "wrong leaf",
			msgs: func(c, _ *archivetest.Chain) []mqttclient.Message {
				m := next(c)
				m.Topic = feed.TillTopic("P1", "T1", feed.LeafAck)
				return []mqttclient.Message{m}
			},
			wantAlarms: []string{archive.AlarmBadPayload}, wantContig: 2,
		},
		{
			name: "good record after a bad one in the same batch",
			msgs: func(c, other *archivetest.Chain) []mqttclient.Message {
				forged := c.Seal(c.Template())
				forged.Sig = ed25519.Sign(other.Key, forged.Rec)
				return []mqttclient.Message{msg(forged), next(c)}
			},
			wantAlarms: []string{archive.AlarmBadSignature}, wantAcks: "P1/T1:3", wantContig: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, st, c := setup(t)
			other := archivetest.NewChain("P2", "T9")
			if got := acksString(b.process(next(c), next(c))); got != "P1/T1:2" {
				t.Fatalf("setup acks %q", got)
			}
			msgs := tc.msgs(c, other)
			if got := acksString(b.process(msgs...)); got != tc.wantAcks {
				t.Errorf("acks %q, want %q", got, tc.wantAcks)
			}
			if got := alarmKinds(t, st); !slices.Equal(got, tc.wantAlarms) {
				t.Errorf("alarms %v, want %v", got, tc.wantAlarms)
			}
			// The same messages again: the same alarm, raised once.
			b.process(msgs...)
			if got := alarmKinds(t, st); !slices.Equal(got, tc.wantAlarms) {
				t.Errorf("alarms after a resend %v, want %v", got, tc.wantAlarms)
			}
			if n := watermark(t, st, "P1", "T1"); n != tc.wantContig {
				t.Errorf("watermark %d, want %d", n, tc.wantContig)
			}
			// Nothing refused reached the store.
			tills, err := st.Tills(ctx, archive.TillQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tills) != 1 || tills[0].Count != tc.wantContig {
				t.Errorf("store %+v, want only P1/T1 with %d records", tills, tc.wantContig)
			}
		})
	}
}

func TestProcess_twoTills(t *testing.T) {
	st := openStore(t)
	a, c := archivetest.NewChain("P1", "T1"), archivetest.NewChain("P2", "T2")
	b := New(st, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": a.Pub(), "P2/T2": c.Pub()}})
	acks := b.process(next(a), next(c), next(a), next(c), next(c))
	slices.SortFunc(acks, func(x, y archive.Watermark) int { return compareTill(x, y) })
	if got := acksString(acks); got != "P1/T1:2 P2/T2:3" {
		t.Fatalf("acks %q", got)
	}
}

func compareTill(x, y archive.Watermark) int {
	switch {
	case x.Pharmacy+"/"+x.Till < y.Pharmacy+"/"+y.Till:
		return -1
	case x.Pharmacy+"/"+x.Till > y.Pharmacy+"/"+y.Till:
		return 1
	}
	return 0
}

func TestProcess_bigBatchVerifiedInParallel(t *testing.T) {
	b, st, c := setup(t)
	var msgs []mqttclient.Message
	for range 3 * parallelMin {
		msgs = append(msgs, next(c))
	}
	// One forged record in the middle: everything after it waits.
	bad := c.Record(parallelMin + 1)
	bad.Sig = append([]byte(nil), bad.Sig...)
	bad.Sig[0] ^= 1
	msgs[parallelMin] = msg(bad)
	if got, want := acksString(b.process(msgs...)), fmt.Sprintf("P1/T1:%d", parallelMin); got != want {
		t.Fatalf("acks %q, want %q", got, want)
	}
	if got := alarmKinds(t, st); !slices.Equal(got, []string{archive.AlarmBadSignature}) {
		t.Fatalf("alarms %v", got)
	}
	// The genuine record comes again: everything waiting is stored.
	if got, want := acksString(b.process(msg(c.Record(parallelMin+1)))), fmt.Sprintf("P1/T1:%d", 3*parallelMin); got != want {
		t.Fatalf("acks %q, want %q", got, want)
	}
}

func TestParallel_callsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, parallelMin - 1, parallelMin, 3*parallelMin + 1} {
		calls := make([]int32, n)
		parallel(n, func(lo, hi int) { // each i once: no two workers share an index
			for i := lo; i < hi; i++ {
				calls[i]++
			}
		})
		for i, c := range calls {
			if c != 1 {
				t.Fatalf("n=%d: index %d called %d times", n, i, c)
			}
		}
	}
}

// failingPut fails every Put, as a store that lost its disk or database.
type failingPut struct{ archive.Store }

func (failingPut) Put(context.Context, []archive.Incoming) (archive.Result, error) {
	return archive.Result{}, errors.New("disk full")
}

func TestProcess_noAckWhenStoreFails(t *testing.T) {
	c := archivetest.NewChain("P1", "T1")
	b := New(failingPut{openStore(t)}, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": c.Pub()}})
	if acks := b.process(next(c)); len(acks) != 0 {
		t.Fatalf("acked %q although nothing was stored", acksString(acks))
	}
	if s := b.Stats(); s.StoreFails != 1 || s.Stored != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func FuzzProcess(f *testing.F) {
	c := archivetest.NewChain("P1", "T1")
	good := next(c)
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), good.Payload)
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte(`{"rec":{"seq":1,"pharmacy":"P1","till":"T1"},"sig":""}`))
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte(`{"rec":"x","sig":"AAAA"}`))
	f.Add("tillguard/v1/P1/T1", []byte(`{}`))
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte("\x00\xff"))
	st := openStore(f)
	b := New(st, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": c.Pub()}})
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		if rec, _, sig, err := feed.Open(payload); err == nil && ed25519.Verify(c.Pub(), rec, sig) {
			return // a genuine record (the seed, re-wrapped) may be stored
		}
		for _, a := range b.process(mqttclient.Message{Topic: topic, Payload: payload}) {
			if a.Seq != 0 {
				t.Fatalf("ack %+v for a random payload", a)
			}
		}
		if tills, err := st.Tills(ctx, archive.TillQuery{}); err != nil || len(tills) != 0 && tills[0].Count != 0 {
			t.Fatalf("random payload %q on %q stored: %+v %v", payload, topic, tills, err)
		}
	})
}
