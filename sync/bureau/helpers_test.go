package bureau

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

var ctx = context.Background()

func openStore(t testing.TB) archive.Store {
	t.Helper()
	st, err := boltarchive.Open(filepath.Join(t.TempDir(), "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// setup returns a bureau over a fresh store with one enrolled till.
func setup(t testing.TB) (*Bureau, archive.Store, *archivetest.Chain) {
	t.Helper()
	st := openStore(t)
	c := archivetest.NewChain("P1", "T1")
	b := New(st, &Opts{Enrolled: map[string]ed25519.PublicKey{"P1/T1": c.Pub()}})
	return b, st, c
}

// process admits and stores one batch as Run's stages do, and returns the
// watermarks to ack.
func (b *Bureau) process(msgs ...mqttclient.Message) []archive.Watermark {
	return b.put(ctx, b.admitAll(ctx, msgs))
}

// msg is in as its till publishes it.
func msg(in archive.Incoming) mqttclient.Message {
	topic, payload := archivetest.Message(in)
	return mqttclient.Message{Topic: topic, Payload: payload, QoS: 1}
}

// next appends a record to c and returns its message.
func next(c *archivetest.Chain) mqttclient.Message { return msg(c.Next(nil)) }

func acksString(acks []archive.Watermark) string {
	var s []string
	for _, a := range acks {
		s = append(s, fmt.Sprintf("%s/%s:%d", a.Pharmacy, a.Till, a.Seq))
	}
	return strings.Join(s, " ")
}

func watermark(t testing.TB, st archive.Store, pharmacy, till string) uint64 {
	t.Helper()
	w, err := st.Watermark(ctx, pharmacy, till)
	if err != nil {
		t.Fatal(err)
	}
	return w.Seq
}

func alarmKinds(t testing.TB, st archive.Store) []string {
	t.Helper()
	as, err := st.Alarms(ctx, archive.AlarmQuery{Limit: archive.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}
