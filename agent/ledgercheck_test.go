package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Tampering with the ledger file, turned into alarms: a record edited in
// the middle of a real ledger file, while the till runs and while it is
// stopped, is found by the chain check, named on /api/status and
// /metrics, and the uplink sends nothing from it on; an edited head keeps
// the file from opening and is quarantined, as any damage Open finds.

// offlineTill is a till without devices or broker, checking its chain
// every period.
func offlineTill(dir string, period time.Duration) agent.Config {
	return agent.Config{
		DataDir: dir, Baud: agent.DefaultBaud, Pharmacy: pharmacy, Till: till, Region: "330100",
		Catalog: "../testdata/catalog.csv", Policy: "../testdata/policy.json", HTTP: "127.0.0.1:0",
		ChainCheck: period,
	}
}

// sellCash keys in shampoo (a blocked attempt, recorded) and checks it
// out for cash by cashier (the sale record carries the name) and returns
// the sale's seq.
func sellCash(t *testing.T, api, cashier string) uint64 {
	t.Helper()
	if r := post(t, api+"/api/session/lines", `{"barcode":"`+shampoo+`","qty":1}`); r.code != http.StatusOK {
		t.Fatalf("add line = %d %s", r.code, r.body)
	}
	r := post(t, api+"/api/session/checkout", `{"payment":"cash","cashier":"`+cashier+`"}`)
	var rc session.Receipt
	if err := json.Unmarshal(r.body, &rc); r.code != http.StatusOK || err != nil {
		t.Fatalf("cash sale = %d %s", r.code, r.body)
	}
	return rc.Seq
}

