package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Status is the body of GET /api/status. The JSON names are a contract
// with integrators (SPEC.md §5).
type Status struct {
	Pharmacy string                 `json:"pharmacy"`
	Till     string                 `json:"till"`
	HeadSeq  uint64                 `json:"head_seq"`
	AckedSeq uint64                 `json:"acked_seq"`
	Outbox   Outbox                 `json:"outbox"`
	Devices  map[string]DeviceState `json:"devices"`
	Policy   Policy                 `json:"policy"`
	Uplink   Uplink                 `json:"uplink"`
	Alarms   []Alarm                `json:"alarms"`
	// Quarantined is the corrupt ledger file set aside while the till
	// runs without a ledger (sales suspended); "" = none.
	Quarantined string `json:"quarantined,omitempty"`
}

// Outbox is what the bureau has not acknowledged yet.
type Outbox struct {
	Depth      int     `json:"depth"`
	OldestAgeS float64 `json:"oldest_age_s"`
}

// DeviceState is connected, disconnected or missing, with the last error
// and counters since the till started (firmware-notes/ says what each
// device counts; a counter a device does not have stays 0).
type DeviceState struct {
	State string `json:"state"`
	Error string `json:"error,omitempty"`

	Reconnects   uint64 `json:"reconnects"`    // connections after the first
	NoiseBytes   uint64 `json:"noise_bytes"`   // card: bytes dropped between and inside frames
	Timeouts     uint64 `json:"timeouts"`      // card: commands without a reply in time
	ReadErrors   uint64 `json:"read_errors"`   // card: insertions that could not be read
	Unreadable   uint64 `json:"unreadable"`    // scanner: lines that are no known code
	DroppedLines uint64 `json:"dropped_lines"` // scanner: overlong lines dropped
}

// Policy names the policy in force.
type Policy struct {
	Region  string `json:"region"`
	Version string `json:"version"`
}

// Uplink is the connection to the bureau's broker.
type Uplink struct {
	Configured bool   `json:"configured"`
	Connected  bool   `json:"connected"`
	LastAck    string `json:"last_ack,omitempty"`
}

// Alarm is a condition the owner must see.
type Alarm struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Since  string `json:"since"`
}

// Records pages the ledger for GET /api/records.
type Records interface {
	Scan(from uint64, fn func(ledger.Entry) error) error
}

// Deps is what the handlers serve.
type Deps struct {
	Session *session.Session
	Status  func() Status
	Records Records
	Log     *slog.Logger

	// Pages, live updates, metrics and the owner's password (pages.go,
	// events.go, metrics.go, auth.go). Each may be nil.
	Changes func() (<-chan struct{}, func()) // woken after every session or device change; nil = no /api/events
	Metrics *Metrics                         // decision counters for /metrics
	Auth    *Auth                            // the owner's password; nil = open (loopback)
	Verify  func() error                     // checks the ledger's chain for the dashboard; nil = not shown
	Now     func() time.Time                 // the dashboard's and report's "today"; nil = time.Now
}

// maxRecords bounds one page of GET /api/records.
const maxRecords = 1000

// New returns the handler for the till's HTTP interface.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	h := &handler{d}
	mux := http.NewServeMux()
	r := &router{mux: mux, allow: map[string][]string{}}
	r.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }))
	r.handle("GET /api/session", http.HandlerFunc(h.session))
	r.handle("POST /api/session/checkout", http.HandlerFunc(h.checkout))
	r.handle("POST /api/session/void", http.HandlerFunc(h.void))
	r.handle("POST /api/session/override", http.HandlerFunc(h.override))
	r.handle("POST /api/session/lines", http.HandlerFunc(h.manualLine))
	r.handle("POST /api/session/rx", http.HandlerFunc(h.rx))
	r.handle("POST /api/returns", http.HandlerFunc(h.returns))
	r.handle("GET /api/status", http.HandlerFunc(h.status))
	r.handle("GET /api/records", http.HandlerFunc(h.records))
	h.pages(r)
	r.finish()
	// Anything else under /api/ is answered in JSON too, for integrators.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return h.protect(mux)
}

type handler struct{ Deps }

// router registers method-qualified patterns and answers any other method
// on the same path with 405, an Allow header and a JSON body, where
// ServeMux alone would answer in plain text.
type router struct {
	mux   *http.ServeMux
	allow map[string][]string // path → methods
}

func (r *router) handle(pattern string, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	r.allow[path] = append(r.allow[path], method)
	r.mux.Handle(pattern, h)
}

// finish adds the 405 answers; call it once every route is in.
func (r *router) finish() {
	for path, methods := range r.allow {
		if slices.Contains(methods, http.MethodGet) {
			methods = append(methods, http.MethodHead)
		}
		allow := strings.Join(methods, ", ")
		r.mux.HandleFunc(path, func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", req.Method, req.URL.Path, allow))
		})
	}
}

func (h *handler) session(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Session.View())
}

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Status())
}

type checkoutRequest struct {
	Payment string `json:"payment"`
	Cashier string `json:"cashier"`
}

