package agent_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/drivers/sim"
)

// Fault tests: the broker gone under sales, a full disk, a short disk
// budget. Skipped under -short with the crash test.

// findAlarm returns st's alarm of kind, if it has one.
func findAlarm(st web.Status, kind string) (web.Alarm, bool) {
	for _, a := range st.Alarms {
		if a.Kind == kind {
			return a, true
		}
	}
	return web.Alarm{}, false
}

func hasAlarm(st web.Status, kind string) bool {
	_, ok := findAlarm(st, kind)
	return ok
}

// startTill runs a till in this process on r's devices and broker until
// the test ends or the returned stop is called.
func startTill(t *testing.T, r *rig, cfg agent.Config) (api string, stop func()) {
	t.Helper()
	cc := r.childConfig()
	cfg.DataDir, cfg.CardPort, cfg.ScannerPort, cfg.Catalog = cc.DataDir, cc.CardPort, cc.ScannerPort, cc.Catalog
	cfg.Baud, cfg.Pharmacy, cfg.Till, cfg.Region, cfg.HTTP = agent.DefaultBaud, pharmacy, till, "330100", "127.0.0.1:0"
	_, api, stop = runTill(t, cfg)
	return api, stop
}

// cardOnSession waits until the till has read the card in the reader.
func cardOnSession(t *testing.T, api string) {
	t.Helper()
	eventually(t, 30*time.Second, "the card on the session", func() bool {
		var v session.View
		return getErr(context.Background(), api+"/api/session", &v) == nil && v.Card != nil && v.Card.Present
	})
}

// mustSell sells code and fails the test unless the API confirms it.
func mustSell(t *testing.T, api string, r *rig, code, payment string) session.Receipt {
	t.Helper()
	rc, status, err := sell(context.Background(), api, r.devs, code, payment)
	if err != nil || status != http.StatusOK {
		t.Fatalf("sell %s for %s: status %d, %v (%v)", code, payment, status, err, lastRefusal.Load())
	}
	return rc
}

// TestFault_brokerDownUnderSales stops the broker while sales go on, then
// restarts it: every sale reaches the bureau, in the order it was made.
func TestFault_brokerDownUnderSales(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	r := newRig(t)
	api, stop := startTill(t, r, agent.Config{Broker: r.broker.URL()})
	confirmed := map[uint64]string{}
	var last uint64
	sellN := func(n int) {
		t.Helper()
		for range n {
			rc := mustSell(t, api, r, ibuprofen, session.PayCash)
			if rc.Seq <= last {
				t.Fatalf("sale confirmed with seq %d after seq %d", rc.Seq, last)
			}
			last = rc.Seq
			confirmed[rc.Seq] = rc.ID
		}
	}
	sellN(10)
	drained(t, api, r)

	r.broker.Stop()
	eventually(t, 30*time.Second, "the uplink to notice the broker is gone", func() bool {
		return !status(t, api).Uplink.Connected
	})
	sellN(30)
	st := status(t, api)
	if st.Outbox.Depth < 30 || st.AckedSeq >= last {
		t.Fatalf("broker down: outbox %d, acked %d, head %d; want the 30 new sales waiting", st.Outbox.Depth, st.AckedSeq, st.HeadSeq)
	}

	r.broker.Restart()
	sellN(10) // while the uplink reconnects and catches up
	if head := drained(t, api, r); head < last {
		t.Fatalf("drained to %d, last sale %d", head, last)
	}
	stop()
	checkEndToEnd(t, r, confirmed)
}

