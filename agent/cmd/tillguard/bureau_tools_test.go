package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/keys"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBureauKeygenSignPolicy(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "bureau.key")
	code, out, errs := runCmd(t, "bureau", "keygen", "--key", keyPath)
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", fi, err)
	}
	pub, err := keys.PublicFromArg(keyPath + ".pub")
	if err != nil || keys.PublicBase64(pub) != strings.TrimSpace(out) {
		t.Fatalf("public key file %v, printed %q", err, out)
	}
	if code, _, _ := runCmd(t, "bureau", "keygen", "--key", keyPath); code == 0 {
		t.Fatal("keygen overwrote an existing key")
	}

	bundlePath := filepath.Join(dir, "policy.bundle")
	code, _, errs = runCmd(t, "bureau", "sign-policy", "--key", keyPath, "--region", "330100", "--version", "4",
		"--catalog", "../../../testdata/catalog.csv", "--policy", "../../../testdata/policy.json", "--out", bundlePath)
	if code != 0 {
		t.Fatalf("sign-policy: %d %s", code, errs)
	}
	payload, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bundle.Verify(payload, pub, "330100", 3)
	if err != nil || s.Bundle.Version != 4 || s.Bundle.PolicyJSON == "" {
		t.Fatalf("signed bundle: %+v, %v", s.Bundle, err)
	}
	// A catalogue that tills would refuse is not signed.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("name\nx\n"), 0o644)
	if code, _, _ := runCmd(t, "bureau", "sign-policy", "--key", keyPath, "--region", "330100", "--version", "5", "--catalog", bad); code == 0 {
		t.Fatal("signed a bundle with a bad catalogue")
	}
}

