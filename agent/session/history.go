package session

import (
	"sync"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// History remembers, per card, the insurance purchases the days-supply rule
// counts. It is rebuilt from the ledger at start and fed each sale after.
// A lookup costs the same however long the ledger is.
type History struct {
	mu     sync.Mutex
	byCard map[string][]policy.Purchase
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{byCard: make(map[string][]policy.Purchase)}
}

// Add takes the insurance lines of a sale record into the history; other
// records are ignored.
func (h *History) Add(r feed.Record) {
	if r.Kind != feed.KindSale || r.Card == nil {
		return
	}
	at, err := time.Parse(time.RFC3339, r.At)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range r.Lines {
		if l.Pay != PayInsurance || l.Days == 0 || len(l.MedListCodg) < policy.GenericLen {
			continue
		}
		p := policy.Purchase{Generic: l.MedListCodg[:policy.GenericLen], Days: l.Days, At: at}
		h.byCard[r.Card.No] = append(h.byCard[r.Card.No], p)
	}
}

// Purchases returns a copy of the card's earlier purchases.
func (h *History) Purchases(cardNo string) []policy.Purchase {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]policy.Purchase(nil), h.byCard[cardNo]...)
}
