package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent/session"
	"github.com/tillguard/tillguard/internal/password"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// Status is the body of GET /api/status. The JSON names are a contract
// with integrators (README, "Pages and JSON API").
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
	// Chain is the last check of the ledger's chain; nil = none wired in.
	Chain *Chain `json:"chain,omitempty"`
}

// Chain is the last check of the ledger's chain of records.
type Chain struct {
	Checked string `json:"checked,omitempty"` // RFC 3339; "" = not checked yet
	OK      bool   `json:"ok"`
	BadSeq  uint64 `json:"bad_seq,omitempty"` // the first record that fails
	Error   string `json:"error,omitempty"`
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
	SentSeq    uint64 `json:"sent_seq"` // highest seq sent in the current round
	// HeldFrom: while the chain check finds a bad record, nothing from
	// this seq on is sent; 0 = nothing held.
	HeldFrom uint64 `json:"held_from,omitempty"`
	// AcksSigned: only acks signed with the bureau key clear the outbox
	// (--bureau-key); false is a trial that takes unsigned acks.
	AcksSigned bool `json:"acks_signed"`
	// AcksRefused counts acks refused, by kind (ack_forged, ack_mismatch,
	// ack_regressed); each kind is an alarm too.
	AcksRefused map[string]uint64 `json:"acks_refused,omitempty"`
}

// Alarm is a condition the owner must see. A kind may be raised for more
// than one cause at once (the ledger cannot persist, and its chain is
// broken): each is an alarm of its own.
type Alarm struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Since  string `json:"since"`
	Seq    uint64 `json:"seq,omitempty"` // the record it concerns, if one
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
	Changes  func() (<-chan struct{}, func()) // woken after every session or device change; nil = no /api/events
	Metrics  *Metrics                         // decision counters for /metrics
	Password *password.Guard                  // the owner's password; nil = none asked: the till listens on loopback only (README, "Pages and JSON API")
	Now      func() time.Time                 // the dashboard's and report's "today"; nil = time.Now

	// Hosts are the names, besides the till's own address, that requests
	// may be addressed to (--http-host; CheckHost says what one may be):
	// guard.go.
	Hosts []string
	// Limits: MaxEvents bounds the live-update streams; the rest is for
	// NewServer. nil = DefaultLimits.
	Limits *Limits
	// Refused gives how many appends the ledger has refused since start,
	// and the last refusal, so that a request whose blocked attempt could
	// not be recorded is answered 503 saying why (the session keeps the
	// decision and only logs the failure); nil = not known.
	Refused func() (n uint64, last error)
}

// maxRecords bounds one page of GET /api/records.
const maxRecords = 1000

// New returns the handler for the till's HTTP interface. A bad entry in
// d.Hosts is an error: nothing would be served under that name.
func New(d Deps) (http.Handler, error) {
	h, err := newHandler(d)
	if err != nil {
		return nil, err
	}
	return h.serve, nil
}

func newHandler(d Deps) (*handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	lim := d.Limits.orDefault()
	h := &handler{Deps: d, streams: &streams{max: lim.MaxEvents}, bcrypt: make(chan struct{}, 1)}
	for _, s := range d.Hosts {
		n, err := parseHost(s)
		if err != nil {
			return nil, err
		}
		h.hosts = append(h.hosts, n)
	}
	mux := http.NewServeMux()
	r := &router{mux: mux, allow: map[string][]string{}}
	r.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }))
	r.handle("GET /api/session", http.HandlerFunc(h.session))
	r.handle("POST /api/session/checkout", http.HandlerFunc(h.checkout))
	r.handle("POST /api/session/void", http.HandlerFunc(h.void))
	r.handle("POST /api/session/confirm-card", http.HandlerFunc(h.confirmCard))
	r.handle("POST /api/session/override", http.HandlerFunc(h.override))
	r.handle("POST /api/session/lines", http.HandlerFunc(h.manualLine))
	r.handle("POST /api/session/rx", http.HandlerFunc(h.rx))
	r.handle("POST /api/pharmacist/sign-in", http.HandlerFunc(h.signIn))
	r.handle("POST /api/pharmacist/sign-out", http.HandlerFunc(h.signOut))
	r.handle("POST /api/returns", http.HandlerFunc(h.returns))
	r.handle("POST /api/sales/{id}/settlement", http.HandlerFunc(h.settlement))
	r.handle("GET /api/sales/{id}/receipt", http.HandlerFunc(h.receipt))
	r.handle("GET /api/status", http.HandlerFunc(h.status))
	r.handle("GET /api/records", http.HandlerFunc(h.records))
	h.pages(r)
	r.finish()
	// Anything else under /api/ is answered in JSON too, for integrators.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		answerError(w, errNotFound, "no such endpoint: "+r.URL.Path)
	})
	h.serve = h.guard(h.protect(mux))
	return h, nil
}

