package ledger

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzDecodeEntry: a stored record value from a file never panics the
// decoder, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(time.Unix(1700000000, 5), make([]byte, ed25519.SignatureSize), []byte(`{"seq":1}`)))
	f.Add([]byte{entryVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decodeEntry(7, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got := encodeEntry(e.At, e.Sig, e.Rec); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded %x, stored %x", got, v)
		}
	})
}

// FuzzOpen overwrites bytes of a valid ledger file's records and opens it:
// whatever the damage, Open and Verify return nil or ErrCorrupt, never
// panic. The damage is confined to text bytes (the records' JSON and
// signatures), which is what a tamperer edits. bbolt itself does not
// survive arbitrary damage to its page structure: a branch page that
// names itself as a child sends its page walk into endless recursion, a
// fatal stack overflow no recover can catch. boltdb.CheckStructure turns
// keys pointing outside the file into ErrCorrupt; cycles stay out of
// reach.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	src := filepath.Join(dir, "ledger.db")
	l, err := Open(src, testKey("fuzz"), nil)
	if err != nil {
		f.Fatal(err)
	}
	for range 40 {
		if _, err := l.Append(newRec("sale")); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Ack(10); err != nil {
		f.Fatal(err)
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(src)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(0), []byte{})
	f.Add(uint32(2*4096+16), []byte{0xff, 0xff})
	f.Add(uint32(3*4096+100), []byte("garbage"))
	f.Add(uint32(5*4096), bytes.Repeat([]byte{0}, 4096))
	f.Fuzz(func(t *testing.T, off uint32, patch []byte) {
		b := bytes.Clone(good)
		// Keep meta pages 0 and 1: bbolt checksums them, so damage there
		// only tests the checksum.
		at := 2*4096 + int(off)%(len(b)-2*4096)
		if !text(b[max(at-8, 0):min(at+len(patch)+8, len(b))]) {
			return
		}
		copy(b[at:], patch)
		path := filepath.Join(t.TempDir(), "ledger.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(path, testKey("fuzz"), nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			return
		}
		defer l.Close()
		if err := l.Verify(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Verify: %v, want nil or ErrCorrupt", err)
		}
	})
}

// text reports whether b is printable ASCII. With 8 bytes of margin on
// each side, a run of text lies inside a record: the page and element
// headers, and the records' big-endian seq keys, have a byte below 0x20
// in every 4 bytes.
func text(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
