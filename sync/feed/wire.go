package feed

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Root is the first level of every topic.
const Root = "tillguard/v1"

// Topic leaves under a till.
const (
	LeafTx     = "tx"
	LeafAck    = "ack"
	LeafStatus = "status"
)

// TillTopic returns tillguard/v1/{pharmacy}/{till}/{leaf}.
func TillTopic(pharmacy, till, leaf string) string {
	return Root + "/" + pharmacy + "/" + till + "/" + leaf
}

// PolicyTopic returns tillguard/v1/policy/{region}.
func PolicyTopic(region string) string { return Root + "/policy/" + region }

// TxFilter matches every till's tx topic.
const TxFilter = Root + "/+/+/" + LeafTx

// ErrBadTopic reports a topic outside the tillguard/v1 tree.
var ErrBadTopic = errors.New("feed: bad topic")

// ParseTillTopic splits tillguard/v1/{pharmacy}/{till}/{leaf}.
func ParseTillTopic(topic string) (pharmacy, till, leaf string, err error) {
	rest, ok := strings.CutPrefix(topic, Root+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%w: %q", ErrBadTopic, topic)
	}
	return parts[0], parts[1], parts[2], nil
}

// ValidID reports whether s can be a pharmacy or till id: 1–64 characters
// from A–Z, a–z, 0–9, '-' and '_', so it can never smuggle a topic level or
// wildcard.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// Envelope is the payload of a tx message: the record's exact bytes and the
// till's Ed25519 signature over them.
type Envelope struct {
	Rec json.RawMessage `json:"rec"`
	Sig string          `json:"sig"` // standard base64
}

// Seal builds the tx payload for record bytes rec and signature sig, in
// the layout Open splits without decoding. rec goes in byte for byte: the
// signature is over exactly those bytes (json.Marshal would compact and
// re-escape them). rec is what the ledger stored from json.Marshal, so
// Seal checks only that it is braced like an object; validating it again
// was 12 % of the till's CPU in a drain, and the receiver's Open parses
// it anyway.
func Seal(rec, sig []byte) ([]byte, error) {
	if len(rec) < 2 || rec[0] != '{' || rec[len(rec)-1] != '}' {
		return nil, fmt.Errorf("%w: rec is not a JSON object", ErrBadPayload)
	}
	n := len(sealedHead) + len(rec) + len(sealedSig) + base64.StdEncoding.EncodedLen(len(sig)) + len(sealedTail)
	b := append(make([]byte, 0, n), sealedHead...)
	b = append(b, rec...)
	b = append(b, sealedSig...)
	b = base64.StdEncoding.AppendEncode(b, sig)
	return append(b, sealedTail...), nil
}

// ErrBadPayload reports an MQTT payload that does not parse.
var ErrBadPayload = errors.New("feed: bad payload")

// MaxRecord bounds a record's bytes: a ledger refuses to append a bigger
// one, and MaxEnvelope, its envelope, is the most a bureau reads of a tx
// message. A sale of a thousand lines, each with a dozen traceability
// codes, is under half of it; the bound is what keeps one till's
// certificate from filling a receiver's memory.
const (
	MaxRecord   = 1 << 20
	MaxEnvelope = MaxRecord + 1024
)

