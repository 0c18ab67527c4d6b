package pgarchive

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
)

// TestOpen_addsKeysToAnOlderSchema: a database of the schema before
// enrolled keys (version 1) is brought up to date at Open; its tills keep
// their rows, have no key, and take one.
func TestOpen_addsKeysToAnOlderSchema(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ms, err := loadMigrations()
	if err != nil || len(ms) < 2 || ms[1].name != "0002_till_keys" {
		t.Fatalf("migrations %v %v, want 0002_till_keys second", ms, err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for done := false; !done; {
		if done, err = migrateStep(ctx, pool, ms[:1]); err != nil {
			pool.Close()
			t.Fatalf("migrate to version 1: %v", err)
		}
	}
	pool.Close()
	sql(t, dsn, "INSERT INTO tills (pharmacy, till, wm_seq, count) VALUES ('P1', 'T1', 0, 0)")

	s := openDSN(t, dsn, nil)
	if got := queryInt(t, dsn, "SELECT max(version) FROM schema_migrations"); got != int64(SchemaVersion()) {
		t.Fatalf("schema version %d after Open, want %d", got, SchemaVersion())
	}
	list, err := s.Tills(ctx, archive.TillQuery{})
	if err != nil || len(list) != 1 || list[0].Key != nil || !list[0].KeyAt.IsZero() {
		t.Fatalf("tills of the older schema: %+v %v, want P1/T1 without a key", list, err)
	}
	if _, err := s.Key(ctx, "P1", "T1"); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Key of a till from before keys: %v, want ErrNotFound", err)
	}
	c := archivetest.NewChain("P1", "T1")
	if err := s.Enroll(ctx, []archive.EnrolledKey{{Pharmacy: "P1", Till: "T1", Key: c.Pub()}}); err != nil {
		t.Fatal(err)
	}
	if pub, err := s.Key(ctx, "P1", "T1"); err != nil || !pub.Equal(c.Pub()) {
		t.Fatalf("Key: %x %v", pub, err)
	}
	c.Add(1)
	mustPut(t, s, c.Records(1, 1))
	wantWatermark(t, s, c, 1)
}

// TestKey_badLengthInTheDatabase: a key that is no Ed25519 key (written
// by hand) is an error, never a key to verify with.
func TestKey_badLengthInTheDatabase(t *testing.T) {
	dsn := pgtest.NewDB(t)
	s := openDSN(t, dsn, nil)
	sql(t, dsn, "INSERT INTO tills (pharmacy, till, key, key_at) VALUES ('P1', 'T1', '\\x0102', now())")
	if pub, err := s.Key(ctx, "P1", "T1"); err == nil || errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("Key: %x %v, want an error", pub, err)
	}
}
