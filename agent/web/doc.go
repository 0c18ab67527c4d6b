// Package web serves the till's local HTTP interface (SPEC.md §5): the JSON
// API that the till screen and existing POS software drive a session with,
// the cashier's screen (/till, updated over Server-Sent Events at
// /api/events), the owner's dashboard (/), the self-inspection report
// (/report, /report.csv, built by agent/report), /metrics and the health
// check. Pages, script and style are embedded; nothing is fetched from the
// internet. Handlers hold no state of their own beyond the metrics and the
// chain check's last result; they translate between HTTP and the session
// and status the agent wires in. With an owner's password set, clients not
// on this machine must give it.
package web
