package feed

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

// TestStatus_signed: a signed status survives the wire and verifies as
// its till's; on another till's topic, with any field changed, or with
// another key, it does not.
func TestStatus_signed(t *testing.T) {
	key := testAckKey("till")
	pub := key.Public().(ed25519.PublicKey)
	st := SignStatus(Status{State: StateOnline, HeadSeq: 42, HeadHash: Hash([]byte("r42")), AckedSeq: 40, At: "2026-03-02T09:00:00+08:00"},
		"H33010200001", "T01", key)
	payload, _ := json.Marshal(st)
	p, tl, got, err := ParseStatus(TillTopic("H33010200001", "T01", LeafStatus), payload)
	if err != nil || got != st || !got.Verify(p, tl, pub) {
		t.Fatalf("ParseStatus(%s) = %+v, %v", payload, got, err)
	}
	if got.Verify("H33010200001", "T02", pub) {
		t.Error("verifies as another till's")
	}
	if got.Verify(p, tl, testAckKey("other").Public().(ed25519.PublicKey)) {
		t.Error("verifies with another key")
	}
	for name, edit := range map[string]func(*Status){
		"state":     func(s *Status) { s.State = StateOffline },
		"head_seq":  func(s *Status) { s.HeadSeq = 41 },
		"head_hash": func(s *Status) { s.HeadHash = Hash([]byte("other")) },
		"acked_seq": func(s *Status) { s.AckedSeq = 42 },
		"at":        func(s *Status) { s.At = "2026-03-02T09:00:01+08:00" },
		"no sig":    func(s *Status) { s.Sig = "" },
	} {
		e := got
		edit(&e)
		if e.Verify(p, tl, pub) {
			t.Errorf("a status with %s changed verifies", name)
		}
	}
}

func TestParseStatus(t *testing.T) {
	topic := TillTopic("P1", "T1", LeafStatus)
	h := Hash([]byte("r"))
	tests := []struct {
		topic, payload string
		ok             bool
	}{
		{topic, `{"state":"online","head_seq":5,"acked_seq":3,"at":"2026-03-02T09:00:00Z"}`, true},
		{topic, `{"state":"offline","head_seq":5,"head_hash":"` + h + `","acked_seq":5,"at":"2026-03-02T09:00:00+08:00","sig":"x"}`, true},
		{topic, `{"state":"online","head_seq":0,"acked_seq":0,"at":"2026-03-02T09:00:00Z"}`, true},
		{topic, `{"state":"away","head_seq":5,"acked_seq":3,"at":"2026-03-02T09:00:00Z"}`, false},
		{topic, `{"state":"online","head_seq":5,"acked_seq":6,"at":"2026-03-02T09:00:00Z"}`, false},
		{topic, `{"state":"online","head_seq":5,"acked_seq":3,"at":"today"}`, false},
		{topic, `{"state":"online","head_seq":5,"head_hash":"ABC","acked_seq":3,"at":"2026-03-02T09:00:00Z"}`, false},
		{topic, `{"state":"online","head_seq":0,"head_hash":"` + h + `","acked_seq":0,"at":"2026-03-02T09:00:00Z"}`, false},
		{topic, `{"state":"online","head_seq":-1,"acked_seq":0,"at":"2026-03-02T09:00:00Z"}`, false},
		{topic, `[]`, false},
		{topic, ``, false},
		{TillTopic("P1", "T1", LeafTx), `{"state":"online","head_seq":5,"acked_seq":3,"at":"2026-03-02T09:00:00Z"}`, false},
		{"tillguard/v1/P1/status", `{"state":"online","head_seq":5,"acked_seq":3,"at":"2026-03-02T09:00:00Z"}`, false},
	}
	for _, tt := range tests {
		if _, _, _, err := ParseStatus(tt.topic, []byte(tt.payload)); (err == nil) != tt.ok {
			t.Errorf("ParseStatus(%s, %s) = %v, want ok %v", tt.topic, tt.payload, err, tt.ok)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add("tillguard/v1/P1/T1/status", []byte(`{"state":"online","head_seq":5,"acked_seq":3,"at":"2026-03-02T09:00:00Z"}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		p, tl, st, err := ParseStatus(topic, payload)
		if err != nil {
			return
		}
		if !ValidID(p) || !ValidID(tl) || st.AckedSeq > st.HeadSeq || (st.State != StateOnline && st.State != StateOffline) {
			t.Fatalf("ParseStatus(%q, %q) accepted %q/%q %+v", topic, payload, p, tl, st)
		}
	})
}
