package bureau

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/tillguard/tillguard/sync/feed"
)

// errStop ends a Scan early once the limit is reached.
var errStop = errors.New("bureau: stop scan")

// maxRecords bounds one /api/records answer; callers page with from_seq.
const maxRecords = 100_000

// Handler serves the bureau's status and export API:
//
//	GET /healthz
//	GET /api/tills     [{"pharmacy","till","contiguous","count"}]
//	GET /api/records?pharmacy=&till=&from_seq=[&limit=]  JSON lines {"rec":…,"sig":"…"}
//	GET /api/alarms    [{"at","pharmacy","till","seq","kind","detail"}]
//
// Records are served with the exact bytes the till signed, so a reader can
// verify them again.
func (b *Bureau) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/tills", b.serveTills)
	mux.HandleFunc("GET /api/records", b.serveRecords)
	mux.HandleFunc("GET /api/alarms", func(w http.ResponseWriter, _ *http.Request) {
		alarms := b.Alarms()
		if alarms == nil {
			alarms = []Alarm{}
		}
		writeJSON(w, alarms)
	})
	return mux
}

type tillJSON struct {
	Pharmacy   string `json:"pharmacy"`
	Till       string `json:"till"`
	Contiguous uint64 `json:"contiguous"`
	Count      uint64 `json:"count"`
}

func (b *Bureau) serveTills(w http.ResponseWriter, _ *http.Request) {
	tills, err := b.ar.Tills()
	if err != nil {
		b.log.Error("bureau: list tills", "err", err)
		http.Error(w, "cannot read the archive", http.StatusInternalServerError)
		return
	}
	out := make([]tillJSON, 0, len(tills))
	for _, t := range tills {
		out = append(out, tillJSON{Pharmacy: t.Pharmacy, Till: t.Till, Contiguous: t.Contiguous, Count: t.Count})
	}
	writeJSON(w, out)
}

func (b *Bureau) serveRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pharmacy, till := q.Get("pharmacy"), q.Get("till")
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) {
		http.Error(w, "pharmacy and till are required ids", http.StatusBadRequest)
		return
	}
	from, limit := uint64(1), maxRecords
	if s := q.Get("from_seq"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "from_seq must be an unsigned integer", http.StatusBadRequest)
			return
		}
		from = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			http.Error(w, "limit must be a positive integer", http.StatusBadRequest)
			return
		}
		limit = min(n, maxRecords)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	n := 0
	err := b.ar.Scan(pharmacy, till, from, func(_ uint64, rec, sig []byte) error {
		if n == limit {
			return errStop
		}
		n++
		return writeJSONLine(bw, rec, sig)
	})
	if err != nil && !errors.Is(err, errStop) {
		b.log.Error("bureau: export records", "pharmacy", pharmacy, "till", till, "err", err)
		if n == 0 {
			http.Error(w, "cannot read the archive", http.StatusInternalServerError)
			return
		}
	}
	_ = bw.Flush()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
