package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent"
)

// settings is what a command's flags and --config file gave, and every
// problem found in them: a command reports them all at once, with its own
// checks' problems, before it starts anything.
type settings struct {
	fs       *flag.FlagSet
	file     string          // the --config file; "" = none
	lines    map[string]int  // setting → the line of file that gave its value
	refused  map[string]bool // settings whose value did not parse: reported already
	problems []string
}

// problemsError is the settings' problems, which stop a command before it
// starts anything; main prints it and exits 2.
type problemsError struct {
	cmd  string
	list []string
}

func (e *problemsError) Error() string {
	var b strings.Builder
	n := "1 problem"
	if len(e.list) != 1 {
		n = fmt.Sprintf("%d problems", len(e.list))
	}
	fmt.Fprintf(&b, "%s: %s in the settings, nothing started:\n", e.cmd, n)
	for _, p := range e.list {
		// A problem of several lines (a catalogue's) stays under its head.
		fmt.Fprintf(&b, "  - %s\n", strings.ReplaceAll(strings.TrimRight(p, "\n"), "\n", "\n      "))
	}
	fmt.Fprintf(&b, "(tillguard %s -h lists the flags)\n", e.cmd)
	return b.String()
}

// parse reads a command's settings (readSettings) for a command with no
// checks of its own: any problem stops it.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	return s.err()
}

// readSettings parses a command's flags, then fills those not given on the
// command line from --config, if the command has one. A bad flag does not
// stop the reading: every problem is kept for s.err. The only error is
// flag.ErrHelp, once the usage is shown.
func readSettings(fs *flag.FlagSet, args []string, stderr io.Writer) (*settings, error) {
	s := &settings{fs: fs, refused: map[string]bool{}}
	if err := s.parseArgs(args); err != nil {
		printUsage(fs, stderr)
		return nil, err
	}
	s.readConfig()
	return s, nil
}

// add keeps a problem of the settings; one with a setting the config file
// gave names the file's line. A setting whose value did not parse has its
// problem already.
func (s *settings) add(p agent.Problem) {
	if s.refused[p.Setting] {
		return
	}
	n, ok := s.lines[p.Setting]
	if !ok || p.Setting == "" {
		s.problems = append(s.problems, p.Error())
		return
	}
	where := fmt.Sprintf("%s line %d: %s", s.file, n, p.Setting)
	if p.Value == "" {
		s.problems = append(s.problems, where+" "+p.Want)
		return
	}
	s.problems = append(s.problems, where+" = "+p.Value+": "+p.Want)
}

// addf keeps a problem said in full.
func (s *settings) addf(format string, args ...any) {
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// err is nil without problems, else every one of them.
func (s *settings) err() error {
	if len(s.problems) == 0 {
		return nil
	}
	return &problemsError{cmd: s.fs.Name(), list: s.problems}
}

// parseArgs parses the command line, going on past each bad flag so that
// every one is reported. The flag package stops at the first bad value,
// so while it parses, every value is wrapped to keep its error and carry
// on (collecting).
func (s *settings) parseArgs(args []string) error {
	fs := s.fs
	fs.SetOutput(io.Discard) // the problems are reported together, in our words
	fs.Usage = func() {}
	restore := collectValues(fs, s)
	defer restore()
	for {
		err := fs.Parse(args)
		if err == nil && fs.NArg() == 0 {
			break
		}
		if err == nil {
			// The flag package stops at a word that is no flag: say so,
			// and read on.
			s.addf("unexpected argument %s: every setting is a flag, e.g. --data-dir DIR", agent.ShowValue(fs.Arg(0)))
			args = fs.Args()[1:]
			continue
		}
		if errors.Is(err, flag.ErrHelp) {
			restore()
			return err
		}
		rest := fs.Args()
		var bad string
		if len(rest) == len(args) { // the flag package did not consume it
			bad, rest = rest[0], rest[1:]
		} else {
			bad = args[len(args)-len(rest)-1]
		}
		s.problems = append(s.problems, argProblem(err, bad))
		// The word after an unknown --name is its value, not an argument.
		if strings.HasPrefix(err.Error(), "flag provided but not defined") && !strings.Contains(bad, "=") &&
			len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			rest = rest[1:]
		}
		args = rest
	}
	return nil
}

// argProblem says in plain words what the flag package found wrong with
// the command-line word bad.
func argProblem(err error, bad string) string {
	name, _, _ := strings.Cut(strings.TrimLeft(bad, "-"), "=")
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined"):
		return fmt.Sprintf("--%s: no such flag", name)
	case strings.HasPrefix(msg, "flag needs an argument"):
		return fmt.Sprintf("--%s needs a value", name)
	case strings.HasPrefix(msg, "bad flag syntax"):
		return fmt.Sprintf("%s: not a flag (flags are --name or --name=value)", agent.ShowValue(bad))
	}
	return msg
}

// collecting wraps a flag's value while the command line is parsed: a bad
// value becomes a problem and the parse goes on.
type collecting struct {
	flag.Value
	f *flag.Flag
	s *settings
}

