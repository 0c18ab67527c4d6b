// Layering rules of docs/README.md (Conventions), enforced: which packages may import what.
package tillguard_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tillguard/tillguard"

// only lists third-party packages exactly one of our packages may import.
var only = map[string]string{
	"go.bug.st/serial":                    module + "/drivers/serialport",
	"go.etcd.io/bbolt":                    module + "/internal/boltdb",
	"github.com/jackc/pgx/v5":             module + "/sync/archive/pgarchive",
	"filippo.io/edwards25519":             module + "/internal/sigbatch",
	"github.com/eclipse/paho.mqtt.golang": module + "/sync/mqttclient",
}

// never lists, per layer, the import prefixes it must not use.
var never = map[string][]string{
	module + "/drivers/": {module + "/policy", module + "/sync/", module + "/agent"},
	module + "/policy":   {module + "/sync/", module + "/drivers/", module + "/agent", "os", "net", "log", "go.etcd.io/", "github.com/eclipse/"},
	module + "/sync/":    {module + "/agent", module + "/drivers/"},
	// The till's ledger holds no bureau code, and the store contract knows
	// neither store nor receiver.
	module + "/sync/ledger":  {module + "/sync/archive", module + "/sync/bureau"},
	module + "/sync/archive": {module + "/sync/bureau", module + "/sync/ledger", module + "/sync/mqttclient"},
}

func TestLayering_imports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, name, imports := f[0], f[1], f[2:]
		if strings.HasPrefix(pkg, module+"/sync/") && name == "sync" {
			t.Errorf("%s: no package under sync/ may be named sync", pkg)
		}
		for _, imp := range imports {
			for dep, owner := range only {
				if within(imp, dep) && pkg != owner {
					t.Errorf("%s imports %s: only %s may", pkg, imp, owner)
				}
			}
			for layer, banned := range never {
				if !within(pkg, layer) {
					continue
				}
				for _, b := range banned {
					if within(imp, b) {
						t.Errorf("%s imports %s: the %s layer must not", pkg, imp, layer)
					}
				}
			}
		}
	}
}

// within reports whether package path p is path or below it.
func within(p, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return p == path || strings.HasPrefix(p, path+"/")
}

// TestLayering_policyHasNoClock keeps the policy pure: time comes in as an
// argument.
func TestLayering_policyHasNoClock(t *testing.T) {
	files, err := filepath.Glob("policy/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "time.Now(") {
			t.Errorf("%s calls time.Now: policy takes the time as an argument", f)
		}
	}
}
