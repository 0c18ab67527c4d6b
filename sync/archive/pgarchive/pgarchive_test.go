package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
)

var ctx = context.Background()

func openDSN(t testing.TB, dsn string, opts *archive.Opts) *Store {
	t.Helper()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sql runs a statement on dsn outside any store.
func sql(t testing.TB, dsn, q string, args ...any) {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// queryInt runs a query returning one integer on dsn.
func queryInt(t testing.TB, dsn, q string, args ...any) int64 {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int64
	if err := c.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func mustPut(t testing.TB, s archive.Store, in []archive.Incoming) archive.Result {
	t.Helper()
	res, err := s.Put(ctx, in)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return res
}

func wantWatermark(t testing.TB, s archive.Store, c *archivetest.Chain, seq uint64) {
	t.Helper()
	w, err := s.Watermark(ctx, c.Pharmacy, c.Till)
	if err != nil || w.Seq != seq || (seq > 0 && w.Hash != feed.Hash(c.Record(seq).Rec)) {
		t.Fatalf("%s/%s watermark %+v %v, want %d", c.Pharmacy, c.Till, w, err, seq)
	}
}

func TestOpen_concurrentMigrations(t *testing.T) {
	dsn := pgtest.NewDB(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := Open(ctx, dsn, nil)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	if got := queryInt(t, dsn, "SELECT count(*) FROM schema_migrations"); got != int64(SchemaVersion()) {
		t.Fatalf("%d migrations recorded, want %d", got, SchemaVersion())
	}
	if got := queryInt(t, dsn, "SELECT count(DISTINCT version) FROM schema_migrations"); got != int64(SchemaVersion()) {
		t.Fatalf("%d versions recorded", got)
	}
}

func TestOpen_newerSchemaRefused(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	s.Close()
	sql(t, dsn, "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')", SchemaVersion()+1)
	_, err := Open(ctx, dsn, nil)
	if !errors.Is(err, archive.ErrSchema) || !strings.Contains(err.Error(), "upgrade tillguard") {
		t.Fatalf("Open: %v, want ErrSchema saying to upgrade", err)
	}
}

func TestOpen_notAnArchive(t *testing.T) {
	dsn := pgtest.NewDB(t)
	sql(t, dsn, "CREATE TABLE tills (name text)")
	if _, err := Open(ctx, dsn, nil); !errors.Is(err, archive.ErrSchema) {
		t.Fatalf("Open: %v, want ErrSchema", err)
	}
}

func TestOpen_unreachable(t *testing.T) {
	c := pgtest.NewCluster(t)
	dsn := c.NewDB(t)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn+"&connect_timeout=5", nil); err == nil {
		t.Fatal("Open of a stopped cluster succeeded")
	}
}

func TestStore_closed(t *testing.T) {
	s := openDSN(t, pgtest.NewDB(t), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c := archivetest.NewChain("P1", "T1")
	c.Add(1)
	if _, err := s.Put(ctx, c.Records(1, 1)); !errors.Is(err, archive.ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	if _, err := s.Watermark(ctx, "P1", "T1"); !errors.Is(err, archive.ErrClosed) {
		t.Fatalf("Watermark after Close: %v", err)
	}
	if _, err := s.Tills(ctx, archive.TillQuery{}); !errors.Is(err, archive.ErrClosed) {
		t.Fatalf("Tills after Close: %v", err)
	}
}

// TestPut_afterRestart: the server restarts between two Puts; the pool's
// connections all broke, and the next Put works all the same.
func TestPut_afterRestart(t *testing.T) {
	s := openDSN(t, pgtest.NewDB(t), nil)
	c := archivetest.NewChain("P1", "T1")
	c.Add(20)
	mustPut(t, s, c.Records(1, 10))
	pgtest.Restart(t)
	res := mustPut(t, s, c.Records(11, 20))
	if len(res.Acks) != 1 || res.Acks[0].Seq != 20 {
		t.Fatalf("acks %+v", res.Acks)
	}
	wantWatermark(t, s, c, 20)
}

// TestPut_databaseDown: with the server down a Put fails and stores
// nothing; once it is back the same batch stores.
func TestPut_databaseDown(t *testing.T) {
	cl := pgtest.NewCluster(t)
	s := openDSN(t, cl.NewDB(t), nil)
	c := archivetest.NewChain("P1", "T1")
	c.Add(10)
	mustPut(t, s, c.Records(1, 5))
	if err := cl.Kill(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.Put(cctx, c.Records(6, 10)); err == nil {
		t.Fatal("Put with the server down succeeded")
	}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	wantWatermark(t, s, c, 5)
	res := mustPut(t, s, c.Records(6, 10))
	if !slices.Equal(res.Outcomes, []archive.Outcome{archive.Stored, archive.Stored, archive.Stored, archive.Stored, archive.Stored}) {
		t.Fatalf("outcomes %v: the failed Put left something behind", res.Outcomes)
	}
	wantWatermark(t, s, c, 10)
}

// TestPut_killedMidwayAllOrNothing kills the server while a large Put
// runs: after recovery, the batch is stored whole or not at all.
func TestPut_killedMidwayAllOrNothing(t *testing.T) {
	cl := pgtest.NewCluster(t)
	dsn := cl.NewDB(t)
	s := openDSN(t, dsn, nil)
	const tills, per = 200, 20
	var chains []*archivetest.Chain
	var batch []archive.Incoming
	for i := range tills {
		c := archivetest.NewChain(fmt.Sprintf("P%03d", i), "T1")
		c.Add(per)
		chains = append(chains, c)
		batch = append(batch, c.Records(1, per)...)
	}
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, batch)
		done <- err
	}()
	// Kill once the Put is writing, or let it finish if it is faster.
	var putErr error
	finished := false
	deadline := time.Now().Add(30 * time.Second)
wait:
	for time.Now().Before(deadline) {
		select {
		case putErr = <-done:
			finished = true
			break wait
		default:
		}
		var n int
		if err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE 'copy%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for the Put
	}
	watch.Close(ctx)
	if err := cl.Kill(); err != nil {
		t.Fatal(err)
	}
	if !finished {
		putErr = <-done
	}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	records := queryInt(t, dsn, "SELECT count(*) FROM records")
	lines := queryInt(t, dsn, "SELECT count(*) FROM lines")
	marks := queryInt(t, dsn, "SELECT coalesce(sum(wm_seq), 0)::bigint FROM tills")
	t.Logf("Put returned %v; after recovery: %d records, %d lines, watermarks sum to %d", putErr, records, lines, marks)
	switch {
	case records == 0 && lines == 0 && marks == 0:
		if putErr == nil {
			t.Fatal("Put succeeded, and nothing is stored")
		}
	case records == tills*per && lines == tills*per && marks == tills*per:
	default:
		t.Fatalf("a partial commit: %d records, %d lines, watermarks %d", records, lines, marks)
	}
	// Whatever happened, the tills' resend completes it.
	mustPut(t, s, batch)
	for _, c := range chains {
		wantWatermark(t, s, c, per)
	}
}

// TestPut_concurrentPools: receivers in several pools, two goroutines
// each, Put shuffled shares of the same tills' records with resends.
// Every record is reported stored once, and every watermark reaches its
// till's head.
func TestPut_concurrentPools(t *testing.T) {
	dsn := pgtest.NewDB(t)
	const pools, perPool, tills, per = 3, 2, 12, 150
	var stores []*Store
	for range pools {
		stores = append(stores, openDSN(t, dsn, nil))
	}
	var chains []*archivetest.Chain
	var all []archive.Incoming
	for i := range tills {
		c := archivetest.NewChain("P1", fmt.Sprintf("T%02d", i))
		// Every till sells one traceability code now and then, so the
		// cross-till index is busy too.
		for range per {
			c.Next(func(r *feed.Record) { r.Lines[0].DrugTracCodg = []string{fmt.Sprintf("CODE%02d-%d", i, r.Seq%7)} })
		}
		chains = append(chains, c)
		all = append(all, c.Records(1, per)...)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	shares := make([][]archive.Incoming, pools*perPool)
	for _, in := range all {
		j := rng.IntN(len(shares))
		shares[j] = append(shares[j], in)
		if rng.IntN(8) == 0 {
			j := rng.IntN(len(shares))
			shares[j] = append(shares[j], in)
		}
	}
	var mu sync.Mutex
	stored := 0
	var wg sync.WaitGroup
	errs := make(chan error, len(shares))
	for g, share := range shares {
		st := stores[g%pools]
		r := rand.New(rand.NewPCG(uint64(g), 5))
		wg.Go(func() {
			for len(share) > 0 {
				n := min(len(share), 1+r.IntN(80))
				b := slices.Clone(share[:n])
				r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
				res, err := st.Put(ctx, b)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, o := range res.Outcomes {
					if o == archive.Stored {
						stored++
					}
				}
				stored += res.Promoted
				mu.Unlock()
				share = share[n:]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	// What was left waiting or dropped, the tills send again.
	for _, c := range chains {
		res := mustPut(t, stores[0], c.Records(1, per))
		for _, o := range res.Outcomes {
			if o == archive.Stored {
				stored++
			}
		}
		stored += res.Promoted
	}
	if stored != tills*per {
		t.Errorf("%d records reported stored, want %d", stored, tills*per)
	}
	for _, c := range chains {
		wantWatermark(t, stores[1], c, per)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM records"); n != tills*per {
		t.Errorf("%d record rows, want %d", n, tills*per)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM waiting"); n != 0 {
		t.Errorf("%d rows still waiting", n)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM trace_holders"); n != tills*7 {
		t.Errorf("%d trace holders, want %d", n, tills*7)
	}
	if as, err := stores[2].Alarms(ctx, archive.AlarmQuery{}); err != nil || len(as) != 0 {
		t.Fatalf("alarms %+v %v", as, err)
	}
}

// TestPut_waitingPromotedAcrossPools: one pool's Put leaves records
// waiting, another's stores their predecessor and them.
func TestPut_waitingPromotedAcrossPools(t *testing.T) {
	dsn := pgtest.NewDB(t)
	a, b := openDSN(t, dsn, nil), openDSN(t, dsn, nil)
	c := archivetest.NewChain("P1", "T1")
	c.Add(6)
	res := mustPut(t, a, []archive.Incoming{c.Record(4), c.Record(2), c.Record(6)})
	if !slices.Equal(res.Outcomes, []archive.Outcome{archive.Waiting, archive.Waiting, archive.Waiting}) {
		t.Fatalf("outcomes %v", res.Outcomes)
	}
	res = mustPut(t, b, []archive.Incoming{c.Record(1), c.Record(3)})
	if !slices.Equal(res.Outcomes, []archive.Outcome{archive.Stored, archive.Stored}) || res.Promoted != 2 || res.Acks[0].Seq != 4 {
		t.Fatalf("outcomes %v, promoted %d, acks %+v", res.Outcomes, res.Promoted, res.Acks)
	}
	tills, err := a.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 1 || tills[0].Waiting != 1 || tills[0].Count != 4 {
		t.Fatalf("tills %+v %v", tills, err)
	}
	// The promoted records have their lines, as if they had come in order.
	if n := queryInt(t, dsn, "SELECT count(*) FROM lines"); n != 4 {
		t.Fatalf("%d lines, want 4", n)
	}
}

// TestMonths: AddMonths moves a month's records out of the default
// partition; DropBefore drops them and what refers to them.
func TestMonths(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	c := archivetest.NewChain("P1", "T1") // March 2025: before any partition Open made
	c.Start = time.Date(2025, 3, 31, 23, 59, 50, 0, time.UTC)
	for range 20 { // ten seconds in March, ten in April (UTC)
		c.Next(func(r *feed.Record) { r.Lines[0].DrugTracCodg = []string{"T" + r.ID} })
	}
	mustPut(t, s, c.Records(1, 20))
	if n := queryInt(t, dsn, "SELECT count(*) FROM records_default"); n != 20 {
		t.Fatalf("%d records in the default partition, want 20", n)
	}
	if err := s.AddMonths(ctx, time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int64{"records_default": 0, "records_p202503": 9, "records_p202504": 11, "lines_p202503": 9, "lines_default": 0} {
		if n := queryInt(t, dsn, "SELECT count(*) FROM "+table); n != want {
			t.Errorf("%s holds %d rows, want %d", table, n, want)
		}
	}
	if _, _, err := s.Get(ctx, "P1", "T1", 3); err != nil {
		t.Fatalf("Get after the move: %v", err)
	}
	// A second store knows the months are made.
	if err := openDSN(t, dsn, nil).AddMonths(ctx, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}

	n, err := s.DropBefore(ctx, time.Date(2025, 4, 20, 0, 0, 0, 0, time.UTC))
	if err != nil || n != 9 {
		t.Fatalf("DropBefore: %d %v, want 9 records", n, err)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM pg_class WHERE relname IN ('records_p202503', 'lines_p202503')"); n != 0 {
		t.Fatalf("March's partitions are still there")
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM trace_holders"); n != 11 {
		t.Fatalf("%d trace holders, want April's 11", n)
	}
	if _, _, err := s.Get(ctx, "P1", "T1", 3); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Get of a dropped record: %v", err)
	}
	tills, err := s.Tills(ctx, archive.TillQuery{})
	if err != nil || len(tills) != 1 || tills[0].Count != 11 || tills[0].Contiguous != 20 {
		t.Fatalf("tills %+v %v", tills, err)
	}
	res := mustPut(t, s, c.Records(2, 2))
	if res.Outcomes[0] != archive.Duplicate {
		t.Fatalf("a dropped record sent again: %v", res.Outcomes)
	}
	c.Add(1)
	if res := mustPut(t, s, c.Records(21, 21)); res.Outcomes[0] != archive.Stored {
		t.Fatalf("the chain after the drop: %v", res.Outcomes)
	}
}

// TestCountBefore: CountBefore counts what DropBefore then removes, from
// monthly partitions and the default one alike, and changes nothing.
func TestCountBefore(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	c := archivetest.NewChain("P1", "T1")
	c.Start = time.Date(2025, 3, 31, 23, 59, 50, 0, time.UTC)
	c.Add(20) // ten seconds in March, ten in April (UTC)
	c.Next(func(r *feed.Record) { r.At = "yesterday" })
	mustPut(t, s, c.Records(1, 21))
	// April gets its partition; March stays in the default one.
	if err := s.AddMonths(ctx, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		month time.Time
		want  int64
	}{
		{time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), 9},
		{time.Date(2025, 4, 30, 0, 0, 0, 0, time.UTC), 9}, // a month's first instant, as DropBefore
		{time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), 20}, // never the record without a time
	} {
		if n, err := s.CountBefore(ctx, tt.month); err != nil || n != tt.want {
			t.Errorf("CountBefore(%s) = %d, %v; want %d", tt.month.Format("2006-01-02"), n, err, tt.want)
		}
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM records"); n != 21 {
		t.Fatalf("%d records after counting, want 21", n)
	}
	month := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	want, _ := s.CountBefore(ctx, month)
	if n, err := s.DropBefore(ctx, month); err != nil || n != want {
		t.Fatalf("DropBefore: %d %v, CountBefore said %d", n, err, want)
	}
	if n, err := s.CountBefore(ctx, month); err != nil || n != 0 {
		t.Fatalf("CountBefore after DropBefore: %d %v", n, err)
	}
	s.Close()
	if _, err := s.CountBefore(ctx, month); !errors.Is(err, archive.ErrClosed) {
		t.Fatalf("CountBefore on a closed store: %v", err)
	}
}

// TestPut_unparseableTime: a record whose time does not parse is stored,
// in the default partition.
func TestPut_unparseableTime(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	c := archivetest.NewChain("P1", "T1")
	c.Next(func(r *feed.Record) { r.At = "yesterday" })
	if res := mustPut(t, s, c.Records(1, 1)); res.Outcomes[0] != archive.Stored {
		t.Fatalf("outcomes %v", res.Outcomes)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM records_default WHERE at IS NULL"); n != 1 {
		t.Fatalf("%d records without a time in the default partition", n)
	}
}

// TestMonths_whilePutting: partitions made and dropped while receivers
// Put neither fail a Put nor lose a record.
func TestMonths_whilePutting(t *testing.T) {
	dsn := pgtest.NewDB(t)
	stores := []*Store{openDSN(t, dsn, nil), openDSN(t, dsn, nil)}
	const tills, per = 10, 200
	var chains []*archivetest.Chain
	for i := range tills {
		c := archivetest.NewChain("P1", fmt.Sprintf("T%d", i))
		c.Start = time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC)
		for range per {
			c.Next(func(r *feed.Record) { r.Lines[0].DrugTracCodg = []string{"C" + r.ID} })
		}
		chains = append(chains, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(stores)+2)
	for i, st := range stores {
		wg.Go(func() {
			for seq := uint64(1); seq <= per; seq += 10 {
				var batch []archive.Incoming
				for j, c := range chains {
					if j%len(stores) == i {
						batch = append(batch, c.Records(seq, seq+9)...)
					}
				}
				if _, err := st.Put(ctx, batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		june := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		if err := stores[0].AddMonths(ctx, june, june); err != nil {
			errs <- err
		}
		if _, err := stores[1].DropBefore(ctx, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range chains {
		wantWatermark(t, stores[0], c, per)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM records_p202506"); n != tills*per {
		t.Fatalf("%d records in June's partition, want %d", n, tills*per)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM lines"); n != tills*per {
		t.Fatalf("%d lines, want %d", n, tills*per)
	}
}

// TestPut_connectionLostBeforeCommit: the connection of a Put that has
// decided and copied breaks before its commit; the Put runs again on a new
// connection and stores everything once.
func TestPut_connectionLostBeforeCommit(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	c := archivetest.NewChain("P1", "T1")
	for range 5 {
		c.Next(func(r *feed.Record) { r.Lines[0].DrugTracCodg = []string{"C" + r.ID} })
	}
	// Hold the cross-till lock, so the Put stops just before its last step.
	holder, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockCross); err != nil {
		t.Fatal(err)
	}
	done := make(chan archive.Result, 1)
	errc := make(chan error, 1)
	go func() {
		res, err := s.Put(ctx, c.Records(1, 5))
		errc <- err
		done <- res
	}()
	var killed bool
	for deadline := time.Now().Add(30 * time.Second); !killed && time.Now().Before(deadline); {
		err := holder.QueryRow(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND pid <> pg_backend_pid()`).Scan(&killed)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for the Put
	}
	if !killed {
		t.Fatal("the Put never waited for the cross-till lock")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Put: %v", err)
	}
	res := <-done
	if !slices.Equal(res.Outcomes, []archive.Outcome{archive.Stored, archive.Stored, archive.Stored, archive.Stored, archive.Stored}) {
		t.Fatalf("outcomes %v", res.Outcomes)
	}
	wantWatermark(t, s, c, 5)
	if n := queryInt(t, dsn, "SELECT count(*) FROM records"); n != 5 {
		t.Fatalf("%d records stored, want 5", n)
	}
}
