package bureau

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// setup returns a bureau over a fresh archive with one enrolled till.
func setup(t *testing.T) (*Bureau, *ledger.Archive, *fakeTill) {
	t.Helper()
	ar := openArchive(t)
	ft := newFakeTill(t, "P1", "T1")
	b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": ft.pub()}})
	return b, ar, ft
}

func acksString(acks []ack) string {
	var s []string
	for _, a := range acks {
		s = append(s, fmt.Sprintf("%s/%s:%d", a.pharmacy, a.till, a.upto))
	}
	return strings.Join(s, " ")
}

func TestProcess_storesChainAndAcks(t *testing.T) {
	b, ar, ft := setup(t)
	acks := b.process([]mqttclient.Message{ft.next(t), ft.next(t), ft.next(t)})
	if got := acksString(acks); got != "P1/T1:3" {
		t.Fatalf("acks %q", got)
	}
	if n := contiguous(t, ar, "P1", "T1"); n != 3 {
		t.Fatalf("contiguous %d", n)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		rec, _, err := ar.Get("P1", "T1", seq)
		if err != nil || string(rec) != string(ft.recs[seq-1]) {
			t.Fatalf("seq %d stored %q, %v", seq, rec, err)
		}
	}
	// The next batch chains onto what the archive holds.
	if got := acksString(b.process([]mqttclient.Message{ft.next(t)})); got != "P1/T1:4" {
		t.Fatalf("acks %q", got)
	}
	if len(b.Alarms()) != 0 {
		t.Fatalf("alarms %+v", b.Alarms())
	}
}

func TestProcess_outOfOrderWithinBatch(t *testing.T) {
	b, ar, ft := setup(t)
	m1, m2, m3 := ft.next(t), ft.next(t), ft.next(t)
	if got := acksString(b.process([]mqttclient.Message{m3, m1, m2})); got != "P1/T1:3" {
		t.Fatalf("acks %q, alarms %v", got, alarmKinds(b))
	}
	if n := contiguous(t, ar, "P1", "T1"); n != 3 {
		t.Fatalf("contiguous %d", n)
	}
}

