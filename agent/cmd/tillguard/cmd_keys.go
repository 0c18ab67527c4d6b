package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/sync/keys"
)

func cmdKeys(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "rotate") {
		fmt.Fprintln(stderr, "usage: tillguard keys show|rotate [--data-dir DIR]")
		return errUsage
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	dir := fs.String("data-dir", agent.DefaultDataDir, "where the till key lives")
	if err := parse(fs, args[1:], stderr); err != nil {
		return err
	}
	load := keys.LoadOrCreate
	if args[0] == "rotate" {
		load = keys.Rotate
	}
	key, err := load(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, keys.PublicBase64(key.Public().(ed25519.PublicKey)))
	return nil
}
