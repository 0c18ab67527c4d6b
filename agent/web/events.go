package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// statusEvery refreshes the status on live screens between changes: the
// outbox and the uplink change without waking the session's broadcast.
const statusEvery = 5 * time.Second

// events serves GET /api/events, Server-Sent Events for the till screen:
// "session" (the body of GET /api/session) at once and after every change,
// "status" (the body of GET /api/status) at once, after every change and
// every few seconds.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if h.Changes == nil {
		writeError(w, http.StatusNotFound, "live updates are not wired in")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	changes, stop := h.Changes()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			h.Log.Error("web: event", "event", event, "err", err)
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	for {
		if !send("session", h.Session.View()) || !send("status", h.Status()) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}
