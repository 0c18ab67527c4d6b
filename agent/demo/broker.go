package demo

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startBroker runs an embedded broker on a free loopback port. It is the
// demo's stand-in for the bureau's broker; production uses mosquitto.
func startBroker(log *slog.Logger) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo: broker: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return "", nil, fmt.Errorf("demo: broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return "", nil, fmt.Errorf("demo: broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		return "", nil, fmt.Errorf("demo: broker: %w", err)
	}
	return "tcp://" + addr, func() { srv.Close() }, nil
}
