package agent

import (
	"sort"
	"sync"
	"time"

	"github.com/tillguard/tillguard/agent/web"
)

// alarms holds the conditions the owner must see, one per kind, from
// when they were raised until they clear.
type alarms struct {
	now func() time.Time
	mu  sync.Mutex
	set map[string]web.Alarm
}

func (a *alarms) raise(kind, detail string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.set == nil {
		a.set = make(map[string]web.Alarm)
	}
	since := a.now().Format(time.RFC3339)
	if old, ok := a.set[kind]; ok {
		since = old.Since
	}
	a.set[kind] = web.Alarm{Kind: kind, Detail: detail, Since: since}
}

func (a *alarms) clear(kind string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.set, kind)
}

func (a *alarms) list() []web.Alarm {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]web.Alarm, 0, len(a.set))
	for _, v := range a.set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
