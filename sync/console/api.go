package console

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
)

type tillJSON struct {
	Pharmacy   string       `json:"pharmacy"`
	Till       string       `json:"till"`
	Contiguous uint64       `json:"contiguous"`
	Count      uint64       `json:"count"`
	Waiting    int          `json:"waiting"`
	LastSeen   *time.Time   `json:"last_seen"` // null: no record came yet
	Behind     uint64       `json:"behind"`
	Status     *feed.Status `json:"status"`
	Key        *string      `json:"key"`    // enrolled public key, base64 as `tillguard keys show` prints it; null: not enrolled
	KeyAt      *time.Time   `json:"key_at"` // when that key was enrolled
	// Announced is the highest head the till has announced in a status
	// it signed; null: none yet.
	Announced *announcedJSON `json:"announced"`
}

type announcedJSON struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

func tillOut(t archive.TillInfo) tillJSON {
	j := tillJSON{Pharmacy: t.Pharmacy, Till: t.Till, Contiguous: t.Contiguous, Count: t.Count,
		Waiting: t.Waiting, Behind: t.Behind(), Status: t.Status}
	if !t.LastSeen.IsZero() {
		j.LastSeen = &t.LastSeen
	}
	if a := t.Announced; a.Seq > 0 {
		j.Announced = &announcedJSON{Seq: a.Seq, Hash: a.Hash, At: a.At}
	}
	if len(t.Key) > 0 {
		k := keys.PublicBase64(t.Key)
		j.Key = &k
		if !t.KeyAt.IsZero() {
			j.KeyAt = &t.KeyAt
		}
	}
	return j
}

// storeFailed logs a store's error (never the query: it may hold a card
// number) and answers 500.
func (s *server) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error("console: store", "path", r.URL.Path, "err", err)
	writeError(w, errStore)
}

// next sets the Link header to the page after this one: r's query with
// set changed.
func next(w http.ResponseWriter, r *http.Request, set url.Values) {
	q := r.URL.Query()
	for k, v := range set {
		q[k] = v
	}
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
}

func (s *server) apiTills(w http.ResponseWriter, r *http.Request) {
	q, e := tillQuery(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	tills, err := s.st.Tills(r.Context(), q)
	if err != nil {
		s.storeFailed(w, r, err)
		return
	}
	out := make([]tillJSON, 0, len(tills))
	for _, t := range tills {
		out = append(out, tillOut(t))
	}
	if len(tills) == q.Limit {
		last := tills[len(tills)-1]
		next(w, r, url.Values{"after": {last.Pharmacy + "/" + last.Till}})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) apiRecords(w http.ResponseWriter, r *http.Request) {
	q, e := parseRecordsQuery(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	// The answer streams, so that a page of MaxLimit records is never held
	// whole. Its status goes with the first line: a store that fails
	// before any is answered 500; one failing after can only cut the
	// answer short (logged). Callers page with from_seq, one past the
	// last seq they got.
	var bw *bufio.Writer
	last := uint64(0)
	err := s.st.Scan(r.Context(), q.Pharmacy, q.Till, q.From, q.Limit, func(seq uint64, rec, sig []byte) error {
		line, err := feed.Seal(rec, sig)
		if err != nil {
			return err
		}
		if bw == nil {
			w.Header().Set("Content-Type", "application/x-ndjson")
			bw = bufio.NewWriterSize(w, 32<<10)
		}
		last = seq
		if _, err := bw.Write(line); err != nil {
			return err
		}
		return bw.WriteByte('\n')
	})
	switch {
	case err != nil && bw == nil:
		s.storeFailed(w, r, err)
	case err != nil:
		if r.Context().Err() == nil {
			s.log.Error("console: records cut short", "pharmacy", q.Pharmacy, "till", q.Till, "after_seq", last, "err", err)
		}
		_ = bw.Flush()
	case bw == nil:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	default:
		_ = bw.Flush()
	}
}

func (s *server) apiAlarms(w http.ResponseWriter, r *http.Request) {
	q, e := alarmQuery(r.URL.Query(), s.now().Location())
	if e != nil {
		writeError(w, e)
		return
	}
	alarms, err := s.st.Alarms(r.Context(), q)
	if err != nil {
		s.storeFailed(w, r, err)
		return
	}
	if alarms == nil {
		alarms = []archive.Alarm{}
	}
	if len(alarms) == q.Limit {
		next(w, r, url.Values{"after_id": {strconv.FormatInt(alarms[len(alarms)-1].ID, 10)}})
	}
	writeJSON(w, http.StatusOK, alarms)
}

type blockedJSON struct {
	From   time.Time           `json:"from"`
	To     time.Time           `json:"to"` // exclusive
	Counts []archive.RuleCount `json:"counts"`
}

// blocked counts blocked attempts in [from, to), by pharmacy then rule.
func (s *server) blocked(ctx context.Context, from, to time.Time) ([]archive.RuleCount, error) {
	counts, err := s.st.Blocked(ctx, from, to)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(counts, func(a, b archive.RuleCount) int {
		return cmp.Or(cmp.Compare(a.Pharmacy, b.Pharmacy), cmp.Compare(a.Rule, b.Rule))
	})
	return counts, nil
}

func (s *server) apiBlocked(w http.ResponseWriter, r *http.Request) {
	from, to, e := period(r.URL.Query(), s.now())
	if e != nil {
		writeError(w, e)
		return
	}
	counts, err := s.blocked(r.Context(), from, to)
	if err != nil {
		s.storeFailed(w, r, err)
		return
	}
	if counts == nil {
		counts = []archive.RuleCount{}
	}
	writeJSON(w, http.StatusOK, blockedJSON{From: from, To: to, Counts: counts})
}

func (s *server) apiSearch(w http.ResponseWriter, r *http.Request) {
	q, e := searchQuery(r.URL.Query())
	if e != nil {
		writeError(w, e)
		return
	}
	hits, err := s.st.Search(r.Context(), q)
	if err != nil {
		s.storeFailed(w, r, err)
		return
	}
	if hits == nil {
		hits = []archive.LineHit{}
	}
	writeJSON(w, http.StatusOK, hits)
}

func (s *server) apiReceiver(w http.ResponseWriter, _ *http.Request) {
	if s.receiver == nil {
		writeError(w, errNoReceiver)
		return
	}
	writeJSON(w, http.StatusOK, s.receiver())
}
