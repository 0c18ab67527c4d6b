package report

import "github.com/tillguard/tillguard/sync/feed"

// rememberIDs bounds the record ids Lines keeps: a line is re-decided
// only while its basket is open, minutes after its first record, so the
// newest few thousand decided records always hold it.
const rememberIDs = 1 << 14

// Lines picks, record by record, the lines that count as decided: each
// line of a blocked or flagged record decided other than allow, once
// however often it is re-decided. Tills before feed.KindFlagged recorded
// flagged lines as blocked: each line's Decision says which it is.
//
// A re-decision that leaves a line's verdict and rule as they were writes
// no record; one that changes them writes a record whose Ref names the
// line's earlier record (agent/session), and that record adds nothing: a
// line counts under its first recorded decision. The dashboard, the
// report and /metrics all count through Lines, so they agree. Its zero
// value is not ready: use NewLines.
type Lines struct {
	first map[string]string // a record's id → the id of its line's first record
	ring  []string          // the ids in first, oldest overwritten first
	next  int
}

// NewLines returns a Lines that has seen no record.
func NewLines() *Lines {
	return &Lines{first: map[string]string{}, ring: make([]string, 0, 64)}
}

// Decided returns the lines r adds to the counts: nil for a record of
// another kind and for a re-decision of a line already counted. Feed it
// every record in ledger order, also those outside the period counted:
// a re-decision refers back to records before it. A card change's lines
// are the basket as it stood, not decisions: they add nothing.
func (s *Lines) Decided(r *feed.Record) []feed.Line {
	if r.Kind != feed.KindBlocked && r.Kind != feed.KindFlagged {
		return nil
	}
	// A refused return is a blocked record too, its Ref a sale's id: not
	// one Lines has seen, so it counts.
	first, redecided := s.first[r.Ref]
	if !redecided || r.Ref == "" {
		first, redecided = r.ID, false
	}
	s.remember(r.ID, first)
	if redecided {
		return nil
	}
	var out []feed.Line
	for _, l := range r.Lines {
		if l.Decision != "" && l.Decision != feed.Allow {
			out = append(out, l)
		}
	}
	return out
}

// First is the id of the first record of the line whose record id is:
// an override names the record of the decision it releases, which may be
// a re-decision. An id Lines does not know is its own first.
func (s *Lines) First(id string) string {
	if f, ok := s.first[id]; ok {
		return f
	}
	return id
}

func (s *Lines) remember(id, first string) {
	if id == "" {
		return
	}
	if len(s.ring) < rememberIDs {
		s.ring = append(s.ring, id)
	} else {
		delete(s.first, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % rememberIDs
	}
	s.first[id] = first
}

// Stops reports whether a line so decided did not go through as it was
// scanned: blocked, or held for the pharmacist. A flagged line goes
// through and is not stopped.
func Stops(decision string) bool { return decision == feed.Block || decision == feed.Hold }
