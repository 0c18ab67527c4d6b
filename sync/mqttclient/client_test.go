package mqttclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tillguard/tillguard/internal/brokertest"
)

const wait = 10 * time.Second

func connect(t *testing.T, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := Connect(ctx, o)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// until polls cond until it holds or the deadline passes.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recv(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(wait):
		t.Fatal("no message")
		return Message{}
	}
}

func TestClient_publishSubscribe(t *testing.T) {
	b := brokertest.Start(t)
	sub := connect(t, Options{Broker: b.URL(), ClientID: "sub", CleanSession: true})
	pub := connect(t, Options{Broker: b.URL(), ClientID: "pub", CleanSession: true})
	got := make(chan Message, 10)
	if err := sub.Subscribe("a/+", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(Message{Topic: "a/b", Payload: []byte("hello"), QoS: 1}).Wait(wait); err != nil {
		t.Fatalf("publish: %v", err)
	}
	m := recv(t, got)
	if m.Topic != "a/b" || string(m.Payload) != "hello" || m.QoS != 1 || m.Retained {
		t.Fatalf("got %+v", m)
	}
	if !pub.Connected() {
		t.Fatal("Connected() = false on a live connection")
	}
}

func TestClient_resubscribesAfterBrokerRestart(t *testing.T) {
	b := brokertest.Start(t)
	connects := make(chan struct{}, 10)
	lost := make(chan error, 10)
	sub := connect(t, Options{Broker: b.URL(), ClientID: "sub", CleanSession: true,
		OnConnect: func() { connects <- struct{}{} }, OnLost: func(err error) { lost <- err }})
	got := make(chan Message, 10)
	if err := sub.Subscribe("x", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	<-connects // the first connection
	b.Restart()
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("OnLost not called")
	}
	select {
	case <-connects:
	case <-time.After(wait):
		t.Fatal("no reconnect")
	}
	pub := connect(t, Options{Broker: b.URL(), ClientID: "pub", CleanSession: true})
	if err := pub.Publish(Message{Topic: "x", Payload: []byte("after"), QoS: 1}).Wait(wait); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got); string(m.Payload) != "after" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestClient_publishWhileDownFailsFast(t *testing.T) {
	b := brokertest.Start(t)
	c := connect(t, Options{Broker: b.URL(), ClientID: "c", CleanSession: true})
	b.Stop()
	until(t, "disconnect noticed", func() bool { return !c.Connected() })
	start := time.Now()
	err := c.Publish(Message{Topic: "x", Payload: []byte("y"), QoS: 1}).Wait(wait)
	if !errors.Is(err, ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("publish while down took %v", d)
	}
	if err := c.Subscribe("later", 1, func(Message) {}); err != nil {
		t.Fatalf("subscribe while down: %v (want it recorded for the reconnect)", err)
	}
}

func TestClient_willOnDeadConnection(t *testing.T) {
	b := brokertest.Start(t)
	p := brokertest.NewProxy(t, b.Addr())
	watcher := connect(t, Options{Broker: b.URL(), ClientID: "watcher", CleanSession: true})
	got := make(chan Message, 10)
	if err := watcher.Subscribe("will/#", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	connect(t, Options{Broker: p.URL(), ClientID: "dying", CleanSession: true,
		Will: &Message{Topic: "will/dying", Payload: []byte("offline"), QoS: 1, Retained: true}})
	p.Cut(true)
	m := recv(t, got)
	if m.Topic != "will/dying" || string(m.Payload) != "offline" {
		t.Fatalf("got %+v", m)
	}
}

func TestClient_closeIsClean(t *testing.T) {
	b := brokertest.Start(t)
	c := connect(t, Options{Broker: b.URL(), ClientID: "c", CleanSession: true})
	c.Close()
	c.Close()
	if c.Connected() {
		t.Fatal("Connected() after Close")
	}
	if err := c.Publish(Message{Topic: "x", QoS: 1}).Wait(time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestConnect_badBroker(t *testing.T) {
	for _, broker := range []string{"", "http://x:1", "tcp://", "::bad"} {
		t.Run(fmt.Sprintf("%q", broker), func(t *testing.T) {
			_, err := Connect(context.Background(), Options{Broker: broker})
			if !errors.Is(err, ErrBadBroker) {
				t.Fatalf("err = %v, want ErrBadBroker", err)
			}
		})
	}
}

func TestConnect_givesUpWhenContextEnds(t *testing.T) {
	b := brokertest.Start(t)
	b.Stop() // nothing listens on the port now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Connect(ctx, Options{Broker: b.URL(), ClientID: "c"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestConnect_waitsForBroker(t *testing.T) {
	b := brokertest.Start(t)
	b.Stop()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := Connect(ctx, Options{Broker: b.URL(), ClientID: "c", MaxBackoff: 200 * time.Millisecond})
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	b.Restart()
	if err := <-done; err != nil {
		t.Fatalf("Connect did not wait for the broker: %v", err)
	}
}
