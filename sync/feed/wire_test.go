package feed

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTillTopic(t *testing.T) {
	tests := []struct {
		topic                string
		pharmacy, till, leaf string
		ok                   bool
	}{
		{"tillguard/v1/H33/T01/tx", "H33", "T01", "tx", true},
		{TillTopic("P", "T", LeafAck), "P", "T", "ack", true},
		{"tillguard/v1/policy/330100", "", "", "", false},
		{"tillguard/v1/H33/T01", "", "", "", false},
		{"tillguard/v1/H33//tx", "", "", "", false},
		{"tillguard/v2/H33/T01/tx", "", "", "", false},
		{"tillguard/v1/H33/T01/tx/extra", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		p, ti, l, err := ParseTillTopic(tt.topic)
		if tt.ok != (err == nil) || p != tt.pharmacy || ti != tt.till || l != tt.leaf {
			t.Errorf("ParseTillTopic(%q) = %q %q %q %v", tt.topic, p, ti, l, err)
		}
		if err != nil && !errors.Is(err, ErrBadTopic) {
			t.Errorf("ParseTillTopic(%q): %v does not wrap ErrBadTopic", tt.topic, err)
		}
	}
}

func TestValidID(t *testing.T) {
	for s, want := range map[string]bool{
		"H33010200001": true, "T-01_a": true, "": false, "a/b": false, "+": false, "#": false,
		"药店": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
	} {
		if ValidID(s) != want {
			t.Errorf("ValidID(%q) = %v", s, !want)
		}
	}
}

func TestSealOpen_roundTrip(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	rec := []byte(`{"seq":7,"id":"x","prev":"","pharmacy":"P1","till":"T1","kind":"sale","at":"2026-03-02T10:00:00+08:00"}`)
	payload, err := Seal(rec, ed25519.Sign(key, rec))
	if err != nil {
		t.Fatal(err)
	}
	got, r, sig, err := Open(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, rec) || r.Seq != 7 || r.Kind != KindSale || !ed25519.Verify(key.Public().(ed25519.PublicKey), got, sig) {
		t.Errorf("Open(Seal(rec)) = %s %+v, signature verifies: %v", got, r, ed25519.Verify(key.Public().(ed25519.PublicKey), got, sig))
	}
}

// Seal carries the record's bytes exactly, whatever JSON allows in them:
// the signature is over those bytes.
func TestSeal_keepsRecordBytes(t *testing.T) {
	rec := []byte(`{"seq":7, "pharmacy":"P1","till":"T1","kind":"sale","cashier":"<李> & \u4e00"}`)
	payload, err := Seal(rec, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, sig, err := Open(payload); err != nil || !bytes.Equal(got, rec) || !bytes.Equal(sig, []byte{1, 2, 3}) {
		t.Fatalf("Open(Seal(rec)) = %s, %v, %v", got, sig, err)
	}
}

func TestSeal_bad(t *testing.T) {
	for _, rec := range []string{``, `null`, `[]`, `"x"`, ` {}`, `{`, `}`, `{"a":1} x`, `{"a":1}` + "\n"} {
		if p, err := Seal([]byte(rec), []byte{1}); !errors.Is(err, ErrBadPayload) {
			t.Errorf("Seal(%q) = %q, %v; want ErrBadPayload", rec, p, err)
		}
	}
}

func TestOpen_bad(t *testing.T) {
	for _, p := range []string{
		``, `null`, `[]`, `{"rec":1,"sig":""}`, `{"rec":"{}","sig":""}`,
		`{"rec":{"seq":1,"pharmacy":"P","till":"T"},"sig":"***"}`,
		`{"rec":{"pharmacy":"P","till":"T"},"sig":""}`,
		`{"rec":{"seq":1,"pharmacy":"P/+","till":"T"},"sig":""}`,
		`{"rec":{"seq":-1,"pharmacy":"P","till":"T"},"sig":""}`,
		`{"rec":{"seq":1,"pharmacy":"P","till":"T","lines":7},"sig":""}`,
	} {
		if _, _, _, err := Open([]byte(p)); !errors.Is(err, ErrBadPayload) {
			t.Errorf("Open(%s) = %v, want ErrBadPayload", p, err)
		}
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		payload string
		want    uint64
		ok      bool
	}{
		{`{"upto_seq":42}`, 42, true},
		{`{"upto_seq":0}`, 0, true},
		{`{"upto_seq":42,"waiting_from":44}`, 42, true},
		{`{"upto_seq":42,"waiting_from":43}`, 0, false}, // nothing missing between them: not a hole
		{`{"upto_seq":42,"waiting_from":7}`, 0, false},
		{`{"upto_seq":42,"waiting_from":-1}`, 0, false},
		{`{}`, 0, false},
		{`{"upto_seq":-1}`, 0, false},
		{`{"upto_seq":"42"}`, 0, false},
		{`{"upto_seq":1e3}`, 0, false},
		{`{"upto_seq":42,"hash":"ab","at":"2026-03-02T09:00:00Z","sig":"x"}`, 42, true}, // shape only: Verify decides
		{`{"upto_seq":42,"at":"yesterday"}`, 0, false},
		{`42`, 0, false},
		{``, 0, false},
	}
	for _, tt := range tests {
		a, err := ParseAck([]byte(tt.payload))
		if tt.ok != (err == nil) || a.UptoSeq != tt.want {
			t.Errorf("ParseAck(%s) = %d, %v", tt.payload, a.UptoSeq, err)
		}
	}
}

// openGeneral reads a payload by decoding the envelope, as Open did
// before it read Seal's layout directly.
func openGeneral(payload []byte) (rec []byte, r Record, sig []byte, ok bool) {
	var env Envelope
	if json.Unmarshal(payload, &env) != nil || len(env.Rec) == 0 || env.Rec[0] != '{' || json.Unmarshal(env.Rec, &r) != nil {
		return nil, Record{}, nil, false
	}
	sig, err := base64.StdEncoding.DecodeString(env.Sig)
	return env.Rec, r, sig, err == nil
}

func TestOpen_sameAsEnvelopeDecoding(t *testing.T) {
	const rec = `{"seq":3,"pharmacy":"P","till":"T","reason":"a,\"sig\":\"AAAA"}`
	for _, p := range []string{
		`{"rec":` + rec + `,"sig":"AAAA"}`,
		`{"rec":` + rec + `,"sig":"AA\u0041A"}`,
		`{"rec": ` + rec + `,"sig":"AAAA"}`,
		`{"sig":"AAAA","rec":` + rec + `}`,
		`{"rec":{"seq":3,"pharmacy":"P","till":"T"} ,"sig":"AAAA"}`,
		`{"rec":{"seq":3,"pharmacy":"P","till":"T"},"sig":"AAAA","rec":{"seq":4,"pharmacy":"P","till":"T"}}`,
		`{"rec":{"seq":3,"pharmacy":"P","till":"T"},"sig":"A","sig":"AAAA"}`,
		`{"rec":{"seq":3,"pharmacy":"P","till":"T","x":{"a":1}},"sig":"AAAA"}`,
		`{"rec":{"seq":3},{"pharmacy":"P","till":"T"},"sig":"AAAA"}`,
		`{"rec":{"seq":3,"pharmacy":"P","till":"T"},"sig":"AAA"}`,
	} {
		rec, r, sig, err := Open([]byte(p))
		wrec, wr, wsig, ok := openGeneral([]byte(p))
		if (err == nil) != ok || err == nil && (!bytes.Equal(rec, wrec) || !reflect.DeepEqual(r, wr) || !bytes.Equal(sig, wsig)) {
			t.Errorf("Open(%s) = %s %+v %x %v, envelope decoding gives %s %+v %x %v", p, rec, r, sig, err, wrec, wr, wsig, ok)
		}
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"rec":{"seq":1,"pharmacy":"P","till":"T"},"sig":"AAAA"}`))
	f.Add([]byte(`{"rec":null,"sig":null}`))
	f.Add([]byte(`{"rec":{"seq":1,"pharmacy":"P","till":"T","reason":"\",\"sig\":\""},"sig":"AAAA"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		rec, r, sig, err := Open(payload)
		// Reading Seal's layout directly must change nothing.
		if wrec, wr, wsig, ok := openGeneral(payload); ok && err == nil && (!bytes.Equal(rec, wrec) || !reflect.DeepEqual(r, wr) || !bytes.Equal(sig, wsig)) {
			t.Fatalf("Open(%q) = %s %+v %x, envelope decoding gives %s %+v %x", payload, rec, r, sig, wrec, wr, wsig)
		} else if err == nil && !ok {
			t.Fatalf("Open(%q) accepted what envelope decoding refuses", payload)
		}
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		// What Open accepts names a valid till and re-decodes to the same record.
		var again Record
		if r.Seq == 0 || !ValidID(r.Pharmacy) || !ValidID(r.Till) || json.Unmarshal(rec, &again) != nil || again.Seq != r.Seq {
			t.Fatalf("accepted %s as %+v", rec, r)
		}
	})
}

func FuzzParseAck(f *testing.F) {
	f.Add([]byte(`{"upto_seq":42}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := ParseAck(payload)
		if err != nil && a.UptoSeq != 0 {
			t.Fatalf("error %v with upto_seq %d", err, a.UptoSeq)
		}
	})
}

func FuzzParseTillTopic(f *testing.F) {
	f.Add("tillguard/v1/P/T/tx")
	f.Fuzz(func(t *testing.T, topic string) {
		p, ti, l, err := ParseTillTopic(topic)
		if err == nil && TillTopic(p, ti, l) != topic {
			t.Fatalf("ParseTillTopic(%q) = %q %q %q does not round-trip", topic, p, ti, l)
		}
	})
}
