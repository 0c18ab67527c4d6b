package sigbatch

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Item is one signature to check: Sig over Msg by Pub.
type Item struct {
	Pub      ed25519.PublicKey
	Msg, Sig []byte
}

// batchMin is the smallest batch worth checking at once: below it,
// crypto/ed25519 on each is faster (BenchmarkVerify).
const batchMin = 3

// Verify reports for each item whether its signature is valid.
func Verify(items []Item) []bool {
	ok := make([]bool, len(items))
	if len(items) >= batchMin && batch(items) {
		for i := range ok {
			ok[i] = true
		}
		return ok
	}
	for i := range items {
		ok[i] = one(items[i])
	}
	return ok
}

// one checks a single signature. crypto/ed25519's precomputed tables make
// it the faster check, and what it accepts the cofactored equation
// accepts too; only what it refuses is checked again, by the equation
// itself, so that the verdict is the same as in a batch.
func one(it Item) bool {
	if len(it.Pub) == ed25519.PublicKeySize && ed25519.Verify(it.Pub, it.Msg, it.Sig) {
		return true
	}
	return batch([]Item{it})
}

// batch reports whether every item's signature is valid, with a false
// acceptance probability of 2⁻¹²⁸: with z_i random 128-bit scalars it
// checks [8]( −(Σ z_i s_i)B + Σ z_i R_i + Σ_keys (Σ_{i by key} z_i k_i) A ) = 0.
func batch(items []Item) bool {
	n := len(items)
	// Points: B, then each R_i, then each distinct key. Scalars alike.
	points := make([]*edwards25519.Point, 1, 1+n+1)
	scalars := make([]*edwards25519.Scalar, 1, 1+n+1)
	points[0] = edwards25519.NewGeneratorPoint()
	scalars[0] = edwards25519.NewScalar()
	keyTerm := map[string]*edwards25519.Scalar{}
	var keyPoints []*edwards25519.Point
	var keyScalars []*edwards25519.Scalar

	var zb [32]byte
	var digest [64]byte
	s, k := edwards25519.NewScalar(), edwards25519.NewScalar()
	for _, it := range items {
		if len(it.Pub) != ed25519.PublicKeySize || len(it.Sig) != ed25519.SignatureSize {
			return false
		}
		if _, err := s.SetCanonicalBytes(it.Sig[32:]); err != nil {
			return false
		}
		if !canonicalPoint(it.Sig[:32]) {
			return false
		}
		r, err := new(edwards25519.Point).SetBytes(it.Sig[:32])
		if err != nil {
			return false
		}
		a, seen := keyTerm[string(it.Pub)]
		if !seen {
			// Decoded as crypto/ed25519 does: non-canonical keys too.
			p, err := new(edwards25519.Point).SetBytes(it.Pub)
			if err != nil {
				return false
			}
			a = edwards25519.NewScalar()
			keyTerm[string(it.Pub)] = a
			keyPoints, keyScalars = append(keyPoints, p), append(keyScalars, a)
		}

		rand.Read(zb[:16]) // never fails (crypto/rand, Go 1.24)
		z, _ := edwards25519.NewScalar().SetCanonicalBytes(zb[:])

		h := sha512.New()
		h.Write(it.Sig[:32])
		h.Write(it.Pub)
		h.Write(it.Msg)
		k.SetUniformBytes(h.Sum(digest[:0]))

		scalars[0].MultiplyAdd(z, s, scalars[0])
		a.MultiplyAdd(z, k, a)
		points, scalars = append(points, r), append(scalars, z)
	}
	scalars[0].Negate(scalars[0])
	points, scalars = append(points, keyPoints...), append(scalars, keyScalars...)

	check := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	check.MultByCofactor(check)
	return check.Equal(edwards25519.NewIdentityPoint()) == 1
}

var feOne, feMinusOne = new(field.Element).One(), new(field.Element).Negate(new(field.Element).One())

// canonicalPoint reports whether b is a point's canonical encoding as far
// as its bytes tell: y reduced below p, and no sign bit on x = 0 (y = ±1).
// crypto/ed25519 compares R byte for byte with the canonical encoding it
// computes, so it refuses both, which edwards25519's SetBytes accepts.
func canonicalPoint(b []byte) bool {
	var y field.Element
	if _, err := y.SetBytes(b); err != nil {
		return false
	}
	enc := y.Bytes()
	for i := range 31 {
		if enc[i] != b[i] {
			return false
		}
	}
	if enc[31] != b[31]&0x7f {
		return false
	}
	signed := b[31]&0x80 != 0
	return !signed || (y.Equal(feOne) == 0 && y.Equal(feMinusOne) == 0)
}
