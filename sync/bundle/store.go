package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tillguard/tillguard/internal/boltdb"
)

// FileName is the last accepted bundle's file in the till's data dir.
const FileName = "policy.bundle"

// Save writes payload (a message Verify accepted) to dir/policy.bundle,
// atomically and synced: after a crash the file holds the old bundle or
// the new one, never a mix.
func Save(dir string, payload []byte) error {
	f, err := os.CreateTemp(dir, ".policy.bundle-*")
	if err != nil {
		return fmt.Errorf("bundle: save: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(payload)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, FileName))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("bundle: save: %w", err)
	}
	if err := boltdb.SyncDir(dir); err != nil {
		return fmt.Errorf("bundle: save: %w", err)
	}
	return nil
}

// Load reads the saved bundle message from dir; (nil, nil) when there is
// none. The caller verifies it again: the file is outside bytes too.
func Load(dir string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bundle: load: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("bundle: load: %w", err)
	}
	return b, nil
}
