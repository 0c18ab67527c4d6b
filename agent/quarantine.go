package agent

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/agent/web"
	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// tillLedger is what the till uses of its ledger: a *ledger.Ledger, or a
// quarantinedLedger while the file is quarantined.
type tillLedger interface {
	session.Appender
	session.Index
	web.Records
	Verify() error
	Head() uint64
	Acked() uint64
	Outbox() (depth int, oldest time.Time, err error)
	Prune(before time.Time) (int, error)
	Close() error
}

// quarantineInfix names a quarantined ledger: ledger.db.corrupt-<UTC time>.
const quarantineInfix = ".corrupt-"

// openLedger opens the ledger at path. A file ledger.Open finds corrupt is
// renamed aside, never deleted or rewritten, and the till runs degraded on
// a quarantinedLedger (README, "A corrupt ledger"): a fresh ledger would restart seq at 1
// and clash with the chain the bureau holds. A start that finds a
// quarantined file and no ledger stays degraded too, until an operator
// restores ledger.db or starts once with cfg.AcceptNewLedger.
func openLedger(path string, key ed25519.PrivateKey, opts *ledger.Opts, cfg Config) (tillLedger, error) {
	earlier, err := filepath.Glob(path + quarantineInfix + "*")
	if err != nil {
		return nil, fmt.Errorf("agent: ledger quarantine: %w", err)
	}
	_, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(earlier) > 0 && !cfg.AcceptNewLedger:
		q := earlier[len(earlier)-1] // the latest: the names sort by time
		cfg.Log.Error("agent: no ledger, and a quarantined one awaits the operator: sales suspended (restore ledger.db, or start once with --accept-new-ledger)",
			"quarantined", earlier)
		return newQuarantined(q, "账本已隔离，尚无新账本，暂停结算，请联系技术支持 / ledger quarantined and none in use: sales suspended, call support", "no ledger.db; restore it, or start once with --accept-new-ledger"), nil
	case errors.Is(err, fs.ErrNotExist) && len(earlier) > 0:
		cfg.Log.Warn("agent: starting a fresh ledger (--accept-new-ledger): the bureau will see a new chain from seq 1", "quarantined", earlier)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("agent: ledger: %w", err)
	}
	// Compaction needs the file closed, so it runs before Open and gives
	// back what earlier prunes freed. Failing (a full disk) is no reason
	// not to start; a damaged file is reported by Open.
	if _, err := ledger.Compact(path, compactMinReclaim, opts); err != nil {
		cfg.Log.Warn("agent: ledger compaction skipped", "err", err)
	}
	led, err := ledger.Open(path, key, opts)
	if err == nil {
		return led, nil
	}
	if !errors.Is(err, ledger.ErrCorrupt) {
		return nil, fmt.Errorf("agent: %w", err)
	}
	q, qerr := quarantine(path, cfg.Now())
	if q == "" {
		return nil, errors.Join(fmt.Errorf("agent: %w", err), qerr)
	}
	if qerr != nil { // renamed all the same: a restart finds it either way
		cfg.Log.Error("agent: ledger quarantine", "err", qerr)
	}
	cfg.Log.Error("agent: ledger corrupt, quarantined: sales suspended until an operator acts", "quarantined", q, "err", err)
	return newQuarantined(q, "账本损坏，已隔离，暂停结算，请联系技术支持 / ledger damaged and quarantined: sales suspended, call support", err.Error()), nil
}

// quarantine renames the ledger at path to path.corrupt-<UTC time> and
// syncs the directory, so the rename survives a power cut. It gives the
// new path.
func quarantine(path string, now time.Time) (string, error) {
	q := path + quarantineInfix + now.UTC().Format("20060102T150405Z")
	if _, err := os.Lstat(q); err == nil {
		// Two in one second: never overwrite a quarantined file.
		q += fmt.Sprintf("-%d", now.UnixNano())
	}
	if err := os.Rename(path, q); err != nil {
		return "", fmt.Errorf("agent: quarantine ledger: %w", err)
	}
	if err := boltdb.SyncDir(filepath.Dir(path)); err != nil {
		return q, fmt.Errorf("agent: quarantine ledger: sync dir: %w", err)
	}
	return q, nil
}

// quarantinedLedger stands in for the ledger while it is quarantined: it
// refuses every write and read with the cashier's reason, so the session
// decides scans without history and refuses checkouts, overrides and
// returns with a 503 (session.ErrPersist), as for a ledger that cannot
// persist.
type quarantinedLedger struct {
	path   string // the quarantined file
	detail string // the reason and the file, for the alarm
	err    *session.Refusal
}

func newQuarantined(path, reason, cause string) *quarantinedLedger {
	return &quarantinedLedger{
		path:   path,
		detail: reason + " (" + path + ": " + strings.TrimPrefix(cause, "agent: ") + ")",
		err:    &session.Refusal{Reason: reason},
	}
}

func (q *quarantinedLedger) Append(*feed.Record) (ledger.Entry, error) { return ledger.Entry{}, q.err }
func (q *quarantinedLedger) History(ledger.HistoryQuery) (ledger.History, error) {
	return ledger.History{}, q.err
}
func (q *quarantinedLedger) Sale(string) (ledger.Sale, error) { return ledger.Sale{}, q.err }

// Scan finds no records: none are in use, and the dashboard and report
// still render around the alarm.
func (q *quarantinedLedger) Scan(uint64, func(ledger.Entry) error) error { return nil }
func (q *quarantinedLedger) Verify() error                               { return q.err }
func (q *quarantinedLedger) Head() uint64                                { return 0 }
func (q *quarantinedLedger) Acked() uint64                               { return 0 }
func (q *quarantinedLedger) Outbox() (int, time.Time, error)             { return 0, time.Time{}, nil }
func (q *quarantinedLedger) Prune(time.Time) (int, error)                { return 0, nil }
func (q *quarantinedLedger) Close() error                                { return nil }