func (h *handler) checkout(w http.ResponseWriter, r *http.Request) {
	var req checkoutRequest
	if !readJSON(w, r, &req) {
		return
	}
	switch req.Payment {
	case session.PayInsurance, session.PayCash, session.PaySplit:
	default:
		writeError(w, http.StatusBadRequest, `payment must be "insurance", "cash" or "split"`)
		return
	}
	rc, err := h.Session.Checkout(req.Payment, req.Cashier)
	switch {
	case errors.Is(err, session.ErrPersist):
		h.Log.Error("web: checkout not persisted", "err", err)
		writeError(w, http.StatusServiceUnavailable, refusal(err, "账本无法写入，不能进行医保销售 / the ledger cannot persist: no insurance sale"))
	case err != nil:
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeJSON(w, http.StatusOK, rc)
	}
}

func (h *handler) void(w http.ResponseWriter, _ *http.Request) {
	h.Session.Void()
	writeJSON(w, http.StatusOK, h.Session.View())
}

type overrideRequest struct {
	Line       *int   `json:"line"`
	Pharmacist string `json:"pharmacist"`
	Reason     string `json:"reason"`
}

// override releases a held line: 200 with the session; 400 without line,
// pharmacist or reason; 404 no such line; 409 the line is not held (a
// block can never be released); 503 the override cannot be recorded.
func (h *handler) override(w http.ResponseWriter, r *http.Request) {
	var req overrideRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Line == nil {
		writeError(w, http.StatusBadRequest, `"line" is required`)
		return
	}
	h.reply(w, h.Session.Override(*req.Line, req.Pharmacist, req.Reason))
}

type lineRequest struct {
	Barcode string `json:"barcode"`
	Qty     int    `json:"qty"`
}

// manualLine adds a keyed-in line (manual_entry).
func (h *handler) manualLine(w http.ResponseWriter, r *http.Request) {
	var req lineRequest
	if !readJSON(w, r, &req) {
		return
	}
	h.reply(w, h.Session.AddManual(req.Barcode, req.Qty))
}

type rxRequest struct {
	Ref  string `json:"ref"`
	Long bool   `json:"long"`
}

// rx enters a prescription reference for the open sale.
func (h *handler) rx(w http.ResponseWriter, r *http.Request) {
	var req rxRequest
	if !readJSON(w, r, &req) {
		return
	}
	h.reply(w, h.Session.SetRx(req.Ref, req.Long))
}

// reply answers a session change: the session on success, else the error
// with its status.
func (h *handler) reply(w http.ResponseWriter, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.Session.View())
}

// fail maps a session error to its HTTP status.
func (h *handler) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, session.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, session.ErrNoLine), errors.Is(err, session.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, session.ErrNotOverridable), errors.Is(err, session.ErrConflict), errors.Is(err, session.ErrRefused):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, session.ErrPersist):
		h.Log.Error("web: not persisted", "err", err)
		writeError(w, http.StatusServiceUnavailable, refusal(err, "账本无法写入 / the ledger cannot persist: "+err.Error()))
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// refusal is the cashier's message for a write the ledger refused: the
// ledger's own reason if it gave one (session.Refusal), else generic.
func refusal(err error, generic string) string {
	if r, ok := errors.AsType[*session.Refusal](err); ok {
		return r.Reason
	}
	return generic
}

type returnRequest struct {
	SaleID  string `json:"sale_id"`
	Refund  string `json:"refund"`
	Cashier string `json:"cashier"`
	Lines   []struct {
		Barcode      string   `json:"barcode"`
		Qty          int      `json:"qty"`
		DrugTracCodg []string `json:"drug_trac_codg"`
	} `json:"lines"`
}

// returns records goods brought back from an earlier sale: 200 {"id","seq"}
// once the return record is on disk; 400 bad request; 404 unknown sale;
// 409 more than is left of the sale, a trace code not of it, or a refund
// policy refuses (cash_refund, recorded); 503 the ledger cannot persist.
func (h *handler) returns(w http.ResponseWriter, r *http.Request) {
	var req returnRequest
	if !readJSON(w, r, &req) {
		return
	}
	rr := session.ReturnRequest{SaleID: req.SaleID, Refund: req.Refund, Cashier: req.Cashier}
	for _, l := range req.Lines {
		rr.Lines = append(rr.Lines, session.ReturnLine{Barcode: l.Barcode, Qty: l.Qty, Traces: l.DrugTracCodg})
	}
	rc, err := h.Session.Return(rr)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

func (h *handler) records(w http.ResponseWriter, r *http.Request) {
	from := uint64(1)
	if s := r.URL.Query().Get("from_seq"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			writeError(w, http.StatusBadRequest, "from_seq must be a positive integer")
			return
		}
		from = n
	}
	out := make([]json.RawMessage, 0)
	errFull := errors.New("page full")
	err := h.Records.Scan(from, func(e ledger.Entry) error {
		if len(out) == maxRecords {
			return errFull
		}
		out = append(out, e.Rec)
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}

// maxBody bounds request bodies; the API takes small JSON objects only.
const maxBody = 64 << 10

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad JSON: trailing data")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
