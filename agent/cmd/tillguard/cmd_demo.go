package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/agent/demo"
)

func cmdDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("http", agent.DefaultHTTP, "listen address of the till's dashboard and API (busy → any free port)")
	dir := fs.String("data-dir", "", "keep the demo's ledgers here (default: a temporary directory, removed on exit)")
	verbose := fs.Bool("v", false, "log what the parts do")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	return demo.Run(ctx, demo.Opts{HTTP: *addr, DataDir: *dir, Out: stdout, In: stdin, Log: newLogger(stderr, level)})
}
