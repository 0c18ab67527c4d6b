package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// applyConfig reads a config file of "name = value" lines, where name is a
// flag of fs without its dashes; '#' starts a comment. Flags given on the
// command line win. Unknown names and bad values are errors, all of them
// reported at once.
func applyConfig(fs *flag.FlagSet, r io.Reader) error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || name == "":
			errs = append(errs, fmt.Errorf("line %d: want name = value", n))
		case name == "config" || fs.Lookup(name) == nil:
			errs = append(errs, fmt.Errorf("line %d: unknown setting %q", n, name))
		case onCommandLine[name]:
		default:
			if err := fs.Set(name, unquote(value)); err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s: %v", n, name, err))
			}
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}
