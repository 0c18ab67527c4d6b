package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/report"
	"github.com/tillguard/tillguard/sync/keys"
	"github.com/tillguard/tillguard/sync/ledger"
)

// cmdReport writes the self-inspection report of a period from a stopped
// till's ledger (a running till serves the same at /report).
func cmdReport(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("data-dir", agent.DefaultDataDir, "the till's data dir")
	today := time.Now().Format("2006-01-02")
	from := fs.String("from", today, "first day, YYYY-MM-DD (local time)")
	to := fs.String("to", today, "last day, YYYY-MM-DD, included")
	format := fs.String("format", "html", "html (printable) or csv")
	out := fs.String("out", "", "write to this file (default: stdout)")
	s, err := readSettings(fs, args, stderr)
	if err != nil {
		return err
	}
	if *format != "html" && *format != "csv" {
		s.addf("--format %q: want html or csv", *format)
	}
	p, err := report.ParsePeriod(*from, *to, time.Local)
	if err != nil {
		s.addf("%v", err)
	}
	if err := s.err(); err != nil {
		return err
	}
	path := filepath.Join(*dir, "ledger.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("report: no ledger in %s: %w", *dir, err)
	}
	// Load, not LoadOrCreate: a report must not leave a new signing key
	// beside a ledger whose own has gone missing.
	key, err := keys.Load(*dir)
	if err != nil {
		return fmt.Errorf("report: the till's key: %w", err)
	}
	led, err := ledger.Open(path, key, nil)
	if errors.Is(err, ledger.ErrLocked) {
		return fmt.Errorf("report: the till is running on %s: open /report on its --http address, or stop it first", *dir)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer led.Close()
	rep, err := report.Build(led, p, time.Now())
	if err != nil {
		return err
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	if *format == "csv" {
		err = report.WriteCSV(bw, rep)
	} else {
		err = report.WriteHTML(bw, rep, report.HTMLOpts{})
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "report: %s to %s: %d records, %d attempts stopped or flagged → %s\n", p.FromDate(), p.ToDate(), rep.Records, rep.Attempts, *out)
	}
	return nil
}
