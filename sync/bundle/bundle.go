package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// SigContext is prefixed to the bundle's bytes before signing.
const SigContext = "tillguard policy bundle v1\n"

// MaxPayload bounds a bundle message: a national-size catalogue of 100 000
// rows is about 10 MB.
const MaxPayload = 32 << 20

// Bundle is the signed content.
type Bundle struct {
	Region     string `json:"region"`      // 6-digit region code
	Version    uint64 `json:"version"`     // increases with every bundle the bureau issues for the region
	IssuedAt   string `json:"issued_at"`   // RFC 3339 with offset
	CatalogCSV string `json:"catalog_csv"` // the catalogue, as policy.LoadCatalog reads it
	PolicyJSON string `json:"policy_json"` // the policy file, as policy.LoadPolicy reads it; "" = defaults
}

// Signed is a parsed bundle message.
type Signed struct {
	Bundle Bundle
	Raw    []byte // the exact bytes of the "bundle" value: what Sig covers
	Sig    []byte
}

type envelope struct {
	Bundle json.RawMessage `json:"bundle"`
	Sig    string          `json:"sig"`
}

// Sign encodes b and signs it with key, returning the message to publish.
func Sign(b Bundle, key ed25519.PrivateKey) ([]byte, error) {
	if err := check(b); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("bundle: sign: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	sig := ed25519.Sign(key, signed(raw))
	out, err := json.Marshal(envelope{Bundle: raw, Sig: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	return out, nil
}

// Parse checks a message's shape and fields; it does not verify the
// signature.
func Parse(payload []byte) (Signed, error) {
	if len(payload) > MaxPayload {
		return Signed{}, fmt.Errorf("%w: %d bytes, at most %d", ErrBadBundle, len(payload), MaxPayload)
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return Signed{}, fmt.Errorf("%w: envelope: %v", ErrBadBundle, err)
	}
	if len(env.Bundle) == 0 || env.Bundle[0] != '{' {
		return Signed{}, fmt.Errorf("%w: bundle is not an object", ErrBadBundle)
	}
	var b Bundle
	dec := json.NewDecoder(bytes.NewReader(env.Bundle))
	dec.DisallowUnknownFields() // a field this till does not understand must not be silently dropped
	if err := dec.Decode(&b); err != nil {
		return Signed{}, fmt.Errorf("%w: bundle: %v", ErrBadBundle, err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signed{}, fmt.Errorf("%w: sig is not a base64 Ed25519 signature", ErrBadBundle)
	}
	if err := check(b); err != nil {
		return Signed{}, err
	}
	return Signed{Bundle: b, Raw: env.Bundle, Sig: sig}, nil
}

// Verify parses payload and accepts it only if the signature verifies with
// pub, the bundle is for region and its version is higher than current
// (0 when no bundle is in force). The checks run in that order, so an
// unsigned message is reported as such whatever it claims.
func Verify(payload []byte, pub ed25519.PublicKey, region string, current uint64) (Signed, error) {
	s, err := Parse(payload)
	if err != nil {
		return Signed{}, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signed(s.Raw), s.Sig) {
		return Signed{}, fmt.Errorf("%w (region %s version %d)", ErrBadSignature, s.Bundle.Region, s.Bundle.Version)
	}
	if s.Bundle.Region != region {
		return Signed{}, fmt.Errorf("%w: %s, this till is in %s", ErrOtherRegion, s.Bundle.Region, region)
	}
	if s.Bundle.Version <= current {
		return Signed{}, fmt.Errorf("%w: version %d, in force %d", ErrNotNewer, s.Bundle.Version, current)
	}
	return s, nil
}

func signed(raw []byte) []byte {
	return append([]byte(SigContext), raw...)
}

func check(b Bundle) error {
	switch {
	case !ValidRegion(b.Region):
		return fmt.Errorf("%w: region %.16q is not a 6-digit code", ErrBadBundle, b.Region)
	case b.Version == 0:
		return fmt.Errorf("%w: version must be at least 1", ErrBadBundle)
	case b.CatalogCSV == "":
		return fmt.Errorf("%w: no catalogue", ErrBadBundle)
	}
	if _, err := time.Parse(time.RFC3339, b.IssuedAt); err != nil {
		return fmt.Errorf("%w: issued_at %.40q is not RFC 3339", ErrBadBundle, b.IssuedAt)
	}
	return nil
}

// ValidRegion reports whether s is a 6-digit region code.
func ValidRegion(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
