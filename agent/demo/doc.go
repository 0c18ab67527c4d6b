// Package demo runs everything on one machine with nothing installed: an
// embedded MQTT broker (mochi-mqtt), the reference bureau, simulated
// devices on pseudo-terminals and a till reading them through the real
// serial drivers. It plays a short narrated counter scene, then stays up
// with a console for more.
package demo
