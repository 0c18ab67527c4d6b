package systembench_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/internal/loadgen"
	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The province of docs/performance.md's ingest budget: a backlog from 10 000 tills,
// ingestPerTill records each, and then a steady rate from the same tills.
const (
	ingestTills   = 10_000
	ingestPerTill = 10
	steadyRate    = 500                      // records a second: a province's peak
	steadySeconds = ingestTills / steadyRate // one more sale from every till
)

// BenchmarkBudgetIngest is docs/performance.md's bureau budget: a backlog of
// ingestTills simulated tills (each its own key and chain, internal/loadgen)
// published through a real mosquitto to one bureau receiver, timed until
// the publisher has seen every till acknowledged to its head, first into
// PostgreSQL (a throwaway cluster, internal/pgtest), then into the embedded
// archive on the same backlog; and the ack latency, publish to ack, at a
// steady steadyRate records a second from the same tills into PostgreSQL.
//
//   - pg-ingest-rec/s (≥ 5 000): the budget;
//   - pg/bolt: PostgreSQL's rate against the embedded archive's, as
//     measured in this run;
//   - ms-ack-p50, ms-ack-p99: the steady rate's ack latency.
//
// One op is all of it: run with -benchtime=1x.
func BenchmarkBudgetIngest(b *testing.B) {
	br := brokertest.Start(b)
	var pgRate, boltRate float64
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		pg := loadgen.NewProvince(ingestTills)
		backlog := pg.Sales(ingestPerTill)
		bolt := loadgen.NewProvince(ingestTills)
		boltBacklog := bolt.Sales(ingestPerTill)
		b.StartTimer()

		st, err := pgarchive.Open(context.Background(), pgtest.NewDB(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		pgRate = ingest(b, br, st, pg, backlog)
		lat = steady(b, br, st, pg)
		st.Close()

		ar, err := boltarchive.Open(filepath.Join(b.TempDir(), "archive.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		boltRate = ingest(b, br, ar, bolt, boltBacklog)
		ar.Close()
	}
	b.ReportMetric(pgRate, "pg-ingest-rec/s")
	b.ReportMetric(boltRate, "bolt-ingest-rec/s")
	b.ReportMetric(pgRate/boltRate, "pg/bolt")
	b.ReportMetric(float64(loadgen.Quantile(lat, 0.5).Microseconds())/1e3, "ms-ack-p50")
	b.ReportMetric(float64(loadgen.Quantile(lat, 0.99).Microseconds())/1e3, "ms-ack-p99")
}

// ingest runs a bureau on st, publishes backlog and returns the records a
// second from the first publish until every till of pr is acknowledged.
func ingest(b *testing.B, br *brokertest.Broker, st archive.Store, pr *loadgen.Province, backlog []archive.Incoming) float64 {
	stop := runBureau(b, br, st, pr)
	defer stop()
	pub := connect(b, br)
	defer pub.Close()
	start := time.Now()
	if err := pub.Send(context.Background(), backlog, 0); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "every till acknowledged", func() bool { return pub.Done() })
	rate := float64(len(backlog)) / time.Since(start).Seconds()
	b.Logf("%T: %d records from %d tills in %v", st, len(backlog), len(pr.Tills), time.Since(start).Round(time.Millisecond))
	return rate
}

// steady sends steadyRate records a second for steadySeconds, one more
// sale of every till in turn, and returns the sorted ack latencies.
func steady(b *testing.B, br *brokertest.Broker, st archive.Store, pr *loadgen.Province) []time.Duration {
	stop := runBureau(b, br, st, pr)
	defer stop()
	pub := connect(b, br)
	defer pub.Close()
	more := pr.Sales(1)
	if err := pub.Send(context.Background(), more, steadyRate); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the steady records acknowledged", func() bool { return pub.Done() })
	return pub.Latencies()
}

func runBureau(b *testing.B, br *brokertest.Broker, st archive.Store, pr *loadgen.Province) (stop func()) {
	bu := bureau.New(st, &bureau.Opts{Enrolled: pr.Enrolled(), Key: benchBureauKey}) // acks signed, as deployed
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bu.Run(ctx, mqttclient.Options{Broker: br.URL(), ClientID: "bench-bureau-ingest", CleanSession: true, MaxBackoff: 500 * time.Millisecond})
	}()
	waitFor(b, "the bureau subscribed", func() bool { return bu.Stats().Connected })
	return func() { cancel(); <-done }
}

func connect(b *testing.B, br *brokertest.Broker) *loadgen.Publisher {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := loadgen.Connect(ctx, br.URL(), "bench-tills", 4096)
	if err != nil {
		b.Fatal(err)
	}
	return pub
}
