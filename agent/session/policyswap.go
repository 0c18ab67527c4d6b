package session

import "github.com/tillguard/tillguard/policy"

// SetPolicy puts a new catalogue, limits and deny list in force (a policy
// bundle from the bureau). The swap is atomic for the session: a scan or a
// checkout runs wholly under the old set or wholly under the new one. The
// lines already in the basket are decided again under the new set; their
// items stay as scanned (a re-scan picks up the new catalogue row). A nil
// deny means an empty deny list.
func (s *Session) SetPolicy(cat *policy.Catalog, lim policy.Limits, deny func(cardNo string) bool) {
	if deny == nil {
		deny = func(string) bool { return false }
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.cfg.Catalog, s.cfg.Limits, s.cfg.Deny = cat, lim, deny
	s.redecide()
}
