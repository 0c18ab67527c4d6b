package bureau

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// fakeTill signs a chain of records the way a till's ledger does.
type fakeTill struct {
	pharmacy, till string
	key            ed25519.PrivateKey
	recs           [][]byte // recs[i] is seq i+1
}

func newFakeTill(t testing.TB, pharmacy, till string) *fakeTill {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeTill{pharmacy: pharmacy, till: till, key: key}
}

func (f *fakeTill) pub() ed25519.PublicKey { return f.key.Public().(ed25519.PublicKey) }

// record builds the next record (not yet part of the chain) with a body
// that tells it apart.
func (f *fakeTill) record(body string) feed.Record {
	seq := uint64(len(f.recs) + 1)
	prev := ""
	if seq > 1 {
		prev = feed.Hash(f.recs[seq-2])
	}
	return feed.Record{
		Seq: seq, ID: fmt.Sprintf("id-%d-%s", seq, body), Prev: prev,
		Pharmacy: f.pharmacy, Till: f.till, Kind: feed.KindSale,
		At:      time.Date(2025, 3, 1, 9, 0, int(seq), 0, time.FixedZone("CST", 8*3600)).Format(time.RFC3339),
		Cashier: body,
	}
}

func marshal(t testing.TB, r feed.Record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// next appends a record to the chain and returns its tx message.
func (f *fakeTill) next(t testing.TB) mqttclient.Message {
	t.Helper()
	rec := marshal(t, f.record("c"))
	f.recs = append(f.recs, rec)
	return f.msg(t, rec, ed25519.Sign(f.key, rec))
}

// msg wraps rec and sig as a tx message on the till's topic.
func (f *fakeTill) msg(t testing.TB, rec, sig []byte) mqttclient.Message {
	t.Helper()
	payload, err := feed.Seal(rec, sig)
	if err != nil {
		t.Fatal(err)
	}
	return mqttclient.Message{Topic: feed.TillTopic(f.pharmacy, f.till, feed.LeafTx), Payload: payload, QoS: 1}
}

func openArchive(t testing.TB) *ledger.Archive {
	t.Helper()
	ar, err := ledger.OpenArchive(filepath.Join(t.TempDir(), "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.Close() })
	return ar
}

func contiguous(t testing.TB, ar *ledger.Archive, pharmacy, till string) uint64 {
	t.Helper()
	n, err := ar.Contiguous(pharmacy, till)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func alarmKinds(b *Bureau) []string {
	var out []string
	for _, a := range b.Alarms() {
		out = append(out, a.Kind)
	}
	return out
}
