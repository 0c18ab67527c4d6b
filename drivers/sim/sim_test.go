package sim

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tillguard/tillguard/drivers/serialport"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func startSim(t *testing.T, opts *Opts) *Sim {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPort(t *testing.T, path string) serialport.Port {
	t.Helper()
	p, err := serialport.Open(serialport.Config{Path: path, ReadTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// host talks to the simulated reader frame by frame.
type host struct {
	t   *testing.T
	p   serialport.Port
	buf []byte
}

// ask sends a payload and returns the reply payload.
func (h *host) ask(payload ...byte) []byte {
	h.t.Helper()
	if _, err := h.p.Write(frame(payload)); err != nil {
		h.t.Fatal(err)
	}
	return h.reply()
}

func (h *host) reply() []byte {
	h.t.Helper()
	tmp := make([]byte, 512)
	deadline := time.Now().Add(500 * time.Millisecond) // the protocol's bound
	for time.Now().Before(deadline) {
		if p, used := nextFrame(h.buf); p != nil {
			p = bytes.Clone(p)
			h.buf = h.buf[used:]
			return p
		}
		n, err := h.p.Read(tmp)
		if err != nil {
			h.t.Fatal(err)
		}
		h.buf = append(h.buf, tmp[:n]...)
	}
	h.t.Fatalf("no reply within 500 ms; have % X", h.buf)
	return nil
}

func hexb(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestSim_cardReaderSession(t *testing.T) {
	s := startSim(t, nil)
	h := &host{t: t, p: openPort(t, s.CardPath())}
	holder := DemoHolders()[0]
	name, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(holder.Name))
	name = append(name, make([]byte, 30-len(name))...)

	steps := []struct {
		name   string
		before func()
		send   []byte
		want   []byte
	}{
		{"version", nil, hexb("0001"), append(hexb("0000"), "TGCR-1.2"...)},
		{"presence empty", nil, hexb("0011"), hexb("0000 00")},
		{"reset without card", nil, hexb("C030"), hexb("1001")},
		{"apdu without card", nil, hexb("C031 00A4040000"), hexb("1001")},
		{"presence card", func() { s.Insert(holder) }, hexb("0011"), hexb("0000 01")},
		{"apdu before reset", nil, hexb("C031 00B2010012"), hexb("1002")},
		{"reset", nil, hexb("C030"), append(hexb("0000"), atr()...)},
		{"read before select", nil, hexb("C031 00B2010012"), hexb("0000 6986")},
		{"select other app", nil, hexb("C031 00A4040003 414243"), hexb("0000 6A82")},
		{"select EF05 before app", nil, hexb("C031 00A4020002 EF05"), hexb("0000 6A82")},
		{"select SSSE", nil, hexb("C031 00A404000F 7378312E73682EC9E7BBE1B1A3D5CF"), hexb("0000 9000")},
		{"select EF05", nil, hexb("C031 00A4020002 EF05"), hexb("0000 9000")},
		{"record 01", nil, hexb("C031 00B2010012"), hexb("0000 0110 330100D15600000500000000A0000001 9000")},
		{"record 03", nil, hexb("C031 00B2030006"), append(append(hexb("0000 0304"), "3.00"...), hexb("9000")...)},
		{"record 06", nil, hexb("C031 00B206000600"), hexb("0000 0604 20310315 9000")},
		{"record 07", nil, hexb("C031 00B207000B"), append(append(hexb("0000 0709"), "A00000001"...), hexb("9000")...)},
		{"record 08 not in EF05", nil, hexb("C031 00B2080014"), hexb("0000 6A83")},
		{"select EF06", nil, hexb("C031 00A4020002 EF06"), hexb("0000 9000")},
		{"record 09", nil, hexb("C031 00B2090020"), append(append(hexb("0000 091E"), name...), hexb("9000")...)},
		{"record 0A", nil, hexb("C031 00B20A0003"), hexb("0000 0A01 31 9000")},
		{"record 0D", nil, hexb("C031 00B20D0006"), hexb("0000 0D04 19850315 9000")},
		{"unknown APDU", nil, hexb("C031 00CA000000"), hexb("0000 6D00")},
		{"power down", nil, hexb("C032"), hexb("0000")},
		{"apdu after power down", nil, hexb("C031 00B2010012"), hexb("1002")},
		{"beep", nil, hexb("0010 0A"), hexb("0000")},
		{"unknown command", nil, hexb("0099"), hexb("10FF")},
		{"presence after removal", func() { s.Remove() }, hexb("0011"), hexb("0000 00")},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		if got := h.ask(st.send...); !bytes.Equal(got, st.want) {
			t.Errorf("%s: reply % X, want % X", st.name, got, st.want)
		}
	}
	if s.Beeps() != 1 {
		t.Errorf("Beeps() = %d, want 1", s.Beeps())
	}
}

func TestSim_pullWhilePowered(t *testing.T) {
	s := startSim(t, nil)
	h := &host{t: t, p: openPort(t, s.CardPath())}
	s.Insert(DemoHolders()[1])
	h.ask(0xC0, 0x30)
	s.Remove()
	for i, want := range [][]byte{hexb("1002"), hexb("1001")} {
		if got := h.ask(hexb("C031 00B2010012")...); !bytes.Equal(got, want) {
			t.Errorf("APDU %d after the pull: % X, want % X", i, got, want)
		}
	}
}

func TestSim_missingRecords(t *testing.T) {
	s := startSim(t, nil)
	h := &host{t: t, p: openPort(t, s.CardPath())}
	holder := DemoHolders()[2]
	holder.Version, holder.Expires = "", "20261399" // empty and not a date: both missing
	s.Insert(holder)
	h.ask(0xC0, 0x30)
	h.ask(hexb("C031 00A404000F 7378312E73682EC9E7BBE1B1A3D5CF")...)
	h.ask(hexb("C031 00A4020002 EF05")...)
	for _, rr := range []byte{0x03, 0x06} {
		if got := h.ask(0xC0, 0x31, 0x00, 0xB2, rr, 0x00, 0x06); !bytes.Equal(got, hexb("0000 6A83")) {
			t.Errorf("record %02X: % X, want 6A 83", rr, got)
		}
	}
}

func TestSim_noiseBeforeReply(t *testing.T) {
	s := startSim(t, nil)
	h := &host{t: t, p: openPort(t, s.CardPath())}
	if err := s.Noise(DevCard, []byte{0xAA, 0x02, 0x55}); err != nil {
		t.Fatal(err)
	}
	h.ask(0x00, 0x11)
	// The noise came first, then the reply; nothing after it.
	if _, err := h.p.Write(frame([]byte{0x00, 0x11})); err != nil {
		t.Fatal(err)
	}
	var got []byte
	tmp := make([]byte, 64)
	for deadline := time.Now().Add(time.Second); len(got) < 8 && time.Now().Before(deadline); {
		n, err := h.p.Read(tmp)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tmp[:n]...)
	}
	if want := frame([]byte{0x00, 0x00, 0x00}); !bytes.Equal(got, want) {
		t.Errorf("second reply % X, want % X (noise is one-shot)", got, want)
	}
}

func TestSim_ignoresBadFrames(t *testing.T) {
	s := startSim(t, nil)
	h := &host{t: t, p: openPort(t, s.CardPath())}
	bad := frame([]byte{0x00, 0x11})
	bad[len(bad)-2] ^= 0xFF // wrong BCC: no answer
	if _, err := h.p.Write(append(bad, 0x02, 0x04, 0x01)); err != nil {
		t.Fatal(err)
	}
	if got := h.ask(0x00, 0x01); !bytes.HasPrefix(got, hexb("0000")) {
		t.Errorf("reply % X", got)
	}
	if len(h.buf) != 0 {
		t.Errorf("extra bytes % X: the reader answered a bad frame", h.buf)
	}
}

func TestSim_scan(t *testing.T) {
	tests := []struct {
		name, term, want string
	}{
		{"default CR", "", "]E06901234567892\r"},
		{"CR LF", "\r\n", "]E06901234567892\r\n"},
		{"LF", "\n", "]E06901234567892\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, &Opts{Terminator: tt.term})
			// Scanned before the driver opens the port: gone, as the
			// port's input is flushed at open (a scan nobody heard must
			// not land in a later sale).
			if err := s.Scan("]E09999999999994"); err != nil {
				t.Fatal(err)
			}
			p := openPort(t, s.ScannerPath())
			// Raw mode keeps the bytes as they are.
			for _, code := range []string{"]E06901234567892", "]C1\x1d01"} {
				if err := s.Scan(code); err != nil {
					t.Fatal(err)
				}
			}
			want := tt.want + "]C1\x1d01" + tt.want[len("]E06901234567892"):]
			got := readN(t, p, len(want))
			if string(got) != want {
				t.Errorf("read %q, want %q", got, want)
			}
		})
	}
}

