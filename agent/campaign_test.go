package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/drivers/sim"
	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// The fault campaign (`make faults`): the crash and fault rig driven
// harder, once per fault, with counts instead of pass/fail, and the same
// kill campaign run against what a shop would otherwise deploy (a vendor
// POS publishing to a local mosquitto bridged to the bureau). It prints
// one table; a tillguard row that lost or duplicated a confirmed sale
// fails the test.

// campaignEnv set to 1 runs TestCampaign; it takes minutes.
const campaignEnv = "TILLGUARD_FAULTS"

// campaignRow is one line of the table.
type campaignRow struct {
	system, fault string
	times         int // how many times the fault was made
	confirmed     int // sales the system confirmed to the cashier
	stored        int // confirmed sales found at the bureau
	lost          int // confirmed sales missing from the bureau (or the till's ledger)
	dup           int // sales at the bureau more than once
}

func TestCampaign(t *testing.T) {
	if os.Getenv(campaignEnv) != "1" {
		t.Skip("the fault campaign runs with " + campaignEnv + "=1 (make faults)")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	var rows []campaignRow
	run := func(name string, f func(t *testing.T, rng *rand.Rand) campaignRow) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			row := f(t, rng)
			t.Logf("%s: %d×, %d confirmed, %d at the bureau, %d lost, %d duplicated (%s)",
				row.fault, row.times, row.confirmed, row.stored, row.lost, row.dup, time.Since(start).Round(time.Second))
			rows = append(rows, row)
		})
	}
	// The kill campaigns side by side, then tillguard's other faults.
	run("tillKill", campaignTillKill)
	run("bridgeKillBroker", campaignBridgeKillBroker)
	run("bridgeKillPOS", campaignBridgeKillPOS)
	run("tillKillLinkDown", campaignTillKillLinkDown)
	run("bridgeKillBrokerLinkDown", campaignBridgeKillBrokerLinkDown)
	run("brokerDown", campaignBrokerDown)
	run("unplug", campaignUnplug)
	run("diskFull", campaignDiskFull)
	fmt.Print(formatTable(rows))
	for _, r := range rows {
		if r.system == "tillguard" && (r.lost != 0 || r.dup != 0) {
			t.Errorf("tillguard, %s: %d confirmed sales lost, %d duplicated", r.fault, r.lost, r.dup)
		}
	}
}

// campaignTillKill is TestCrash_killedTillLosesNoConfirmedSale's campaign.
func campaignTillKill(t *testing.T, rng *rand.Rand) campaignRow {
	r := newRig(t)
	cc := r.childConfig()
	sold, kills := killRounds(t, r, cc, 40, rng, nil)
	return tillRow(t, r, cc, sold, "till SIGKILLed during sales", kills)
}

// campaignTillKillLinkDown is the kill campaign with the link to the
// bureau's broker cut in a random half of the rounds, so that kills land
// on a backlog.
func campaignTillKillLinkDown(t *testing.T, rng *rand.Rand) campaignRow {
	r := newRig(t)
	link := brokertest.NewProxy(t, r.broker.Addr())
	cc := r.childConfig()
	cc.Broker = link.URL()
	sold, kills := killRounds(t, r, cc, 30, rng, func() { link.Cut(rng.IntN(2) == 0) })
	link.Cut(false)
	return tillRow(t, r, cc, sold, "till SIGKILLed during sales"+linkDown, kills)
}

// linkDown is the fault's note for the rows with the link cut.
const linkDown = ", bureau link cut in ½ the rounds"

// campaignBrokerDown stops the bureau's broker under continuous sales and
// starts it again, alternately with SIGTERM and SIGKILL.
func campaignBrokerDown(t *testing.T, rng *rand.Rand) campaignRow {
	return underSales(t, func(r *rig, _ childConfig, _ *child, sold *sales) (string, int) {
		const cycles = 6
		for i := range cycles {
			pause(rng, 300, 1200) // selling with the broker up
			if i%2 == 0 {
				r.broker.Stop()
			} else {
				r.broker.Kill()
			}
			pause(rng, 500, 2500) // selling with the broker down
			r.broker.Restart()
			t.Logf("broker cycle %d: %d confirmed so far", i, sold.count())
		}
		pause(rng, 300, 1200)
		return "bureau broker stopped or killed, restarted, under sales", cycles
	})
}

// underSales runs a child till on a new rig, selling without pause while
// fault makes its faults, then stops both and returns the row for the
// fault and the times fault says it made it.
func underSales(t *testing.T, fault func(r *rig, cc childConfig, c *child, sold *sales) (name string, times int)) campaignRow {
	r := newRig(t)
	cc := r.childConfig()
	c := spawn(t, cc)
	sold := newSales()
	stop := sold.sell(c.waitReady(t), r.devs, session.PayCash)
	name, times := fault(r, cc, c, sold)
	stop()
	c.stop(t)
	return tillRow(t, r, cc, sold, name, times)
}

// campaignUnplug unplugs the card reader, the scanner or both under
// continuous sales and plugs them back on new ptys.
func campaignUnplug(t *testing.T, rng *rand.Rand) campaignRow {
	return underSales(t, func(r *rig, _ childConfig, _ *child, sold *sales) (string, int) {
		const cycles = 20
		for range cycles {
			pause(rng, 100, 800)
			devs := [][]string{{sim.DevCard}, {sim.DevScanner}, {sim.DevCard, sim.DevScanner}}[rng.IntN(3)]
			for _, d := range devs {
				if err := r.devs.Unplug(d); err != nil {
					t.Fatal(err)
				}
			}
			pause(rng, 100, 700)
			for _, d := range devs {
				if err := r.devs.Replug(d); err != nil {
					t.Fatal(err)
				}
			}
		}
		pause(rng, 300, 1000)
		t.Logf("unplugged %d times: %d confirmed", cycles, sold.count())
		return "card reader / scanner unplugged, replugged, under sales", cycles
	})
}

