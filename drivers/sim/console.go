package sim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownCommand is returned by Do for a command it does not know, so
// a console built on it can add commands of its own.
var ErrUnknownCommand = errors.New("sim: unknown command")

// ConsoleHelp lists the commands Do takes.
const ConsoleHelp = "card [1-3] | remove | scan CODE | noise card|scanner | unplug card|scanner | replug card|scanner"

// Do runs one console command on the simulated devices and says what it
// did: "card N" inserts demo holder N, "remove" pulls the card, "scan CODE"
// sends a line as the scanner would (an AIM id may lead the code), "noise
// DEV" sends 16 random bytes, "unplug DEV" and "replug DEV" pull and
// reconnect a device.
func (s *Sim) Do(args []string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("%w: empty", ErrUnknownCommand)
	}
	one := func() (string, error) {
		if len(args) != 2 {
			return "", fmt.Errorf("sim: %s: want one argument", args[0])
		}
		return args[1], nil
	}
	switch args[0] {
	case "card":
		holders := DemoHolders()
		n := 1
		if len(args) > 1 {
			var err error
			if n, err = strconv.Atoi(args[1]); err != nil || n < 1 || n > len(holders) {
				return "", fmt.Errorf("sim: card: want 1–%d", len(holders))
			}
		}
		s.Insert(holders[n-1])
		return fmt.Sprintf("card %d (%s) inserted", n, holders[n-1].Number), nil
	case "remove":
		s.Remove()
		return "card removed", nil
	case "scan":
		code, err := one()
		if err != nil {
			return "", err
		}
		return "scanned " + code, s.Scan(code)
	case "noise":
		dev, err := one()
		if err != nil {
			return "", err
		}
		b := make([]byte, 16)
		rand.Read(b)
		return "16 noise bytes sent to " + dev, s.Noise(dev, b)
	case "unplug", "replug":
		dev, err := one()
		if err != nil {
			return "", err
		}
		if args[0] == "unplug" {
			return dev + " unplugged", s.Unplug(dev)
		}
		return dev + " replugged", s.Replug(dev)
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownCommand, strings.Join(args, " "))
}
