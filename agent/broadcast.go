package agent

import "sync"

// broadcast wakes every subscriber after a change. A subscriber that has
// not drained its last wake-up is not woken twice: it will read the state
// anyway.
type broadcast struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newBroadcast() *broadcast { return &broadcast{subs: make(map[chan struct{}]struct{})} }

func (b *broadcast) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
