package session

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tillguard/tillguard/sync/feed"
)

// The licensed pharmacist on duty (docs/rules.md, pharmacist_absent). A
// prescription drug is held while nobody is signed in; every sale carries
// who was on duty (phar_name, phar_prac_cert_no). Duty lives in the
// session only: a till that restarts starts with nobody on duty, and the
// pharmacist signs in again.

// Pharmacist is the pharmacist on duty, as GET /api/session shows them.
// PracCertNo is their practising certificate number (执业药师注册证); it
// is empty for a pharmacist put on duty by an override, which names them
// only.
type Pharmacist struct {
	Name       string `json:"name"`
	PracCertNo string `json:"prac_cert_no"`
}

// Bounds of what a sign-in takes: the national upload's names (phar_name,
// prsc_dr_name) hold 50 characters; a certificate number is short and
// plain.
const (
	maxPersonNameLen = 50
	maxPracCertLen   = 32
)

// personName reports whether name, trimmed, is a person's name the
// national upload takes: at most maxPersonNameLen characters, none a
// control character.
func personName(name string) bool {
	return utf8.ValidString(name) && utf8.RuneCountInString(name) <= maxPersonNameLen && !strings.ContainsFunc(name, unicode.IsControl)
}

// SignIn puts a licensed pharmacist on duty: name and practising
// certificate number, both required. A pharmacist already on duty is
// replaced (a shift change). The sign-in is a ledger record (kind
// pharmacist_on, phar_name and phar_prac_cert_no) on disk before duty
// changes; then the basket is decided again, so prescription drugs held for
// want of a pharmacist go through, as a card read re-decides them.
func (s *Session) SignIn(name, pracCertNo string) error {
	p, err := checkPharmacist(name, pracCertNo)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	if err := s.appendDuty(feed.KindPharmacistOn, p); err != nil {
		return err
	}
	s.pharmacist = &p
	s.notice = &Notice{ZH: "药师 " + p.Name + " 已签到", EN: "Pharmacist " + p.Name + " signed in"}
	s.redecide()
	return nil
}

// SignOut takes the pharmacist on duty off it: a ledger record (kind
// pharmacist_off, who leaves) on disk first, then the basket is decided
// again, so prescription drugs wait for the next sign-in.
func (s *Session) SignOut() error {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	if s.pharmacist == nil {
		return problemf(ErrNoPharmacist, "nobody is signed in")
	}
	p := *s.pharmacist
	if err := s.appendDuty(feed.KindPharmacistOff, p); err != nil {
		return err
	}
	s.pharmacist = nil
	s.notice = &Notice{ZH: "药师 " + p.Name + " 已签退，处方药须待药师签到", EN: "Pharmacist " + p.Name + " signed out: prescription drugs wait for a pharmacist"}
	s.redecide()
	return nil
}

// appendDuty writes a change of duty. It carries no card: it is the
// till's, not the buyer's.
func (s *Session) appendDuty(kind string, p Pharmacist) error {
	r := s.newRecord(kind)
	r.Card = nil
	r.PharName, r.PharPracCertNo = p.Name, p.PracCertNo
	if _, err := s.cfg.Ledger.Append(r); err != nil {
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	return nil
}

// onDutyByOverride puts the pharmacist who released a hold on duty when
// nobody is: they are at the counter. The override names them only, so
// the certificate number stays empty until they sign in; the override
// record is the ledger's account of it.
func (s *Session) onDutyByOverride(name string) {
	if s.pharmacist == nil {
		s.pharmacist = &Pharmacist{Name: name}
	}
}

// pharmacistOnDuty is who is signed in at the till, their name and
// practising certificate number, which every sale record carries for the
// upload (phar_name, phar_prac_cert_no); empty when nobody is.
func (s *Session) pharmacistOnDuty() (name, pracCertNo string) {
	if s.pharmacist == nil {
		return "", ""
	}
	return s.pharmacist.Name, s.pharmacist.PracCertNo
}

// checkPharmacist reads a sign-in: the name trimmed, 1–50 characters and
// no control characters; the certificate number trimmed, 1–32 of A–Z a–z
// 0–9 and '-'.
func checkPharmacist(name, pracCertNo string) (Pharmacist, error) {
	name, pracCertNo = strings.TrimSpace(name), strings.TrimSpace(pracCertNo)
	switch {
	case name == "":
		return Pharmacist{}, problemf(ErrNameRequired, "a sign-in needs the pharmacist's name")
	case !personName(name):
		return Pharmacist{}, problemf(ErrBadName, "name %.60q: want 1–%d characters, no control characters", name, maxPersonNameLen)
	case pracCertNo == "":
		return Pharmacist{}, problemf(ErrPracCertRequired, "a sign-in needs the practising certificate number")
	case !validPracCert(pracCertNo):
		return Pharmacist{}, problemf(ErrBadPracCert, "prac_cert_no %.40q: want 1–%d of A-Z a-z 0-9 -", pracCertNo, maxPracCertLen)
	}
	return Pharmacist{Name: name, PracCertNo: pracCertNo}, nil
}

func validPracCert(s string) bool {
	if len(s) > maxPracCertLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b == '-') {
			return false
		}
	}
	return true
}