func TestBureauEnroll(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	code, _, errs := runCmd(t, "bureau", "enroll", "--enroll", dir, "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(pub))
	if code != 0 {
		t.Fatalf("enroll: %d %s", code, errs)
	}
	got, err := keys.LoadEnrolled(dir)
	if err != nil || !got["H1/T1"].Equal(pub) {
		t.Fatalf("enrolled %v, %v", got, err)
	}
	if code, _, _ := runCmd(t, "bureau", "enroll", "--enroll", dir, "--pharmacy", "H/1", "--till", "T1", "--key", keys.PublicBase64(pub)); code == 0 {
		t.Fatal("enrolled a bad pharmacy id")
	}
	if code, _, _ := runCmd(t, "bureau", "enroll", "--enroll", dir, "--pharmacy", "H1", "--till", "T1", "--key", "nonsense"); code == 0 {
		t.Fatal("enrolled a bad key")
	}
	// --enroll alone writes the file only: no archive appears.
	if _, err := os.Stat("bureau-data"); err == nil {
		t.Fatal("enroll --enroll DIR created an embedded archive")
	}
}

// storeKey reads a till's key from the embedded archive in dataDir.
func storeKey(t *testing.T, dataDir, pharmacy, till string) ed25519.PublicKey {
	t.Helper()
	ar, err := boltarchive.Open(filepath.Join(dataDir, "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	pub, err := ar.Key(context.Background(), pharmacy, till)
	if errors.Is(err, archive.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestBureauEnroll_intoTheStore(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	code, out, errs := runCmd(t, "bureau", "enroll", "--data-dir", data, "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(pub))
	if code != 0 || !strings.Contains(out, "enrolled H1/T1 in the store "+filepath.Join(data, "archive.db")) {
		t.Fatalf("enroll into the embedded archive: %d %q %s", code, out, errs)
	}
	if got := storeKey(t, data, "H1", "T1"); !got.Equal(pub) {
		t.Fatalf("archive holds %x, want %x", got, pub)
	}
	// A rotation replaces the key.
	rotated, _, _ := ed25519.GenerateKey(nil)
	if code, _, errs := runCmd(t, "bureau", "enroll", "--data-dir", data, "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(rotated)); code != 0 {
		t.Fatalf("enroll again: %d %s", code, errs)
	}
	if got := storeKey(t, data, "H1", "T1"); !got.Equal(rotated) {
		t.Fatalf("archive holds %x after a rotation, want %x", got, rotated)
	}
	// Both a directory and a store named: both.
	if code, _, errs := runCmd(t, "bureau", "enroll", "--enroll", dir, "--data-dir", data, "--pharmacy", "H1", "--till", "T2", "--key", keys.PublicBase64(pub)); code != 0 {
		t.Fatalf("enroll into both: %d %s", code, errs)
	}
	if got, err := keys.LoadEnrolled(dir); err != nil || !got["H1/T2"].Equal(pub) || !storeKey(t, data, "H1", "T2").Equal(pub) {
		t.Fatalf("directory %v %v; want H1/T2 in it and in the archive", got, err)
	}
	if code, _, _ := runCmd(t, "bureau", "enroll", "--data-dir", data, "--pharmacy", "H/1", "--till", "T1", "--key", keys.PublicBase64(pub)); code == 0 {
		t.Fatal("enrolled a bad pharmacy id into the store")
	}
	if code, _, errs := runCmd(t, "bureau", "enroll", "--store", "mysql://x", "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(pub)); code != 2 || !strings.Contains(errs, "postgres://") {
		t.Fatalf("enroll into a store that is no PostgreSQL URL: %d %s", code, errs)
	}
	// The running bureau holds the embedded archive: say so.
	ar, err := boltarchive.Open(filepath.Join(data, "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	if code, _, errs := runCmd(t, "bureau", "enroll", "--data-dir", data, "--pharmacy", "H1", "--till", "T3", "--key", keys.PublicBase64(pub)); code == 0 || !strings.Contains(errs, "running bureau") {
		t.Fatalf("enroll into an archive in use: %d %s", code, errs)
	}
}

func TestBureauEnroll_intoPostgres(t *testing.T) {
	dsn := pgtest.NewDB(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	if code, out, errs := runCmd(t, "bureau", "enroll", "--store", dsn, "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(pub)); code != 0 {
		t.Fatalf("enroll --store: %d %s %s", code, out, errs)
	}
	st, err := pgarchive.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Key(context.Background(), "H1", "T1"); err != nil || !got.Equal(pub) {
		t.Fatalf("store holds %x %v, want %x", got, err, pub)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLine runs `tillguard bureau args…` until it prints its start line,
// and returns that line; then it stops the receiver.
func startLine(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"bureau"}, args...), strings.NewReader(""), &out, &errb) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.After(time.Minute)
	for {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			return line
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("tillguard bureau %v exited %d before starting: %s", args, code, errb.String())
		case <-deadline:
			t.Fatalf("tillguard bureau %v did not start: %s", args, errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestBureau_keysInTheStore: the receiver enrolls its --enroll directory
// into the store, counts what the store holds, and starts without
// --enroll once the store holds keys.
func TestBureau_keysInTheStore(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	common := []string{"--broker", "tcp://127.0.0.1:1", "--data-dir", data, "--http", "127.0.0.1:0"}
	if code, _, errs := runCmd(t, append([]string{"bureau"}, common...)...); code != 1 || !strings.Contains(errs, "holds no till's key") {
		t.Fatalf("bureau on an empty store without --enroll: %d %s", code, errs)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if code, _, errs := runCmd(t, "bureau", "enroll", "--data-dir", data, "--pharmacy", "H1", "--till", "T1", "--key", keys.PublicBase64(pub)); code != 0 {
		t.Fatalf("enroll: %d %s", code, errs)
	}
	if line := startLine(t, common...); !strings.HasPrefix(line, "bureau: 1 tills enrolled, store ") {
		t.Fatalf("start line %q, want 1 till enrolled", line)
	}
	for _, tl := range []string{"T2", "T3"} {
		if err := keys.Enroll(dir, "H1", tl, pub); err != nil {
			t.Fatal(err)
		}
	}
	if line := startLine(t, append(common, "--enroll", dir)...); !strings.HasPrefix(line, "bureau: 3 tills enrolled, store ") {
		t.Fatalf("start line %q, want the directory's 2 and the store's 1", line)
	}
	// The directory's keys are the store's now.
	if line := startLine(t, common...); !strings.HasPrefix(line, "bureau: 3 tills enrolled, store ") {
		t.Fatalf("start line %q without --enroll, want the store's 3", line)
	}
	if !storeKey(t, data, "H1", "T3").Equal(pub) {
		t.Fatal("the directory's key is not in the store")
	}
}

func TestBureauExport(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	ar, err := boltarchive.Open(filepath.Join(dir, "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	var put []archive.Incoming
	prev := ""
	for seq := uint64(1); seq <= 3; seq++ {
		r := feed.Record{Seq: seq, ID: "id" + string(rune('0'+seq)), Prev: prev, Pharmacy: "H1", Till: "T1", Kind: feed.KindSale, At: "2026-03-01T10:00:00+08:00",
			Card:  &feed.Card{Type: feed.CardSSC, No: "3301", Name: "张*"},
			Lines: []feed.Line{{Barcode: "1", Name: "a,\"b\"", Qty: 1, PriceFen: 5, Decision: "allow", DrugTracCodg: []string{"x", "y"}}, {Barcode: "2", Name: "c", Qty: 2, PriceFen: 7, Decision: "block"}}}
		if seq == 3 {
			r.Kind, r.Lines, r.Card = feed.KindDevice, nil, nil
		}
		rec, _ := json.Marshal(r)
		want = append(want, rec)
		put = append(put, archive.Incoming{Pharmacy: "H1", Till: "T1", Seq: seq, Rec: rec, Sig: ed25519.Sign(key, rec), Parsed: &r})
		prev = feed.Hash(rec)
	}
	if _, err := ar.Put(context.Background(), put); err != nil {
		t.Fatal(err)
	}
	ar.Close()

	code, out, errs := runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "jsonl", "--from-seq", "2")
	if code != 0 {
		t.Fatalf("export jsonl: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl %q", out)
	}
	for i, l := range lines {
		rec, _, sig, err := feed.Open([]byte(l))
		if err != nil || !bytes.Equal(rec, want[i+1]) || !ed25519.Verify(key.Public().(ed25519.PublicKey), rec, sig) {
			t.Fatalf("jsonl line %d %q: %v", i, l, err)
		}
	}

	code, out, errs = runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "csv", "--pharmacy", "H1", "--till", "T1")
	if code != 0 {
		t.Fatalf("export csv: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+2+2+1 { // header, two lines each for two sales, one device record
		t.Fatalf("%d csv rows: %q", len(rows), out)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if r := rows[1]; r[col["seq"]] != "1" || r[col["name"]] != `a,"b"` || r[col["drug_trac_codg"]] != "x;y" || r[col["card_no"]] != "3301" || r[col["line"]] != "1" {
		t.Fatalf("row %q", r)
	}
	if r := rows[5]; r[col["kind"]] != feed.KindDevice || r[col["line"]] != "" || len(r) != len(rows[0]) {
		t.Fatalf("row %q", r)
	}

	if code, _, _ := runCmd(t, "bureau", "export", "--data-dir", filepath.Join(dir, "none")); code == 0 {
		t.Fatal("export of a missing archive succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "none", "archive.db")); err == nil {
		t.Fatal("export created an archive")
	}
	if code, _, _ := runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "xml"); code == 0 {
		t.Fatal("export in an unknown format succeeded")
	}
}
