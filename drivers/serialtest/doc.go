// Package serialtest records and replays serial conversations, so drivers
// are tested against captured wire bytes without hardware (after periph.io's
// conntest).
//
// A conversation is an ordered list of chunks, each from the host or from
// the device. Playback stands in for the port: every host write must be the
// next expected host bytes — anything else fails the test, showing what was
// expected — and the device chunks that follow a host chunk become readable
// once it is written, one chunk at most per Read, like a serial port that
// returns what has arrived. Wrap it in OneByte to prove that framing
// survives fragmented reads. Recorder captures a live conversation (with the
// simulator, or a real reader) in the same form. WaitUnread waits for bytes
// left on a real line (a pty) for its next owner.
package serialtest
