package feed

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCheckSettlement(t *testing.T) {
	ok := Settlement{MdtrtSn: "330100202603020001", SetlID: "S-0001_a", PsnNo: "33000010000000012345", HiFeesetlType: "1", MdtrtSetlType: SetlPlatform, PsnCertType: "01"}
	with := func(f func(*Settlement)) Settlement { s := ok; f(&s); return s }
	tests := []struct {
		name string
		s    Settlement
		want []string // parts of the error; none = accepted
	}{
		{"complete", ok, nil},
		{"self-paid without setl_id", Settlement{MdtrtSn: "M1", MdtrtSetlType: SetlSelfPaid}, nil},
		{"empty", Settlement{}, []string{"mdtrt_sn is required", "mdtrt_setl_type is required"}},
		{"platform without setl_id", with(func(s *Settlement) { s.SetlID = "" }), []string{"setl_id is required when mdtrt_setl_type is 1"}},
		{"unknown settlement kind", with(func(s *Settlement) { s.MdtrtSetlType = "3" }), []string{`mdtrt_setl_type "3": want 1`}},
		{"mdtrt_sn too long", with(func(s *Settlement) { s.MdtrtSn = strings.Repeat("1", 31) }), []string{"mdtrt_sn is 31 characters, at most 30"}},
		{"mdtrt_sn at the limit", with(func(s *Settlement) { s.MdtrtSn = strings.Repeat("1", 30) }), nil},
		{"setl_id too long", with(func(s *Settlement) { s.SetlID = strings.Repeat("s", 31) }), []string{"setl_id is 31 characters"}},
		{"psn_no too long", with(func(s *Settlement) { s.PsnNo = strings.Repeat("9", 31) }), []string{"psn_no is 31"}},
		{"code too long", with(func(s *Settlement) { s.HiFeesetlType = "1234567" }), []string{"hi_feesetl_type is 7 characters, at most 6"}},
		{"psn_cert_type too long", with(func(s *Settlement) { s.PsnCertType = "0100000" }), []string{"psn_cert_type is 7"}},
		{"space in an id", with(func(s *Settlement) { s.MdtrtSn = "33 01" }), []string{`mdtrt_sn "33 01": want ASCII letters, digits, '-' and '_'`}},
		{"Chinese in an id", with(func(s *Settlement) { s.PsnNo = "张三" }), []string{"psn_no"}},
		{"dash in a code", with(func(s *Settlement) { s.PsnCertType = "0-1" }), []string{`psn_cert_type "0-1": want ASCII letters and digits`}},
		{"every problem at once", Settlement{MdtrtSn: "a b", PsnCertType: "x_y"}, []string{"mdtrt_sn", "mdtrt_setl_type is required", "psn_cert_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSettlement(&tt.s)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrSettlement) {
				t.Fatalf("err = %v, want ErrSettlement", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestBatchNo(t *testing.T) {
	const id = "019cac4e-5260-7345-ac9a-3715aa3903ad"
	tests := []struct {
		id   string
		line int
		want string
	}{
		{"00000000-0000-0000-0000-000000000000", 0, strings.Repeat("0", 25) + "1"},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", 99998, "F5LXX1ZZ5PNORYNQGLHZMSP33" + "99999"},
		{id, 0, BatchNo(strings.ToUpper(id), 0)}, // hex digits in either case
	}
	for _, tt := range tests {
		if got := BatchNo(tt.id, tt.line); got != tt.want {
			t.Errorf("BatchNo(%q, %d) = %q, want %q", tt.id, tt.line, got, tt.want)
		}
	}
	// Unique per line and per record, within the platform's 30
	// characters, the same each time.
	seen := map[string]string{}
	for _, rid := range []string{id, "019cac4e-5260-7345-ac9a-3715aa3903ae", "id-1", "id-2", ""} {
		for line := range 12 {
			b := BatchNo(rid, line)
			if len(b) > 30 || b != BatchNo(rid, line) {
				t.Fatalf("BatchNo(%q, %d) = %q", rid, line, b)
			}
			if other, dup := seen[b]; dup {
				t.Fatalf("BatchNo(%q, %d) = %q, as %s", rid, line, b, other)
			}
			seen[b] = rid
		}
	}
}

// The records of testdata/pre-nhsa.jsonl were written by a till before
// the 3505 fields existed (a sale, a return, blocked attempts and a cash
// sale, signed with the key in pre-nhsa.pub). They still open, verify,
// chain, and decode to a record that encodes to the very same bytes.
func TestOldRecordsStillVerify(t *testing.T) {
	pubText, err := os.ReadFile("testdata/pre-nhsa.pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(pubText)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/pre-nhsa.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxEnvelope)
	prev, n := "", 0
	for sc.Scan() {
		rec, r, sig, err := Open(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if !ed25519.Verify(pub, rec, sig) {
			t.Errorf("seq %d: the signature does not verify", r.Seq)
		}
		if r.Prev != prev {
			t.Errorf("seq %d: prev %s, want %s", r.Seq, r.Prev, prev)
		}
		var fast Record
		if !decodeRecord(rec, &fast) {
			t.Errorf("seq %d: not taken by decodeRecord", r.Seq)
		}
		again, err := json.Marshal(&r)
		if err != nil || !bytes.Equal(again, rec) {
			t.Errorf("seq %d encodes again as\n%s\nnot\n%s", r.Seq, again, rec)
		}
		prev, n = Hash(rec), n+1
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("%d records in the fixture, want 5", n)
	}
}
