package archive

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// Store is where a bureau keeps what its tills sent. Every method is safe
// for concurrent use, and several processes (receivers) may use one store
// at once: a store shared by receivers is a database (pgarchive); the
// embedded archive (boltarchive) is locked to one process.
//
// Every implementation passes archivetest.Run.
type Store interface {
	// Put stores a batch of records whose signatures the caller has
	// verified, in one durable transaction, and says what became of each
	// (Result). Items may come in any order and from any tills, and the
	// same record may come any number of times, from any receiver.
	//
	// The chain is the store's to check: a record is stored only when its
	// predecessor is stored and its prev is that predecessor's hash (seq 1:
	// prev is empty). A record whose predecessor is missing waits in the
	// store (Waiting) and is stored, checked the same way, by whichever
	// Put stores its predecessor. Nothing waits forever: a store keeps at
	// most MaxWaiting records per till (beyond it, Dropped) and the gap
	// sweep (Sweep) reports holes that stay open.
	//
	// Alarms the batch raises (conflict, bad_chain, the cross-till rules)
	// are stored in the same transaction and returned in Result.Alarms.
	// On error nothing of the batch is stored, and nothing may be acked.
	Put(ctx context.Context, in []Incoming) (Result, error)

	// Raise stores alarms found outside Put (bad signature, unenrolled,
	// bad payload, and the gap sweep's), folding repeats: an alarm with
	// the same kind, till, seq and Key as a stored one only counts again.
	// It returns how many were new.
	Raise(ctx context.Context, alarms []Alarm) (int, error)

	// Sweep raises a gap alarm, once, for every till whose hole has stayed
	// open since before openSince: a record waits for a predecessor that
	// did not come. It raises an outbox_stale alarm, once per announced
	// head, for every till whose announced head (Announce) is still past
	// its watermark and was announced before staleSince: records the till
	// has said it holds that do not arrive. It returns the alarms it
	// raised now.
	Sweep(ctx context.Context, now, openSince, staleSince time.Time) ([]Alarm, error)

	// Announce keeps what a till has said, in a status it signed (the
	// caller has verified it), of its head: seq and the hash of that
	// record. The store keeps the highest head announced and when it
	// learned it (Opts.Now), and raises, stored and returned:
	//   - head_contradicted when a.Seq is the kept head's seq with another
	//     hash, or a record a.Seq is stored with another hash (and Put
	//     raises it too when it stores the kept head's record with
	//     another hash): the till's history has changed;
	//   - head_regressed when a.Seq is below the kept head and a.At is
	//     after the kept head's At: the till went back (a ledger restored
	//     from an old backup, or replaced). One with an earlier At is an
	//     older status arriving late (a will), and changes nothing.
	// Repeats fold as Raise's do.
	Announce(ctx context.Context, pharmacy, till string, a Announcement) ([]Alarm, error)

	// SetStatus keeps a till's latest retained status, replacing the one
	// kept: the broker delivers a topic's messages in order, and a till's
	// will (offline) carries the time it connected, older than the online
	// status it replaces.
	SetStatus(ctx context.Context, pharmacy, till string, st feed.Status) error

	// Get returns a stored record's bytes and signature, or ErrNotFound.
	Get(ctx context.Context, pharmacy, till string, seq uint64) (rec, sig []byte, err error)

	// Watermark returns a till's contiguous watermark: the highest N with
	// 1..N all stored, and the hash of record N ("" for N = 0). A till
	// never seen is 0.
	Watermark(ctx context.Context, pharmacy, till string) (Watermark, error)

	// Scan calls fn for the till's stored records with seq ≥ from, in seq
	// order, at most limit of them (0: no limit); fn's first error stops
	// it and is returned as is. fn may call the store.
	Scan(ctx context.Context, pharmacy, till string, from uint64, limit int, fn func(seq uint64, rec, sig []byte) error) error

	// Enroll keeps the tills' public keys, each replacing the one its till
	// had: receivers sharing the store verify with the same keys, and a
	// till enrolled once is known to every receiver, those running
	// included, without a restart. A key already held is kept as it is,
	// with the time it was first enrolled, so enrolling a directory again
	// at every start changes nothing. A till enrolled is listed by Tills
	// from now on, records or not. Nothing is stored when one of keys is
	// invalid (a bad id, or not an Ed25519 public key): ErrInvalid.
	Enroll(ctx context.Context, keys []EnrolledKey) error

	// Key returns a till's enrolled public key, or ErrNotFound for a till
	// never enrolled, seen or not.
	Key(ctx context.Context, pharmacy, till string) (ed25519.PublicKey, error)

	// Tills lists tills in (pharmacy, till) order, paged by q: those seen
	// and those enrolled.
	Tills(ctx context.Context, q TillQuery) ([]TillInfo, error)

	// Alarms lists stored alarms matching q, oldest first.
	Alarms(ctx context.Context, q AlarmQuery) ([]Alarm, error)

	// Blocked counts blocked-attempt lines per pharmacy and rule whose
	// record time is in [from, to): the blocked and held lines of blocked
	// records, each line once. A blocked record whose Ref names another
	// than a sale is a line decided again (the till refs the line's first
	// record), and counts nothing; one that refs a sale is a refused
	// return, and counts.
	Blocked(ctx context.Context, from, to time.Time) ([]RuleCount, error)

	// Search finds stored lines by card number or traceability code
	// (exactly one of q.Card and q.Trace), newest record first.
	Search(ctx context.Context, q SearchQuery) ([]LineHit, error)

	Close() error
}