func TestSim_scannerNoise(t *testing.T) {
	s := startSim(t, nil)
	p := openPort(t, s.ScannerPath())
	if err := s.Noise(DevScanner, []byte{0x00, 0xFF, '\r'}); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p, 3); !bytes.Equal(got, []byte{0x00, 0xFF, '\r'}) {
		t.Errorf("read % X", got)
	}
}

func TestSim_unplugReplug(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "by-id")
	s := startSim(t, &Opts{LinkDir: dir})
	if s.CardPath() != filepath.Join(dir, "card") || s.ScannerPath() != filepath.Join(dir, "scanner") {
		t.Fatalf("paths %s %s", s.CardPath(), s.ScannerPath())
	}
	if _, err := os.Readlink(s.ScannerPath()); err != nil {
		t.Fatal(err)
	}
	p := openPort(t, s.ScannerPath())
	if err := s.Unplug(DevScanner); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(make([]byte, 8)); err == nil {
		t.Error("read on an unplugged port succeeded")
	}
	if _, err := os.Lstat(s.ScannerPath()); !os.IsNotExist(err) {
		t.Errorf("symlink still there after unplug: %v", err)
	}
	if err := s.Scan("x"); !errors.Is(err, ErrUnplugged) {
		t.Errorf("Scan while unplugged: %v", err)
	}
	if err := s.Unplug(DevScanner); !errors.Is(err, ErrUnplugged) {
		t.Errorf("second Unplug: %v", err)
	}
	if err := s.Replug(DevScanner); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Readlink(s.ScannerPath()); err != nil {
		t.Fatalf("no symlink after replug: %v", err)
	}
	p2 := openPort(t, s.ScannerPath())
	if err := s.Scan("]E06901234567892"); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, p2, 17); string(got) != "]E06901234567892\r" {
		t.Errorf("after replug read %q", got)
	}
	// Replug of a plugged device swaps the pty too.
	if err := s.Replug(DevCard); err != nil {
		t.Fatal(err)
	}
	h := &host{t: t, p: openPort(t, s.CardPath())}
	if got := h.ask(0x00, 0x11); !bytes.Equal(got, hexb("000000")) {
		t.Errorf("card reader after replug: % X", got)
	}
}

