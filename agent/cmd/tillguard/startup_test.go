package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// TestRun_everyProblemAtOnce: bad values in the config file and on the
// command line are all listed in one error, each where it was given, and
// nothing starts: no data dir, no port bound.
func TestRun_everyProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "tillguard.conf")
	file := "# a till\n" +
		"baud = fast\n" + // 2
		"region = 12\n" + // 3
		"colour = red\n" + // 4
		"tll = T01\n" + // 5
		"pharmacy = H 1\n" // 6
	if err := os.WriteFile(conf, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"run", "--config", conf, "--data-dir", data,
		"--broker", "127.0.0.1:1883", "--retention", "3x", "--no-such", "--http", "0.0.0.0:8080"}, nil, &out, &errOut)
	got := errOut.String()
	want := []string{
		"tillguard run: 10 problems in the settings, nothing started:",
		"  - --retention 3x: want days like 90d or a duration like 36h\n",
		"  - --no-such: no such flag\n",
		"  - " + conf + " line 2: baud = fast: want a whole number, e.g. 9600\n",
		"  - " + conf + " line 4: unknown setting \"colour\"\n",
		"  - " + conf + " line 5: unknown setting \"tll\" (did you mean till?)\n",
		"  - " + conf + " line 6: pharmacy = H 1: want 1–64 characters from A–Z a–z 0–9 - _: the pharmacy's national code (医保定点编码), e.g. H33010200001\n",
		"  - --till is required: this till's id within the pharmacy, e.g. T01: give --till T01, or \"till = T01\" in the --config file\n",
		"  - " + conf + " line 3: region = 12: want the 6-digit administrative region code (行政区划代码) whose limits apply, e.g. 330100\n",
		"  - --broker 127.0.0.1:1883: want tcp://host:port or ssl://host:port (e.g. tcp://127.0.0.1:1883)\n",
		"  - --http 0.0.0.0:8080: only loopback addresses are served without --owner-password",
		"(tillguard run -h lists the flags)\n",
	}
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("stderr lacks %q:\n%s", w, got)
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q: nothing should have started", out.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data dir was made (%v): something started", err)
	}
}

// TestRun_brokerWithoutScheme: a broker address the uplink could never
// dial is refused before the start, saying what to write instead.
func TestRun_brokerWithoutScheme(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"run", "--pharmacy", "H33010200001", "--till", "T01",
		"--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--broker", "127.0.0.1:1883"}, nil, &out, &errOut)
	want := "tillguard run: 1 problem in the settings, nothing started:\n" +
		"  - --broker 127.0.0.1:1883: want tcp://host:port or ssl://host:port (e.g. tcp://127.0.0.1:1883)\n"
	if code != 2 || !strings.HasPrefix(errOut.String(), want) || strings.Contains(out.String(), "ready") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and\n%s", code, out.String(), errOut.String(), want)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"bureau", "--broker", "127.0.0.1:1883"}, nil, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "--broker 127.0.0.1:1883: want tcp://host:port or ssl://host:port") {
		t.Errorf("bureau: exit %d, %q", code, errOut.String())
	}
}

// TestRun_emptyCatalogWarns: a catalogue with no items starts, with a
// WARN line that every scan is unknown.
func TestRun_emptyCatalogWarns(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog.csv")
	if err := os.WriteFile(cat, []byte("barcode,name,category,covered\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--pharmacy", "H33010200001", "--till", "T01", "--data-dir", filepath.Join(dir, "data"),
			"--http", "127.0.0.1:0", "--catalog", cat}, nil, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "tillguard: ready") {
		select {
		case code := <-done:
			t.Fatalf("run ended with %d: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("run = %d after cancel: %s", code, errOut.String())
	}
	logs := errOut.String()
	if !strings.Contains(logs, `level=WARN msg="tillguard: --catalog `+cat+` has no items: the till treats every scan as unknown and puts nothing on insurance"`) {
		t.Errorf("no WARN line for the empty catalogue:\n%s", logs)
	}
	if strings.Contains(logs, "<nil>") {
		t.Errorf("a log line says <nil>:\n%s", logs)
	}
}

// TestRun_gbkCatalogRefused: a catalogue saved as GBK, as Chinese
// spreadsheets save CSV, is one problem saying how to save it, not one per
// row.
func TestRun_gbkCatalogRefused(t *testing.T) {
	dir := t.TempDir()
	var rows strings.Builder
	rows.WriteString("barcode,name,category,covered\n")
	for range 21 {
		rows.WriteString("6903148091050,海飞丝去屑洗发水 400ml,daily_goods,0\n")
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(rows.String())
	if err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "catalog.csv")
	if err := os.WriteFile(cat, []byte(gbk), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"run", "--pharmacy", "H33010200001", "--till", "T01",
		"--data-dir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--catalog", cat}, nil, &out, &errOut)
	got := errOut.String()
	if code != 2 || strings.Count(got, "not valid UTF-8") != 1 || !strings.Contains(got, "GBK/GB18030") || !strings.Contains(got, "save it as UTF-8") {
		t.Errorf("exit %d:\n%s\nwant 2 and one problem naming GBK and how to save as UTF-8", code, got)
	}
}

// TestRun_usageReads: the help names each flag as it is typed, with what
// it takes.
func TestRun_usageReads(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"run", "-h"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("run -h = %d", code)
	}
	got := errOut.String()
	for _, want := range []string{"usage: tillguard run [--config FILE] [flags]", "\n  --config FILE\n", "\n  --pharmacy CODE\n", "\n  --baud RATE\n", "(default 9600)", "\n  -v\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("usage lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "name = value\n") || strings.Contains(got, "  -config") {
		t.Errorf("usage still reads -config name = value:\n%s", got)
	}
}

// TestKeys_rotateSaysWhatNext: a rotation prints the new key, and what
// the bureau must do with it.
func TestKeys_rotateSaysWhatNext(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "show", "--data-dir", dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keys show = %d %s", code, errOut.String())
	}
	old := strings.TrimSpace(out.String())
	out.Reset()
	if code := run(context.Background(), []string{"keys", "rotate", "--data-dir", dir, "--pharmacy", "H33010200001", "--till", "T01"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keys rotate = %d %s", code, errOut.String())
	}
	key := strings.TrimSpace(out.String())
	if key == old || len(key) != 44 {
		t.Fatalf("rotate printed %q (was %q), want a new 44-character key", key, old)
	}
	if want := "tillguard bureau enroll --store postgres://… --pharmacy H33010200001 --till T01 --key " + key; !strings.Contains(errOut.String(), want) {
		t.Errorf("rotate said %q, want the enrol command %q", errOut.String(), want)
	}
	if !strings.Contains(errOut.String(), "Restart the till") {
		t.Errorf("rotate said %q, want the till restarted", errOut.String())
	}
}
