package keys

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tillguard/tillguard/internal/boltdb"
)

// CreateKeyFile writes a new Ed25519 key to path (PEM PKCS#8, mode 0600)
// and returns it: the bureau's policy-signing key (`tillguard bureau
// keygen`). An existing file is never replaced: it fails with an error
// wrapping fs.ErrExist.
func CreateKeyFile(path string) (ed25519.PrivateKey, error) {
	dir := filepath.Dir(path)
	key, tmp, err := newKeyFile(dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	if err := boltdb.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	return key, nil
}

// LoadKeyFile reads a private key written by CreateKeyFile (or a till's
// till.key). A file readable by group or others is refused with
// ErrInsecureKey.
func LoadKeyFile(path string) (ed25519.PrivateKey, error) { return load(path) }

// PublicFromArg parses a public key given on a command line: standard
// base64 itself, or the name of a file holding it (as `tillguard keys show`
// and `tillguard bureau keygen` print it).
func PublicFromArg(s string) (ed25519.PublicKey, error) {
	if pub, err := parsePublic(s); err == nil {
		return pub, nil
	}
	data, err := os.ReadFile(s)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keys: public key %.60q: %w: neither base64 nor a file", s, ErrBadKey)
		}
		return nil, fmt.Errorf("keys: public key: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("keys: public key %s: %w: file too big", s, ErrBadKey)
	}
	pub, err := parsePublic(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("keys: public key %s: %w", s, err)
	}
	return pub, nil
}