func TestSim_pathsWithoutLinkDir(t *testing.T) {
	s := startSim(t, nil)
	for _, p := range []string{s.CardPath(), s.ScannerPath()} {
		if !strings.HasPrefix(p, "/dev/pts/") {
			t.Errorf("path %q is not a pty slave", p)
		}
	}
	if s.CardPath() == s.ScannerPath() {
		t.Error("both devices on one pty")
	}
}

func TestSim_unknownDevice(t *testing.T) {
	s := startSim(t, nil)
	for name, err := range map[string]error{
		"Noise":  s.Noise("printer", []byte{1}),
		"Unplug": s.Unplug("printer"),
		"Replug": s.Replug("printer"),
	} {
		if !errors.Is(err, ErrUnknownDevice) {
			t.Errorf("%s: %v, want ErrUnknownDevice", name, err)
		}
	}
}

func TestSim_closeLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	s, err := Start(&Opts{LinkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	p, err := serialport.Open(serialport.Config{Path: s.CardPath()})
	if err != nil {
		t.Fatal(err)
	}
	s.Insert(DemoHolders()[0])
	if err := s.Unplug(DevCard); err != nil {
		t.Fatal(err)
	}
	if err := s.Replug(DevCard); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	p.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in LinkDir: %v", entries)
	}
	if err := s.Scan("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close: %v", err)
	}
	if err := s.Replug(DevCard); !errors.Is(err, ErrClosed) {
		t.Errorf("Replug after Close: %v", err)
	}
	waitGoroutines(t, before)
}

func TestDemoHolders_wellFormed(t *testing.T) {
	hs := DemoHolders()
	if len(hs) != 3 {
		t.Fatalf("%d holders", len(hs))
	}
	id := regexp.MustCompile(`^330100[0-9A-F]{26}$`)
	for _, h := range hs {
		recs := encodeHolder(h)
		if !id.MatchString(h.CardID) || len(h.Number) != 9 || len(h.SSN) != 18 || !strings.Contains(h.SSN[14:17], "000") {
			t.Errorf("holder %+v", h)
		}
		for _, rr := range []byte{0x01, 0x03, 0x05, 0x06, 0x07} {
			if _, ok := recs[0xEF05][rr]; !ok {
				t.Errorf("%s lacks record %02X", h.Name, rr)
			}
		}
		for _, rr := range []byte{0x08, 0x09, 0x0A, 0x0D} {
			if _, ok := recs[0xEF06][rr]; !ok {
				t.Errorf("%s lacks record %02X", h.Name, rr)
			}
		}
	}
}

func readN(t *testing.T, p serialport.Port, n int) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 256)
	for deadline := time.Now().Add(2 * time.Second); len(got) < n && time.Now().Before(deadline); {
		k, err := p.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
	}
	return got
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want ≤ %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
