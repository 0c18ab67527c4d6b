package web

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tillguard/tillguard/agent/report"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Metrics serves the decision series of GET /metrics: the lines decided
// other than allow, counted from the ledger, and the latency of every
// policy call. Its zero value is not ready: use NewMetrics.
type Metrics struct {
	lat   latency
	lines lineCounts
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		lat:   latency{buckets: latencyBuckets, counts: make([]uint64, len(latencyBuckets)+1)},
		lines: lineCounts{next: 1, seen: report.NewLines(), n: map[decisionKey]uint64{}},
	}
}

// latency is the histogram of policy calls. It has a lock of its own: the
// session observes under its lock, and must not wait for a ledger scan.
type latency struct {
	mu      sync.Mutex
	buckets []float64 // upper bounds, seconds
	counts  []uint64  // per bucket, not cumulative; last is +Inf
	sum     float64
	n       uint64
}

// latencyBuckets span a pure policy call (µs) to a history read stuck
// behind an fsync on a slow SD card (a second).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}

// ObserveDecision times one policy call (session.Config.OnDecision):
// every call, re-decisions included, for they all cost the till. The
// counts per rule are not taken from here: a card read after the scan
// re-decides every line, and a line must count once. They come from the
// ledger (lineCounts), the same records the dashboard and the report read.
func (m *Metrics) ObserveDecision(_, _ string, d time.Duration) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(m.lat.buckets, s)
	m.lat.mu.Lock()
	defer m.lat.mu.Unlock()
	m.lat.counts[i]++
	m.lat.sum += s
	m.lat.n++
}

func (l *latency) write(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(w, "# HELP tillguard_decision_duration_seconds Time of one policy call, history read included; re-decisions of a line are calls too.")
	fmt.Fprintln(w, "# TYPE tillguard_decision_duration_seconds histogram")
	var cum uint64
	for i, le := range l.buckets {
		cum += l.counts[i]
		fmt.Fprintf(w, "tillguard_decision_duration_seconds_bucket{le=\"%g\"} %d\n", le, cum)
	}
	cum += l.counts[len(l.buckets)]
	fmt.Fprintf(w, "tillguard_decision_duration_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "tillguard_decision_duration_seconds_sum %g\n", l.sum)
	fmt.Fprintf(w, "tillguard_decision_duration_seconds_count %d\n", l.n)
}

// lineCounts counts the ledger's decided lines by verdict and rule, as
// report.Lines picks them. Each scrape reads only the records appended
// since the last, so the counter only grows and a scrape costs what was
// sold in between.
type lineCounts struct {
	mu   sync.Mutex
	next uint64 // the first seq not read yet
	seen *report.Lines
	n    map[decisionKey]uint64
}

type decisionKey struct{ verdict, rule string }

// catchUp reads the records from next on. A record that does not decode
// is skipped: the report counts it undecoded, and has no line of it either.
func (c *lineCounts) catchUp(src Records) error {
	return src.Scan(c.next, func(e ledger.Entry) error {
		c.next = e.Seq + 1
		var r feed.Record
		if json.Unmarshal(e.Rec, &r) != nil {
			return nil
		}
		for _, l := range c.seen.Decided(&r) {
			c.n[decisionKey{l.Decision, l.Rule}]++
		}
		return nil
	})
}

// write brings the counts up to the ledger's head, then writes them; a
// failed read is returned after writing what was counted.
func (c *lineCounts) write(w io.Writer, src Records) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if src != nil {
		err = c.catchUp(src)
	}
	keys := slices.Collect(maps.Keys(c.n))
	slices.SortFunc(keys, func(a, b decisionKey) int {
		return strings.Compare(a.verdict+"\x00"+a.rule, b.verdict+"\x00"+b.rule)
	})
	fmt.Fprintln(w, "# HELP tillguard_decisions_total Lines decided other than allow, by verdict and deciding rule: each line once, under its first recorded decision, however often it is re-decided; counted from the ledger as the dashboard and the report count them.")
	fmt.Fprintln(w, "# TYPE tillguard_decisions_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "tillguard_decisions_total{verdict=%s,rule=%s} %d\n", label(k.verdict), label(k.rule), c.n[k])
	}
	return err
}

