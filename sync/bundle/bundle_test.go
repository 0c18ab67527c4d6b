package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func sample(version uint64) Bundle {
	return Bundle{
		Region: "330100", Version: version, IssuedAt: "2026-03-01T08:00:00+08:00",
		CatalogCSV: "barcode,name,category,covered\n6901234567892,阿莫西林胶囊,drug,1\n",
		PolicyJSON: `{"limits":{"acute_days":7}}`,
	}
}

func mustSign(t testing.TB, b Bundle, key ed25519.PrivateKey) []byte {
	t.Helper()
	p, err := Sign(b, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tamper rewrites the signed bundle's bytes without signing again.
func tamper(t testing.TB, payload []byte, edit func(*Bundle)) []byte {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		t.Fatal(err)
	}
	var b Bundle
	if err := json.Unmarshal(env.Bundle, &b); err != nil {
		t.Fatal(err)
	}
	edit(&b)
	raw, _ := json.Marshal(b)
	out, _ := json.Marshal(envelope{Bundle: raw, Sig: env.Sig})
	return out
}

func TestVerify(t *testing.T) {
	pub, key := testKey(t)
	otherPub, otherKey := testKey(t)
	good := mustSign(t, sample(5), key)
	tests := []struct {
		name    string
		payload []byte
		pub     ed25519.PublicKey
		region  string
		current uint64
		want    error // nil: accepted
	}{
		{"good, nothing in force", good, pub, "330100", 0, nil},
		{"good, older in force", good, pub, "330100", 4, nil},
		{"same version again", good, pub, "330100", 5, ErrNotNewer},
		{"older than in force", good, pub, "330100", 6, ErrNotNewer},
		{"another region", good, pub, "110000", 0, ErrOtherRegion},
		{"another bureau's key", good, otherPub, "330100", 0, ErrBadSignature},
		{"signed by another key", mustSign(t, sample(5), otherKey), pub, "330100", 0, ErrBadSignature},
		{"no key enrolled", good, nil, "330100", 0, ErrBadSignature},
		{"catalogue edited", tamper(t, good, func(b *Bundle) { b.CatalogCSV += "6900000000000,x,drug,1\n" }), pub, "330100", 0, ErrBadSignature},
		{"version raised", tamper(t, good, func(b *Bundle) { b.Version = 99 }), pub, "330100", 5, ErrBadSignature},
		{"region changed", tamper(t, good, func(b *Bundle) { b.Region = "110000" }), pub, "110000", 0, ErrBadSignature},
		{"policy edited", tamper(t, good, func(b *Bundle) { b.PolicyJSON = `{}` }), pub, "330100", 0, ErrBadSignature},
		{"not json", []byte("policy"), pub, "330100", 0, ErrBadBundle},
		{"empty", nil, pub, "330100", 0, ErrBadBundle},
		{"bundle a string", []byte(`{"bundle":"{}","sig":""}`), pub, "330100", 0, ErrBadBundle},
		{"short sig", []byte(`{"bundle":{"region":"330100","version":1,"issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x"},"sig":"AAAA"}`), pub, "330100", 0, ErrBadBundle},
		{"unknown field", tamper(t, good, func(*Bundle) {}), pub, "330100", 0, nil}, // control: re-encoding alone keeps the bytes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Verify(tt.payload, tt.pub, tt.region, tt.current)
			if tt.want == nil {
				if err != nil || s.Bundle.Version != 5 {
					t.Fatalf("Verify = %+v, %v; want accepted", s.Bundle, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParse_badFields(t *testing.T) {
	_, key := testKey(t)
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte("x")))
	for name, b := range map[string]string{
		"no region":      `{"version":1,"issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x"}`,
		"short region":   `{"region":"3301","version":1,"issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x"}`,
		"version 0":      `{"region":"330100","version":0,"issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x"}`,
		"version string": `{"region":"330100","version":"2","issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x"}`,
		"bad time":       `{"region":"330100","version":1,"issued_at":"yesterday","catalog_csv":"x"}`,
		"no catalogue":   `{"region":"330100","version":1,"issued_at":"2026-03-01T08:00:00+08:00"}`,
		"unknown field":  `{"region":"330100","version":1,"issued_at":"2026-03-01T08:00:00+08:00","catalog_csv":"x","deny":[]}`,
	} {
		payload := []byte(`{"bundle":` + b + `,"sig":"` + sig + `"}`)
		if _, err := Parse(payload); !errors.Is(err, ErrBadBundle) {
			t.Errorf("%s: Parse = %v, want ErrBadBundle", name, err)
		}
	}
	if _, err := Parse(bytes.Repeat([]byte(" "), MaxPayload+1)); !errors.Is(err, ErrBadBundle) {
		t.Errorf("oversized: Parse = %v, want ErrBadBundle", err)
	}
}

func TestSign_refusesBadBundle(t *testing.T) {
	_, key := testKey(t)
	b := sample(1)
	b.Region = "33"
	if _, err := Sign(b, key); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("Sign = %v, want ErrBadBundle", err)
	}
	if _, err := Sign(sample(1), key[:10]); err == nil {
		t.Fatal("Sign with a short key succeeded")
	}
}

func TestSign_contentRoundTrips(t *testing.T) {
	pub, key := testKey(t)
	in := sample(3)
	in.CatalogCSV = "barcode,name\n\"a,b\",\"引号\"\"\"\n\x00\n"
	s, err := Verify(mustSign(t, in, key), pub, in.Region, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bundle != in {
		t.Fatalf("got %+v, want %+v", s.Bundle, in)
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	if got, err := Load(dir); got != nil || err != nil {
		t.Fatalf("Load of an empty dir = %q, %v", got, err)
	}
	_, key := testKey(t)
	for _, v := range []uint64{1, 2} {
		p := mustSign(t, sample(v), key)
		if err := Save(dir, p); err != nil {
			t.Fatal(err)
		}
		got, err := Load(dir)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Load = %q, %v; want what was saved", got, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Fatalf("dir holds %v, want only %s", entries, FileName)
	}
	if err := Save(filepath.Join(dir, "missing"), []byte("x")); err == nil {
		t.Fatal("Save into a missing dir succeeded")
	}
}

func FuzzParse(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	good, _ := Sign(sample(1), key)
	f.Add(good)
	f.Add([]byte(`{"bundle":{},"sig":""}`))
	f.Add([]byte(`{"bundle":null}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := Parse(payload)
		if err != nil {
			if !errors.Is(err, ErrBadBundle) {
				t.Fatalf("error %v does not wrap ErrBadBundle", err)
			}
			return
		}
		// What Parse accepts is well-formed, and its bytes decode to the
		// same bundle again.
		var again Bundle
		if check(s.Bundle) != nil || len(s.Sig) != ed25519.SignatureSize || json.Unmarshal(s.Raw, &again) != nil || again != s.Bundle {
			t.Fatalf("accepted %q as %+v", s.Raw, s.Bundle)
		}
		if strings.TrimSpace(string(s.Raw)) == "" {
			t.Fatal("accepted empty bundle bytes")
		}
	})
}
