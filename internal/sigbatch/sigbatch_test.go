package sigbatch

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"filippo.io/edwards25519"
)

// signer is a key pair whose private scalar the tests use to craft
// signatures with a chosen R.
type signer struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newSigner(t testing.TB, seed byte) signer {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(slices.Repeat([]byte{seed}, ed25519.SeedSize))
	return signer{pub: priv.Public().(ed25519.PublicKey), priv: priv}
}

func (s signer) item(msg string) Item {
	m := []byte(msg)
	return Item{Pub: s.pub, Msg: m, Sig: ed25519.Sign(s.priv, m)}
}

// withR signs msg with R's encoding set to rEnc and r = 0, so that
// [s]B − [k]A = identity: crypto/ed25519 accepts it exactly when rEnc is
// the identity's canonical encoding.
func (s signer) withR(t testing.TB, msg string, rEnc []byte) Item {
	t.Helper()
	h := sha512.Sum512(s.priv.Seed())
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	d := sha512.New()
	d.Write(rEnc)
	d.Write(s.pub)
	d.Write([]byte(msg))
	k, err := edwards25519.NewScalar().SetUniformBytes(d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	sig := append(slices.Clone(rEnc), edwards25519.NewScalar().Multiply(k, a).Bytes()...)
	return Item{Pub: s.pub, Msg: []byte(msg), Sig: sig}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ref is crypto/ed25519's verdict on each item.
func ref(items []Item) []bool {
	ok := make([]bool, len(items))
	for i, it := range items {
		ok[i] = len(it.Pub) == ed25519.PublicKeySize && ed25519.Verify(it.Pub, it.Msg, it.Sig)
	}
	return ok
}

func TestVerify_allValid(t *testing.T) {
	a, b := newSigner(t, 1), newSigner(t, 2)
	var items []Item
	for i := range 50 {
		items = append(items, a.item(fmt.Sprint("a", i)), b.item(fmt.Sprint("b", i)))
	}
	for _, n := range []int{0, 1, 2, 3, len(items)} {
		if got := Verify(items[:n]); slices.Contains(got, false) || len(got) != n {
			t.Errorf("%d valid signatures: %v", n, got)
		}
	}
}

// Each way of spoiling one item of a batch: Verify must say false for it,
// true for the others, and agree with crypto/ed25519 on every item.
func TestVerify_oneBad(t *testing.T) {
	a, b := newSigner(t, 1), newSigner(t, 2)
	identity := mustHex(t, "0100000000000000000000000000000000000000000000000000000000000000")
	cases := []struct {
		name  string
		spoil func(it Item) Item
	}{
		{"message changed", func(it Item) Item { it.Msg = append(slices.Clone(it.Msg), '!'); return it }},
		{"another key", func(it Item) Item { it.Pub = b.pub; return it }},
		{"R bit flipped", func(it Item) Item { it.Sig = slices.Clone(it.Sig); it.Sig[3] ^= 0x10; return it }},
		{"s bit flipped", func(it Item) Item { it.Sig = slices.Clone(it.Sig); it.Sig[40] ^= 0x01; return it }},
		{"s not reduced (s + L)", func(it Item) Item {
			it.Sig = slices.Clone(it.Sig)
			addL(it.Sig[32:])
			return it
		}},
		{"signature short", func(it Item) Item { it.Sig = it.Sig[:63]; return it }},
		{"signature empty", func(it Item) Item { it.Sig = nil; return it }},
		{"key short", func(it Item) Item { it.Pub = it.Pub[:31]; return it }},
		{"key not a point", func(it Item) Item {
			it.Pub = mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000")
			return it
		}},
		{"R not a point", func(it Item) Item {
			it.Sig = slices.Concat(mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000"), it.Sig[32:])
			return it
		}},
		// The identity's non-canonical encodings, with s made to fit them:
		// the cofactored equation holds, the encoding is what is wrong.
		{"R = identity with the sign bit", func(Item) Item {
			return a.withR(t, "m", mustHex(t, "0100000000000000000000000000000000000000000000000000000000000080"))
		}},
		{"R = identity as y = 1 + p", func(Item) Item {
			return a.withR(t, "m", mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
		}},
	}
	// The crafting is right: with the canonical identity it verifies.
	if good := a.withR(t, "m", identity); !ed25519.Verify(good.Pub, good.Msg, good.Sig) || !Verify([]Item{good})[0] {
		t.Fatal("crafted signature with R = identity does not verify")
	}
	for _, c := range cases {
		for _, size := range []int{1, 2, 17} {
			t.Run(fmt.Sprintf("%s/%d", c.name, size), func(t *testing.T) {
				items := make([]Item, size)
				for i := range items {
					items[i] = a.item(fmt.Sprint(i))
				}
				bad := size / 2
				items[bad] = c.spoil(items[bad])
				got := Verify(items)
				want := ref(items)
				if want[bad] {
					t.Fatalf("crypto/ed25519 accepts the spoiled item: the case is wrong")
				}
				if !slices.Equal(got, want) {
					t.Errorf("Verify = %v, crypto/ed25519 = %v", got, want)
				}
			})
		}
	}
}

// A small-order R is where the cofactored equation (RFC 8032 §5.1.7) and
// crypto/ed25519's cofactorless one part: only the key's holder can make
// such a signature. The verdict must not depend on the batch.
func TestVerify_smallOrderR(t *testing.T) {
	a := newSigner(t, 1)
	order4 := make([]byte, 32) // y = 0: x = ±√−1, a point of order 4
	it := a.withR(t, "m", order4)
	if ed25519.Verify(it.Pub, it.Msg, it.Sig) {
		t.Fatal("crypto/ed25519 accepts it: the case is wrong")
	}
	bad := a.item("x")
	bad.Sig = slices.Clone(bad.Sig)
	bad.Sig[0] ^= 1
	for _, items := range [][]Item{{it}, {it, a.item("y")}, {a.item("y"), it, bad}} {
		if got := Verify(items); !got[slices.IndexFunc(items, func(x Item) bool { return string(x.Msg) == "m" })] {
			t.Errorf("Verify = %v: the small-order R is refused in this batch", got)
		}
	}
}

// addL adds the group order L to the little-endian 32-byte scalar b.
func addL(b []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	var carry uint16
	for i := range b {
		sum := uint16(b[i]) + uint16(l[i]) + carry
		b[i], carry = byte(sum), sum>>8
	}
}

// FuzzVerify: never panics, and accepts everything crypto/ed25519 does;
// it may accept more only with a small-order R (TestVerify_smallOrderR).
func FuzzVerify(f *testing.F) {
	a := newSigner(f, 1)
	good := a.item("record")
	f.Add([]byte(good.Pub), good.Msg, good.Sig, true)
	f.Add([]byte(good.Pub), []byte("other"), good.Sig, false)
	f.Add([]byte{}, []byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte, withGood bool) {
		it := Item{Pub: pub, Msg: msg, Sig: sig}
		items := []Item{it}
		if withGood {
			items = append(items, good)
		}
		got := Verify(items)
		if ref(items)[0] && !got[0] {
			t.Errorf("crypto/ed25519 accepts, Verify refuses")
		}
		if withGood && !got[1] {
			t.Errorf("a valid signature is refused next to %x", sig)
		}
	})
}

// BenchmarkVerify is the batch's cost per signature against
// crypto/ed25519.Verify, for one till's backlog.
func BenchmarkVerify(b *testing.B) {
	a := newSigner(b, 1)
	items := make([]Item, 256)
	for i := range items {
		items[i] = a.item(fmt.Sprintf(`{"seq":%d,"kind":"sale","lines":"%0300d"}`, i+1, i))
	}
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if slices.Contains(ref(items), false) {
				b.Fatal("refused")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items))/1e3, "µs/sig")
	})
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			if slices.Contains(Verify(items), false) {
				b.Fatal("refused")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items))/1e3, "µs/sig")
	})
}