// campaignDiskFull fills the disk under continuous sales by lowering the
// running till's RLIMIT_FSIZE to what its ledger already holds, waits for
// sales to be refused, and gives the space back without a restart.
func campaignDiskFull(t *testing.T, rng *rand.Rand) campaignRow {
	return underSales(t, func(_ *rig, cc childConfig, c *child, sold *sales) (string, int) {
		pid := c.cmd.Process.Pid
		ledgerFile := filepath.Join(cc.DataDir, "ledger.db")
		const cycles = 4
		for i := range cycles {
			pause(rng, 300, 1000) // selling with room
			refused := sold.refusals()
			// The disk is full at what the file holds now; lower still if
			// the ledger keeps finding room in pages it already has.
			limit := allocated(t, ledgerFile)
			setFileLimit(t, pid, limit)
			lowered := time.Now()
			eventually(t, 60*time.Second, "sales refused on the full disk", func() bool {
				if sold.refusals() > refused {
					return true
				}
				if time.Since(lowered) > time.Second && limit > 64<<10 {
					limit -= 4 << 10
					setFileLimit(t, pid, limit)
					lowered = time.Now()
				}
				return false
			})
			pause(rng, 200, 800) // refused a while
			confirmed := sold.count()
			setFileLimit(t, pid, unix.RLIM_INFINITY)
			eventually(t, 60*time.Second, "sales confirmed again with space back", func() bool {
				return sold.count() >= confirmed+5
			})
			t.Logf("disk full cycle %d: %d confirmed, %d refused so far", i, sold.count(), sold.refusals())
		}
		// With the space back nothing more is refused.
		return fmt.Sprintf("disk full (RLIMIT_FSIZE) under sales, space back live; %d refused (503)", sold.refusals()), cycles
	})
}

// pause sleeps a random time in [lo, hi) milliseconds: the moment a fault
// is made or undone, not a wait for anything.
func pause(rng *rand.Rand, lo, hi int) {
	time.Sleep(time.Duration(lo+rng.IntN(hi-lo)) * time.Millisecond)
}

// allocated is how many bytes of file are on disk (sparse holes not
// counted): the ledger can still write into holes below a size limit.
func allocated(t *testing.T, file string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(min(st.Size, st.Blocks*512))
}

// setFileLimit sets pid's soft RLIMIT_FSIZE.
func setFileLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	lim := unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Fatalf("prlimit %d: %v", pid, err)
	}
}

// tillRow runs a till once more on cc until the bureau has acknowledged
// everything, checks the ledger and archive end to end, and counts the
// confirmed sales at the bureau.
func tillRow(t *testing.T, r *rig, cc childConfig, sold *sales, fault string, times int) campaignRow {
	t.Helper()
	c := spawn(t, cc)
	api := c.waitReady(t)
	drained(t, api, r)
	c.stop(t)
	confirmed := sold.snapshot()
	for _, msg := range sold.reused {
		t.Error(msg)
	}
	checkEndToEnd(t, r, confirmed)
	row := campaignRow{system: "tillguard", fault: fault, times: times, confirmed: len(confirmed)}
	row.stored, row.lost, row.dup = countAtBureau(t, r, confirmed)
	return row
}

// countAtBureau counts the confirmed sales the bureau's archive holds, the
// confirmed sales missing from it or from the till's ledger, and the sales
// it holds more than once (by sale id).
func countAtBureau(t *testing.T, r *rig, confirmed map[uint64]string) (stored, lost, dup int) {
	t.Helper()
	l, err := ledger.Open(filepath.Join(r.dir, "till", "ledger.db"), r.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen := map[string]int{}
	err = r.ar.Scan(context.Background(), pharmacy, till, 1, 0, func(_ uint64, rec, _ []byte) error {
		var fr feed.Record
		if err := json.Unmarshal(rec, &fr); err != nil {
			return err
		}
		if fr.Kind == feed.KindSale {
			seen[fr.ID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq, id := range confirmed {
		inLedger := false
		if e, err := l.Get(seq); err == nil {
			var fr feed.Record
			inLedger = json.Unmarshal(e.Rec, &fr) == nil && fr.ID == id
		}
		if seen[id] > 0 {
			stored++
		}
		if seen[id] == 0 || !inLedger {
			lost++
		}
	}
	for _, n := range seen {
		if n > 1 {
			dup++
		}
	}
	return stored, lost, dup
}

// formatTable renders rows as a Markdown table with aligned columns.
func formatTable(rows []campaignRow) string {
	cells := [][]string{{"system", "fault", "times", "sales confirmed", "at the bureau", "lost", "duplicated"}}
	for _, r := range rows {
		cells = append(cells, []string{r.system, r.fault, fmt.Sprint(r.times), fmt.Sprint(r.confirmed),
			fmt.Sprint(r.stored), fmt.Sprint(r.lost), fmt.Sprint(r.dup)})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i < 2 {
				fmt.Fprintf(&b, "| %s%s ", c, pad)
			} else {
				fmt.Fprintf(&b, "| %s%s ", pad, c)
			}
		}
		b.WriteString("|\n")
	}
	line(cells[0])
	for i, w := range width {
		if i < 2 {
			fmt.Fprintf(&b, "|%s", strings.Repeat("-", w+2))
		} else {
			fmt.Fprintf(&b, "|%s:", strings.Repeat("-", w+1))
		}
	}
	b.WriteString("|\n")
	for _, row := range cells[1:] {
		line(row)
	}
	return b.String()
}