// Announcement is a till's word on its head (feed.Status, signed).
type Announcement struct {
	Seq  uint64
	Hash string    // hex SHA-256 of record Seq; "" only for Seq 0
	At   time.Time // the status's own time
}

// MaxWaiting bounds the records a store keeps for one till while their
// predecessor is missing: twice the uplink's default window, so a till's
// whole window fits however the broker spreads it over receivers.
const MaxWaiting = 8192

// DefaultGapGrace is how long a hole may stay open before Sweep calls it a
// gap: long enough for a till to time out and send again several times
// (uplink's ack timeout backs off to 40 s).
const DefaultGapGrace = 10 * time.Minute

// DefaultStaleAfter is how long records a till has announced may stay
// missing before Sweep calls its outbox stale: many rounds of sending
// again, so it is a till whose records do not get through (an ack it
// refuses, a broker that drops them), not one that is slow.
const DefaultStaleAfter = time.Hour

// Errors callers branch on.
var (
	ErrNotFound = errors.New("archive: not found")
	ErrInvalid  = errors.New("archive: invalid input") // an Incoming with a bad id, seq 0 or no bytes; nothing in the batch is stored
	ErrClosed   = errors.New("archive: closed")
	ErrSchema   = errors.New("archive: schema") // the store was written by a newer tillguard, or is not an archive
)

// Incoming is one record received from a till whose signature the caller
// has verified against the till's enrolled key.
type Incoming struct {
	Pharmacy, Till string
	Seq            uint64
	Rec, Sig       []byte
	// Parsed is Rec decoded (feed.Open's record): stores read the fields
	// they index from it and never decode Rec again. It must be set.
	Parsed *feed.Record
}

// Outcome is what Put did with one incoming record.
type Outcome int

const (
	Stored    Outcome = iota // stored now (directly, or after waiting within this Put)
	Duplicate                // the same bytes are stored: nothing changed
	Conflict                 // other bytes are stored for this seq: nothing changed; alarm
	BadChain                 // its prev is not the stored predecessor's hash: not stored; alarm
	Waiting                  // its predecessor is not stored yet: kept until it is
	Dropped                  // not kept: the till's waiting records are at MaxWaiting, or other bytes already wait for this seq; the till sends it again
)