type handler struct {
	Deps
	serve   http.Handler // every route, behind guard and protect
	hosts   []hostName
	streams *streams
	bcrypt  chan struct{} // one password check at a time (auth.go)
}

// router registers method-qualified patterns and answers any other method
// on the same path with 405, an Allow header and a JSON body, where
// ServeMux alone would answer in plain text.
type router struct {
	mux   *http.ServeMux
	allow map[string][]string // path → methods
}

// handle registers h; a state-changing one takes JSON only (guard.go).
func (r *router) handle(pattern string, h http.Handler) {
	method, path, _ := strings.Cut(pattern, " ")
	r.allow[path] = append(r.allow[path], method)
	if unsafeMethod(method) {
		h = needJSON(h)
	}
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
			answerError(w, errMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s: use %s", req.Method, req.URL.Path, allow))
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
	// Settlement is the POS's settlement with the national platform,
	// under the platform's field names; absent or null = none yet.
	Settlement *feed.Settlement `json:"settlement"`
}

// checkout sells the basket: 200 session.Sale once the sale is on disk;
// 400 bad payment, no cashier, or a settlement the till does not take
// (bad_settlement; a field it does not know is unknown_field); 409 the
// basket cannot be sold so (codes in errorTable); 503 the ledger cannot
// persist, saying what was not sold.
func (h *handler) checkout(w http.ResponseWriter, r *http.Request) {
	var req checkoutRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	sale, err := h.Session.CheckoutSettled(req.Payment, req.Cashier, req.Settlement)
	switch {
	case errors.Is(err, session.ErrPersist):
		h.Log.Error("web: checkout not persisted", "payment", req.Payment, "err", err)
		msg := notPersisted[req.Payment]
		h.notPersisted(w, err, msg[0], msg[1])
	case err != nil:
		h.fail(w, err)
	default:
		writeJSON(w, http.StatusOK, sale)
	}
}

// notPersisted is the cashier's message for a checkout the ledger did not
// take, by payment: nothing was sold, whatever the payment.
var notPersisted = map[string][2]string{
	session.PayInsurance: {"账本无法写入，医保销售未完成", "the ledger cannot persist: the insurance sale was not made"},
	session.PayCash:      {"账本无法写入，现金销售未完成", "the ledger cannot persist: the cash sale was not made"},
	session.PaySplit:     {"账本无法写入，销售未完成", "the ledger cannot persist: the sale was not made"},
}

// void drops the basket. Its body is an empty JSON object, or none: POS
// software that posts nothing voids as before.
func (h *handler) void(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}, true) {
		return
	}
	h.Session.Void()
	writeJSON(w, http.StatusOK, h.Session.View())
}

type confirmCardRequest struct {
	Cashier string `json:"cashier"`
}

// confirmCard is the cashier's word that the open basket is the holder's
// of the card read last: 200 the session, re-decided for the new holder,
// once the card_change record is on disk; 400 no cashier; 409 no card
// change waiting; 503 the ledger cannot persist (as for manualLine).
func (h *handler) confirmCard(w http.ResponseWriter, r *http.Request) {
	var req confirmCardRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	h.recorded(w, func() error { return h.Session.ConfirmCard(req.Cashier) })
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
	if !readJSON(w, r, &req, false) {
		return
	}
	if req.Line == nil {
		answerError(w, errLineRequired, "")
		return
	}
	h.reply(w, h.Session.Override(*req.Line, req.Pharmacist, req.Reason))
}

type lineRequest struct {
	Barcode string `json:"barcode"`
	Qty     int    `json:"qty"`
}

// manualLine adds a keyed-in line (manual_entry): 200 with the session;
// 400 a barcode the scanner would not read as a product (bad_barcode) or a
// qty outside 1–999; 503 when the line is not allowed and the ledger could
// not record the decision (the line stays, decided).
func (h *handler) manualLine(w http.ResponseWriter, r *http.Request) {
	var req lineRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	h.recorded(w, func() error { return h.Session.AddManual(req.Barcode, req.Qty) })
}

type rxRequest struct {
	Ref        string `json:"ref"`
	Long       bool   `json:"long"`
	Prescriber string `json:"prescriber"` // the prescribing doctor, for the national upload; optional
}

// rx enters a prescription reference for the open sale; the basket is
// decided again, so a 503 is as for manualLine.
func (h *handler) rx(w http.ResponseWriter, r *http.Request) {
	var req rxRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	h.recorded(w, func() error { return h.Session.SetRxFrom(req.Ref, req.Long, req.Prescriber) })
}

type signInRequest struct {
	Name       string `json:"name"`
	PracCertNo string `json:"prac_cert_no"`
}

