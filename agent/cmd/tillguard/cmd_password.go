package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tillguard/tillguard/internal/password"
)

// cmdPassword reads the owner's password from stdin (one line) and writes
// its bcrypt hash for `tillguard run --owner-password FILE`.
func cmdPassword(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("password", flag.ContinueOnError)
	out := fs.String("out", "", "write the hash to this file, mode 0600 (default: stdout)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("password: %w", err)
	}
	h, err := password.Hash(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stdout, string(h))
		return nil
	}
	if err := os.WriteFile(*out, append(h, '\n'), 0o600); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	return nil
}
