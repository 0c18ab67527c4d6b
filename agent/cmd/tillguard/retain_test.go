package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/pgtest"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/archive/archivetest"
	"github.com/tillguard/tillguard/sync/archive/pgarchive"
	"github.com/tillguard/tillguard/sync/feed"
)

// setRetainNow fixes bureau retain's clock for the test.
func setRetainNow(t *testing.T, now time.Time) {
	t.Helper()
	old := retainNow
	retainNow = func() time.Time { return now }
	t.Cleanup(func() { retainNow = old })
}

// TestBureauRetain: one till's records in four months, in monthly
// partitions and in the default one; retain --dry-run counts what would
// go and drops nothing, retain drops the months before the kept ones and
// nothing else, and below the days-supply floor it wants --force.
func TestBureauRetain(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	setRetainNow(t, time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC))
	st, err := pgarchive.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// 2024-01 stays in the default partition; 2025-02 and 2025-03 get
	// their own.
	if err := st.AddMonths(ctx, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	c := archivetest.NewChain("H1", "T1")
	for _, m := range []struct {
		at string
		n  int
	}{{"2024-01-15T10:00:00+08:00", 3}, {"2025-02-28T10:00:00+08:00", 2}, {"2025-03-01T10:00:00+08:00", 4}, {"2026-05-09T10:00:00+08:00", 1}} {
		for range m.n {
			c.Next(func(r *feed.Record) { r.At = m.at })
		}
	}
	res, err := st.Put(ctx, c.Records(1, 10))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range res.Outcomes {
		if o != archive.Stored {
			t.Fatalf("record %d: %v", i+1, o)
		}
	}
	count := func() uint64 {
		t.Helper()
		tills, err := st.Tills(ctx, archive.TillQuery{})
		if err != nil || len(tills) != 1 {
			t.Fatalf("tills %+v %v", tills, err)
		}
		return tills[0].Count
	}

	// 15 months on 2026-05-10: 2025-03 through 2026-05.
	code, out, errs := runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "15", "--dry-run")
	if code != 0 {
		t.Fatalf("retain --dry-run: %d %s", code, errs)
	}
	for _, want := range []string{"keeping 15 months: 2025-03 through 2026-05 (UTC calendar months: the current one and the 14 before it)",
		"dry run: would drop 5 records from before 2025-03 (at < 2025-03-01T00:00:00Z); first month kept: 2025-03; nothing dropped"} {
		if !strings.Contains(out, want) {
			t.Errorf("retain --dry-run printed %q, want %q", out, want)
		}
	}
	if n := count(); n != 10 {
		t.Fatalf("%d records after a dry run, want 10", n)
	}

	code, out, errs = runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "15")
	if code != 0 {
		t.Fatalf("retain: %d %s", code, errs)
	}
	if want := "dropped 5 records from before 2025-03 (at < 2025-03-01T00:00:00Z); first month kept: 2025-03\n"; !strings.HasSuffix(out, want) {
		t.Errorf("retain printed %q, want it to end %q", out, want)
	}
	if n := count(); n != 5 {
		t.Fatalf("%d records after retain, want 5", n)
	}
	for seq, gone := range map[uint64]bool{1: true, 5: true, 6: false, 10: false} {
		if _, _, err := st.Get(ctx, "H1", "T1", seq); errors.Is(err, archive.ErrNotFound) != gone {
			t.Errorf("Get of seq %d after retain: %v (want it gone: %v)", seq, err, gone)
		}
	}
	// Run again, as cron does: nothing more goes.
	if code, out, errs := runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "15"); code != 0 || !strings.Contains(out, "dropped 0 records") {
		t.Fatalf("retain again: %d %q %s", code, out, errs)
	}

	// Below the floor: refused, then allowed with --force.
	code, _, errs = runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "3")
	if code != 2 || !strings.Contains(errs, "days_supply_cross") || !strings.Contains(errs, "--force") || !strings.Contains(errs, "Keep 15 months or more") {
		t.Fatalf("retain --keep-months 3: %d %q", code, errs)
	}
	if n := count(); n != 5 {
		t.Fatalf("a refused retain dropped records: %d left", n)
	}
	code, out, errs = runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "3", "--force")
	if code != 0 || !strings.Contains(out, "keeping 3 months: 2026-03 through 2026-05") || !strings.Contains(out, "dropped 4 records") || !strings.Contains(errs, "warning") {
		t.Fatalf("retain --keep-months 3 --force: %d %q %q", code, out, errs)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d records after retain --force, want 1", n)
	}
	// A till goes on after its old records went.
	c.Next(func(r *feed.Record) { r.At = "2026-05-10T10:00:00+08:00" })
	if res, err := st.Put(ctx, c.Records(11, 11)); err != nil || res.Outcomes[0] != archive.Stored {
		t.Fatalf("the chain after retain: %+v %v", res, err)
	}
	if code, out, _ := runCmd(t, "bureau", "retain", "--store", dsn, "--keep-months", "1", "--force", "--dry-run"); code != 0 ||
		!strings.Contains(out, "2026-05 through 2026-05 (UTC calendar months: the current one only)") || !strings.Contains(out, "would drop 0 records") {
		t.Fatalf("retain --keep-months 1 --dry-run: %d %q", code, out)
	}
}

