package feed

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"
)

func testAckKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestAck_signed: a signed ack survives the wire and verifies; a change
// to any field, or another key, does not.
func TestAck_signed(t *testing.T) {
	key := testAckKey("bureau")
	a := SignAck(Ack{Pharmacy: "H33010200001", Till: "T01", UptoSeq: 17, Hash: Hash([]byte("r17")),
		WaitingFrom: 20, At: "2026-03-02T09:00:00Z"}, key)
	payload, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseAck(payload)
	if err != nil || got != a || !got.Verify(key.Public().(ed25519.PublicKey)) {
		t.Fatalf("ParseAck(%s) = %+v, %v; verifies %v", payload, got, err, got.Verify(key.Public().(ed25519.PublicKey)))
	}
	if got.Verify(testAckKey("other").Public().(ed25519.PublicKey)) {
		t.Error("verifies with another key")
	}
	for name, edit := range map[string]func(*Ack){
		"pharmacy":     func(a *Ack) { a.Pharmacy = "H33010200002" },
		"till":         func(a *Ack) { a.Till = "T02" },
		"upto_seq":     func(a *Ack) { a.UptoSeq = 27 },
		"hash":         func(a *Ack) { a.Hash = Hash([]byte("other")) },
		"waiting_from": func(a *Ack) { a.WaitingFrom = 0 },
		"at":           func(a *Ack) { a.At = "2026-03-02T09:00:01Z" },
		"sig":          func(a *Ack) { a.Sig = a.Sig[:len(a.Sig)-4] + "AAA=" },
		"no sig":       func(a *Ack) { a.Sig = "" },
		"bad base64":   func(a *Ack) { a.Sig = "!!" },
	} {
		e := got
		edit(&e)
		if e.Verify(key.Public().(ed25519.PublicKey)) {
			t.Errorf("an ack with %s changed verifies", name)
		}
	}
	// Fields run together cannot pass for others: the encoding is one
	// field a line, and IDs hold no newline.
	moved := got
	moved.Pharmacy, moved.Till = "H33010200001\nT01", ""
	if moved.Verify(key.Public().(ed25519.PublicKey)) {
		t.Error("a till moved into the pharmacy field verifies")
	}
}
