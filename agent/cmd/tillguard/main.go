// Command tillguard is the compliance agent of a designated retail
// pharmacy's till, and the reference bureau receiver. The README's
// "Commands" and "Configuration" describe the commands and their flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `tillguard — compliance agent for a designated pharmacy's till

usage:
  tillguard run     [--config FILE] [flags]   the till daemon
  tillguard bureau  [--config FILE] [flags]   the reference bureau receiver
  tillguard bureau  enroll|export|keygen|retain|sign-policy [flags]   enrolment, export, retention, policy bundles
  tillguard sim     [flags]                   simulated card reader and scanner on pseudo-terminals
  tillguard demo    [flags]                   everything on one machine, with a narrated counter scene
  tillguard keys    show|rotate [--data-dir DIR] [--pharmacy CODE --till ID]   the till's signing key; rotate says how to enrol the new one
  tillguard report  [--data-dir DIR] [--from D --to D] [--format html|csv] [--out FILE]   self-inspection report
  tillguard password [--out FILE]              hash the owner's password (read from stdin) for --owner-password
  tillguard version

Run "tillguard COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage means the command line was wrong and the message already shown.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func(context.Context, []string, io.Reader, io.Writer, io.Writer) error{
		"run":      cmdRun,
		"bureau":   cmdBureau,
		"sim":      cmdSim,
		"demo":     cmdDemo,
		"keys":     cmdKeys,
		"report":   cmdReport,
		"password": cmdPassword,
		"version": func(context.Context, []string, io.Reader, io.Writer, io.Writer) error {
			fmt.Fprintln(stdout, "tillguard", version)
			return nil
		},
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "tillguard: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:], stdin, stdout, stderr)
	var pe *problemsError
	switch {
	case errors.As(err, &pe):
		fmt.Fprint(stderr, "tillguard ", pe.Error())
		return 2
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "tillguard:", err)
		return 1
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
