package ledger

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
)

// Opts configures a Ledger. A nil *Opts means defaults.
type Opts struct {
	Now func() time.Time // append times and record "at"; nil = time.Now
	Log *slog.Logger     // nil = discard
}

func (o *Opts) clock() func() time.Time {
	if o == nil || o.Now == nil {
		return time.Now
	}
	return o.Now
}

func (o *Opts) logger() *slog.Logger {
	if o == nil || o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// bMeta is the meta bucket every store file has (internal/boltdb).
var bMeta = boltdb.BucketMeta

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// sentinels gives internal/boltdb's errors the ledger's: to the till, a
// file of another format is as unusable as a damaged one.
var sentinels = boltdb.Sentinels{Corrupt: ErrCorrupt, Format: ErrCorrupt, Locked: ErrLocked, Closed: ErrClosed}

// storeErr maps an error from internal/boltdb to the ledger's sentinels.
func storeErr(err error) error { return sentinels.Map(err) }

// openStore opens and checks the store file at path (boltdb.Open).
func openStore(path string, s boltdb.Schema) (*boltdb.DB, error) {
	db, err := boltdb.Open(path, s)
	return db, storeErr(err)
}
