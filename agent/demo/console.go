package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/drivers/sim"
)

// console takes the demo's commands from a terminal.
type console struct {
	out  io.Writer
	till *agent.Till
	sim  *sim.Sim
	quit func()
}

func (c *console) help() {
	fmt.Fprintln(c.out, "Console: card [1-3] | remove | scan CODE | pay [insurance|cash|split] | void | show | status | quit")
}

func (c *console) run(ctx context.Context, in io.Reader) {
	if in == nil {
		return
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		c.do(strings.Fields(sc.Text()))
	}
}

func (c *console) do(f []string) {
	if len(f) == 0 {
		return
	}
	arg := func(def string) string {
		if len(f) > 1 {
			return f[1]
		}
		return def
	}
	switch f[0] {
	case "card":
		holders := sim.DemoHolders()
		n, err := strconv.Atoi(arg("1"))
		if err != nil || n < 1 || n > len(holders) {
			fmt.Fprintf(c.out, "card: want 1–%d\n", len(holders))
			return
		}
		c.sim.Insert(holders[n-1])
		fmt.Fprintf(c.out, "card %d inserted\n", n)
	case "remove":
		c.sim.Remove()
		fmt.Fprintln(c.out, "card removed")
	case "scan":
		if len(f) != 2 {
			fmt.Fprintln(c.out, "scan: want one code, e.g. scan 6901234567892")
			return
		}
		if err := c.sim.Scan(f[1]); err != nil {
			fmt.Fprintln(c.out, "scan:", err)
		}
	case "pay":
		rc, err := c.till.Session().Checkout(arg("insurance"), "demo")
		if err != nil {
			fmt.Fprintln(c.out, "pay:", err)
			return
		}
		fmt.Fprintf(c.out, "sale committed: seq %d id %s\n", rc.Seq, rc.ID)
	case "void":
		c.till.Session().Void()
		fmt.Fprintln(c.out, "session voided")
	case "show":
		c.json(c.till.Session().View())
	case "status":
		c.json(c.till.Status())
	case "quit", "exit":
		c.quit()
	default:
		c.help()
	}
}

func (c *console) json(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(c.out, string(b))
}
