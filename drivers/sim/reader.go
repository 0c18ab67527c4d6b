package sim

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Wire constants of docs/devices.md (card reader), kept apart from the driver's so a
// shared mistake cannot hide in both.
const (
	stx        = 0x02
	etx        = 0x03
	minPayload = 2
	maxPayload = 1024

	firmware = "TGCR-1.2"

	interByteTimeout = 50 * time.Millisecond
)

// aidSSSE is "sx1.sh.社会保障" in GBK.
func aidSSSE() []byte {
	return []byte{0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF}
}

// atr is a plausible answer-to-reset; the host does not interpret it.
func atr() []byte {
	return []byte{0x3B, 0x6C, 0x00, 0x00, 0x54, 0x47, 0x53, 0x49, 0x4D, 0x43, 0x41, 0x52, 0x44, 0x30, 0x30, 0x31}
}

// Status words.
const (
	stOK       = 0x0000
	stNoCard   = 0x1001
	stCardComm = 0x1002
	stUnknown  = 0x10FF
)

// reply builds a reply payload: status, then data.
func reply(st uint16, data ...byte) []byte {
	return append([]byte{byte(st >> 8), byte(st)}, data...)
}

// reader is the card reader's state; Sim.mu guards it.
type reader struct {
	inserted bool
	records  map[uint16]map[byte][]byte // file → record → value
	powered  bool
	pulled   bool   // removed while powered: the next APDU fails with 10 02
	app      bool   // SSSE selected
	ef       uint16 // selected elementary file
	beeps    int
	noise    []byte // sent before the next reply
}

func (r *reader) insert(h Holder) {
	r.inserted, r.records = true, encodeHolder(h)
	r.powered, r.pulled, r.app, r.ef = false, false, false, 0
}

func (r *reader) remove() {
	r.pulled = r.inserted && r.powered
	r.inserted, r.records = false, nil
	r.powered, r.app, r.ef = false, false, 0
}

// answer returns the reply payload for one host payload.
func (r *reader) answer(p []byte) []byte {
	data := p[2:]
	switch cmd := uint16(p[0])<<8 | uint16(p[1]); cmd {
	case 0x0001:
		return reply(stOK, []byte(firmware)...)
	case 0x0010:
		r.beeps++
		return reply(stOK)
	case 0x0011:
		if r.inserted {
			return reply(stOK, 0x01)
		}
		return reply(stOK, 0x00)
	case 0xC030:
		if !r.inserted {
			return reply(stNoCard)
		}
		r.powered, r.app, r.ef = true, false, 0
		return reply(stOK, atr()...)
	case 0xC031:
		switch {
		case r.pulled:
			r.pulled = false
			return reply(stCardComm)
		case !r.inserted:
			return reply(stNoCard)
		case !r.powered:
			return reply(stCardComm)
		}
		return reply(stOK, r.apdu(data)...)
	case 0xC032:
		r.powered, r.app, r.ef = false, false, 0
		return reply(stOK)
	}
	return reply(stUnknown)
}

// Status words of the card (SW1 SW2).
const (
	sw9000 = 0x9000
	sw6A82 = 0x6A82 // file not found
	sw6A83 = 0x6A83 // record not found
	sw6986 = 0x6986 // no current EF
	sw6D00 = 0x6D00 // instruction not supported
	sw6700 = 0x6700 // wrong length
)

// withSW appends the status word to response data.
func withSW(data []byte, sw uint16) []byte {
	return append(data, byte(sw>>8), byte(sw))
}

// apdu answers an ISO 7816-4 command APDU with data and SW1 SW2.
func (r *reader) apdu(a []byte) []byte {
	if len(a) < 4 {
		return withSW(nil, sw6700)
	}
	switch {
	case a[0] == 0x00 && a[1] == 0xA4 && a[2] == 0x04: // SELECT by AID
		if len(a) >= 5 && bytes.Equal(a[5:min(len(a), 5+int(a[4]))], aidSSSE()) {
			r.app, r.ef = true, 0
			return withSW(nil, sw9000)
		}
		return withSW(nil, sw6A82)
	case a[0] == 0x00 && a[1] == 0xA4 && a[2] == 0x02: // SELECT EF
		if len(a) < 7 || a[4] != 2 || !r.app {
			return withSW(nil, sw6A82)
		}
		ef := uint16(a[5])<<8 | uint16(a[6])
		if _, ok := r.records[ef]; !ok {
			return withSW(nil, sw6A82)
		}
		r.ef = ef
		return withSW(nil, sw9000)
	case a[0] == 0x00 && a[1] == 0xB2: // READ RECORD; Le is not checked
		if r.ef == 0 {
			return withSW(nil, sw6986)
		}
		v, ok := r.records[r.ef][a[2]]
		if !ok {
			return withSW(nil, sw6A83)
		}
		return withSW(append([]byte{a[2], byte(len(v))}, v...), sw9000)
	}
	return withSW(nil, sw6D00)
}