var outcomeNames = [...]string{"stored", "duplicate", "conflict", "bad_chain", "waiting", "dropped"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) && o >= 0 {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is what a Put did.
type Result struct {
	Outcomes []Outcome // one per Incoming, in order

	// Acks holds, for every till the batch touched, its watermark after
	// the commit: what the bureau may acknowledge. A watermark never goes
	// down, so an ack built from it never goes backwards.
	Acks []Watermark

	// Promoted counts records stored from among those that were waiting
	// (theirs are not in Outcomes when another Put brought them).
	Promoted int

	// Alarms are the alarms this Put raised and stored (new ones only).
	Alarms []Alarm
}

// Watermark is a till's contiguous watermark.
type Watermark struct {
	Pharmacy, Till string
	Seq            uint64 // 1..Seq are all stored
	Hash           string // hex SHA-256 of record Seq as stored; "" for 0
	// WaitingFrom is the lowest seq waiting beyond Seq, 0 if none: what
	// the till must send again is Seq+1 .. WaitingFrom-1, not everything
	// after Seq.
	WaitingFrom uint64
}

// TillQuery pages Tills. Zero values mean: every pharmacy, from the
// start, DefaultLimit.
type TillQuery struct {
	Pharmacy      string // only this pharmacy
	AfterPharmacy string // resume after this (pharmacy, till)
	AfterTill     string
	Behind        bool // only tills whose announced head is past their watermark, or with records waiting
	Limit         int
}

// DefaultLimit is the page size of listings when a query sets none, and
// MaxLimit the largest a query may ask for.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// TillInfo is what the store knows of one till.
type TillInfo struct {
	Pharmacy, Till string
	Contiguous     uint64            // watermark
	Count          uint64            // records stored
	Waiting        int               // records waiting for a predecessor
	LastSeen       time.Time         // last Put that brought one of its records; zero if none
	Status         *feed.Status      // latest retained status, if any
	Announced      Announcement      // highest head the till announced in a signed status; zero if none
	Key            ed25519.PublicKey // enrolled public key; nil if none
	KeyAt          time.Time         // when Key was enrolled; zero without one
}

// EnrolledKey is a till's public key, as the bureau enrolls it.
type EnrolledKey struct {
	Pharmacy, Till string
	Key            ed25519.PublicKey // Ed25519, ed25519.PublicKeySize bytes
}

// ValidateKeys checks what Enroll is given, so every store refuses the
// same keys the same way. It returns an error wrapping ErrInvalid.
func ValidateKeys(keys []EnrolledKey) error {
	for i, k := range keys {
		if !feed.ValidID(k.Pharmacy) || !feed.ValidID(k.Till) || len(k.Key) != ed25519.PublicKeySize {
			return fmt.Errorf("archive: key %d (%q/%q, %d bytes): %w", i, k.Pharmacy, k.Till, len(k.Key), ErrInvalid)
		}
	}
	return nil
}

// LatestKeys returns keys with one key per till, the last given for it,
// in (pharmacy, till) order: the order stores lock tills in, and a till
// enrolled twice in one batch (a directory and a rotation) keeps the
// later key.
func LatestKeys(keys []EnrolledKey) []EnrolledKey {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b EnrolledKey) int {
		return cmp.Or(strings.Compare(a.Pharmacy, b.Pharmacy), strings.Compare(a.Till, b.Till))
	})
	// Keep the last of each run of one till.
	n := 0
	for i, k := range out {
		if i+1 < len(out) && out[i+1].Pharmacy == k.Pharmacy && out[i+1].Till == k.Till {
			continue
		}
		out[n] = k
		n++
	}
	return out[:n]
}

// Behind is how many records the till has announced (Status.HeadSeq) that
// are not stored contiguously yet; 0 without a status.
func (t TillInfo) Behind() uint64 {
	if t.Status == nil || t.Status.HeadSeq <= t.Contiguous {
		return 0
	}
	return t.Status.HeadSeq - t.Contiguous
}

// Alarm kinds.
const (
	AlarmUnenrolled   = "unenrolled"    // a till whose key the bureau does not hold
	AlarmBadSignature = "bad_signature" // the signature does not verify over the record's bytes
	AlarmBadChain     = "bad_chain"     // prev is not the hash of the stored previous record
	AlarmConflict     = "conflict"      // same till and seq as a stored record, other bytes
	AlarmGap          = "gap"           // a hole that stayed open past the grace period
	AlarmBadPayload   = "bad_payload"   // not an envelope, or a record on another till's topic

	// What a till announced in its signed status (Announce).
	AlarmHeadContradicted = "head_contradicted" // a record, or a later status, other than the head the till announced
	AlarmHeadRegressed    = "head_regressed"    // a later status announces a lower head: the till went back
	AlarmOutboxStale      = "outbox_stale"      // records up to an announced head still not stored, long after
	AlarmBadStatus        = "bad_status"        // a status whose signature does not verify with the till's key

	// Cross-pharmacy rules (cross.go): what no single till can see.
	AlarmTraceDupCross   = "trace_dup_cross"   // a traceability code sold again at another till, not returned in between
	AlarmDaysSupplyCross = "days_supply_cross" // a card over the days-supply limit of a drug counting every till
)

