// Package web serves the till's local HTTP interface (README, "Pages and
// JSON API"): the JSON API that the till screen and existing POS software
// drive a session with, the pharmacist's sign-in and a sale's receipt,
// the cashier's screen (/till, updated over Server-Sent Events at
// /api/events), the owner's dashboard (/), the self-inspection report
// (/report, /report.csv, built by agent/report), /metrics and the health
// check. Pages, script and style are embedded; nothing is fetched from the
// internet. Handlers hold no state of their own beyond the metrics, the
// count of live streams and the password guard; they translate between
// HTTP and the session and status the agent wires in.
//
// Only the till's own screen and software may drive it (guard.go): a
// request for another Host is refused (421), and a state-changing one
// must be JSON (415) and not come from another site (403). Bodies are
// read by one strict decoder, and every error is answered with a stable
// code and Chinese and English messages from one table (json.go). With an owner's password set,
// clients not on this machine must give it, and a client that keeps
// guessing is locked out (auth.go, internal/password). NewServer and
// LimitListener bound what clients may hold (server.go, Limits).
package web
