package pgarchive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tillguard/tillguard/sync/archive"
)

// Partitions: records and lines are partitioned by month (UTC) of the
// record's own time, records_pYYYYMM and lines_pYYYYMM, plus a default
// partition each for records whose month has none (a till's clock far
// off, a backlog older than the first partition) or whose time does not
// parse. A month's partitions are made ahead of time (Open, then every
// maintainEvery), so a Put never waits for one; DropBefore drops whole old
// months.

// partitioned are the tables partitioned by month.
var partitioned = [...]string{"records", "lines"}

// monthOf is the first instant of t's month, UTC.
func monthOf(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

func suffix(month time.Time) string { return month.Format("p200601") }

// AddMonths gives every month from from's to to's its own partition of
// records and lines, moving there the rows of that month that wait in the
// default partition. Months that have one are left alone.
func (s *Store) AddMonths(ctx context.Context, from, to time.Time) error {
	if err := s.checkOpen("add months"); err != nil {
		return err
	}
	for m := monthOf(from); !m.After(monthOf(to)); m = m.AddDate(0, 1, 0) {
		if err := s.addMonth(ctx, m); err != nil {
			return s.fail("add month "+m.Format("2006-01"), err)
		}
	}
	return nil
}

func (s *Store) addMonth(ctx context.Context, month time.Time) error {
	sfx := suffix(month)
	s.partsMu.Lock()
	have := s.parts[sfx]
	s.partsMu.Unlock()
	if have {
		return nil
	}
	end := month.AddDate(0, 1, 0)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockPartition); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", "records_"+sfx).Scan(&exists); err != nil || exists {
			return err
		}
		// Both default partitions at once, before reading them: taking them
		// one after another could deadlock with a Put writing to both.
		if _, err := tx.Exec(ctx, "LOCK TABLE records_default, lines_default IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		for _, t := range partitioned {
			part := t + "_" + sfx
			bounds := fmt.Sprintf("FROM ('%s') TO ('%s')", month.Format(time.RFC3339), end.Format(time.RFC3339))
			stmts := []string{
				fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", part, t),
				fmt.Sprintf("INSERT INTO %s SELECT * FROM %s_default WHERE at >= $1 AND at < $2", part, t),
				fmt.Sprintf("DELETE FROM %s_default WHERE at >= $1 AND at < $2", t),
				fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES %s", t, part, bounds),
			}
			for _, q := range stmts {
				var args []any
				if strings.Contains(q, "$1") {
					args = []any{month, end}
				}
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.partsMu.Lock()
	s.parts[sfx] = true
	s.partsMu.Unlock()
	return nil
}

// CountBefore counts the records whose time is before month's first
// instant (UTC): those DropBefore(ctx, month) would remove now. It changes
// nothing and blocks no Put.
func (s *Store) CountBefore(ctx context.Context, month time.Time) (int64, error) {
	if err := s.checkOpen("count before"); err != nil {
		return 0, err
	}
	month = monthOf(month)
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM records WHERE at < $1", month).Scan(&n); err != nil {
		return 0, s.fail("count before "+month.Format("2006-01"), err)
	}
	return n, nil
}

// DropBefore removes every record and line whose time is before month's
// first instant (UTC): whole monthly partitions are dropped, and the
// default partition's rows of those months deleted. It returns how many
// records went.
//
// What refers to the records that go:
//   - tills keep their watermark and its hash, so chains go on being
//     checked; their Count drops by the records removed. A till resending
//     a removed record gets Duplicate: the bytes to compare are gone.
//   - trace holders whose sale went are deleted (a code sold that long ago
//     is no evidence), and so are card days before month: with a retention
//     shorter than archive.WindowDays, days_supply_cross no longer sees
//     purchases older than it.
//   - a return of a removed sale finds no sale, as one the archive never
//     held.
//   - alarms stay, with their references to records that are gone.
//
// Records without a time that parses stay in the default partition.
//
// It blocks every Put while it runs.
func (s *Store) DropBefore(ctx context.Context, month time.Time) (int64, error) {
	if err := s.checkOpen("drop before"); err != nil {
		return 0, err
	}
	month = monthOf(month)
	var removed int64
	var dropped []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		removed, dropped = 0, nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockPartition); err != nil {
			return err
		}
		// Locks in the order every Put takes them: till rows, then the
		// tables, then the cross-till lock.
		if _, err := tx.Exec(ctx, "SELECT 1 FROM tills ORDER BY pharmacy, till FOR UPDATE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE records, lines IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'records'::regclass`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		sources := []string{"SELECT pharmacy, till FROM records_default WHERE at < $1"}
		for _, n := range names {
			m, err := time.Parse("p200601", strings.TrimPrefix(n, "records_"))
			if err != nil || !m.Before(month) {
				continue
			}
			dropped = append(dropped, strings.TrimPrefix(n, "records_"))
			sources = append(sources, "SELECT pharmacy, till FROM "+n)
		}
		err = tx.QueryRow(ctx, `WITH g AS (
				SELECT pharmacy, till, count(*) AS n FROM (`+strings.Join(sources, " UNION ALL ")+`) r GROUP BY 1, 2
			), u AS (
				UPDATE tills t SET count = t.count - g.n FROM g WHERE t.pharmacy = g.pharmacy AND t.till = g.till
			)
			SELECT coalesce(sum(n), 0)::bigint FROM g`, month).Scan(&removed)
		if err != nil {
			return err
		}
		for _, sfx := range dropped {
			for _, t := range partitioned {
				if _, err := tx.Exec(ctx, "DROP TABLE "+t+"_"+sfx); err != nil {
					return err
				}
			}
		}
		for _, t := range partitioned {
			if _, err := tx.Exec(ctx, "DELETE FROM "+t+"_default WHERE at < $1", month); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockCross); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM trace_holders WHERE at < $1", month); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM card_days WHERE day < $1", int64(archive.Day(month)))
		return err
	})
	if err != nil {
		return 0, s.fail("drop before "+month.Format("2006-01"), err)
	}
	s.partsMu.Lock()
	for _, sfx := range dropped {
		delete(s.parts, sfx)
	}
	s.partsMu.Unlock()
	s.log.Info("pgarchive: dropped old records", "before", month.Format("2006-01"), "records", removed, "partitions", len(dropped))
	return removed, nil
}