// encodeHolder lays out a holder's records as the card stores them.
func encodeHolder(h Holder) map[uint16]map[byte][]byte {
	ef05, ef06 := map[byte][]byte{}, map[byte][]byte{}
	put := func(m map[byte][]byte, rr byte, v []byte) {
		if v != nil {
			m[rr] = v
		}
	}
	if id, err := hex.DecodeString(h.CardID); err == nil && len(id) == 16 {
		ef05[0x01] = id
	}
	put(ef05, 0x03, ascii(h.Version, 4))
	put(ef05, 0x05, bcdDate(h.Issued))
	put(ef05, 0x06, bcdDate(h.Expires))
	put(ef05, 0x07, ascii(h.Number, 9))
	put(ef06, 0x08, ascii(h.SSN, 18))
	if h.Name != "" {
		if g, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(h.Name)); err == nil && len(g) <= 30 {
			ef06[0x09] = append(g, make([]byte, 30-len(g))...) // 0x00 padding
		}
	}
	put(ef06, 0x0A, ascii(h.Sex, 1))
	put(ef06, 0x0D, bcdDate(h.Birth))
	return map[uint16]map[byte][]byte{0xEF05: ef05, 0xEF06: ef06}
}

// ascii pads s with spaces to size; nil if s is empty or too long.
func ascii(s string, size int) []byte {
	if s == "" || len(s) > size {
		return nil
	}
	return []byte(s + strings.Repeat(" ", size-len(s)))
}

// bcdDate packs YYYYMMDD into 4 BCD bytes; nil if s is not a date.
func bcdDate(s string) []byte {
	if _, err := time.Parse("20060102", s); err != nil {
		return nil
	}
	b, err := hex.DecodeString(s) // BCD digits are hex digits
	if err != nil {
		return nil
	}
	return b
}

// frame wraps a payload: STX LEN_H LEN_L payload BCC ETX.
func frame(p []byte) []byte {
	var x byte
	for _, c := range p {
		x ^= c
	}
	out := append([]byte{stx, byte(len(p) >> 8), byte(len(p))}, p...)
	return append(out, x, etx)
}

// nextFrame finds the first valid frame in buf. It returns the payload (nil
// if none yet) and how many bytes of buf are used up.
func nextFrame(buf []byte) (payload []byte, used int) {
	for used < len(buf) {
		i := bytes.IndexByte(buf[used:], stx)
		if i < 0 {
			return nil, len(buf)
		}
		used += i
		b := buf[used:]
		if len(b) < 3 {
			return nil, used
		}
		n := int(b[1])<<8 | int(b[2])
		if n < minPayload || n > maxPayload {
			used++
			continue
		}
		if len(b) < n+5 {
			return nil, used
		}
		var x byte
		for _, c := range b[3 : 3+n] {
			x ^= c
		}
		if b[3+n] != x || b[4+n] != etx {
			used++
			continue
		}
		return b[3 : 3+n], used + n + 5
	}
	return nil, used
}

// serveCard answers host frames on l until the line closes.
func (s *Sim) serveCard(l *line) {
	defer close(l.done)
	var buf []byte
	tmp := make([]byte, 2048)
	for {
		// Like a real reader, give up on a frame that stops half-way: a
		// noise STX must not swallow the next command.
		var deadline time.Time
		if len(buf) > 0 {
			deadline = time.Now().Add(interByteTimeout)
		}
		l.master.SetReadDeadline(deadline)
		n, err := l.master.Read(tmp)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			buf = buf[1:]
		case err != nil:
			return
		}
		buf = append(buf, tmp[:n]...)
		for {
			p, used := nextFrame(buf)
			if p == nil {
				buf = buf[used:]
				break
			}
			p = bytes.Clone(p)
			buf = buf[used:]
			if s.onFrame != nil {
				s.onFrame(p)
			}
			s.mu.Lock()
			out := append(s.reader.noise, frame(s.reader.answer(p))...)
			s.reader.noise = nil
			s.mu.Unlock()
			s.log.Debug("card reader", "cmd", hex.EncodeToString(p[:2]), "reply", hex.EncodeToString(out))
			l.master.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := l.master.Write(out); err != nil {
				return
			}
		}
	}
}
