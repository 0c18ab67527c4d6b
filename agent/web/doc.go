// Package web serves the till's local HTTP interface: the JSON API that the
// till screen and existing POS software drive a session with (SPEC.md §5),
// and the health check. Handlers hold no state of their own; they translate
// between HTTP and the session and status the agent wires in.
package web
