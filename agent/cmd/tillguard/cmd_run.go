package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/tillguard/tillguard/agent"
)

func cmdRun(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfg := agent.Config{}
	fs.String("config", "", "config file of `name = value` lines (flags win)")
	fs.StringVar(&cfg.DataDir, "data-dir", agent.DefaultDataDir, "ledger, keys and state")
	fs.StringVar(&cfg.CardPort, "card-port", "", "card reader serial port (none: reported missing)")
	fs.StringVar(&cfg.ScannerPort, "scanner-port", "", "barcode scanner serial port (none: reported missing)")
	fs.IntVar(&cfg.Baud, "baud", agent.DefaultBaud, "baud rate of both ports")
	fs.StringVar(&cfg.Broker, "broker", "", "tcp://host:port or ssl://host:port; empty = offline, buffer only")
	fs.StringVar(&cfg.Pharmacy, "pharmacy", "", "fixed-medical-institution code (required)")
	fs.StringVar(&cfg.Till, "till", "", "till id (required)")
	fs.StringVar(&cfg.Region, "region", agent.DefaultRegion, "6-digit region code whose policy applies")
	fs.StringVar(&cfg.Catalog, "catalog", "", "catalogue CSV to seed from")
	fs.StringVar(&cfg.HTTP, "http", agent.DefaultHTTP, "listen address of the dashboard, till screen and API")
	verbose := fs.Bool("v", false, "log debug detail")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Log = newLogger(stderr, level)
	t, err := agent.Open(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tillguard: ready, http://%s/\n", t.Addr())
	return t.Run(ctx)
}
