package feed

import (
	"crypto/ed25519"
	"encoding/base64"
	"strconv"
)

// StatusSigContext is prefixed to a status's SigningInput before signing.
const StatusSigContext = "tillguard status v1\n"

// SigningInput is what a till's signature over its status covers:
// StatusSigContext, then the till (from the topic, which the payload does
// not repeat) and every other field, one per line, in a fixed order. So a
// signed status is this till's and says exactly this.
func (st Status) SigningInput(pharmacy, till string) []byte {
	b := []byte(StatusSigContext)
	for _, f := range []string{pharmacy, till, st.State, strconv.FormatUint(st.HeadSeq, 10), st.HeadHash,
		strconv.FormatUint(st.AckedSeq, 10), st.At} {
		b = append(append(b, f...), '\n')
	}
	return b
}

// SignStatus returns st with Sig set by the till's key.
func SignStatus(st Status, pharmacy, till string, key ed25519.PrivateKey) Status {
	st.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, st.SigningInput(pharmacy, till)))
	return st
}

// Verify reports whether st carries a signature by pub over its
// fields as till pharmacy/till's.
func (st Status) Verify(pharmacy, till string, pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(st.Sig)
	return err == nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, st.SigningInput(pharmacy, till), sig)
}