// TestBureauRetain_refused: what retain refuses before it opens a store,
// and a store it cannot reach.
func TestBureauRetain_refused(t *testing.T) {
	const dsn = "postgres://tg@127.0.0.1:1/none?sslmode=disable&connect_timeout=5"
	for _, tt := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--store", dsn}, 2, "--keep-months is required"},
		{[]string{"--store", dsn, "--keep-months", "0"}, 2, "want 1 to 1200 months"},
		{[]string{"--store", dsn, "--keep-months", "-3"}, 2, "want 1 to 1200 months"},
		{[]string{"--store", dsn, "--keep-months", "1201"}, 2, "want 1 to 1200 months"},
		{[]string{"--store", dsn, "--keep-months", "three"}, 2, "--keep-months three: want a whole number"},
		{[]string{"--keep-months", "36"}, 2, "retention needs the PostgreSQL store"},
		{[]string{"--store", dsn, "--keep-months", "14"}, 2, "--force"},
		{[]string{"--store", dsn, "--keep-months", "36", "extra"}, 2, "unexpected argument"},
		{[]string{"--store", dsn, "--keep-months", "36"}, 1, "pgarchive"},
	} {
		code, out, errs := runCmd(t, append([]string{"bureau", "retain"}, tt.args...)...)
		if code != tt.code || !strings.Contains(out+errs, tt.contains) {
			t.Errorf("bureau retain %v = %d, %q %q; want %d containing %q", tt.args, code, out, errs, tt.code, tt.contains)
		}
	}
	if code, out, _ := runCmd(t, "bureau", "retain", "-h"); code != 0 {
		t.Errorf("bureau retain -h = %d %q", code, out)
	}
}

// TestMinKeepMonths: the floor keeps archive.WindowDays days whatever the
// month, and one month less does not.
func TestMinKeepMonths(t *testing.T) {
	n := minKeepMonths()
	window := archive.WindowDays * 24 * time.Hour
	short := false
	for m := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); m.Year() < 2400; m = m.AddDate(0, 1, 0) {
		if firstKept(m, n).AddDate(0, n-1, 0) != m {
			t.Fatalf("firstKept(%s, %d) = %s", m, n, firstKept(m, n))
		}
		if d := m.Sub(firstKept(m, n)); d < window {
			t.Fatalf("keeping %d months on %s keeps %v, less than %d days", n, m.Format("2006-01"), d, archive.WindowDays)
		}
		short = short || m.Sub(firstKept(m, n-1)) < window
	}
	if !short {
		t.Fatalf("%d months is not the least that keeps %d days", n, archive.WindowDays)
	}
	if n != 15 { // with WindowDays 400: fourteen whole months span 424 days or more, thirteen at most 397
		t.Errorf("minKeepMonths() = %d, want 15", n)
	}
}

func TestFirstKept(t *testing.T) {
	for _, tt := range []struct {
		now  time.Time
		n    int
		want string
	}{
		{time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC), 1, "2026-01"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 3, "2025-11"},
		{time.Date(2026, 3, 1, 1, 0, 0, 0, time.FixedZone("CST", 8*3600)), 36, "2023-03"}, // 2026-02-28 in UTC
		{time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC), 1200, "1927-01"},
	} {
		if got := firstKept(tt.now, tt.n).Format("2006-01"); got != tt.want {
			t.Errorf("firstKept(%s, %d) = %s, want %s", tt.now, tt.n, got, tt.want)
		}
	}
}
