package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tillguard/tillguard/internal/boltdb"
	"github.com/tillguard/tillguard/sync/feed"
)

const (
	keyFile = "till.key"
	pemType = "PRIVATE KEY"
	pubExt  = ".pub"
)

// maxKeyFile bounds what is read from a key file; a real one is ~120 bytes.
const maxKeyFile = 64 << 10

// Load returns the till's signing key from dir/till.key; it never creates
// one (a missing key is an fs.ErrNotExist). A key file readable by group
// or others is refused with ErrInsecureKey.
func Load(dir string) (ed25519.PrivateKey, error) { return load(filepath.Join(dir, keyFile)) }

// LoadOrCreate returns the till's signing key from dir/till.key, creating
// the directory (0700) and a new key (0600) if there is none. A key file
// readable by group or others is refused with ErrInsecureKey.
func LoadOrCreate(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	key, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", dir, err)
	}
	key, tmp, err := newKeyFile(dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	// Link never replaces: if another process created a key meanwhile,
	// use theirs rather than sign with two keys.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return load(path)
		}
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	if err := boltdb.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("keys: create %s: %w", path, err)
	}
	return key, nil
}

// Rotate replaces the till's signing key with a new one and keeps the old
// key as dir/till.key.<unix-time>. With no key yet, it creates one. A key
// that cannot be loaded (bad format, readable by others) is left alone
// and its error returned.
func Rotate(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, keyFile)
	if _, err := load(path); errors.Is(err, fs.ErrNotExist) {
		return LoadOrCreate(dir)
	} else if err != nil {
		return nil, err
	}
	key, tmp, err := newKeyFile(dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if _, err := keepOld(path, time.Now()); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	if err := boltdb.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("keys: rotate: %w", err)
	}
	return key, nil
}

// keepOld hard-links the current key to till.key.<unix-time> (with a
// counter if that name is taken), so that a crash at any point leaves a
// till.key in place.
func keepOld(path string, now time.Time) (string, error) {
	base := path + "." + strconv.FormatInt(now.Unix(), 10)
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("keys: keep old key: %w", err)
		}
	}
}

func load(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: load: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: load %s: %w: not a regular file", path, ErrBadKey)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: load %s (mode %04o): %w", path, perm, ErrInsecureKey)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fmt.Errorf("keys: load %s: %w", path, err)
	}
	key, err := parsePrivate(data)
	if err != nil {
		return nil, fmt.Errorf("keys: load %s: %w", path, err)
	}
	return key, nil
}

// parsePrivate parses a PEM PKCS#8 Ed25519 private key.
func parsePrivate(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("%w: no %q PEM block", ErrBadKey, pemType)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T, want Ed25519", ErrBadKey, k)
	}
	return key, nil
}

func marshalPrivate(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}

// newKeyFile generates a key and writes it, synced, to a 0600 temporary
// file in dir, returning the key and the file's path.
func newKeyFile(dir string) (ed25519.PrivateKey, string, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("keys: generate: %w", err)
	}
	data, err := marshalPrivate(key)
	if err != nil {
		return nil, "", fmt.Errorf("keys: generate: %w", err)
	}
	tmp, err := writeTemp(dir, ".till.key-*", data, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("keys: write key: %w", err)
	}
	return key, tmp, nil
}

// writeTemp writes data to a new synced file in dir with the given mode.
func writeTemp(dir, pattern string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	name := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// PublicBase64 returns pub in standard base64, as `tillguard keys show`
// prints it and enrolment files hold it.
func PublicBase64(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublic parses a public key in standard base64; surrounding white
// space is ignored.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	pub, err := parsePublic(s)
	if err != nil {
		return nil, fmt.Errorf("keys: parse public key: %w", err)
	}
	return pub, nil
}

func parsePublic(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Enroll writes dir/<pharmacy>.<till>.pub holding pub, replacing an earlier
// enrolment of the same till (after a rotation).
func Enroll(dir, pharmacy, till string, pub ed25519.PublicKey) error {
	if !feed.ValidID(pharmacy) || !feed.ValidID(till) {
		return fmt.Errorf("keys: enroll %q/%q: %w", pharmacy, till, ErrBadName)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("keys: enroll %s/%s: %w: %d bytes", pharmacy, till, ErrBadKey, len(pub))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("keys: enroll %s/%s: %w", pharmacy, till, err)
	}
	tmp, err := writeTemp(dir, ".enroll-*", []byte(PublicBase64(pub)+"\n"), 0o644)
	if err != nil {
		return fmt.Errorf("keys: enroll %s/%s: %w", pharmacy, till, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, pharmacy+"."+till+pubExt)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keys: enroll %s/%s: %w", pharmacy, till, err)
	}
	if err := boltdb.SyncDir(dir); err != nil {
		return fmt.Errorf("keys: enroll %s/%s: %w", pharmacy, till, err)
	}
	return nil
}

// LoadEnrolled reads every <pharmacy>.<till>.pub in dir into a map keyed
// "pharmacy/till". Other files, and names starting with a dot, are
// ignored. Every bad .pub file is reported in the returned error (joined);
// the map still holds the good ones, so a caller may choose to run with
// them.
func LoadEnrolled(dir string) (map[string]ed25519.PublicKey, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: enrolled: %w", err)
	}
	out := make(map[string]ed25519.PublicKey)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		base, ok := strings.CutSuffix(name, pubExt)
		if !ok || strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		pub, id, err := loadEnrolled(dir, base)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys: enrolled %s: %w", name, err))
			continue
		}
		out[id] = pub
	}
	return out, errors.Join(errs...)
}

func loadEnrolled(dir, base string) (ed25519.PublicKey, string, error) {
	pharmacy, till, ok := strings.Cut(base, ".")
	if !ok || !feed.ValidID(pharmacy) || !feed.ValidID(till) {
		return nil, "", ErrBadName
	}
	f, err := os.Open(filepath.Join(dir, base+pubExt))
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, "", err
	}
	pub, err := parsePublic(string(data))
	if err != nil {
		return nil, "", err
	}
	return pub, pharmacy + "/" + till, nil
}
