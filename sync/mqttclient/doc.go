// Package mqttclient is tillguard's only door to MQTT: a small client over
// paho.mqtt.golang that reconnects by itself with a capped backoff,
// re-subscribes after every reconnect, fails fast while disconnected and
// never lets a caller wait forever on a token. Its connection (conn.go)
// buffers reads, and queues paho's one-write-per-packet so that a window
// of publishes or PUBACKs leaves in a few system calls.
//
// A PUBACK proves little (docs/field-notes.md): paho reports resent messages as
// delivered and brokers acknowledge before they drop. Callers keep their
// durable state elsewhere and trust only an application acknowledgement.
package mqttclient
