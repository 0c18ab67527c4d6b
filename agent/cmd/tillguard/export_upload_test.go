package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/boltarchive"
	"github.com/tillguard/tillguard/sync/bureau"
	"github.com/tillguard/tillguard/sync/feed"
)

// archiveOf puts the records of a feed fixture into an embedded archive
// in a new directory, as a bureau would have stored them.
func archiveOf(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
	ar, err := boltarchive.Open(filepath.Join(dir, "archive.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var put []archive.Incoming
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, feed.MaxEnvelope)
	for sc.Scan() {
		rec, r, sig, err := feed.Open(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		put = append(put, archive.Incoming{Pharmacy: r.Pharmacy, Till: r.Till, Seq: r.Seq, Rec: rec, Sig: sig, Parsed: &r})
	}
	if _, err := ar.Put(context.Background(), put); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bureau export --format 3505|3506 writes the platform's uploads, saying
// on standard error when some are incomplete; with --check it writes what
// each record lacks instead and fails while any does.
func TestBureauExport_upload(t *testing.T) {
	dir := archiveOf(t, "../../../sync/feed/testdata/pre-nhsa.jsonl")

	code, out, errs := runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "3505")
	if code != 0 {
		t.Fatalf("export 3505: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("3505 export %q, want the two drug lines of the split sale", out)
	}
	for _, l := range lines {
		var u bureau.Upload
		if err := json.Unmarshal([]byte(l), &u); err != nil || u.Infno != "3505" || u.FixmedinsCode != "H33010200001" || u.Input.Selinfo.SelRetnTime != "2026-03-02 10:08:00" {
			t.Errorf("upload %s: %+v, %v", l, u, err)
		}
	}
	if !strings.Contains(errs, "1 incomplete") || !strings.Contains(errs, "--check lists what each lacks") {
		t.Errorf("stderr %q, want the incomplete count and how to see why", errs)
	}

	code, out, errs = runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "3505", "--check", "--pharmacy", "H33010200001", "--till", "T01")
	if code == 0 || !strings.Contains(errs, "1 of 2 records are incomplete for upload") {
		t.Fatalf("check = %d, stderr %q; want a failure counting the incomplete", code, errs)
	}
	for _, want := range []string{
		"H33010200001/T01 2: missing mdtrt_sn (the POS sent no settlement for this sale: it sends one in the checkout, or later by POST /api/sales/019cac4e-5260-7345-ac9a-3715aa3903ad/settlement)\n",
		"H33010200001/T01 2: missing phar_name (no pharmacist was signed in on duty at the till",
		"H33010200001/T01 2: line 1: missing manu_lotnum (",
		"H33010200001/T01 5: line 1: not uploaded (6903148091050 海飞丝去屑洗发水 400ml has no med_list_codg",
		"3505: 2 sales, 0 complete for upload, 1 incomplete, 1 with nothing to upload; 2 lines to upload, 2 not",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"infno"`) {
		t.Error("--check wrote uploads too")
	}

	code, out, _ = runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "3506")
	if u := (bureau.Upload{}); code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &u) != nil || u.Input.Selinfo.FixmedinsBchno != feed.BatchNo("019cac4e-5260-7345-ac9a-3715aa3903ad", 0) {
		t.Errorf("export 3506 = %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "bureau", "export", "--data-dir", dir, "--format", "csv", "--check"); code == 0 || !strings.Contains(errs, "--check goes with --format 3505 or 3506") {
		t.Errorf("--check with csv = %d %q", code, errs)
	}
}
