package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDB_freshAndSeparate(t *testing.T) {
	a, b := NewDB(t), NewDB(t)
	if a == b || !strings.HasPrefix(a, "postgres://tg@127.0.0.1:") || !strings.HasSuffix(a, "?sslmode=disable") {
		t.Fatalf("DSNs %q and %q", a, b)
	}
	c := Shared(t)
	da, db := dbName(a), dbName(b)
	if _, err := c.SQL(da, "CREATE TABLE x (n int); INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.SQL(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"); err != nil || out != "0" {
		t.Fatalf("the second database sees the first's table: %q %v", out, err)
	}
	for setting, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "server_encoding": "UTF8"} {
		if out, err := c.SQL(da, "SHOW "+setting); err != nil || out != want {
			t.Errorf("%s = %q (%v), want %s", setting, out, err, want)
		}
	}
}

func TestRestart_keepsCommittedData(t *testing.T) {
	c := Shared(t)
	db := dbName(NewDB(t))
	if _, err := c.SQL(db, "CREATE TABLE x (n int); INSERT INTO x VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	Restart(t)
	if out, err := c.SQL(db, "SELECT n FROM x"); err != nil || out != "7" {
		t.Fatalf("after a restart: %q %v", out, err)
	}
}

func TestCluster_killStartRemove(t *testing.T) {
	c := NewCluster(t)
	if c == Shared(t) {
		t.Fatal("NewCluster returned the shared cluster")
	}
	db := dbName(c.NewDB(t))
	if _, err := c.SQL(db, "CREATE TABLE x (n int); INSERT INTO x VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SQL(db, "SELECT 1"); err == nil {
		t.Fatal("a killed cluster answers")
	}
	if err := c.Kill(); err != nil {
		t.Fatalf("a second Kill: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := c.SQL(db, "SELECT sum(n) FROM x"); err != nil || out != "3" {
		t.Fatalf("after crash recovery: %q %v", out, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Fatalf("the cluster's directory is still there: %v", err)
	}
	if err := c.Start(); err == nil {
		t.Fatal("a removed cluster started")
	}
}

func TestBin_newest(t *testing.T) {
	bin, err := Bin()
	if err != nil {
		t.Skip(err)
	}
	if !strings.HasPrefix(bin, "/usr/lib/postgresql/") || !strings.HasSuffix(bin, "/bin") {
		t.Fatalf("Bin() = %q", bin)
	}
}

// dbName is the database a DSN names.
func dbName(dsn string) string {
	rest := dsn[strings.LastIndex(dsn, "/")+1:]
	name, _, _ := strings.Cut(rest, "?")
	return name
}

// TestNew_removesAbandoned: a cluster whose test binary died is stopped and
// removed by the next one to start.
func TestNew_removesAbandoned(t *testing.T) {
	c := NewCluster(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir(), "owner"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	removeAbandoned()
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Fatalf("the abandoned cluster's directory is still there: %v", err)
	}
	if _, err := c.SQL("postgres", "SELECT 1"); err == nil {
		t.Fatal("the abandoned cluster still answers")
	}
}
