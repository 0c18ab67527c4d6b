package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Device names for Noise, Unplug and Replug.
const (
	DevCard    = "card"
	DevScanner = "scanner"
)

// writeTimeout bounds a write to a master whose slave nobody reads.
const writeTimeout = 2 * time.Second

// Holder is the content of a simulated social-security card. An empty field
// is a record the card lacks.
type Holder struct {
	CardID  string // 32 hex characters; the first 6 are the issuing region
	Version string // e.g. "3.00"
	Issued  string // YYYYMMDD
	Expires string // YYYYMMDD
	Number  string // card number, 9 characters
	SSN     string // social-security number, 18 characters
	Name    string // UTF-8; GBK on the card
	Sex     string // "1", "2" or "9"
	Birth   string // YYYYMMDD
}

// DemoHolders returns three fictional card holders of region 330100. Their
// numbers are fake: sequence 000 is never issued.
func DemoHolders() []Holder {
	return []Holder{
		{
			CardID: "330100D15600000500000000A0000001", Version: "3.00",
			Issued: "20210315", Expires: "20310315", Number: "A00000001",
			SSN: "330100198503150001", Name: "王小明", Sex: "1", Birth: "19850315",
		},
		{
			CardID: "330100D15600000500000000A0000002", Version: "3.00",
			Issued: "20200601", Expires: "20300601", Number: "A00000002",
			SSN: "330100199211020002", Name: "李小红", Sex: "2", Birth: "19921102",
		},
		{
			CardID: "330100D15600000500000000A0000003", Version: "2.00",
			Issued: "20160110", Expires: "20260110", Number: "A00000003",
			SSN: "33010019470720000X", Name: "张老三", Sex: "1", Birth: "19470720",
		},
	}
}

// Opts configures a Sim; nil means defaults.
type Opts struct {
	// LinkDir, if set, holds stable symlinks LinkDir/card and
	// LinkDir/scanner to the current pty slaves, like /dev/serial/by-id.
	LinkDir string
	// Terminator ends each scanned line; "" → "\r".
	Terminator string
	// OnFrame, if set, sees each valid host frame's payload before the
	// reader answers it (called without locks held): tests use it to pull
	// a card at an exact point of a read.
	OnFrame func(payload []byte)
	Log     *slog.Logger // nil → discard
}

// Sim is a running pair of simulated devices. It is safe for concurrent use.
type Sim struct {
	linkDir string
	term    string
	onFrame func([]byte)
	log     *slog.Logger

	mu     sync.Mutex
	closed bool
	lines  map[string]*line  // plugged devices
	paths  map[string]string // last slave path per device
	reader reader
}

// Start creates both devices.
func Start(opts *Opts) (*Sim, error) {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Terminator == "" {
		o.Terminator = "\r"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LinkDir != "" {
		if err := os.MkdirAll(o.LinkDir, 0o755); err != nil {
			return nil, fmt.Errorf("sim: link dir: %w", err)
		}
	}
	s := &Sim{
		linkDir: o.LinkDir, term: o.Terminator, onFrame: o.OnFrame, log: o.Log,
		lines: make(map[string]*line), paths: make(map[string]string),
	}
	for _, dev := range []string{DevCard, DevScanner} {
		if err := s.Replug(dev); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// CardPath is the path a card reader driver opens: the symlink when LinkDir
// is set, else the current pty slave.
func (s *Sim) CardPath() string { return s.path(DevCard) }

// ScannerPath is the path a scanner driver opens.
func (s *Sim) ScannerPath() string { return s.path(DevScanner) }

func (s *Sim) path(dev string) string {
	if s.linkDir != "" {
		return filepath.Join(s.linkDir, dev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paths[dev]
}

// Insert puts a card into the reader, replacing any card there without a
// removal the host could see: call Remove first for a new card.
func (s *Sim) Insert(h Holder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reader.insert(h)
	s.log.Debug("card inserted", "region", h.CardID[:min(6, len(h.CardID))])
}

// Remove takes the card out. Pulled while powered, the card's next APDU
// answers status 10 02, as a real reader does mid-read.
func (s *Sim) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reader.remove()
	s.log.Debug("card removed")
}

// Beeps returns how many beep commands the reader received.
func (s *Sim) Beeps() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reader.beeps
}

// Scan sends data as one scanned line: data (with its AIM identifier, if
// any, e.g. "]E06901234567892") and the terminator.
func (s *Sim) Scan(data string) error {
	return s.write(DevScanner, []byte(data+s.term))
}

// Noise injects raw bytes. On the scanner they go out at once; the reader
// never speaks unsolicited, so on the card line they precede its next reply.
func (s *Sim) Noise(dev string, b []byte) error {
	switch dev {
	case DevScanner:
		return s.write(dev, b)
	case DevCard:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return ErrClosed
		}
		s.reader.noise = append(s.reader.noise, b...)
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownDevice, dev)
}

func (s *Sim) write(dev string, b []byte) error {
	s.mu.Lock()
	l, err := s.plugged(dev)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	l.master.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := l.master.Write(b); err != nil {
		return fmt.Errorf("sim: write %s: %w", dev, err)
	}
	return nil
}

// plugged returns dev's line; s.mu must be held.
func (s *Sim) plugged(dev string) (*line, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if dev != DevCard && dev != DevScanner {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDevice, dev)
	}
	l := s.lines[dev]
	if l == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnplugged, dev)
	}
	return l, nil
}

// Unplug closes dev's pty master, which the driver sees as an unplug, and
// removes its symlink, as udev removes a by-id link.
func (s *Sim) Unplug(dev string) error {
	s.mu.Lock()
	l, err := s.plugged(dev)
	if err == nil {
		delete(s.lines, dev)
		if s.linkDir != "" {
			os.Remove(filepath.Join(s.linkDir, dev))
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	l.close()
	s.log.Debug("device unplugged", "dev", dev)
	return nil
}

// Replug plugs dev in on a new pty (unplugging it first if needed) and
// points its symlink at the new slave.
func (s *Sim) Replug(dev string) error {
	if err := s.Unplug(dev); err != nil && !errors.Is(err, ErrUnplugged) {
		return err
	}
	l, err := openLine()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.lines[dev] != nil {
		// Closed, or a concurrent Replug won.
		close(l.done)
		l.close()
		if s.closed {
			return ErrClosed
		}
		return nil
	}
	if s.linkDir != "" {
		if err := relink(l.path(), filepath.Join(s.linkDir, dev)); err != nil {
			close(l.done)
			l.close()
			return err
		}
	}
	s.lines[dev] = l
	s.paths[dev] = l.path()
	if dev == DevCard {
		go s.serveCard(l)
	} else {
		go drain(l)
	}
	s.log.Debug("device plugged", "dev", dev, "path", l.path())
	return nil
}

// drain swallows what a scanner driver might write, so its writes never
// block on a full pty.
func drain(l *line) {
	defer close(l.done)
	buf := make([]byte, 256)
	for {
		if _, err := l.master.Read(buf); err != nil {
			return
		}
	}
}

// Close unplugs both devices and removes the symlinks.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	lines := s.lines
	s.lines = nil
	s.mu.Unlock()
	for dev, l := range lines {
		if s.linkDir != "" {
			os.Remove(filepath.Join(s.linkDir, dev))
		}
		l.close()
	}
	return nil
}