// Each case runs on a till that already has seq 1 and 2 stored.
func TestProcess_refusals(t *testing.T) {
	cases := []struct {
		name       string
		msgs       func(t *testing.T, ft, other *fakeTill) []mqttclient.Message
		wantAlarms []string
		wantAcks   string
		wantContig uint64
	}{
		{
			name: "forged signature",
			msgs: func(t *testing.T, ft, other *fakeTill) []mqttclient.Message {
				rec := marshal(t, ft.record("forged"))
				return []mqttclient.Message{ft.msg(t, rec, ed25519.Sign(other.key, rec))}
			},
			wantAlarms: []string{AlarmBadSignature}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "signature of other bytes",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				rec := marshal(t, ft.record("a"))
				return []mqttclient.Message{ft.msg(t, rec, ed25519.Sign(ft.key, marshal(t, ft.record("b"))))}
			},
			wantAlarms: []string{AlarmBadSignature}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "short signature",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				return []mqttclient.Message{ft.msg(t, marshal(t, ft.record("a")), []byte{1, 2, 3})}
			},
			wantAlarms: []string{AlarmBadSignature}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "broken chain",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				r := ft.record("a")
				r.Prev = feed.Hash([]byte("something else"))
				rec := marshal(t, r)
				return []mqttclient.Message{ft.msg(t, rec, ed25519.Sign(ft.key, rec))}
			},
			wantAlarms: []string{AlarmBadChain}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "replay",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				return []mqttclient.Message{ft.msg(t, ft.recs[0], ed25519.Sign(ft.key, ft.recs[0])), ft.msg(t, ft.recs[1], ed25519.Sign(ft.key, ft.recs[1]))}
			},
			wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "conflict",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				r := ft.record("x")
				r.Seq, r.Prev = 2, feed.Hash(ft.recs[0])
				rec := marshal(t, r)
				return []mqttclient.Message{ft.msg(t, rec, ed25519.Sign(ft.key, rec))}
			},
			wantAlarms: []string{AlarmConflict}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "gap",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				ft.next(t) // seq 3, lost on the way
				return []mqttclient.Message{ft.next(t), ft.next(t)}
			},
			wantAlarms: []string{AlarmGap}, wantAcks: "P1/T1:2", wantContig: 2,
		},
		{
			name: "unenrolled till",
			msgs: func(t *testing.T, _, other *fakeTill) []mqttclient.Message {
				return []mqttclient.Message{other.next(t)}
			},
			wantAlarms: []string{AlarmUnenrolled}, wantAcks: "", wantContig: 2,
		},
		{
			name: "record on another till's topic",
			msgs: func(t *testing.T, ft, other *fakeTill) []mqttclient.Message {
				m := ft.next(t)
				m.Topic = feed.TillTopic(other.pharmacy, other.till, feed.LeafTx)
				return []mqttclient.Message{m}
			},
			wantAlarms: []string{AlarmBadPayload}, wantAcks: "", wantContig: 2,
		},
		{
			name: "not an envelope",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				return []mqttclient.Message{{Topic: feed.TillTopic("P1", "T1", feed.LeafTx), Payload: []byte("hello")}}
			},
			wantAlarms: []string{AlarmBadPayload}, wantAcks: "", wantContig: 2,
		},
		{
			name: "wrong leaf",
			msgs: func(t *testing.T, ft, _ *fakeTill) []mqttclient.Message {
				m := ft.next(t)
				m.Topic = feed.TillTopic("P1", "T1", feed.LeafAck)
				return []mqttclient.Message{m}
			},
			wantAlarms: []string{AlarmBadPayload}, wantAcks: "", wantContig: 2,
		},
		{
			name: "good record after a bad one in the same batch",
			msgs: func(t *testing.T, ft, other *fakeTill) []mqttclient.Message {
				rec := marshal(t, ft.record("forged"))
				forged := ft.msg(t, rec, ed25519.Sign(other.key, rec))
				return []mqttclient.Message{forged, ft.next(t)}
			},
			wantAlarms: []string{AlarmBadSignature}, wantAcks: "P1/T1:3", wantContig: 3,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, ar, ft := setup(t)
			other := newFakeTill(t, "P2", "T9")
			if got := acksString(b.process([]mqttclient.Message{ft.next(t), ft.next(t)})); got != "P1/T1:2" {
				t.Fatalf("setup acks %q", got)
			}
			acks := b.process(tc.msgs(t, ft, other))
			if got := alarmKinds(b); !slices.Equal(got, tc.wantAlarms) {
				t.Errorf("alarms %v, want %v", got, tc.wantAlarms)
			}
			if got := acksString(acks); got != tc.wantAcks {
				t.Errorf("acks %q, want %q", got, tc.wantAcks)
			}
			if n := contiguous(t, ar, "P1", "T1"); n != tc.wantContig {
				t.Errorf("contiguous %d, want %d", n, tc.wantContig)
			}
			// Nothing refused reached the archive.
			tills, err := ar.Tills()
			if err != nil {
				t.Fatal(err)
			}
			if len(tills) != 1 || tills[0].Count != tc.wantContig {
				t.Errorf("archive %+v, want only P1/T1 with %d records", tills, tc.wantContig)
			}
			for seq := uint64(1); seq <= tc.wantContig; seq++ {
				rec, _, err := ar.Get("P1", "T1", seq)
				if err != nil || string(rec) != string(ft.recs[seq-1]) {
					t.Errorf("seq %d: stored %q, %v", seq, rec, err)
				}
			}
		})
	}
}

func TestProcess_firstRecordNeedsEmptyPrev(t *testing.T) {
	b, ar, ft := setup(t)
	r := ft.record("a")
	r.Prev = feed.Hash([]byte("x"))
	rec := marshal(t, r)
	acks := b.process([]mqttclient.Message{ft.msg(t, rec, ed25519.Sign(ft.key, rec))})
	if got := alarmKinds(b); !slices.Equal(got, []string{AlarmBadChain}) {
		t.Fatalf("alarms %v", got)
	}
	if acksString(acks) != "P1/T1:0" || contiguous(t, ar, "P1", "T1") != 0 {
		t.Fatalf("acks %q", acksString(acks))
	}
}

func TestProcess_gapFilledLater(t *testing.T) {
	b, ar, ft := setup(t)
	m1, m2, m3 := ft.next(t), ft.next(t), ft.next(t)
	if got := acksString(b.process([]mqttclient.Message{m1, m3})); got != "P1/T1:1" {
		t.Fatalf("acks %q", got)
	}
	if got := acksString(b.process([]mqttclient.Message{m2, m3})); got != "P1/T1:3" {
		t.Fatalf("acks %q", got)
	}
	if contiguous(t, ar, "P1", "T1") != 3 {
		t.Fatal("gap not filled")
	}
}

func TestProcess_twoTills(t *testing.T) {
	ar := openArchive(t)
	a, c := newFakeTill(t, "P1", "T1"), newFakeTill(t, "P2", "T2")
	b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": a.pub(), "P2/T2": c.pub()}})
	acks := b.process([]mqttclient.Message{a.next(t), c.next(t), a.next(t), c.next(t), c.next(t)})
	if got := acksString(acks); got != "P1/T1:2 P2/T2:3" {
		t.Fatalf("acks %q", got)
	}
}

