package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreate_createsPrivateFileAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "till.key"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("till.key mode %04o, want 0600", perm)
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(again) {
		t.Error("second LoadOrCreate returned a different key")
	}
	msg := []byte("record")
	if !ed25519.Verify(again.Public().(ed25519.PublicKey), msg, ed25519.Sign(key, msg)) {
		t.Error("reloaded key does not verify a signature of the created one")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".till.key-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestLoad_neverCreates(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of an empty dir = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "till.key")); err == nil {
		t.Fatal("Load created till.key")
	}
	key, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir); err != nil || !key.Equal(got) {
		t.Fatalf("Load = %v, want the key LoadOrCreate made", err)
	}
}

func TestLoadOrCreate_refusesReadableKey(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		dir := t.TempDir()
		if _, err := LoadOrCreate(dir); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "till.key")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreate(dir); !errors.Is(err, ErrInsecureKey) {
			t.Errorf("mode %04o: err = %v, want ErrInsecureKey", mode, err)
		}
		if _, err := Rotate(dir); !errors.Is(err, ErrInsecureKey) {
			t.Errorf("mode %04o: Rotate err = %v, want ErrInsecureKey", mode, err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
			t.Errorf("mode changed to %04o", fi.Mode().Perm())
		}
	}
}

func TestLoadOrCreate_badFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "till.key")
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); !errors.Is(err, ErrBadKey) {
		t.Errorf("err = %v, want ErrBadKey", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "not a key\n" {
		t.Error("a bad key file was replaced")
	}
}

func TestRotate_keepsOldKey(t *testing.T) {
	dir := t.TempDir()
	old, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	rotated, err := Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Equal(old) {
		t.Fatal("Rotate returned the old key")
	}
	current, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !current.Equal(rotated) {
		t.Error("till.key does not hold the rotated key")
	}
	kept, _ := filepath.Glob(filepath.Join(dir, "till.key.*"))
	if len(kept) != 1 {
		t.Fatalf("kept keys %v, want one", kept)
	}
	ts, err := strconv.ParseInt(strings.TrimPrefix(filepath.Base(kept[0]), "till.key."), 10, 64)
	if err != nil || ts < before || ts > time.Now().Unix() {
		t.Errorf("kept key name %s does not carry the rotation's unix time (≥ %d)", kept[0], before)
	}
	k, err := load(kept[0])
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(old) {
		t.Error("kept key is not the old key")
	}
	// A second rotation in the same second must not overwrite the first.
	if _, err := Rotate(dir); err != nil {
		t.Fatal(err)
	}
	if kept, _ := filepath.Glob(filepath.Join(dir, "till.key.*")); len(kept) != 2 {
		t.Errorf("after two rotations kept %v, want two", kept)
	}
}

func TestKeepOld_sameSecond(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "till.key")
	if err := os.WriteFile(path, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	a, err := keepOld(path, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keepOld(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(a) != "till.key.1700000000" || filepath.Base(b) != "till.key.1700000000.1" {
		t.Errorf("names %s, %s", a, b)
	}
}

func TestRotate_noKeyCreates(t *testing.T) {
	dir := t.TempDir()
	key, err := Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(dir)
	if err != nil || !again.Equal(key) {
		t.Fatalf("LoadOrCreate after Rotate: %v, same key %v", err, again.Equal(key))
	}
}

func TestParsePublic(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	good := PublicBase64(pub)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", good, true},
		{"newline", good + "\n", true},
		{"spaces", "  " + good + " \r\n", true},
		{"empty", "", false},
		{"short", good[:40], false},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-_", false},
		{"too long", PublicBase64(append(bytes.Clone(pub), 0)), false},
		{"garbage", "not base64!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublic(tt.in)
			if tt.ok {
				if err != nil || !got.Equal(pub) {
					t.Fatalf("ParsePublic = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("err = %v, want ErrBadKey", err)
			}
		})
	}
}

func TestEnroll_roundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "enroll")
	pubA, _, _ := ed25519.GenerateKey(nil)
	pubB, _, _ := ed25519.GenerateKey(nil)
	if err := Enroll(dir, "H33010100001", "till-1", pubA); err != nil {
		t.Fatal(err)
	}
	if err := Enroll(dir, "H33010100002", "t_2", pubB); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "H33010100001.till-1.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != PublicBase64(pubA)+"\n" {
		t.Errorf("enrolment file %q", data)
	}
	// Re-enrolment after a rotation replaces the key.
	if err := Enroll(dir, "H33010100002", "t_2", pubA); err != nil {
		t.Fatal(err)
	}
	got, err := LoadEnrolled(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["H33010100001/till-1"].Equal(pubA) || !got["H33010100002/t_2"].Equal(pubA) {
		t.Errorf("LoadEnrolled = %v", got)
	}
}

func TestEnroll_rejects(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	tests := []struct {
		name, pharmacy, till string
		pub                  ed25519.PublicKey
		want                 error
	}{
		{"dot in till", "P1", "a.b", pub, ErrBadName},
		{"slash in pharmacy", "P/1", "t", pub, ErrBadName},
		{"empty till", "P1", "", pub, ErrBadName},
		{"short key", "P1", "t", pub[:31], ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Enroll(dir, tt.pharmacy, tt.till, tt.pub); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

func TestLoadEnrolled_reportsEveryBadFile(t *testing.T) {
	dir := t.TempDir()
	pub, _, _ := ed25519.GenerateKey(nil)
	if err := Enroll(dir, "P1", "T1", pub); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"P1.T2.pub":       "garbage\n",                       // bad key
		"P1.T3.pub":       PublicBase64(pub[:16]) + "\n",     // short key
		"P1.pub":          PublicBase64(pub) + "\n",          // no till
		"P1.T4.extra.pub": PublicBase64(pub) + "\n",          // bad till id
		"README":          "not a key file, ignored\n",       // ignored
		".P1.T5.pub":      "hidden temp file, ignored\n",     // ignored
		"P1.T6.pub.bak":   "backup, ignored\n",               // ignored
		"P2.T1.pub":       " " + PublicBase64(pub) + " \n\n", // good
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadEnrolled(dir)
	if err == nil {
		t.Fatal("no error for bad files")
	}
	for _, bad := range []string{"P1.T2.pub", "P1.T3.pub", "P1.pub", "P1.T4.extra.pub"} {
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("error does not name %s: %v", bad, err)
		}
	}
	for _, ignored := range []string{"README", ".P1.T5.pub", "P1.T6.pub.bak"} {
		if strings.Contains(err.Error(), ignored) {
			t.Errorf("error names ignored file %s: %v", ignored, err)
		}
	}
	if !errors.Is(err, ErrBadKey) || !errors.Is(err, ErrBadName) {
		t.Errorf("err does not wrap ErrBadKey and ErrBadName: %v", err)
	}
	if len(got) != 2 || !got["P1/T1"].Equal(pub) || !got["P2/T1"].Equal(pub) {
		t.Errorf("good keys = %v", got)
	}
}

func TestLoadEnrolled_missingDir(t *testing.T) {
	_, err := LoadEnrolled(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func FuzzParsePublic(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Add(PublicBase64(pub))
	f.Add(PublicBase64(pub) + "\n")
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePublic(s)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			return
		}
		if len(got) != ed25519.PublicKeySize {
			t.Fatalf("parsed %d bytes", len(got))
		}
		again, err := ParsePublic(PublicBase64(got))
		if err != nil || !again.Equal(got) {
			t.Fatalf("round trip: %v, %v", again, err)
		}
	})
}

func FuzzParsePrivate(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	good, err := marshalPrivate(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parsePrivate(data)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v does not wrap ErrBadKey", err)
			}
			return
		}
		out, err := marshalPrivate(k)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parsePrivate(out)
		if err != nil || !again.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
