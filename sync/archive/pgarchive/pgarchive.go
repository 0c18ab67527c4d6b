package pgarchive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tillguard/tillguard/sync/archive"
)

// Store is the bureau's archive in a PostgreSQL database, shared by every
// receiver that opens it.
type Store struct {
	pool *pgxpool.Pool
	opts archive.Opts
	log  *slog.Logger

	// known holds the tills whose row exists ("pharmacy/till"): rows are
	// never deleted, so a till is inserted once per process.
	known sync.Map

	// parts holds the months whose partitions exist (partition suffix).
	partsMu sync.Mutex
	parts   map[string]bool

	closed atomic.Bool
	stop   context.CancelFunc
	bg     sync.WaitGroup
}

var _ archive.Store = (*Store)(nil)

// maintainEvery is how often a store makes the coming months' partitions:
// far more often than a month, so a receiver that runs for weeks always
// finds next month's partition made.
const maintainEvery = 6 * time.Hour

// monthsAhead is how many months after the current one get their
// partitions ahead of time.
const monthsAhead = 2

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; pool settings such as pool_max_conns go in it too),
// brings its schema up to date and makes the partitions of this month and
// the next ones. A database written by a newer tillguard gives an error
// wrapping archive.ErrSchema.
func Open(ctx context.Context, dsn string, opts *archive.Opts) (*Store, error) {
	o := opts.Defaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgarchive: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgarchive: open: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgarchive: open %s: %w", where(cfg), err)
	}
	s := &Store{pool: pool, opts: o, log: o.Log, parts: map[string]bool{}}
	now := o.Now()
	if err := s.AddMonths(ctx, now, now.AddDate(0, monthsAhead, 0)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgarchive: open %s: %w", where(cfg), err)
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.bg.Go(func() { s.maintain(bg) })
	s.log.Info("pgarchive: opened", "database", where(cfg), "schema", SchemaVersion())
	return s, nil
}

// where names the database without its password.
func where(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// maintain makes the coming months' partitions until ctx ends.
func (s *Store) maintain(ctx context.Context) {
	tick := time.NewTicker(maintainEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := s.opts.Now()
		if err := s.AddMonths(ctx, now, now.AddDate(0, monthsAhead, 0)); err != nil && ctx.Err() == nil {
			s.log.Error("pgarchive: make partitions", "err", err)
		}
	}
}

// Close stops the store's background work and closes its connections.
// Later calls return ErrClosed; Close itself may be called again.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.bg.Wait()
	s.pool.Close()
	return nil
}

// fail wraps err for op, and tells the closed store's errors and the
// database's apart. After a broken connection the pool drops every idle
// one, which the same restart or network cut likely broke too, so the
// next call connects afresh.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("pgarchive: %s: %w", op, archive.ErrClosed)
	}
	if broken(err) {
		s.pool.Reset()
	}
	return fmt.Errorf("pgarchive: %s: %w", op, err)
}

func (s *Store) checkOpen(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("pgarchive: %s: %w", op, archive.ErrClosed)
	}
	return nil
}

// broken reports whether err says the connection is gone (the server
// restarted or shut down, the network failed) rather than that the
// statement failed.
func broken(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P: the server shutting down
		// or starting.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return !errors.Is(err, archive.ErrInvalid) && !errors.Is(err, archive.ErrNotFound) && !errors.Is(err, pgx.ErrNoRows)
}

// retryable reports whether a transaction failed only because of another
// one, so running it again can succeed: a deadlock the server broke, a
// serialization failure, or a partition constraint broken by rows routed
// while AddMonths attached their month's partition (the copy routed them
// to the default partition, whose constraint then changed under it; the
// tables have no other check constraints).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "23514")
}

// maxAttempts bounds how often a transaction runs when it keeps meeting
// others.
const maxAttempts = 5

// reconnecting runs fn, and once more on fresh connections when the
// first attempt found its connection broken: a pool's idle connections
// all break when the server restarts, and a read, or a write that is the
// same when done twice, loses nothing by running again.
func (s *Store) reconnecting(fn func() error) error {
	err := fn()
	if broken(err) && !s.closed.Load() {
		s.pool.Reset()
		err = fn()
	}
	return err
}

// inTx runs fn in a transaction, again when it fails retryably, and once
// more on fresh connections when its connection broke before the commit:
// nothing of it was committed then. A connection that breaks during the
// commit leaves the outcome unknown, and the error is returned.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	reconnected := false
	for attempt := 1; ; attempt++ {
		committing := false
		err := s.tryTx(ctx, fn, &committing)
		switch {
		case err == nil:
			return nil
		case retryable(err) && attempt < maxAttempts:
			continue
		case broken(err) && !committing && !reconnected && !s.closed.Load():
			reconnected = true
			s.pool.Reset()
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error, committing *bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := fn(tx); err != nil {
		return err
	}
	*committing = true
	return tx.Commit(ctx)
}

// collect runs a query and collects its rows with fn, reconnecting once
// if the connection broke.
func collect[T any](ctx context.Context, s *Store, args []any, sql string, fn pgx.RowToFunc[T]) ([]T, error) {
	var out []T
	err := s.reconnecting(func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, fn)
		return err
	})
	return out, err
}
