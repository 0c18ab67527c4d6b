package sim

import (
	"errors"
	"strings"
	"testing"
)

func TestSim_Do(t *testing.T) {
	s, err := Start(&Opts{LinkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tests := []struct {
		cmd  string
		want string // in the reply, or the error
		err  bool
	}{
		{"card", "card 1", false},
		{"card 3", "card 3", false},
		{"card 4", "want 1–3", true},
		{"card x", "want 1–3", true},
		{"remove", "card removed", false},
		{"scan ]E06901234567892", "scanned", false},
		{"scan", "want one argument", true},
		{"noise scanner", "16 noise bytes", false},
		{"noise toaster", "", true},
		{"unplug scanner", "unplugged", false},
		{"scan 6901234567892", "", true}, // the scanner is unplugged
		{"replug scanner", "replugged", false},
		{"dance", "unknown command", true},
	}
	for _, tt := range tests {
		msg, err := s.Do(strings.Fields(tt.cmd))
		if tt.err != (err != nil) {
			t.Errorf("Do(%q) = %q, %v; want error %v", tt.cmd, msg, err, tt.err)
			continue
		}
		got := msg
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("Do(%q) = %q, want it to contain %q", tt.cmd, got, tt.want)
		}
	}
	if _, err := s.Do([]string{"dance"}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown command error %v does not wrap ErrUnknownCommand", err)
	}
}
