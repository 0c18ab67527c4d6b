package session

import (
	"errors"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

const (
	pharName = "钱药师"
	pharCert = "ZY330100001"
)

// signIn puts the test pharmacist on duty, as a real shop starts its day.
func (f *fixture) signIn(t *testing.T) {
	t.Helper()
	if err := f.s.SignIn(pharName, pharCert); err != nil {
		t.Fatal(err)
	}
}

// TestSession_signInValidates: a sign-in needs a sane name and
// certificate number; a refused one writes nothing and puts nobody on duty.
func TestSession_signInValidates(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, name2, cert string
		want              error
	}{
		{"no name", "", pharCert, ErrNameRequired},
		{"blank name", "  ", pharCert, ErrNameRequired},
		{"name too long", strings.Repeat("药", 51), pharCert, ErrBadName},
		{"name with a control character", "钱\n药师", pharCert, ErrBadName},
		{"name not UTF-8", "\xff", pharCert, ErrBadName},
		{"no cert", pharName, "", ErrPracCertRequired},
		{"blank cert", pharName, " ", ErrPracCertRequired},
		{"cert too long", pharName, strings.Repeat("Z", 33), ErrBadPracCert},
		{"cert with a space", pharName, "ZY 3301", ErrBadPracCert},
		{"cert with a slash", pharName, "ZY/3301", ErrBadPracCert},
		{"cert full-width", pharName, "ＺＹ3301", ErrBadPracCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.s.SignIn(tt.name2, tt.cert)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalid) || Detail(err) == "" {
				t.Fatalf("SignIn(%q, %q) = %v, want %v with a detail", tt.name2, tt.cert, err, tt.want)
			}
		})
	}
	if h := f.led.Head(); h != 0 || f.s.View().Pharmacist != nil {
		t.Fatalf("refused sign-ins left %d records, pharmacist %+v", h, f.s.View().Pharmacist)
	}
	for _, cert := range []string{"Z", "zy-3301-0001", strings.Repeat("9", 32)} {
		if err := f.s.SignIn(" "+pharName+" ", cert); err != nil {
			t.Errorf("SignIn(%q) = %v", cert, err)
		}
	}
	if p := f.s.View().Pharmacist; p == nil || p.Name != pharName {
		t.Errorf("pharmacist %+v, want the name trimmed", p)
	}
}

// TestSession_signInAndOutRecords: each is a ledger record naming the
// pharmacist, without the buyer's card; the view shows who is on duty.
func TestSession_signInAndOutRecords(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	if err := f.s.SignOut(); !errors.Is(err, ErrNoPharmacist) || !errors.Is(err, ErrConflict) {
		t.Fatalf("sign-out with nobody on duty = %v, want ErrNoPharmacist", err)
	}
	f.signIn(t)
	on := f.led.last(t)
	if on.Kind != feed.KindPharmacistOn || on.PharName != pharName || on.PharPracCertNo != pharCert || on.Card != nil {
		t.Fatalf("sign-in record = %+v", on)
	}
	if p := f.s.View().Pharmacist; p == nil || *p != (Pharmacist{Name: pharName, PracCertNo: pharCert}) {
		t.Fatalf("view pharmacist = %+v", p)
	}
	if err := f.s.SignOut(); err != nil {
		t.Fatal(err)
	}
	off := f.led.last(t)
	if off.Kind != feed.KindPharmacistOff || off.PharName != pharName || off.PharPracCertNo != pharCert || off.Card != nil {
		t.Fatalf("sign-out record = %+v", off)
	}
	if p := f.s.View().Pharmacist; p != nil {
		t.Fatalf("view pharmacist after sign-out = %+v, want null", p)
	}
}

// TestSession_signInPersistFailure: a sign-in the ledger refuses changes
// nothing: nobody on duty, the hold stays.
func TestSession_signInPersistFailure(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace1))
	f.led.fail = errors.New("disk full")
	if err := f.s.SignIn(pharName, pharCert); !errors.Is(err, ErrPersist) {
		t.Fatalf("sign-in = %v, want ErrPersist", err)
	}
	f.led.fail = nil
	if v := f.s.View(); v.Pharmacist != nil || v.Lines[0].Rule != string(policy.RulePharmacistAbsent) {
		t.Fatalf("after a refused sign-in: pharmacist %+v, line %+v", v.Pharmacist, v.Lines[0])
	}
}