// label quotes a label value as the text format wants it.
func label(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// deviceStates are the states a device gauge has a series for.
var deviceStates = []string{"connected", "disconnected", "missing"}

// metrics serves GET /metrics: the decision counters and the till's state.
func (h *handler) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if h.Metrics != nil {
		if err := h.Metrics.lines.write(w, h.Records); err != nil {
			h.Log.Error("web: metrics: read ledger", "err", err)
		}
		h.Metrics.lat.write(w)
	}
	st := h.Status()
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	gauge("tillguard_outbox_depth", "Records the bureau has not acknowledged.", float64(st.Outbox.Depth))
	gauge("tillguard_outbox_oldest_age_seconds", "Age of the oldest unacknowledged record.", st.Outbox.OldestAgeS)
	gauge("tillguard_ledger_head_seq", "Seq of the last record in the ledger.", float64(st.HeadSeq))
	gauge("tillguard_ledger_acked_seq", "Every record up to this seq is stored by the bureau.", float64(st.AckedSeq))
	up := 0.0
	if st.Uplink.Connected {
		up = 1
	}
	gauge("tillguard_uplink_connected", "1 while connected to the bureau's broker.", up)
	names := make([]string, 0, len(st.Devices))
	for n := range st.Devices {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "# HELP tillguard_device_state 1 for the state each device is in.")
	fmt.Fprintln(w, "# TYPE tillguard_device_state gauge")
	for _, n := range names {
		for _, s := range deviceStates {
			v := 0
			if st.Devices[n].State == s {
				v = 1
			}
			fmt.Fprintf(w, "tillguard_device_state{device=%s,state=%s} %d\n", label(n), label(s), v)
		}
	}
	fmt.Fprintln(w, "# HELP tillguard_device_reconnects_total Connections after the first since the till started.")
	fmt.Fprintln(w, "# TYPE tillguard_device_reconnects_total counter")
	for _, n := range names {
		fmt.Fprintf(w, "tillguard_device_reconnects_total{device=%s} %d\n", label(n), st.Devices[n].Reconnects)
	}
	fmt.Fprintln(w, "# HELP tillguard_alarm 1 for each kind of alarm raised.")
	fmt.Fprintln(w, "# TYPE tillguard_alarm gauge")
	kinds := map[string]bool{}
	for _, a := range st.Alarms {
		// A kind raised for two causes is one series.
		if !kinds[a.Kind] {
			kinds[a.Kind] = true
			fmt.Fprintf(w, "tillguard_alarm{kind=%s} 1\n", label(a.Kind))
		}
	}
	if c := st.Chain; c != nil && c.Checked != "" {
		ok := 0.0
		if c.OK {
			ok = 1
		}
		gauge("tillguard_ledger_chain_ok", "1 while the last check of the ledger's chain found every record sound.", ok)
		if !c.OK && c.BadSeq > 0 {
			gauge("tillguard_ledger_chain_bad_seq", "The first record that fails the ledger's chain check.", float64(c.BadSeq))
		}
	}
	if st.Uplink.HeldFrom > 0 {
		gauge("tillguard_uplink_held_from_seq", "The uplink sends nothing from this seq on while the chain is broken.", float64(st.Uplink.HeldFrom))
	}
	fmt.Fprintln(w, "# HELP tillguard_http_events_refused_total Live-update streams refused since the till started: too many open.")
	fmt.Fprintln(w, "# TYPE tillguard_http_events_refused_total counter")
	fmt.Fprintf(w, "tillguard_http_events_refused_total %d\n", h.streams.refused())
	if st.Quarantined != "" {
		fmt.Fprintln(w, "# HELP tillguard_ledger_quarantined 1 while the ledger file is quarantined as corrupt and sales are suspended.")
		fmt.Fprintln(w, "# TYPE tillguard_ledger_quarantined gauge")
		fmt.Fprintf(w, "tillguard_ledger_quarantined{path=%s} 1\n", label(st.Quarantined))
	}
}
