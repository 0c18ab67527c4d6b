package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// statusEvery refreshes the status on live screens between changes: the
// outbox and the uplink change without waking the session's broadcast.
const statusEvery = 5 * time.Second

// eventWriteTimeout drops a screen that stops reading: each event must be
// taken within it.
const eventWriteTimeout = 10 * time.Second

// streams counts the open live-update streams against Limits.MaxEvents.
type streams struct {
	mu   sync.Mutex
	n    int
	max  int
	full uint64 // streams refused since start
}

func (s *streams) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.max {
		s.full++
		return false
	}
	s.n++
	return true
}

func (s *streams) refused() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

func (s *streams) release() {
	s.mu.Lock()
	s.n--
	s.mu.Unlock()
}

// events serves GET /api/events, Server-Sent Events for the till screen:
// "session" (the body of GET /api/session) at once and after every change,
// "status" (the body of GET /api/status) at once, after every change and
// every few seconds.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if h.Changes == nil {
		writeError(w, http.StatusNotFound, "live updates are not wired in")
		return
	}
	if !h.streams.acquire() {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("实时画面已满 %d 个 / too many live screens: %d open", h.streams.max, h.streams.max))
		return
	}
	defer h.streams.release()
	// No WriteTimeout on the server would let the stream live; a deadline
	// on each write drops a screen that stopped reading instead.
	rc := http.NewResponseController(w)
	changes, stop := h.Changes()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	send := func(event string, v any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		b, err := json.Marshal(v)
		if err != nil {
			h.Log.Error("web: event", "event", event, "err", err)
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
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