// editFile replaces every occurrence of old in the file with new, of the
// same length, in place, as a shopkeeper with a hex editor would: bbolt
// stores a record's bytes verbatim, in its live page and in stale copies
// of it. The file may be open in the till meanwhile.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	if len(old) != len(new) {
		t.Fatalf("edit %q → %q changes the length", old, new)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(old))
		if i < 0 {
			break
		}
		if _, err := f.WriteAt([]byte(new), int64(off+i)); err != nil {
			t.Fatal(err)
		}
		n++
		off += i + len(old)
	}
	if n == 0 {
		t.Fatalf("%q is not in %s", old, path)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// chainAlarm returns the ledger alarm that names a record, if raised.
func chainAlarm(st web.Status) (web.Alarm, bool) {
	for _, a := range st.Alarms {
		if a.Kind == "ledger" && a.Seq != 0 {
			return a, true
		}
	}
	return web.Alarm{}, false
}

// TestTill_midChainEditAlarmed edits a sale in the middle of the ledger
// file while the till runs: within one check period /api/status and
// /metrics raise the ledger alarm naming the record, and the dashboard's
// chain row says broken.
func TestTill_midChainEditAlarmed(t *testing.T) {
	dir := t.TempDir()
	const period = 300 * time.Millisecond
	_, api, _ := runTill(t, offlineTill(dir, period))
	var seqs []uint64
	for i := range 5 {
		seqs = append(seqs, sellCash(t, api, "mark-"+strconv.Itoa(i)))
	}
	waitUntil(t, "a sound chain checked after the sales", func() bool {
		var st web.Status
		getJSON(t, api+"/api/status", &st)
		return st.Chain != nil && st.Chain.OK && st.Chain.Checked != "" && len(st.Alarms) == 0
	})

	target := seqs[2] // a sale in the middle: records before and after it
	editFile(t, filepath.Join(dir, "ledger.db"), `"cashier":"mark-2"`, `"cashier":"MARK-2"`)
	edited := time.Now()
	var st web.Status
	waitUntil(t, "the ledger alarm naming the edited sale", func() bool {
		getJSON(t, api+"/api/status", &st)
		a, ok := chainAlarm(st)
		return ok && a.Seq == target
	})
	// A walk of a few records takes no time: one period and a margin for
	// a loaded machine.
	if took := time.Since(edited); took > period+2*time.Second {
		t.Errorf("alarm after %v, want within one check period (%v)", took, period)
	}
	a, _ := chainAlarm(st)
	if !strings.Contains(a.Detail, "第 "+strconv.FormatUint(target, 10)+" 条") || !strings.Contains(a.Detail, "record "+strconv.FormatUint(target, 10)) {
		t.Errorf("alarm detail %q, want the record named in Chinese and English", a.Detail)
	}
	if st.Chain == nil || st.Chain.OK || st.Chain.BadSeq != target {
		t.Errorf("status chain = %+v, want broken at %d", st.Chain, target)
	}
	m := string(get(t, api+"/metrics").body)
	for _, want := range []string{
		`tillguard_alarm{kind="ledger"} 1` + "\n",
		"tillguard_ledger_chain_ok 0\n",
		"tillguard_ledger_chain_bad_seq " + strconv.FormatUint(target, 10) + "\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if page := string(get(t, api+"/").body); !strings.Contains(page, "损坏") {
		t.Error("the dashboard's chain row does not say broken")
	}
	// A successful sale clears the persist alarm's cause, not this one.
	sellCash(t, api, "after")
	getJSON(t, api+"/api/status", &st)
	if _, ok := chainAlarm(st); !ok {
		t.Errorf("alarms after a good sale = %+v, want the chain alarm still raised", st.Alarms)
	}
}

// TestTill_brokenChainHoldsUplink: a till started on a ledger with a sale
// edited in the middle raises the alarm at start and sends the bureau
// every record before the edited one and none from it on; they stay in
// the outbox.
func TestTill_brokenChainHoldsUplink(t *testing.T) {
	dir := t.TempDir()
	cfg := offlineTill(dir, time.Hour) // only the walk at start
	_, api, stop := runTill(t, cfg)
	var seqs []uint64
	for i := range 4 {
		seqs = append(seqs, sellCash(t, api, "mark-"+strconv.Itoa(i)))
	}
	stop()
	target := seqs[1]
	editFile(t, filepath.Join(dir, "ledger.db"), `"cashier":"mark-1"`, `"cashier":"MARK-1"`)

	// The bureau's side of the broker: what the till publishes.
	broker := brokertest.Start(t)
	var mu sync.Mutex
	var sent []uint64
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sub, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: broker.URL(), ClientID: "test-bureau"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	err = sub.Subscribe(feed.TillTopic(pharmacy, till, feed.LeafTx), 1, func(m mqttclient.Message) {
		_, r, _, err := feed.Open(m.Payload)
		if err != nil {
			t.Errorf("till sent %q: %v", m.Payload, err)
			return
		}
		mu.Lock()
		sent = append(sent, r.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}

	cfg.Broker = broker.URL()
	_, api, _ = runTill(t, cfg)
	var st web.Status
	waitUntil(t, "the uplink sending up to the edited sale", func() bool {
		getJSON(t, api+"/api/status", &st)
		return st.Uplink.Connected && st.Uplink.SentSeq >= target-1
	})
	// Unheld, the uplink sends the whole backlog in one go (a window of
	// 4096): a send position of exactly target-1 is the hold.
	if st.Uplink.SentSeq != target-1 || st.Uplink.HeldFrom != target {
		t.Errorf("uplink sent up to %d, held from %d; want %d and %d", st.Uplink.SentSeq, st.Uplink.HeldFrom, target-1, target)
	}
	if a, ok := chainAlarm(st); !ok || a.Seq != target {
		t.Errorf("alarms %+v, want the ledger alarm naming %d", st.Alarms, target)
	}
	waitUntil(t, "the records before the edited one at the broker", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) >= int(target-1)
	})
	mu.Lock()
	for i, seq := range sent {
		if seq >= target || seq != uint64(i+1) {
			t.Errorf("sent %v, want 1..%d", sent, target-1)
			break
		}
	}
	mu.Unlock()
	if st.Outbox.Depth != int(st.HeadSeq) {
		t.Errorf("outbox depth %d of head %d, want every record kept (no bureau acks)", st.Outbox.Depth, st.HeadSeq)
	}
	if m := string(get(t, api+"/metrics").body); !strings.Contains(m, "tillguard_uplink_held_from_seq "+strconv.FormatUint(target, 10)+"\n") {
		t.Error("/metrics lacks the held uplink")
	}
}

// TestTill_editedHeadQuarantined: the head has no successor to give it
// away, so its signature does: Open finds it and the file is quarantined
// (quarantine.go), sales suspended.
func TestTill_editedHeadQuarantined(t *testing.T) {
	dir := t.TempDir()
	cfg := offlineTill(dir, time.Hour)
	_, api, stop := runTill(t, cfg)
	sellCash(t, api, "mark-0")
	sellCash(t, api, "mark-1")
	stop()
	editFile(t, filepath.Join(dir, "ledger.db"), `"cashier":"mark-1"`, `"cashier":"MARK-1"`)
	tl, api, _ := runTill(t, cfg)
	var st web.Status
	getJSON(t, api+"/api/status", &st)
	if tl.Ledger() != nil || st.Quarantined == "" || !hasAlarm(st, "ledger") {
		t.Errorf("edited head: quarantined %q, alarms %+v; want the file quarantined and the ledger alarm", st.Quarantined, st.Alarms)
	}
}
