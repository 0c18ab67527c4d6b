package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
)

// alarmPolicy is the /api/status alarm for a bundle refused: the policy in
// force stays, and the owner sees why the bureau's new one is not.
const alarmPolicy = "policy"

// policyState is the policy in force and, when it came from the bureau,
// the bundle that carried it.
type policyState struct {
	pub    ed25519.PublicKey // the enrolled bureau key; nil = bundles are not taken
	region string

	mu      sync.Mutex // also serialises applying bundles
	version string     // what /api/status reports
	current uint64     // bundle version in force; 0 = local catalogue
	payload []byte     // the bundle message in force
}

func (p *policyState) shownVersion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.version
}

// parseBureauKey reads --bureau-key: base64, or a file holding it.
func parseBureauKey(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	pub, err := keys.PublicFromArg(s)
	if err != nil {
		return nil, fmt.Errorf("agent: --bureau-key: %w", err)
	}
	return pub, nil
}

// bundleVersion is how /api/status shows a bundle's policy.
func bundleVersion(b bundle.Bundle) string {
	return "bundle-" + b.Region + "-v" + strconv.FormatUint(b.Version, 10)
}

// loaded is a bundle's content, parsed.
type loaded struct {
	cat *policy.Catalog
	pol *policy.Policy
}

func loadBundle(b bundle.Bundle) (loaded, error) {
	cat, err := policy.LoadCatalog(strings.NewReader(b.CatalogCSV))
	if err != nil {
		return loaded{}, fmt.Errorf("catalogue: %w", err)
	}
	pol := policy.DefaultPolicy()
	if b.PolicyJSON != "" {
		if pol, err = policy.LoadPolicy(strings.NewReader(b.PolicyJSON)); err != nil {
			return loaded{}, fmt.Errorf("policy: %w", err)
		}
	}
	return loaded{cat: cat, pol: pol}, nil
}

// restorePolicy applies the bundle saved in the data dir, so a till that
// restarts offline enforces the bureau's last policy, not the seed. A
// saved bundle that no longer verifies (another bureau key, edited on
// disk) is refused with an alarm and the local catalogue stays.
func (t *Till) restorePolicy() {
	p := t.policy
	if p.pub == nil {
		return
	}
	payload, err := bundle.Load(t.cfg.DataDir)
	if err != nil || payload == nil {
		if err != nil {
			t.refusePolicy(err)
		}
		return
	}
	s, err := bundle.Verify(payload, p.pub, p.region, 0)
	if err != nil {
		t.refusePolicy(fmt.Errorf("saved %s: %w", bundle.FileName, err))
		return
	}
	l, err := loadBundle(s.Bundle)
	if err != nil {
		t.refusePolicy(fmt.Errorf("saved %s: %w", bundle.FileName, err))
		return
	}
	t.session.SetPolicy(l.cat, l.pol.Limits(p.region), l.pol.Denied)
	p.mu.Lock()
	p.current, p.payload, p.version = s.Bundle.Version, payload, bundleVersion(s.Bundle)
	p.mu.Unlock()
	t.log.Info("agent: policy bundle restored", "region", s.Bundle.Region, "version", s.Bundle.Version)
}

// onPolicy takes a bundle message from the uplink: verify, load, save,
// record, then swap it in. Anything wrong keeps the policy in force and
// raises the policy alarm.
func (t *Till) onPolicy(payload []byte) {
	p := t.policy
	if p.pub == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if bytes.Equal(payload, p.payload) {
		return // the retained bundle again, after a reconnect
	}
	s, err := bundle.Verify(payload, p.pub, p.region, p.current)
	if err != nil {
		t.refusePolicy(err)
		return
	}
	l, err := loadBundle(s.Bundle)
	if err != nil {
		t.refusePolicy(fmt.Errorf("bundle %s v%d: %w", s.Bundle.Region, s.Bundle.Version, err))
		return
	}
	// Saved first: once the record says this policy is in force, a
	// restart must find it.
	if err := bundle.Save(t.cfg.DataDir, payload); err != nil {
		t.refusePolicy(err)
		return
	}
	sum := sha256.Sum256(s.Raw)
	rec := &feed.Record{
		Pharmacy: t.cfg.Pharmacy, Till: t.cfg.Till, Kind: feed.KindPolicy,
		At:     t.cfg.Now().Format(time.RFC3339),
		Reason: fmt.Sprintf("bundle region %s version %d issued %s sha256 %s (was %s)", s.Bundle.Region, s.Bundle.Version, s.Bundle.IssuedAt, hex.EncodeToString(sum[:]), p.version),
	}
	if _, err := t.ledger.Append(rec); err != nil {
		// In force all the same: the bureau signed it, and insurance
		// sales stop anyway while the ledger cannot persist.
		t.log.Error("agent: record policy change", "err", err)
	}
	t.session.SetPolicy(l.cat, l.pol.Limits(p.region), l.pol.Denied)
	p.current, p.payload, p.version = s.Bundle.Version, payload, bundleVersion(s.Bundle)
	t.alarms.clear(alarmPolicy)
	t.log.Info("agent: policy bundle applied", "region", s.Bundle.Region, "version", s.Bundle.Version)
}

func (t *Till) refusePolicy(err error) {
	t.log.Warn("agent: policy bundle refused", "err", err)
	detail := "策略包被拒绝，沿用当前策略 / policy bundle refused, the current policy stays: " + err.Error()
	if errors.Is(err, bundle.ErrNotNewer) {
		detail = "收到旧版本策略包，已拒绝 / an older policy bundle was refused: " + err.Error()
	}
	t.alarms.raise(alarmPolicy, detail)
}
