package keys

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateKeyFile_0600AndNoReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bureau.key")
	key, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := LoadKeyFile(path)
	if err != nil || !got.Equal(key) {
		t.Fatalf("LoadKeyFile = %v; want the created key", err)
	}
	if _, err := CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateKeyFile = %v, want ErrExist", err)
	}
	if again, _ := LoadKeyFile(path); !again.Equal(key) {
		t.Fatal("the key was replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("dir holds %d files, want the key only", len(entries))
	}
}

func TestPublicFromArg(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "bureau.pub")
	if err := os.WriteFile(file, []byte(PublicBase64(pub)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.pub")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		arg string
		ok  bool
	}{
		{PublicBase64(pub), true},
		{" " + PublicBase64(pub) + "\n", true},
		{file, true},
		{bad, false},
		{filepath.Join(dir, "missing"), false},
		{"AAAA", false},
		{"", false},
	} {
		got, err := PublicFromArg(tt.arg)
		if tt.ok != (err == nil) || (tt.ok && !got.Equal(pub)) {
			t.Errorf("PublicFromArg(%q) = %v, %v", tt.arg, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadKey) {
			t.Errorf("PublicFromArg(%q): %v does not wrap ErrBadKey", tt.arg, err)
		}
	}
}
