package pgarchive

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillguard/tillguard/sync/archive"
)

// The schema's versions: migrations/NNNN_name.sql, applied in order, each
// in its own transaction, and recorded in schema_migrations.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// Advisory lock keys, one per purpose, in a range of their own ("tg" in
// the high bytes) so another application's locks on the same database do
// not meet them.
const (
	lockMigrate   int64 = 0x7467_0000_0001 // applying migrations
	lockCross     int64 = 0x7467_0000_0002 // the cross-till index and the alarms
	lockPartition int64 = 0x7467_0000_0003 // creating and dropping partitions
)

// loadMigrations reads the embedded migrations, numbered 1, 2, 3… with
// no gap.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for i, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want number %04d", base, i+1)
		}
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(base, ".sql"), sql: string(b)})
	}
	return out, nil
}

// migrate brings the database's schema to the newest version this binary
// knows. Each step holds a transaction-level advisory lock, so receivers
// starting together apply each migration once, and a step that fails
// leaves nothing behind.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for {
		done, err := migrateStep(ctx, pool, ms)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration, if any, and reports whether the
// schema is up to date.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, ms []migration) (done bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockMigrate); err != nil {
			return err
		}
		var hasTable, hasTills bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('tills') IS NOT NULL`).Scan(&hasTable, &hasTills); err != nil {
			return err
		}
		if !hasTable {
			if hasTills {
				return fmt.Errorf("%w: the database has a tills table but no schema_migrations: not a tillguard archive", archive.ErrSchema)
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("%w: the database's schema is version %d, newer than this tillguard knows (%d): upgrade tillguard", archive.ErrSchema, current, len(ms))
		}
		if current == len(ms) {
			done = true
			return nil
		}
		m := ms[current]
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
		return err
	})
	return done, err
}

// SchemaVersion is the newest schema version this package knows.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