func TestProcess_bigBatchVerifiedInParallel(t *testing.T) {
	b, ar, ft := setup(t)
	var msgs []mqttclient.Message
	for range 3 * parallelMin {
		msgs = append(msgs, ft.next(t))
	}
	// One forged record in the middle: everything after it is a gap.
	rec := ft.recs[parallelMin]
	bad := append([]byte(nil), ed25519.Sign(ft.key, rec)...)
	bad[0] ^= 1
	msgs[parallelMin] = ft.msg(t, rec, bad)
	acks := b.process(msgs)
	if got, want := acksString(acks), fmt.Sprintf("P1/T1:%d", parallelMin); got != want {
		t.Fatalf("acks %q, want %q", got, want)
	}
	if got := alarmKinds(b); !slices.Equal(got, []string{AlarmBadSignature, AlarmGap}) {
		t.Fatalf("alarms %v", got)
	}
	if contiguous(t, ar, "P1", "T1") != parallelMin {
		t.Fatal("stored past the forged record")
	}
}

func TestProcess_refusalsInBatchOrderWhenParallel(t *testing.T) {
	b, _, ft := setup(t)
	stranger := newFakeTill(t, "P9", "T9") // not enrolled
	var msgs []mqttclient.Message
	for range 2 * parallelMin {
		msgs = append(msgs, ft.next(t))
	}
	// Refused messages on both workers' halves, in a known order.
	msgs = slices.Insert(msgs, 3, mqttclient.Message{Topic: "nope", Payload: []byte("x")})
	msgs = slices.Insert(msgs, len(msgs)-2, stranger.next(t))
	acks := b.process(msgs)
	if got, want := acksString(acks), fmt.Sprintf("P1/T1:%d", 2*parallelMin); got != want {
		t.Fatalf("acks %q, want %q", got, want)
	}
	if got := alarmKinds(b); !slices.Equal(got, []string{AlarmBadPayload, AlarmUnenrolled}) {
		t.Fatalf("alarms %v", got)
	}
	if st := b.Stats(); st.Received != uint64(len(msgs)) || st.Stored != 2*parallelMin {
		t.Fatalf("stats %+v", st)
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

// failingStore fails every write.
type failingStore struct{ store }

func (failingStore) PutBatch([]ledger.Incoming) ([]ledger.Outcome, error) {
	return nil, fmt.Errorf("disk full")
}

func TestProcess_noAckWhenStoreFails(t *testing.T) {
	ar := openArchive(t)
	ft := newFakeTill(t, "P1", "T1")
	b := newBureau(failingStore{ar}, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": ft.pub()}})
	if acks := b.process([]mqttclient.Message{ft.next(t)}); len(acks) != 0 {
		t.Fatalf("acked %q although nothing was stored", acksString(acks))
	}
}

func TestAlarms_bounded(t *testing.T) {
	b, _, _ := setup(t)
	msgs := make([]mqttclient.Message, maxAlarms+10)
	for i := range msgs {
		msgs[i] = mqttclient.Message{Topic: "nope", Payload: []byte("x")}
	}
	b.process(msgs)
	if n := len(b.Alarms()); n != maxAlarms {
		t.Fatalf("%d alarms kept", n)
	}
	if n := b.AlarmCounts()[AlarmBadPayload]; n != maxAlarms+10 {
		t.Fatalf("%d counted", n)
	}
}

func FuzzProcess(f *testing.F) {
	ft := newFakeTill(f, "P1", "T1")
	good := ft.next(f)
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), good.Payload)
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte(`{"rec":{"seq":1,"pharmacy":"P1","till":"T1"},"sig":""}`))
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte(`{"rec":"x","sig":"AAAA"}`))
	f.Add("tillguard/v1/P1/T1", []byte(`{}`))
	f.Add(feed.TillTopic("P1", "T1", feed.LeafTx), []byte("\x00\xff"))
	ar := openArchive(f)
	b := New(ar, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": ft.pub()}})
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		if rec, _, sig, err := feed.Open(payload); err == nil && ed25519.Verify(ft.pub(), rec, sig) {
			return // a genuine record (the seed, re-wrapped) may be stored
		}
		acks := b.process([]mqttclient.Message{{Topic: topic, Payload: payload}})
		for _, a := range acks {
			if a.upto != 0 {
				t.Fatalf("ack %+v for a random payload", a)
			}
		}
		tills, err := ar.Tills()
		if err != nil {
			t.Fatal(err)
		}
		if len(tills) != 0 {
			t.Fatalf("random payload %q on %q stored: %+v", payload, topic, tills)
		}
	})
}