// signIn puts a licensed pharmacist on duty: 200 the session, its basket
// decided again, once the pharmacist_on record is on disk; 400 no name or
// certificate number, or a bad one; 503 the ledger cannot persist (as for
// manualLine, for the re-decided lines too).
func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	h.recorded(w, func() error { return h.Session.SignIn(req.Name, req.PracCertNo) })
}

// signOut takes the pharmacist on duty off it. Its body is an empty JSON
// object, or none: 200 the session once the pharmacist_off record is on
// disk; 409 nobody is on duty; 503 as for signIn.
func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	if !readJSON(w, r, &struct{}{}, true) {
		return
	}
	h.recorded(w, h.Session.SignOut)
}

// recorded runs a session change that may record blocked attempts and
// replies as reply does, or 503 when the ledger refused a record meanwhile:
// the session keeps its decisions on screen but the attempt is not in the
// ledger, and the client must know.
func (h *handler) recorded(w http.ResponseWriter, change func() error) {
	var before uint64
	if h.Refused != nil {
		before, _ = h.Refused()
	}
	if err := change(); err != nil {
		h.fail(w, err)
		return
	}
	if h.Refused != nil {
		if n, last := h.Refused(); n > before {
			h.Log.Error("web: a blocked attempt was not recorded", "err", last)
			zh, en := "账本无法写入，拦截记录未能保存", "the ledger cannot persist: the blocked attempt was not recorded"
			if r, ok := errors.AsType[*session.Refusal](last); ok {
				rzh, ren := splitMessage(r.Reason)
				zh, en = rzh+"（拦截记录未能保存）", ren+" (the blocked attempt was not recorded)"
			}
			answerMessage(w, errLedgerUnavailable, zh, en, "")
			return
		}
	}
	writeJSON(w, http.StatusOK, h.Session.View())
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

// fail answers a session error with its code (sessionErrors) and the
// session's detail; what the session does not document is logged and
// answered as an internal error, without its text.
func (h *handler) fail(w http.ResponseWriter, err error) {
	switch code := sessionCode(err); code {
	case errLedgerUnavailable:
		h.Log.Error("web: not persisted", "err", err)
		e := errorTable[code]
		h.notPersisted(w, err, e.zh, e.en)
	case errInternal:
		h.Log.Error("web: unexpected session error", "err", err)
		answerError(w, code, "")
	default:
		answerError(w, code, session.Detail(err))
	}
}

// notPersisted answers a write the ledger refused: with the ledger's own
// reason if it gave one (session.Refusal), else with zh and en. The
// ledger's error is for the log and the alarm, not for the client.
func (h *handler) notPersisted(w http.ResponseWriter, err error, zh, en string) {
	if r, ok := errors.AsType[*session.Refusal](err); ok {
		zh, en = splitMessage(r.Reason)
		if zh == "" {
			zh = errorTable[errLedgerUnavailable].zh
		}
	}
	answerMessage(w, errLedgerUnavailable, zh, en, "")
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
// once the return record is on disk; 400 bad request or no cashier; 404
// unknown sale; 409 more than is left of the sale, a trace code not of it,
// or a refund policy refuses (cash_refund, recorded); 503 the ledger
// cannot persist.
func (h *handler) returns(w http.ResponseWriter, r *http.Request) {
	var req returnRequest
	if !readJSON(w, r, &req, false) {
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

// settlement attaches the POS's settlement to an earlier sale of this
// till, the body being the settlement object itself: 200 {"id","seq"} of
// the settlement record once it is on disk; 400 a settlement the till
// does not take or a field it does not know; 404 no such sale; 503 the
// ledger cannot persist.
func (h *handler) settlement(w http.ResponseWriter, r *http.Request) {
	var st feed.Settlement
	if !readJSON(w, r, &st, false) {
		return
	}
	rc, err := h.Session.Settle(r.PathValue("id"), st)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// receipt is what the POS prints for a sale: JSON, or with ?format=text
// plain text for a thermal printer (?paper=58, the default, or 80 mm).
// 404 no such sale.
func (h *handler) receipt(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cols := map[string]int{"": 32, "58": 32, "80": 48}[q.Get("paper")]
	if cols == 0 {
		answerError(w, errBadRequest, fmt.Sprintf("paper %.10q: want 58 or 80", q.Get("paper")))
		return
	}
	if f := q.Get("format"); f != "" && f != "json" && f != "text" {
		answerError(w, errBadRequest, fmt.Sprintf("format %.10q: want json or text", f))
		return
	}
	rc, err := h.Session.Receipt(r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if q.Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, rc.Text(cols))
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

func (h *handler) records(w http.ResponseWriter, r *http.Request) {
	from := uint64(1)
	if s := r.URL.Query().Get("from_seq"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			answerError(w, errBadFromSeq, fmt.Sprintf("from_seq %.40q", s))
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
		h.Log.Error("web: records", "from_seq", from, "err", err)
		answerError(w, errInternal, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}
