package feed

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Settlement is what only the POS's settlement with the national platform
// knows of a sale, under the platform's names (docs/national-platform.md).
// The till takes it at checkout or afterwards and keeps it for the 3505
// upload; it never settles anything itself.
type Settlement struct {
	MdtrtSn       string `json:"mdtrt_sn,omitempty"`        // the visit (就医) serial number
	SetlID        string `json:"setl_id,omitempty"`         // the platform's settlement id; required when MdtrtSetlType is 1
	PsnNo         string `json:"psn_no,omitempty"`          // the insured person's number
	HiFeesetlType string `json:"hi_feesetl_type,omitempty"` // insurance fee settlement type (code table)
	MdtrtSetlType string `json:"mdtrt_setl_type,omitempty"` // SetlPlatform or SetlSelfPaid
	PsnCertType   string `json:"psn_cert_type,omitempty"`   // the insured person's certificate type (code table)
}

// Settlement kinds (mdtrt_setl_type).
const (
	SetlPlatform = "1" // settled through the platform
	SetlSelfPaid = "2" // self-paid
)

// ErrSettlement reports a settlement the till does not take.
var ErrSettlement = errors.New("feed: bad settlement")

// settlementField is a settlement field as the platform bounds it.
type settlementField struct {
	name  string
	get   func(*Settlement) string
	max   int
	code  bool // a code-table value: letters and digits only
	needs bool // required in every settlement
}

var settlementFields = []settlementField{
	{"mdtrt_sn", func(s *Settlement) string { return s.MdtrtSn }, 30, false, true},
	{"setl_id", func(s *Settlement) string { return s.SetlID }, 30, false, false},
	{"psn_no", func(s *Settlement) string { return s.PsnNo }, 30, false, false},
	{"hi_feesetl_type", func(s *Settlement) string { return s.HiFeesetlType }, 6, true, false},
	{"mdtrt_setl_type", func(s *Settlement) string { return s.MdtrtSetlType }, 6, true, true},
	{"psn_cert_type", func(s *Settlement) string { return s.PsnCertType }, 6, true, false},
}

// CheckSettlement says what is wrong with s, every problem at once, or
// nil. mdtrt_sn and mdtrt_setl_type are required (the platform requires
// both of every sale), setl_id too when the sale was settled through the
// platform; each value is within the platform's length, an id of ASCII
// letters, digits, '-' and '_', a code of letters and digits. The till is
// strict here because what it takes is signed into the ledger for good.
func CheckSettlement(s *Settlement) error {
	var problems []string
	for _, f := range settlementFields {
		v := f.get(s)
		switch {
		case v == "" && f.needs:
			problems = append(problems, f.name+" is required")
		case len(v) > f.max:
			problems = append(problems, fmt.Sprintf("%s is %d characters, at most %d", f.name, len(v), f.max))
		case !settlementChars(v, f.code):
			what := "ASCII letters, digits, '-' and '_'"
			if f.code {
				what = "ASCII letters and digits"
			}
			problems = append(problems, fmt.Sprintf("%s %.40q: want %s", f.name, v, what))
		}
	}
	switch s.MdtrtSetlType {
	case "", SetlSelfPaid:
	case SetlPlatform:
		if s.SetlID == "" {
			problems = append(problems, "setl_id is required when mdtrt_setl_type is 1 (settled through the platform)")
		}
	default:
		problems = append(problems, fmt.Sprintf("mdtrt_setl_type %.10q: want 1 (through the platform) or 2 (self-paid)", s.MdtrtSetlType))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrSettlement, strings.Join(problems, "; "))
	}
	return nil
}

func settlementChars(v string, code bool) bool {
	for _, c := range []byte(v) {
		ok := c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || !code && (c == '-' || c == '_')
		if !ok {
			return false
		}
	}
	return true
}

// BatchNo is the platform's fixmedins_bchno of line (from 0) of the
// record with this id: unique per line, at most 30 characters, and the
// same whoever derives it. It is the record id's 128 bits in base 36,
// upper case, 25 characters, then the line's number from 1 in decimal
// (a record of at most MaxRecord bytes has fewer than 100 000 lines). An
// id that is no UUID stands in by the first 128 bits of its SHA-256.
func BatchNo(id string, line int) string {
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
	if err != nil || len(b) != 16 {
		sum := sha256.Sum256([]byte(id))
		b = sum[:16]
	}
	s := strings.ToUpper(new(big.Int).SetBytes(b).Text(36))
	return strings.Repeat("0", batchIDLen-len(s)) + s + strconv.Itoa(line+1)
}

// batchIDLen is the digits of 2^128 in base 36.
const batchIDLen = 25
