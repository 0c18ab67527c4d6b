package mqttclient

import "errors"

var (
	// ErrNotConnected is returned by a publish made while the connection is
	// down; the caller keeps the message and sends it again later.
	ErrNotConnected = errors.New("mqttclient: not connected")
	// ErrTimeout is returned by Token.Wait when the broker has not answered
	// in time; the outcome is unknown.
	ErrTimeout = errors.New("mqttclient: timed out")
	// ErrBadBroker reports a broker address that can never work.
	ErrBadBroker = errors.New("mqttclient: bad broker address")
	// ErrRefused reports a subscription the broker refused.
	ErrRefused = errors.New("mqttclient: refused by broker")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("mqttclient: closed")
)
