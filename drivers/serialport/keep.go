package serialport

import (
	"context"
	"time"
)

// State is what Keep reports about its port.
type State string

// States reported by Keep.
const (
	StateConnected    State = "connected"
	StateDisconnected State = "disconnected"
	StateMissing      State = "missing" // no path configured
)

// Backoff bounds between reopen attempts.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = time.Second
)

// Keep opens cfg.Path, runs use(ctx, port) until it returns, closes the
// port, and reopens with capped exponential backoff (100 ms doubling to 1 s)
// while ctx lives, reporting each state change through onState (may be nil;
// err says why on disconnect). With cfg.Path == "" it reports StateMissing
// once and waits for ctx. Returns when ctx is done, after closing the port.
// A use func that returns nil is also treated as a disconnect (reopen,
// reason ErrUseReturned), unless ctx is done.
//
// Every open resolves cfg.Path afresh: a usb:VID:PID adapter that comes
// back as ttyUSB1 instead of ttyUSB0 is found again, and a missing one
// (ErrNoDevice) is a disconnect retried like any other.
//
// When ctx ends, Keep closes the port, which makes a Read blocked in use
// return an error; the end itself is not reported as a state change.
func Keep(ctx context.Context, cfg Config, use func(ctx context.Context, p Port) error, onState func(State, error)) {
	var last State
	report := func(s State, err error) {
		if s == last || onState == nil {
			last = s
			return
		}
		last = s
		onState(s, err)
	}
	if cfg.Path == "" {
		report(StateMissing, nil)
		<-ctx.Done()
		return
	}

	backoff := minBackoff
	for ctx.Err() == nil {
		p, err := Open(cfg)
		if err == nil {
			report(StateConnected, nil)
			start := time.Now()
			err = run(ctx, p, use)
			if ctx.Err() != nil {
				return
			}
			// A port that stayed up a while earns a fresh backoff; one that
			// flaps keeps doubling, so a broken device is not hammered.
			if time.Since(start) >= maxBackoff {
				backoff = minBackoff
			}
		}
		report(StateDisconnected, err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// run calls use and always closes p; cancelling ctx closes p at once so a
// use blocked in Read sees an error.
func run(ctx context.Context, p Port, use func(context.Context, Port) error) error {
	stop := context.AfterFunc(ctx, func() { p.Close() })
	err := use(ctx, p)
	stop()
	p.Close()
	if err == nil {
		err = ErrUseReturned
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
