package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillguard/tillguard/agent"
)

// applyConfig reads a config file of "name = value" lines, where name is a
// flag of fs without its dashes; '#' starts a comment. Flags given on the
// command line win. Unknown names and bad values are errors, all of them
// reported at once.
func applyConfig(fs *flag.FlagSet, r io.Reader) error {
	problems := readConfigFile(fs, r).problems
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = errors.New(p)
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

// configRead is what a config file set, and what was wrong with it.
type configRead struct {
	lines    map[string]int  // setting → the line that set it
	refused  map[string]bool // settings whose value did not parse
	problems []string        // each naming its line
}

// readConfigFile sets fs's flags from a config file (applyConfig).
func readConfigFile(fs *flag.FlagSet, r io.Reader) configRead {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	lines, refused := map[string]int{}, map[string]bool{}
	var problems []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), unquote(strings.TrimSpace(value))
		if p := settingProblem(fs, name, ok, lines); p != "" {
			problems = append(problems, fmt.Sprintf("line %d: %s", n, p))
			continue
		}
		if onCommandLine[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			f := fs.Lookup(name)
			problems = append(problems, fmt.Sprintf("line %d: %s = %s: %s", n, name, agent.ShowValue(value), valueWant(f, f.Value, err)))
			refused[name] = true
			continue
		}
		lines[name] = n
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	return configRead{lines: lines, refused: refused, problems: problems}
}

// settingProblem is what is wrong with a line's name, "" if nothing.
func settingProblem(fs *flag.FlagSet, name string, hasValue bool, seen map[string]int) string {
	switch {
	case !hasValue || name == "":
		return "want name = value"
	case strings.HasPrefix(name, "-") && fs.Lookup(strings.TrimLeft(name, "-")) != nil:
		return fmt.Sprintf("unknown setting %q: write it without dashes, %s = …", name, strings.TrimLeft(name, "-"))
	case name == "config":
		return `unknown setting "config": a config file cannot name another`
	case fs.Lookup(name) == nil:
		if near := nearestFlag(fs, name); near != "" {
			return fmt.Sprintf("unknown setting %q (did you mean %s?)", name, near)
		}
		return fmt.Sprintf("unknown setting %q", name)
	}
	if at, again := seen[name]; again && !adds(fs.Lookup(name)) {
		return fmt.Sprintf("%s is set again (first on line %d): keep one", name, at)
	}
	return ""
}

// adds reports whether a flag adds to its value each time it is given
// (--http-host), rather than setting it.
func adds(f *flag.Flag) bool {
	_, ok := f.Value.(agent.HostsFlag)
	return ok
}

// nearestFlag is the flag of fs whose name is within two edits of name, if
// one is: the setting meant by a typing mistake.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestD && f.Name != "config" {
			best, bestD = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}
