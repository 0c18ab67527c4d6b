package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Goods from testdata/catalog.csv.
const (
	metformin    = "6901234567892"        // prescription, chronic, one pack = 10 days
	metforminBox = "81000100000000000017" // a traceability code of one box of it
	shampoo      = "6903148091050"        // daily goods
	prescription = "RX20260302000123"
)

const (
	pharmacy = "H33010200001"
	till     = "T01"
)

// TestTill_saleReachesBureau drives one sale across every real part: the
// simulator's ptys read through the real serial package, the agent, a real
// mosquitto on a random loopback port, the bureau, its ack, and the till's
// outbox emptied.
func TestTill_saleReachesBureau(t *testing.T) {
	st := startStack(t, "../testdata/catalog.csv")
	devs, api, ar, key := st.devs, st.api, st.ar, st.key

	// The shop's pharmacist signs in first: metformin is a prescription drug.
	if resp := post(t, api+"/api/pharmacist/sign-in", `{"name":"钱药师","prac_cert_no":"ZY330100001"}`); resp.code != http.StatusOK {
		t.Fatalf("sign-in = %d %s", resp.code, resp.body)
	}
	holder := sim.DemoHolders()[0]
	devs.Insert(holder)
	waitUntil(t, "card on the session", func() bool {
		var v session.View
		getJSON(t, api+"/api/session", &v)
		return v.Card != nil && v.Card.Present
	})
	for _, code := range []string{"]Q1" + prescription, "]C0" + metforminBox, "]E0" + shampoo} {
		if err := devs.Scan(code); err != nil {
			t.Fatal(err)
		}
	}
	var v session.View
	waitUntil(t, "two decided lines", func() bool {
		getJSON(t, api+"/api/session", &v)
		return len(v.Lines) == 2
	})
	if l := v.Lines[0]; l.Decision != "allow" || l.Days != 10 {
		t.Errorf("metformin line = %+v, want allowed for 10 days", l)
	}
	if l := v.Lines[1]; l.Decision != "block" || l.Rule != "non_drug" || l.ReasonZH == "" || l.ReasonEN == "" {
		t.Errorf("shampoo line = %+v, want blocked by non_drug with reasons", l)
	}

	resp := post(t, api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`)
	if resp.code != http.StatusOK {
		t.Fatalf("checkout = %d %s", resp.code, resp.body)
	}
	var rc session.Receipt
	if err := json.Unmarshal(resp.body, &rc); err != nil || rc.Seq == 0 || rc.ID == "" {
		t.Fatalf("checkout body %s: %v", resp.body, err)
	}

	waitUntil(t, "bureau ack empties the outbox", func() bool {
		var st web.Status
		getJSON(t, api+"/api/status", &st)
		return st.AckedSeq >= rc.Seq && st.Outbox.Depth == 0
	})

	var sale, blocked *feed.Record
	err := ar.Scan(context.Background(), pharmacy, till, 1, 0, func(seq uint64, rec, sig []byte) error {
		var r feed.Record
		if err := json.Unmarshal(rec, &r); err != nil {
			return err
		}
		if !ed25519.Verify(key.Public().(ed25519.PublicKey), rec, sig) {
			t.Errorf("record %d: signature does not verify", seq)
		}
		switch {
		case r.Kind == feed.KindSale && seq == rc.Seq:
			sale = &r
		case r.Kind == feed.KindBlocked:
			blocked = &r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sale == nil || blocked == nil {
		t.Fatalf("bureau holds sale %v and blocked attempt %v; want both", sale, blocked)
	}
	if sale.Card == nil || sale.Card.No != holder.Number || sale.ID != rc.ID {
		t.Errorf("sale card = %+v id %s, want card %s id %s", sale.Card, sale.ID, holder.Number, rc.ID)
	}
	if sale.PharName != "钱药师" || sale.PharPracCertNo != "ZY330100001" {
		t.Errorf("sale pharmacist %q %q, want the one signed in", sale.PharName, sale.PharPracCertNo)
	}
	if len(sale.Lines) != 1 || sale.Lines[0].MedListCodg == "" || sale.Lines[0].Days != 10 || sale.Lines[0].Pay != "insurance" {
		t.Errorf("sale lines = %+v, want the metformin line with med_list_codg and 10 days on insurance", sale.Lines)
	}
	if sale.Payment == nil || sale.Payment.InsuranceFen != sale.Lines[0].PriceFen || sale.Payment.CashFen != 0 {
		t.Errorf("sale payment = %+v", sale.Payment)
	}
	if len(blocked.Lines) != 1 || blocked.Lines[0].Barcode != shampoo || blocked.Lines[0].Rule != "non_drug" || blocked.Lines[0].Decision != "block" {
		t.Errorf("blocked attempt = %+v, want the shampoo under non_drug", blocked.Lines)
	}
	if err := st.till.Ledger().Verify(); err != nil {
		t.Errorf("till ledger: %v", err)
	}
}

// TestTill_overrideAndReturn drives a hold, a pharmacist's override, a
// sale and its return through the HTTP API of a till on real parts (real
// pty devices, real ledger file, no broker), then checks the ledger.
func TestTill_overrideAndReturn(t *testing.T) {
	devs, tl, api := startSimTill(t, t.TempDir(), agent.Config{Catalog: "../testdata/catalog.csv", Policy: "../testdata/policy.json"})
	var st web.Status
	getJSON(t, api+"/api/status", &st)
	if !strings.Contains(st.Policy.Version, "+local-") {
		t.Errorf("policy version = %q, want the policy file's version + the catalogue hash", st.Policy.Version)
	}

	devs.Insert(sim.DemoHolders()[0])
	waitUntil(t, "card on the session", func() bool {
		var v session.View
		getJSON(t, api+"/api/session", &v)
		return v.Card != nil && v.Card.Present
	})
	// A prescription drug without a prescription is held.
	if err := devs.Scan("]C0" + metforminBox); err != nil {
		t.Fatal(err)
	}
	var v session.View
	waitUntil(t, "a decided line", func() bool {
		getJSON(t, api+"/api/session", &v)
		return len(v.Lines) == 1
	})
	if l := v.Lines[0]; l.Decision != "hold" || l.Rule != "rx_required" {
		t.Fatalf("line = %+v, want an rx_required hold", l)
	}
	if r := post(t, api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`); r.code != http.StatusConflict {
		t.Fatalf("checkout with a hold = %d %s, want 409", r.code, r.body)
	}
	if r := post(t, api+"/api/session/override", `{"line":0,"pharmacist":"ph007","reason":"纸质处方已核对"}`); r.code != http.StatusOK {
		t.Fatalf("override = %d %s", r.code, r.body)
	}
	r := post(t, api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`)
	if r.code != http.StatusOK {
		t.Fatalf("checkout = %d %s", r.code, r.body)
	}
	var rc session.Receipt
	if err := json.Unmarshal(r.body, &rc); err != nil {
		t.Fatal(err)
	}

	ret := func(refund string) response {
		return post(t, api+"/api/returns", `{"sale_id":"`+rc.ID+`","refund":"`+refund+`","cashier":"c01","lines":[{"barcode":"`+metformin+`","qty":1,"drug_trac_codg":["`+metforminBox+`"]}]}`)
	}
	if r := ret("cash"); r.code != http.StatusConflict {
		t.Errorf("cash refund of an insurance line = %d %s, want 409", r.code, r.body)
	}
	if r := ret("fund"); r.code != http.StatusOK {
		t.Fatalf("return to the fund = %d %s", r.code, r.body)
	}

	var kinds []string
	var override, sale, back *feed.Record
	if err := tl.Ledger().Scan(1, func(e ledger.Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return err
		}
		switch r.Kind {
		case feed.KindDevice:
			return nil
		case feed.KindOverride:
			override = &r
		case feed.KindSale:
			sale = &r
		case feed.KindReturn:
			back = &r
		}
		kinds = append(kinds, r.Kind)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(kinds, ","); got != "blocked,override,sale,blocked,return" {
		t.Errorf("records = %s, want the hold, the override, the sale, the refused cash refund and the return", got)
	}
	if override == nil || override.Pharmacist != "ph007" || override.Ref == "" {
		t.Errorf("override = %+v", override)
	}
	if sale == nil || len(sale.Lines) != 1 || !sale.Lines[0].Overridden || sale.Lines[0].Pay != "insurance" {
		t.Errorf("sale = %+v, want the overridden line on insurance", sale)
	}
	if back == nil || back.Ref != rc.ID || back.Payment == nil || back.Payment.Method != "fund" || len(back.Lines) != 1 || back.Lines[0].DrugTracCodg[0] != metforminBox {
		t.Errorf("return = %+v", back)
	}
	// The returned box may be sold again: with the prescription it is allowed.
	getJSON(t, api+"/api/session", &v)
	if r := post(t, api+"/api/session/rx", `{"ref":"`+prescription+`"}`); r.code != http.StatusOK {
		t.Fatalf("rx = %d %s", r.code, r.body)
	}
	devs.Insert(sim.DemoHolders()[0])
	if err := devs.Scan("]C0" + metforminBox); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the returned box decided again", func() bool {
		getJSON(t, api+"/api/session", &v)
		return len(v.Lines) == 1
	})
	if l := v.Lines[0]; l.Decision != "allow" {
		t.Errorf("returned box sold again = %+v, want allowed", l)
	}
	if err := tl.Ledger().Verify(); err != nil {
		t.Errorf("till ledger: %v", err)
	}
}

// runTill opens and runs a till on cfg until the returned stop is called
// (or the test ends). Open has bound the HTTP address, so api answers as
// soon as this returns.
func runTill(t *testing.T, cfg agent.Config) (tl *agent.Till, api string, stop func()) {
	t.Helper()
	tl, err := agent.Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("till Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return tl, "http://" + tl.Addr(), stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

type response struct {
	code int
	body []byte
}

func post(t *testing.T, url, body string) response {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// stack is a till on the simulator's devices, a real mosquitto on a
// random loopback port and a bureau on an embedded archive, the till's
// key enrolled: every real part between the counter and the bureau.
type stack struct {
	devs *sim.Sim
	api  string // the till's HTTP base
	ar   *boltarchive.Archive
	key  ed25519.PrivateKey // the till's
	till *agent.Till
}

// startSimTill runs a till on the simulator's devices (runTill), its
// data in dir, with cfg's settings besides the devices, the identity and
// the HTTP address, and returns once both devices are connected.
func startSimTill(t *testing.T, dir string, cfg agent.Config) (*sim.Sim, *agent.Till, string) {
	t.Helper()
	devs, err := sim.Start(&sim.Opts{LinkDir: filepath.Join(dir, "dev")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devs.Close() }) // registered first: runs after the till's stop
	cfg.DataDir, cfg.CardPort, cfg.ScannerPort, cfg.Baud = filepath.Join(dir, "till"), devs.CardPath(), devs.ScannerPath(), agent.DefaultBaud
	cfg.Pharmacy, cfg.Till, cfg.Region, cfg.HTTP = pharmacy, till, "330100", "127.0.0.1:0"
	tl, api, _ := runTill(t, cfg)
	waitUntil(t, "both devices connected", func() bool {
		var st web.Status
		getJSON(t, api+"/api/status", &st)
		return st.Devices["card"].State == "connected" && st.Devices["scanner"].State == "connected"
	})
	return devs, tl, api
}

// startStack starts a stack whose till reads catalog, and returns once
// both devices are connected; everything stops at the test's end.
func startStack(t *testing.T, catalog string) *stack {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	broker := brokertest.Start(t)
	key, err := keys.LoadOrCreate(filepath.Join(dir, "till"))
	if err != nil {
		t.Fatal(err)
	}
	ar, err := boltarchive.Open(filepath.Join(dir, "bureau.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.Close() })
	bur := bureau.New(ar, &bureau.Opts{Enrolled: map[string]ed25519.PublicKey{pharmacy + "/" + till: key.Public().(ed25519.PublicKey)}})
	wg.Go(func() { bur.Run(ctx, mqttclient.Options{Broker: broker.URL(), ClientID: "bureau"}) })
	devs, tl, api := startSimTill(t, dir, agent.Config{Broker: broker.URL(), Catalog: catalog})
	return &stack{devs: devs, api: api, ar: ar, key: key, till: tl}
}
