package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tillguard/tillguard/agent"
	"github.com/tillguard/tillguard/drivers/sim"
)

// console takes the demo's commands from a terminal: the simulator's,
// plus the cashier's.
type console struct {
	out   io.Writer
	till  *agent.Till
	sim   *sim.Sim
	scene *scene
	quit  func()
}

func (c *console) help() {
	fmt.Fprintf(c.out, "Console: %s | pay [insurance|cash|split] | void | show | status | quit\n", sim.ConsoleHelp)
}

func (c *console) run(ctx context.Context, in io.Reader) {
	if in == nil {
		return
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() && ctx.Err() == nil {
		c.do(ctx, strings.Fields(sc.Text()))
	}
}

func (c *console) do(ctx context.Context, f []string) {
	if len(f) == 0 {
		return
	}
	sess := c.till.Session()
	switch f[0] {
	case "scan":
		if len(f) != 2 {
			fmt.Fprintln(c.out, "scan: want one code, e.g. scan 6901234567892")
			return
		}
		if err := c.scene.scan(ctx, f[1]); err != nil {
			fmt.Fprintln(c.out, "scan:", err)
		}
	case "pay":
		method := "insurance"
		if len(f) > 1 {
			method = f[1]
		}
		rc, err := sess.Checkout(method, "demo")
		if err != nil {
			fmt.Fprintln(c.out, "pay:", err)
			return
		}
		fmt.Fprintf(c.out, "sale committed: seq %d id %s\n", rc.Seq, rc.ID)
	case "void":
		sess.Void()
		fmt.Fprintln(c.out, "session voided")
	case "show":
		c.json(sess.View())
	case "status":
		c.json(c.till.Status())
	case "quit", "exit":
		c.quit()
	default:
		msg, err := c.sim.Do(f)
		switch {
		case errors.Is(err, sim.ErrUnknownCommand):
			c.help()
		case err != nil:
			fmt.Fprintln(c.out, err)
		default:
			fmt.Fprintln(c.out, msg)
		}
	}
}

func (c *console) json(v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(c.out, string(b))
}

// settle is how long the console waits for a device to be heard.
const settle = 2 * time.Second