// TestSession_rxHeldUntilSignIn: a prescribed drug with nobody on duty is
// held (pharmacist_absent) and stops the checkout; an OTC drug is not; the
// sign-in re-decides the basket, and the sale names the pharmacist.
func TestSession_rxHeldUntilSignIn(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace1))
	f.s.Scan(product(metformin)) // OTC here
	v := f.s.View()
	if l := v.Lines[0]; l.Decision != "hold" || l.Rule != string(policy.RulePharmacistAbsent) ||
		l.ReasonZH != "处方药须执业药师在岗审核：当前无药师签到" || l.ReasonEN != "A prescription drug needs a licensed pharmacist on duty: nobody is signed in" {
		t.Fatalf("rx line = %+v, want a pharmacist_absent hold", l)
	}
	if l := v.Lines[1]; l.Decision != "allow" {
		t.Fatalf("OTC line = %+v, want allowed", l)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); !errors.Is(err, ErrHeldLines) {
		t.Fatalf("checkout with nobody on duty = %v, want ErrHeldLines", err)
	}
	held := f.led.last(t)
	if held.Kind != feed.KindBlocked || held.Lines[0].Rule != string(policy.RulePharmacistAbsent) {
		t.Fatalf("hold record = %+v", held)
	}

	f.signIn(t)
	if l := f.s.View().Lines[0]; l.Decision != "allow" {
		t.Fatalf("rx line after the sign-in = %+v, want allowed", l)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	sale := f.led.last(t)
	if sale.Kind != feed.KindSale || sale.PharName != pharName || sale.PharPracCertNo != pharCert {
		t.Fatalf("sale = %+v, want phar_name %s, phar_prac_cert_no %s", sale, pharName, pharCert)
	}
	// Duty outlives the basket: the next sale is under the same pharmacist.
	f.now = f.now.AddDate(0, 0, 10)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace2))
	if l := f.s.View().Lines[0]; l.Decision != "allow" {
		t.Errorf("next sale's rx line = %+v, want allowed", l)
	}
}

// TestSession_signOutHoldsAgain: a pharmacist leaving mid-basket puts its
// prescription drugs back on hold.
func TestSession_signOutHoldsAgain(t *testing.T) {
	f := newFixture(t)
	f.signIn(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace1))
	if l := f.s.View().Lines[0]; l.Decision != "allow" {
		t.Fatalf("rx line = %+v, want allowed", l)
	}
	if err := f.s.SignOut(); err != nil {
		t.Fatal(err)
	}
	if l := f.s.View().Lines[0]; l.Decision != "hold" || l.Rule != string(policy.RulePharmacistAbsent) {
		t.Fatalf("rx line after the sign-out = %+v, want held", l)
	}
	if k := f.led.kinds(t); k != "pharmacist_on,pharmacist_off,blocked" {
		t.Errorf("records = %s", k)
	}
}

// TestSession_overridePutsOnDuty: with nobody signed in, a pharmacist's
// override releases the hold and puts them on duty by name only, so the
// sale carries the name and an empty certificate number; a sign-in then
// replaces them.
func TestSession_overridePutsOnDuty(t *testing.T) {
	f := newFixture(t)
	f.s.CardRead(card)
	f.s.Scan(rxScan(rxRef))
	f.s.Scan(trace(amoxTrace1))
	if err := f.s.Override(0, "ph007", "at the counter"); err != nil {
		t.Fatal(err)
	}
	if p := f.s.View().Pharmacist; p == nil || *p != (Pharmacist{Name: "ph007"}) {
		t.Fatalf("pharmacist after the override = %+v, want ph007 without a certificate", p)
	}
	if _, err := f.s.Checkout(PayInsurance, "c1"); err != nil {
		t.Fatal(err)
	}
	if sale := f.led.last(t); sale.PharName != "ph007" || sale.PharPracCertNo != "" {
		t.Errorf("sale pharmacist %q %q, want ph007 and no certificate", sale.PharName, sale.PharPracCertNo)
	}
	f.signIn(t)
	// An override with a pharmacist on duty leaves duty as it is.
	f.s.Scan(trace(amoxTrace2)) // no prescription in this sale: rx_required holds
	if err := f.s.Override(0, "ph008", "paper prescription seen"); err != nil {
		t.Fatal(err)
	}
	if p := f.s.View().Pharmacist; p == nil || p.Name != pharName {
		t.Errorf("pharmacist = %+v, want %s still on duty", p, pharName)
	}
}