// TestFault_diskFullRefusesSales runs the till with a file-size limit, so
// that the ledger hits EFBIG as on a full disk: sales are refused (503)
// with the alarm raised and nothing confirmed lost; restarted with room,
// insurance sales work again and the outbox drains.
func TestFault_diskFullRefusesSales(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	r := newRig(t)
	r.devs.Insert(sim.DemoHolders()[0])
	cc := r.childConfig()
	cc.FileLimit = 192 << 10
	c := spawn(t, cc)
	api := c.waitReady(t)
	confirmed := map[uint64]string{}
	refused := false
	for i := 0; i < 2000 && !refused; i++ {
		rc, code, err := sell(context.Background(), api, r.devs, ibuprofen, session.PayCash)
		switch {
		case err != nil:
			t.Fatalf("sale %d: %v\n%s", i, err, c.stderr.String())
		case code == http.StatusOK:
			confirmed[rc.Seq] = rc.ID
		case code == http.StatusServiceUnavailable:
			refused = true
		default:
			t.Fatalf("sale %d: status %d", i, code)
		}
	}
	if !refused || len(confirmed) == 0 {
		t.Fatalf("after %d confirmed sales no refusal: the file limit did not bite", len(confirmed))
	}
	st := status(t, api)
	if !hasAlarm(st, "ledger") {
		t.Errorf("disk full: alarms %+v, want the ledger alarm", st.Alarms)
	}
	t.Logf("disk full after %d sales, head %d", len(confirmed), st.HeadSeq)
	c.kill()

	// Still full after a crash: the card is read at start, the insurance
	// sale is refused.
	c = spawn(t, cc)
	api = c.waitReady(t)
	cardOnSession(t, api)
	if _, code, err := sell(context.Background(), api, r.devs, ibuprofen, session.PayInsurance); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("insurance sale on a full disk: status %d, %v; want 503 (%v)", code, err, lastRefusal.Load())
	}
	if st := status(t, api); !hasAlarm(st, "ledger") {
		t.Errorf("disk full: alarms %+v, want the ledger alarm", st.Alarms)
	}
	c.kill()

	// Room again.
	cc.FileLimit = 0
	c = spawn(t, cc)
	api = c.waitReady(t)
	cardOnSession(t, api)
	rc := mustSell(t, api, r, ibuprofen, session.PayInsurance)
	confirmed[rc.Seq] = rc.ID
	if st := status(t, api); len(st.Alarms) != 0 {
		t.Errorf("after recovery: alarms %+v", st.Alarms)
	}
	drained(t, api, r)
	c.stop(t)
	checkEndToEnd(t, r, confirmed)
}

// TestFault_minFreeRefusesInsuranceBeforeDiskFull shrinks the free space
// the till sees below --min-free: the alarm shows and insurance sales are
// refused while cash sales and blocked attempts still go on disk; when
// space returns the alarm clears and insurance sales work, with no
// restart.
func TestFault_minFreeRefusesInsuranceBeforeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	r := newRig(t)
	var free atomic.Uint64
	free.Store(1 << 30)
	api, _ := startTill(t, r, agent.Config{
		MinFree:   64 << 20,
		FreeSpace: func(string) (uint64, error) { return free.Load(), nil },
	})
	if st := status(t, api); hasAlarm(st, "disk") {
		t.Fatalf("plenty of space: alarms %+v", st.Alarms)
	}

	free.Store(10 << 20)
	if st := status(t, api); !hasAlarm(st, "disk") {
		t.Fatalf("10 MiB free under a 64 MiB budget: alarms %+v, want disk", st.Alarms)
	}
	mustSell(t, api, r, ibuprofen, session.PayCash)
	r.devs.Insert(sim.DemoHolders()[0])
	cardOnSession(t, api)
	if _, code, err := sell(context.Background(), api, r.devs, ibuprofen, session.PayInsurance); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("insurance sale under the budget: status %d, %v; want 503 (%v)", code, err, lastRefusal.Load())
	}

	free.Store(1 << 30)
	if st := status(t, api); hasAlarm(st, "disk") {
		t.Fatalf("space back: alarms %+v", st.Alarms)
	}
	// The refused basket is still there, card and all.
	resp := post(t, api+"/api/session/checkout", `{"payment":"insurance","cashier":"c01"}`)
	if resp.code != http.StatusOK {
		t.Fatalf("insurance sale with space back: %d %s", resp.code, resp.body)
	}
}

func TestFault_freeSpaceErrorFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	r := newRig(t)
	api, _ := startTill(t, r, agent.Config{
		MinFree:   1,
		FreeSpace: func(string) (uint64, error) { return 0, errors.New("statfs: input/output error") },
	})
	if st := status(t, api); !hasAlarm(st, "disk") {
		t.Fatalf("statfs failing: alarms %+v, want disk", st.Alarms)
	}
	r.devs.Insert(sim.DemoHolders()[0])
	cardOnSession(t, api)
	if _, code, err := sell(context.Background(), api, r.devs, ibuprofen, session.PaySplit); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("split sale with statfs failing: status %d, %v; want 503 (%v)", code, err, lastRefusal.Load())
	}
}
