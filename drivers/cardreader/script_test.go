package cardreader

import (
	"github.com/tillguard/tillguard/drivers/serialtest"
)

// script builds reader conversations from payloads, for serialtest's
// playback. A host command with no reply makes the driver time out.
type script []serialtest.Chunk

// cmd adds a host command and the reader's reply payload (nil: silence).
func (s *script) cmd(host, reply []byte) *script {
	*s = append(*s, serialtest.HostChunk(AppendFrame(nil, host)))
	if reply != nil {
		*s = append(*s, serialtest.DeviceChunk(AppendFrame(nil, reply)))
	}
	return s
}

func (s *script) presence(in bool) *script {
	b := byte(0)
	if in {
		b = 1
	}
	return s.cmd([]byte{0x00, 0x11}, []byte{0x00, 0x00, b})
}

func (s *script) apdu(apdu, resp []byte) *script {
	return s.cmd(append([]byte{0xC0, 0x31}, apdu...), append([]byte{0x00, 0x00}, resp...))
}

// cardContent is a card's content by record; a missing key answers 6A 83.
type cardContent map[byte][]byte

// read adds the reading sequence of docs/devices.md (Reading a card) for content up to
// the power down (a read card is then beeped: add beep()); pullAt, if
// non-zero, is the record whose READ answers reader status 10 02.
func (s *script) read(content cardContent, pullAt byte) *script {
	s.cmd([]byte{0xC0, 0x30}, []byte{0x00, 0x00, 0x3B, 0x00})
	s.apdu(selectSSSE, []byte{0x90, 0x00})
	file := uint16(0)
	for _, r := range cardRecords() {
		if r.file != file {
			file = r.file
			s.apdu([]byte{0x00, 0xA4, 0x02, 0x00, 0x02, byte(file >> 8), byte(file)}, []byte{0x90, 0x00})
		}
		read := []byte{0x00, 0xB2, r.rr, 0x00, byte(r.size + 2)}
		if r.rr == pullAt {
			s.cmd(append([]byte{0xC0, 0x31}, read...), []byte{0x10, 0x02})
			return s.powerDown()
		}
		v, ok := content[r.rr]
		if !ok {
			s.apdu(read, []byte{0x6A, 0x83})
			continue
		}
		s.apdu(read, append(append([]byte{r.rr, byte(len(v))}, v...), 0x90, 0x00))
	}
	return s.powerDown()
}

func (s *script) powerDown() *script { return s.cmd([]byte{0xC0, 0x32}, []byte{0x00, 0x00}) }
func (s *script) beep() *script      { return s.cmd([]byte{0x00, 0x10, 0x0A}, []byte{0x00, 0x00}) }
