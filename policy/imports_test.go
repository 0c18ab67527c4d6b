package policy

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports_pure enforces that policy does no I/O and stays below the
// layers that use it (docs/README.md, Conventions): its non-test files import only these
// standard packages.
func TestImports_pure(t *testing.T) {
	allowed := map[string]bool{
		"bytes": true, "encoding/csv": true, "encoding/json": true, "maps": true, "errors": true, "fmt": true, "io": true,
		"math": true, "slices": true, "strconv": true, "strings": true, "time": true,
		"unicode/utf8": true,
		"github.com/tillguard/tillguard/internal/gs1": true, // pure arithmetic, no imports
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, clock := range []string{"time.Now(", "time.Since(", "time.Until(", "time.Sleep("} {
			if strings.Contains(string(src), clock) {
				t.Errorf("%s calls %s: time comes in as an argument", name, clock)
			}
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s: policy must stay pure (no I/O, clocks, logging or higher layers)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