func (c *collecting) Set(v string) error {
	if err := c.Value.Set(v); err != nil {
		c.s.refused[c.f.Name] = true
		c.s.addf("--%s %s: %s", c.f.Name, agent.ShowValue(v), valueWant(c.f, c.Value, err))
	}
	return nil
}

// collectingBool keeps a boolean flag boolean: --shared, not --shared=true.
type collectingBool struct{ *collecting }

func (collectingBool) IsBoolFlag() bool { return true }

// collectValues wraps every flag of fs (collecting) until restore.
func collectValues(fs *flag.FlagSet, s *settings) (restore func()) {
	inner := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		inner[f] = f.Value
		c := &collecting{Value: f.Value, f: f, s: s}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = collectingBool{c}
		} else {
			f.Value = c
		}
	})
	return func() {
		for f, v := range inner {
			f.Value = v
		}
	}
}

// valueWant says what a flag wants instead of a value its Set refused.
// The flag package's own kinds say only "parse error"; ours say what they
// want already, after the package that refused it.
func valueWant(f *flag.Flag, v flag.Value, err error) string {
	msg := err.Error()
	if msg != "parse error" && msg != "value out of range" {
		for _, pkg := range []string{"scanner: ", "serialport: ", "agent: "} {
			msg = strings.TrimPrefix(msg, pkg)
		}
		return msg
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return msg
	}
	eg := ""
	if f.DefValue != "" && f.DefValue != "0" {
		eg = ", e.g. " + f.DefValue
	}
	switch g.Get().(type) {
	case bool:
		return "want true or false"
	case time.Duration:
		return "want a duration such as 90s, 10m or 2h"
	case int, int64, uint, uint64:
		if msg == "value out of range" {
			return "out of range"
		}
		return "want a whole number" + eg
	case float64:
		return "want a number" + eg
	}
	return msg
}

// readConfig fills the flags not given on the command line from the
// --config file, if the command has one and it is given.
func (s *settings) readConfig() {
	cf := s.fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return
	}
	s.file = cf.Value.String()
	f, err := os.Open(s.file)
	if err != nil {
		s.addf("--config %s: %s", agent.ShowValue(s.file), fileErr(err))
		return
	}
	defer f.Close()
	r := readConfigFile(s.fs, f)
	s.lines = r.lines
	for name := range r.refused {
		s.refused[name] = true
	}
	for _, p := range r.problems {
		s.problems = append(s.problems, s.file+" "+p)
	}
}

// fileErr says why a file did not open, in fewer words than Go's.
func fileErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return strings.ReplaceAll(err.Error(), "no such file or directory", "no such file")
}

// about is the text shown under a command's usage line.
var about = map[string]string{
	"run": "Runs the till daemon. Every setting is checked before anything starts, and every\nproblem is listed at once.",
	"bureau retain": `Keeps N calendar months of records, the current month (UTC) and the N-1
before it, and drops every record of an earlier month from the PostgreSQL
store, with its lines, trace holders and card days. Tills keep their
watermarks, so their chains go on being checked; alarms stay. Run it from
cron, say monthly; try --dry-run first.`,
}

// synopsis is a command's usage line, where the flags alone do not say it.
var synopsis = map[string]string{
	"bureau retain": "tillguard bureau retain --store postgres://… --keep-months N [--dry-run] [--force]",
}

// printUsage writes a command's usage, its flags as they are typed
// (--name VALUE), what each does and its default.
func printUsage(fs *flag.FlagSet, w io.Writer) {
	line := synopsis[fs.Name()]
	if line == "" {
		line = "tillguard " + fs.Name()
		if fs.Lookup("config") != nil {
			line += " [--config FILE]"
		}
		line += " [flags]"
	}
	fmt.Fprintf(w, "usage: %s\n", line)
	if a := about[fs.Name()]; a != "" {
		fmt.Fprintf(w, "\n%s\n", a)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) { printFlag(w, f) })
	if fs.Lookup("config") != nil {
		fmt.Fprintln(w, "\nA --config file holds the same settings as \"name = value\" lines, each name a flag's\nwithout its dashes (data-dir = /var/lib/tillguard); # starts a comment. Flags\ngiven on the command line win over the file.")
	}
}

func printFlag(w io.Writer, f *flag.Flag) {
	arg, usage := flag.UnquoteUsage(f)
	// Without a name in its usage, a flag's argument is named by its Go
	// type: say what is typed instead.
	switch arg {
	case "string", "value":
		arg = "VALUE"
	case "int", "uint":
		arg = "N"
	case "duration":
		arg = "DURATION"
	case "float":
		arg = "NUMBER"
	}
	dashes := "--"
	if len(f.Name) == 1 {
		dashes = "-"
	}
	head := "  " + dashes + f.Name
	if arg != "" {
		head += " " + arg
	}
	fmt.Fprintln(w, head)
	fmt.Fprintf(w, "        %s%s\n", strings.ReplaceAll(usage, "\n", "\n        "), defaultText(f))
}

// defaultText is " (default …)" for a flag whose default says something.
func defaultText(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); isString {
			return fmt.Sprintf(" (default %q)", f.DefValue)
		}
	}
	return " (default " + f.DefValue + ")"
}
