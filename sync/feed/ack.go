package feed

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Ack is the bureau's acknowledgement: every record with seq ≤ UptoSeq is
// stored by the bureau, and Hash is the hex SHA-256 of record UptoSeq as
// stored (empty for 0). WaitingFrom, when set, is the lowest seq above
// UptoSeq the bureau already holds, waiting for the ones before it: the
// till need send again only UptoSeq+1 .. WaitingFrom-1.
//
// On the wire it is one JSON object, its signature a field of it:
//
//	{"pharmacy":"H33010200001","till":"T01","upto_seq":17,"hash":"…",
//	 "waiting_from":20,"at":"2026-03-02T09:00:00Z","sig":"<base64>"}
//
// The bureau signs AckSigContext followed by SigningInput, a fixed
// encoding of every other field, so a signature over an ack never passes
// for one over a bundle, another till's ack, or another seq. A trial
// bureau without a key sends the same object without sig; older bureaus
// sent only {"upto_seq": N}.
type Ack struct {
	Pharmacy    string `json:"pharmacy,omitempty"`
	Till        string `json:"till,omitempty"`
	UptoSeq     uint64 `json:"upto_seq"`
	Hash        string `json:"hash,omitempty"`
	WaitingFrom uint64 `json:"waiting_from,omitempty"`
	At          string `json:"at,omitempty"`
	Sig         string `json:"sig,omitempty"`
}

// AckSigContext is prefixed to an ack's SigningInput before signing.
const AckSigContext = "tillguard ack v1\n"

// SigningInput is what the bureau's signature covers: AckSigContext and
// the fields, one per line, in a fixed order.
func (a Ack) SigningInput() []byte {
	b := []byte(AckSigContext)
	for _, f := range []string{a.Pharmacy, a.Till, strconv.FormatUint(a.UptoSeq, 10), a.Hash, strconv.FormatUint(a.WaitingFrom, 10), a.At} {
		b = append(append(b, f...), '\n')
	}
	return b
}

// SignAck returns a with Sig set by key.
func SignAck(a Ack, key ed25519.PrivateKey) Ack {
	a.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, a.SigningInput()))
	return a
}

// Verify reports whether a carries a signature by pub over its fields.
func (a Ack) Verify(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(a.Sig)
	return err == nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, a.SigningInput(), sig)
}

// ParseAck parses an ack payload of either shape. It checks the shape
// only; whether to believe it is the till's to decide (Verify, Hash).
func ParseAck(payload []byte) (Ack, error) {
	var a struct {
		Ack
		UptoSeq *uint64 `json:"upto_seq"`
	}
	if err := json.Unmarshal(payload, &a); err != nil {
		return Ack{}, fmt.Errorf("%w: ack: %v", ErrBadPayload, err)
	}
	if a.UptoSeq == nil {
		return Ack{}, fmt.Errorf("%w: ack has no upto_seq", ErrBadPayload)
	}
	a.Ack.UptoSeq = *a.UptoSeq
	if a.WaitingFrom != 0 && a.WaitingFrom <= a.Ack.UptoSeq+1 {
		return Ack{}, fmt.Errorf("%w: ack waiting_from %d not beyond upto_seq %d + 1", ErrBadPayload, a.WaitingFrom, a.Ack.UptoSeq)
	}
	if a.At != "" {
		if _, err := time.Parse(time.RFC3339, a.At); err != nil {
			return Ack{}, fmt.Errorf("%w: ack at %.40q", ErrBadPayload, a.At)
		}
	}
	return a.Ack, nil
}