// Open parses a tx payload. It returns the record's exact bytes (as the till
// signed them), the decoded record and the raw signature. It checks shape
// only; the signature and chain are the receiver's to verify.
func Open(payload []byte) (rec []byte, r Record, sig []byte, err error) {
	if len(payload) > MaxEnvelope {
		return nil, Record{}, nil, fmt.Errorf("%w: an envelope of more than %d bytes", ErrBadPayload, MaxEnvelope)
	}
	// Seal's layout is split without decoding the envelope, which would
	// scan the record twice more, and the record is decoded by
	// decodeRecord when it is as json.Marshal writes it (decode.go);
	// anything else takes json.Unmarshal, and any record that does not
	// decode, the general path and its errors.
	env, ok := splitSealed(payload)
	if !ok || !decodeRecord(env.Rec, &r) && json.Unmarshal(env.Rec, &r) != nil {
		r = Record{}
		if err := json.Unmarshal(payload, &env); err != nil {
			return nil, Record{}, nil, fmt.Errorf("%w: envelope: %v", ErrBadPayload, err)
		}
		if len(env.Rec) == 0 || env.Rec[0] != '{' {
			return nil, Record{}, nil, fmt.Errorf("%w: rec is not an object", ErrBadPayload)
		}
		if err := json.Unmarshal(env.Rec, &r); err != nil {
			return nil, Record{}, nil, fmt.Errorf("%w: rec: %v", ErrBadPayload, err)
		}
	} else {
		env.Rec = bytes.Clone(env.Rec) // as the general path: rec does not alias payload
	}
	sig, err = base64.StdEncoding.DecodeString(env.Sig)
	if err != nil {
		return nil, Record{}, nil, fmt.Errorf("%w: sig: %v", ErrBadPayload, err)
	}
	if r.Seq == 0 {
		return nil, Record{}, nil, fmt.Errorf("%w: rec has no seq", ErrBadPayload)
	}
	if !ValidID(r.Pharmacy) || !ValidID(r.Till) {
		return nil, Record{}, nil, fmt.Errorf("%w: rec has a bad pharmacy or till id", ErrBadPayload)
	}
	return env.Rec, r, sig, nil
}

// Seal's layout: {"rec":<record>,"sig":"<base64>"}.
const (
	sealedHead = `{"rec":`
	sealedSig  = `,"sig":"`
	sealedTail = `"}`
)

// splitSealed splits a payload in Seal's exact layout: the record an
// object, the signature nothing but base64 characters. When the record
// is valid JSON (the caller checks, by decoding it), the envelope decodes
// to the same Rec and Sig, so this is only a faster way to read it.
func splitSealed(payload []byte) (Envelope, bool) {
	p, ok := bytes.CutPrefix(payload, []byte(sealedHead))
	if !ok {
		return Envelope{}, false
	}
	p, ok = bytes.CutSuffix(p, []byte(sealedTail))
	if !ok {
		return Envelope{}, false
	}
	i := len(p)
	for i > 0 && isBase64(p[i-1]) {
		i--
	}
	rec, ok := bytes.CutSuffix(p[:i], []byte(sealedSig))
	if !ok || len(rec) < 2 || rec[0] != '{' || rec[len(rec)-1] != '}' {
		return Envelope{}, false
	}
	return Envelope{Rec: rec, Sig: string(p[i:])}, true
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// Status is a till's retained status, also its MQTT will (state offline).
// HeadHash is the hex SHA-256 of record HeadSeq ("" for 0), and Sig the
// till's signature (status.go): what a till announces this way, it
// cannot take back. Older tills sent neither.
type Status struct {
	State    string `json:"state"` // online or offline
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash,omitempty"`
	AckedSeq uint64 `json:"acked_seq"`
	At       string `json:"at"`
	Sig      string `json:"sig,omitempty"`
}

// Till states in a Status.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// ParseStatus parses a status message: its topic names the till, and the
// payload must be a Status with a known state and an RFC 3339 time.
func ParseStatus(topic string, payload []byte) (pharmacy, till string, st Status, err error) {
	pharmacy, till, leaf, err := ParseTillTopic(topic)
	if err != nil || leaf != LeafStatus || !ValidID(pharmacy) || !ValidID(till) {
		return "", "", Status{}, fmt.Errorf("%w: status topic %.80q", ErrBadTopic, topic)
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return "", "", Status{}, fmt.Errorf("%w: status: %v", ErrBadPayload, err)
	}
	if st.State != StateOnline && st.State != StateOffline {
		return "", "", Status{}, fmt.Errorf("%w: status state %.20q", ErrBadPayload, st.State)
	}
	if _, err := time.Parse(time.RFC3339, st.At); err != nil {
		return "", "", Status{}, fmt.Errorf("%w: status at %.40q", ErrBadPayload, st.At)
	}
	if st.AckedSeq > st.HeadSeq {
		return "", "", Status{}, fmt.Errorf("%w: status acked_seq %d beyond head_seq %d", ErrBadPayload, st.AckedSeq, st.HeadSeq)
	}
	if st.HeadHash != "" && (st.HeadSeq == 0 || !isHash(st.HeadHash)) {
		return "", "", Status{}, fmt.Errorf("%w: status head_hash %.80q", ErrBadPayload, st.HeadHash)
	}
	return pharmacy, till, st, nil
}
