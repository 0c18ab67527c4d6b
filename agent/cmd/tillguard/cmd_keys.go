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
		fmt.Fprintln(stderr, "usage: tillguard keys show|rotate [--data-dir DIR] [--pharmacy CODE --till ID]")
		return errUsage
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	dir := fs.String("data-dir", agent.DefaultDataDir, "`DIR` where the till key lives")
	pharmacy := fs.String("pharmacy", "", "the till's pharmacy `CODE`, for the enrol command rotate prints")
	till := fs.String("till", "", "the till's `ID`, for the enrol command rotate prints")
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
	pub := keys.PublicBase64(key.Public().(ed25519.PublicKey))
	fmt.Fprintln(stdout, pub)
	if args[0] == "rotate" {
		fmt.Fprint(stderr, afterRotate(pub, *pharmacy, *till))
	}
	return nil
}

// afterRotate is what to do once the till has a new key: the bureau
// checks every record against the one key it holds for the till, and a
// running till signs with the key it started with.
func afterRotate(pub, pharmacy, till string) string {
	if pharmacy == "" {
		pharmacy = "<PHARMACY>"
	}
	if till == "" {
		till = "<TILL>"
	}
	return fmt.Sprintf(`keys rotate: the till has a new signing key (the old one is kept beside it, till.key.<time>).
Next, or the bureau refuses this till's records as bad signatures:
  1. Enrol the new key at the bureau:
       tillguard bureau enroll --store postgres://… --pharmacy %s --till %s --key %s
     (or --enroll DIR instead of --store, then restart the bureau)
  2. Restart the till (systemctl restart tillguard): a running till signs with the key it started with.
The bureau holds one key per till: records signed with the old key that reach it after step 1
are refused. Rotate with the till stopped and its outbox empty (dashboard: outbox 0).
`, pharmacy, till, pub)
}
