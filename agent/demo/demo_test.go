package demo

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun_scene plays the demo exactly as `make run` does, then quits from
// the console.
func TestRun_scene(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	// The console reads after the scene, so "quit" ends the demo there.
	if err := Run(ctx, Opts{HTTP: "127.0.0.1:0", Out: &out, In: strings.NewReader("status\nquit\n")}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"Card read: 王**",
		"已录入处方 RX20260302000123",
		"✔ 允许 allowed (10 天 days, qty 1)",
		"[non_drug]",
		"[days_supply]",
		"on disk (fsync)",
		"Bureau verified and stored records 1–",
		"Till API: http://127.0.0.1:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("narration lacks %q:\n%s", want, got)
		}
	}
}

// TestCatalog_matchesFixture keeps the demo's embedded catalogue and the
// shared test fixture one and the same.
func TestCatalog_matchesFixture(t *testing.T) {
	fixture, err := os.ReadFile("../../testdata/catalog.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fixture, catalogCSV) {
		t.Error("agent/demo/catalog.csv differs from testdata/catalog.csv: copy the fixture over")
	}
}