// Alarm is something a till or the network did that the bureau refused or
// must report. (Kind, Pharmacy, Till, Seq, Key) identifies it: raising it
// again only counts.
type Alarm struct {
	ID       int64     `json:"id"` // assigned by the store, increasing
	At       time.Time `json:"at"` // first raised
	Pharmacy string    `json:"pharmacy"`
	Till     string    `json:"till"`
	Seq      uint64    `json:"seq"`
	Kind     string    `json:"kind"`
	Detail   string    `json:"detail"`
	// Key tells apart alarms of one kind on one record: the hash of the
	// offending bytes, the trace code, the drug.
	Key     string      `json:"key,omitempty"`
	Records []RecordRef `json:"records,omitempty"` // the records it concerns, the offending one first
	Count   int         `json:"count"`             // times raised
	LastAt  time.Time   `json:"last_at"`
}

// RecordRef names a record: where it is, and the id it carries.
type RecordRef struct {
	Pharmacy string `json:"pharmacy"`
	Till     string `json:"till"`
	Seq      uint64 `json:"seq"`
	ID       string `json:"id,omitempty"`
}

// AlarmQuery filters Alarms; zero fields match everything.
type AlarmQuery struct {
	Kind, Pharmacy, Till string
	Since                time.Time // first raised at or after
	AfterID              int64     // paging: only alarms with a larger ID
	Limit                int       // 0: DefaultLimit
}

// RuleCount is how many blocked-attempt lines one pharmacy had for a rule.
type RuleCount struct {
	Pharmacy string `json:"pharmacy"`
	Rule     string `json:"rule"`
	Count    int    `json:"count"`
}

// SearchQuery asks for the lines of one card or one traceability code.
type SearchQuery struct {
	Card  string
	Trace string
	Limit int // 0: DefaultLimit
}

// LineHit is one line of a stored record.
type LineHit struct {
	RecordRef
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
	Line     int       `json:"line"` // 0-based index in the record's lines
	Barcode  string    `json:"barcode"`
	Name     string    `json:"name"`
	Qty      int       `json:"qty"`
	Decision string    `json:"decision"`
	Rule     string    `json:"rule,omitempty"`
	Card     string    `json:"card,omitempty"` // masked
}

// Limit returns n bounded to (0, MaxLimit], with DefaultLimit for 0.
func Limit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Validate checks the fields every store relies on, so both refuse the same
// batches the same way.
func Validate(in []Incoming) error {
	for i, it := range in {
		if !feed.ValidID(it.Pharmacy) || !feed.ValidID(it.Till) || it.Seq == 0 || len(it.Rec) == 0 || it.Parsed == nil ||
			it.Parsed.Seq != it.Seq || it.Parsed.Pharmacy != it.Pharmacy || it.Parsed.Till != it.Till {
			return &invalidError{i, it}
		}
	}
	return nil
}

type invalidError struct {
	i  int
	it Incoming
}

func (e *invalidError) Error() string {
	return "archive: item " + strconv.Itoa(e.i) + " (" + strconv.Quote(e.it.Pharmacy) + "/" + strconv.Quote(e.it.Till) +
		" seq " + strconv.FormatUint(e.it.Seq, 10) + "): " + ErrInvalid.Error()
}

func (e *invalidError) Unwrap() error { return ErrInvalid }

// Opts are what every store takes. A nil *Opts means defaults.
type Opts struct {
	// DaysLimit is the limit days_supply_cross applies to a line that
	// records none; default the chronic limit of policy.DefaultLimits,
	// the longest without a long prescription.
	DaysLimit int
	Now       func() time.Time // alarm and last-seen times; default time.Now
	Log       *slog.Logger     // default discard
}

// Defaults returns o with every unset field at its default.
func (o *Opts) Defaults() Opts {
	var d Opts
	if o != nil {
		d = *o
	}
	if d.DaysLimit <= 0 {
		d.DaysLimit = policy.DefaultLimits().ChronicDays
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d
}
