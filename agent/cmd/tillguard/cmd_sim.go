package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tillguard/tillguard/drivers/sim"
)

func cmdSim(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	links := fs.String("links", "", "directory for stable symlinks card and scanner to the current ptys")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	s, err := sim.Start(&sim.Opts{LinkDir: *links, Log: newLogger(stderr, 0)})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "card reader: %s\nscanner:     %s\n", s.CardPath(), s.ScannerPath())
	fmt.Fprintf(stdout, "commands: %s | quit\n", sim.ConsoleHelp)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				<-ctx.Done() // stdin closed: keep serving until interrupted
				return nil
			}
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			if f[0] == "quit" || f[0] == "exit" {
				return nil
			}
			msg, err := s.Do(f)
			if err != nil {
				fmt.Fprintln(stdout, err)
				continue
			}
			fmt.Fprintln(stdout, msg)
		}
	}
}
