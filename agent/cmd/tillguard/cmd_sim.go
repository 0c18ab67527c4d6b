package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
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
	fmt.Fprintln(stdout, "commands: card [N] | remove | scan CODE | unplug card|scanner | replug card|scanner | quit")
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
			if quit := simCommand(s, strings.Fields(l), stdout); quit {
				return nil
			}
		}
	}
}

func simCommand(s *sim.Sim, f []string, out io.Writer) (quit bool) {
	if len(f) == 0 {
		return false
	}
	var err error
	switch {
	case f[0] == "card":
		holders := sim.DemoHolders()
		n := 1
		if len(f) > 1 {
			n, err = strconv.Atoi(f[1])
		}
		if err != nil || n < 1 || n > len(holders) {
			err = fmt.Errorf("card: want 1–%d", len(holders))
			break
		}
		s.Insert(holders[n-1])
	case f[0] == "remove":
		s.Remove()
	case f[0] == "scan" && len(f) == 2:
		err = s.Scan(f[1])
	case f[0] == "unplug" && len(f) == 2:
		err = s.Unplug(f[1])
	case f[0] == "replug" && len(f) == 2:
		err = s.Replug(f[1])
	case f[0] == "quit" || f[0] == "exit":
		return true
	default:
		err = fmt.Errorf("unknown command %q", strings.Join(f, " "))
	}
	if err != nil {
		fmt.Fprintln(out, err)
	} else {
		fmt.Fprintln(out, "ok")
	}
	return false
}
