package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/internal/brokertest"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// TestTill_policyBundleEndToEnd: the bureau signs and publishes a bundle
// retained on the production broker (TLS, client certificates, ACL); the
// till verifies it with the enrolled bureau key, swaps it in, records the
// change, refuses a tampered and an older bundle, and enforces the bundle
// again after an offline restart.
func TestTill_policyBundleEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pki := brokertest.NewPKI(t)
	broker := brokertest.Start(t, brokertest.WithProductionConfig(pki, brokertest.TillRegionACL(pharmacy, till, "330100")...))
	bureauKey, err := keys.CreateKeyFile(filepath.Join(dir, "bureau.key"))
	if err != nil {
		t.Fatal(err)
	}
	bureauPub := bureauKey.Public().(ed25519.PublicKey)
	bureauTLS := pki.ClientTLS(t, "bureau")

	seed, err := os.ReadFile("../testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Each version renames metformin, so the name on a scanned line tells
	// which catalogue is in force.
	sign := func(version uint64, name string) []byte {
		t.Helper()
		cat := strings.Replace(string(seed), "盐酸二甲双胍片 0.5g×60片", name, 1)
		b, err := bureau.PolicyBundle("330100", version, "2026-03-01T08:00:00+08:00", []byte(cat), []byte(`{"version":"r`+name+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		p, err := bundle.Sign(b, bureauKey)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	publish := func(payload []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		mo := mqttclient.Options{Broker: broker.URL(), ClientID: "bureau-policy", CleanSession: true, TLS: bureauTLS}
		if err := bureau.PublishPolicy(ctx, mo, payload, bureauPub); err != nil {
			t.Fatal(err)
		}
	}
	publishRaw := func(payload []byte) { // what PublishPolicy would refuse
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := mqttclient.Connect(ctx, mqttclient.Options{Broker: broker.URL(), ClientID: "forger", CleanSession: true, TLS: bureauTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Publish(mqttclient.Message{Topic: feed.PolicyTopic("330100"), Payload: payload, QoS: 1, Retained: true}).Wait(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	publish(sign(2, "二甲双胍v2"))

	certFile, keyFile := pki.Client(t, pharmacy+"/"+till)
	tillDir := filepath.Join(dir, "till")
	cfg := agent.Config{
		DataDir: tillDir, Baud: agent.DefaultBaud, Pharmacy: pharmacy, Till: till, Region: "330100",
		Catalog: "../testdata/catalog.csv", HTTP: "127.0.0.1:0",
		Broker: broker.URL(), TLSCA: pki.CAFile, TLSCert: certFile, TLSKey: keyFile,
		BureauKey: keys.PublicBase64(bureauPub),
	}
	tl, _, stop := runTill(t, cfg)
	version := func(tl *agent.Till) string { return tl.Status().Policy.Version }
	waitUntil(t, "bundle v2 in force", func() bool { return version(tl) == "bundle-330100-v2" })
	if got := scannedName(t, tl); got != "二甲双胍v2" {
		t.Fatalf("scanned line named %q, want the bundle's catalogue", got)
	}
	if n := policyRecords(t, tl.Ledger()); n != 1 {
		t.Fatalf("%d policy records, want 1", n)
	}

	// Tampered: v3 with its catalogue edited after signing.
	var env map[string]json.RawMessage
	v3 := sign(3, "二甲双胍v3")
	if err := json.Unmarshal(v3, &env); err != nil {
		t.Fatal(err)
	}
	env["bundle"] = bytes.Replace(env["bundle"], []byte("v3"), []byte("vX"), 1)
	tampered, _ := json.Marshal(env)
	publishRaw(tampered)
	waitUntil(t, "the tampered bundle refused", func() bool { return policyAlarm(tl, "policy", "signature") })
	// Older: correctly signed, but v1.
	publishRaw(sign(1, "二甲双胍v1"))
	waitUntil(t, "the older bundle refused", func() bool { return policyAlarm(tl, "policy", "older") })
	if v := version(tl); v != "bundle-330100-v2" {
		t.Fatalf("policy %s in force after refusals, want v2", v)
	}
	if got := scannedName(t, tl); got != "二甲双胍v2" {
		t.Fatalf("scanned line named %q after refusals", got)
	}
	stop()

	// Offline restart: the saved bundle is in force before any broker.
	cfg.Broker = ""
	tl, _, stop = runTill(t, cfg)
	defer stop()
	if v := version(tl); v != "bundle-330100-v2" {
		t.Fatalf("after restart policy %s, want the saved v2", v)
	}
	if got := scannedName(t, tl); got != "二甲双胍v2" {
		t.Fatalf("after restart scanned line named %q", got)
	}
	if n := policyRecords(t, tl.Ledger()); n != 1 {
		t.Fatalf("%d policy records after restart, want still 1", n)
	}
}

// TestTill_savedBundleOfAnotherBureauRefused: a bundle file that does not
// verify with the enrolled key is not applied at start.
func TestTill_savedBundleOfAnotherBureauRefused(t *testing.T) {
	dir := t.TempDir()
	_, other, _ := ed25519.GenerateKey(nil)
	enrolled, _, _ := ed25519.GenerateKey(nil)
	seed, err := os.ReadFile("../testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	p, err := bundle.Sign(bundle.Bundle{Region: "330100", Version: 9, IssuedAt: "2026-03-01T08:00:00+08:00", CatalogCSV: string(seed)}, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := bundle.Save(dir, p); err != nil {
		t.Fatal(err)
	}
	tl, _, stop := runTill(t, agent.Config{DataDir: dir, Baud: agent.DefaultBaud, Pharmacy: pharmacy, Till: till, Region: "330100", BureauKey: keys.PublicBase64(enrolled)})
	defer stop()
	if v := tl.Status().Policy.Version; strings.HasPrefix(v, "bundle-") {
		t.Fatalf("policy %s in force from a bundle of another bureau", v)
	}
	if !policyAlarm(tl, "policy", "signature") {
		t.Fatalf("no policy alarm: %+v", tl.Status().Alarms)
	}
}

// scannedName scans metformin, reads the line's name and voids.
func scannedName(t *testing.T, tl *agent.Till) string {
	t.Helper()
	s := tl.Session()
	s.Scan(scanner.Code{Kind: scanner.KindEAN13, Product: metformin})
	defer s.Void()
	v := s.View()
	if len(v.Lines) != 1 {
		t.Fatalf("basket %+v", v.Lines)
	}
	return v.Lines[0].Name
}

func policyRecords(t *testing.T, l *ledger.Ledger) int {
	t.Helper()
	n := 0
	if err := l.Scan(1, func(e ledger.Entry) error {
		var r feed.Record
		if err := json.Unmarshal(e.Rec, &r); err != nil {
			return err
		}
		if r.Kind == feed.KindPolicy {
			n++
			if !strings.Contains(r.Reason, "version 2") {
				t.Errorf("policy record %q", r.Reason)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func policyAlarm(tl *agent.Till, kind, detail string) bool {
	for _, a := range tl.Status().Alarms {
		if a.Kind == kind && strings.Contains(a.Detail, detail) {
			return true
		}
	}
	return false
}
