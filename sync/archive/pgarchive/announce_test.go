package pgarchive

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/feed"
)

// TestOpen_addsAnnouncedToAnOlderSchema: a database of the schema before
// announced heads (version 2) is brought up to date at Open; its tills
// keep their rows, have no head, take one, and are swept.
func TestOpen_addsAnnouncedToAnOlderSchema(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ms, err := loadMigrations()
	if err != nil || len(ms) < 3 || ms[2].name != "0003_announced" {
		t.Fatalf("migrations %v %v, want 0003_announced third", ms, err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		if done, err = migrateStep(ctx, pool, ms[:2]); err != nil {
			pool.Close()
			t.Fatalf("migrate to version 2: %v", err)
		}
	}
	pool.Close()
	c := archivetest.NewChain("P1", "T1")
	c.Add(3)
	sql(t, dsn, "INSERT INTO tills (pharmacy, till, wm_seq, count) VALUES ('P1', 'T1', 0, 0)")

	clk := time.Date(2025, 3, 2, 10, 0, 0, 0, time.UTC)
	s := openDSN(t, dsn, &archive.Opts{Now: func() time.Time { return clk }})
	list, err := s.Tills(ctx, archive.TillQuery{})
	if err != nil || len(list) != 1 || list[0].Announced != (archive.Announcement{}) {
		t.Fatalf("tills of the older schema: %+v %v, want P1/T1 without a head", list, err)
	}
	mustPut(t, s, c.Records(1, 1))
	if as, err := s.Announce(ctx, "P1", "T1", archive.Announcement{Seq: 3, Hash: feed.Hash(c.Record(3).Rec), At: clk}); err != nil || len(as) != 0 {
		t.Fatalf("Announce: %+v %v", as, err)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM tills WHERE announced_awaited"); n != 1 {
		t.Fatalf("%d tills awaited, want P1/T1", n)
	}
	got, err := s.Sweep(ctx, clk, clk, clk.Add(time.Second))
	if err != nil || len(got) != 1 || got[0].Kind != archive.AlarmOutboxStale || got[0].Seq != 3 {
		t.Fatalf("Sweep: %+v %v, want outbox_stale on 3", got, err)
	}
	mustPut(t, s, c.Records(2, 3))
	if n := queryInt(t, dsn, "SELECT count(*) FROM tills WHERE announced_awaited"); n != 0 {
		t.Fatalf("%d tills awaited once the records came, want none", n)
	}
	wantWatermark(t, s, c, 3)
}
