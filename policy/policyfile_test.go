package policy

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

func loadSample(t testing.TB) *Policy {
	t.Helper()
	b, err := os.ReadFile("../testdata/policy.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameLimits compares limits, maps and hours by value.
func sameLimits(a, b Limits) bool {
	hours := func(h *Hours) Hours {
		if h == nil {
			return Hours{"nil", "nil"}
		}
		return *h
	}
	return a.AcuteDays == b.AcuteDays && a.ChronicDays == b.ChronicDays && a.LongRxDays == b.LongRxDays &&
		a.RxItems == b.RxItems && a.BurstCards == b.BurstCards && a.BurstWindow == b.BurstWindow &&
		a.ExpiryNearDays == b.ExpiryNearDays &&
		maps.Equal(a.ControlMax, b.ControlMax) && hours(a.Hours) == hours(b.Hours) &&
		len(a.Severity) == len(b.Severity) && len(a.Off) == len(b.Off) &&
		maps.Equal(a.Severity, b.Severity) && maps.Equal(a.Off, b.Off)
}

func TestLoadPolicy_sample(t *testing.T) {
	p := loadSample(t)
	if p.Version != "2025-07-pilot-1" {
		t.Errorf("Version = %q", p.Version)
	}
	want := DefaultLimits()
	want.Severity = map[RuleID]Verdict{RuleTraceMissing: Flag}
	want.Off = map[RuleID]bool{}
	for _, region := range []string{"330100", "000000", ""} {
		if got := p.Limits(region); !sameLimits(got, want) {
			t.Errorf("Limits(%q) = %+v, want the defaults %+v", region, got, want)
		}
	}
	strict := p.Limits("990100")
	if strict.AcuteDays != 5 || strict.ChronicDays != 10 || strict.LongRxDays != 20 ||
		strict.Hours == nil || *strict.Hours != (Hours{"08:00", "22:00"}) ||
		strict.verdict(RuleTraceMissing) != Block || strict.RxItems != 5 || strict.ControlMax["ephedrine"] != 2 {
		t.Errorf("Limits(990100) = %+v", strict)
	}
	if !p.Denied("D00000001") || p.Denied("A12345678") || p.Denied("") {
		t.Error("deny list")
	}
	var nilPolicy *Policy
	if nilPolicy.Denied("D00000001") {
		t.Error("a nil policy denies")
	}
}

// TestLoadPolicy_merge checks that a region inherits what it leaves out,
// merges maps key by key, and can clear hours with null.
func TestLoadPolicy_merge(t *testing.T) {
	p, err := LoadPolicy(strings.NewReader(`{"version": "v",
		"regions": {"110000": {"rx_items": 3, "control_max": {"codeine": 1}, "hours": null, "off": {"manual_entry": false}}},
		"default": {"chronic_days": 30, "long_rx_days": 90, "hours": {"open": "07:30", "close": "24:00"},
			"off": {"manual_entry": true}, "control_max": {"ephedrine": 1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, r := p.Limits("999999"), p.Limits("110000")
	if d.ChronicDays != 30 || d.AcuteDays != 7 || d.Hours == nil || d.Hours.Close != "24:00" || !d.Off[RuleManualEntry] {
		t.Errorf("default = %+v", d)
	}
	if r.ChronicDays != 30 || r.RxItems != 3 || r.Hours != nil || r.Off[RuleManualEntry] ||
		!maps.Equal(r.ControlMax, map[string]int{"ephedrine": 1, "codeine": 1}) {
		t.Errorf("region = %+v", r)
	}
	if d.ControlMax["codeine"] != 0 {
		t.Error("a region's map leaked into the default")
	}
	if d.ExpiryNearDays != 30 || r.ExpiryNearDays != 30 {
		t.Errorf("near-expiry window %d, %d: want the default 30 inherited", d.ExpiryNearDays, r.ExpiryNearDays)
	}
	if dp := DefaultPolicy(); dp.Version == "" || !sameLimits(dp.Limits("330100"), DefaultLimits()) || dp.Denied("A1234567") {
		t.Errorf("DefaultPolicy = %+v", dp)
	}
}

func TestLoadPolicy_bad(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", `{"version": "v",`, "unexpected EOF"},
		{"trailing data", `{"version": "v"} {}`, "data after"},
		{"top not an object", `[]`, ": want an object"},
		{"no version", `{}`, "version: missing"},
		{"empty version", `{"version": " "}`, "version: want a non-empty string"},
		{"unknown top key", `{"version": "v", "regoins": {}}`, "regoins: unknown key"},
		{"unknown limit key", `{"version": "v", "default": {"acute": 7}}`, "default.acute: unknown key"},
		{"repeated key", `{"version": "v", "default": {"rx_items": 5, "rx_items": 6}}`, "default.rx_items: appears twice"},
		{"negative days", `{"version": "v", "default": {"acute_days": -3}}`, "default.acute_days: want a whole number from 1 to 366"},
		{"zero days", `{"version": "v", "regions": {"330100": {"chronic_days": 0}}}`, "regions.330100.chronic_days: want a whole number"},
		{"fractional days", `{"version": "v", "default": {"acute_days": 7.5}}`, "default.acute_days: want a whole number"},
		{"days as a string", `{"version": "v", "default": {"acute_days": "7"}}`, "default.acute_days: want a whole number"},
		{"long shorter than chronic", `{"version": "v", "default": {"long_rx_days": 10}}`, "default.long_rx_days: 10 is shorter"},
		{"bad region code", `{"version": "v", "regions": {"hz": {}}}`, "regions.hz: region code: want 6 digits"},
		{"unknown rule in severity", `{"version": "v", "default": {"severity": {"no_such": "block"}}}`, `default.severity.no_such: unknown rule "no_such"`},
		{"severity not allowed", `{"version": "v", "default": {"severity": {"days_supply": "flag"}}}`, `default.severity.days_supply: want "block" for days_supply`},
		{"lowering trace_missing", `{"version": "v", "default": {"severity": {"trace_missing": "allow"}}}`, `want "flag" or "block" for trace_missing`},
		{"lowering pharmacist_absent", `{"version": "v", "default": {"severity": {"pharmacist_absent": "allow"}}}`, `default.severity.pharmacist_absent: want "hold" or "flag" or "block" for pharmacist_absent`},
		{"non_drug off", `{"version": "v", "default": {"off": {"non_drug": true}}}`, "default.off.non_drug: non_drug cannot be switched off"},
		{"not_covered off", `{"version": "v", "regions": {"330100": {"off": {"not_covered": true}}}}`, "regions.330100.off.not_covered: not_covered cannot be switched off"},
		{"off not a bool", `{"version": "v", "default": {"off": {"manual_entry": "yes"}}}`, "default.off.manual_entry: want true or false"},
		{"unknown rule off", `{"version": "v", "default": {"off": {"cash_refund": true}}}`, `unknown rule "cash_refund"`},
		{"bad hours", `{"version": "v", "default": {"hours": {"open": "8:00", "close": "25:00"}}}`, "default.hours.open: want a clock time"},
		{"hours minute", `{"version": "v", "default": {"hours": {"open": "08:60", "close": "22:00"}}}`, "default.hours.open: want a clock time"},
		{"open at 24:00", `{"version": "v", "default": {"hours": {"open": "24:00", "close": "22:00"}}}`, "default.hours.open: want a clock time"},
		{"hours missing close", `{"version": "v", "default": {"hours": {"open": "08:00"}}}`, "default.hours.close: missing"},
		{"hours equal", `{"version": "v", "default": {"hours": {"open": "08:00", "close": "08:00"}}}`, "leave no limit"},
		{"hours unknown key", `{"version": "v", "default": {"hours": {"open": "08:00", "close": "22:00", "tz": "CST"}}}`, "default.hours.tz: unknown key"},
		{"bad window", `{"version": "v", "default": {"burst_window": "10"}}`, "default.burst_window: \"10\": want a duration"},
		{"window too short", `{"version": "v", "default": {"burst_window": "5s"}}`, "want a duration from 1m to 24h"},
		{"negative near-expiry window", `{"version": "v", "default": {"expiry_near_days": -1}}`, "default.expiry_near_days: want a whole number from 0 to 366"},
		{"near-expiry window too long", `{"version": "v", "regions": {"330100": {"expiry_near_days": 400}}}`, "regions.330100.expiry_near_days: want a whole number from 0 to 366"},
		{"near-expiry window as a string", `{"version": "v", "default": {"expiry_near_days": "30"}}`, "default.expiry_near_days: want a whole number"},
		{"near-expiry window fractional", `{"version": "v", "default": {"expiry_near_days": 7.5}}`, "default.expiry_near_days: want a whole number"},
		{"bad control class", `{"version": "v", "default": {"control_max": {"Ephedrine!": 2}}}`, "controlled class"},
		{"negative control", `{"version": "v", "default": {"control_max": {"ephedrine": -1}}}`, "default.control_max.ephedrine: want a whole number from 1"},
		{"deny not a list", `{"version": "v", "deny": "A1"}`, "deny: want an array"},
		{"deny bad number", `{"version": "v", "deny": ["A1234567", "x y"]}`, "deny[1]: want a card number"},
		{"deny twice", `{"version": "v", "deny": ["A1234567", "A1234567"]}`, "deny[1]: A1234567 appears twice"},
		{"comment not a string", `{"version": "v", "comment": 1}`, "comment: want a string"},
		{"too deep", `{"version": "v", "default": {"comment": ` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadPolicy(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("loaded %+v", p)
			}
			if p != nil || !errors.Is(err, ErrPolicy) {
				t.Fatalf("got %v, %v; want nil and ErrPolicy", p, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestLoadPolicy_allProblems checks one load reports every problem, each
// with its path.
func TestLoadPolicy_allProblems(t *testing.T) {
	_, err := LoadPolicy(strings.NewReader(`{
		"default": {"acute_days": -1, "severity": {"rx_items": "block"}, "color": "red"},
		"regions": {"330100": {"off": {"non_drug": true}, "hours": {"open": "23:61", "close": "06:00"}, "expiry_near_days": -30}},
		"deny": [7]
	}`))
	if err == nil {
		t.Fatal("loaded")
	}
	want := []string{
		"default.acute_days:", "default.severity.rx_items:", "default.color:", "regions.330100.off.non_drug:",
		"regions.330100.hours.open:", "regions.330100.expiry_near_days:", "deny[0]:", "version: missing",
	}
	msg := err.Error()
	if !strings.Contains(msg, "(8 problems)") {
		t.Errorf("want 8 problems: %v", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%v", w, msg)
		}
	}
}

func FuzzLoadPolicy(f *testing.F) {
	if b, err := os.ReadFile("../testdata/policy.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version": "v", "default": {"hours": {"open": "22:00", "close": "02:00"}, "off": {"trace_missing": true}}}`))
	f.Add([]byte(`{"version": "v", "regions": {"330100": {"severity": {"trace_missing": "block"}, "control_max": {"ephedrine": 3}}}, "deny": ["A1234567"]}`))
	f.Add([]byte(`{"version": "v", "default": {"acute_days": 1e3, "burst_window": "-1h"}, "version": 2}`))
	f.Add([]byte(`[{"a": null}, true, "x"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := LoadPolicy(bytes.NewReader(data))
		if err != nil {
			if p != nil {
				t.Fatal("error with a policy")
			}
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error does not wrap ErrPolicy: %v", err)
			}
			if _, list, ok := strings.Cut(err.Error(), "problems):\n"); ok {
				for _, line := range strings.Split(list, "\n") {
					if !strings.Contains(line, ": ") {
						t.Fatalf("problem without a path: %q", line)
					}
				}
			}
			return
		}
		if p.Version == "" {
			t.Fatal("loaded without a version")
		}
		all := map[string]Limits{"default": p.Default}
		for code, l := range p.Regions {
			if len(code) != 6 || !allDigits(code) {
				t.Fatalf("region code %q loaded", code)
			}
			all[code] = l
		}
		for name, l := range all {
			if l.AcuteDays < 1 || l.ChronicDays < 1 || l.LongRxDays < max(l.AcuteDays, l.ChronicDays) ||
				l.RxItems < 1 || l.BurstCards < 1 || l.BurstWindow < time.Minute || l.ExpiryNearDays < 0 || l.ExpiryNearDays > 366 {
				t.Fatalf("%s: impossible limits loaded: %+v", name, l)
			}
			for id, v := range l.Severity {
				if !id.allows(v) {
					t.Fatalf("%s: severity %s for %s loaded", name, v, id)
				}
			}
			for id, off := range l.Off {
				if off && id.required() {
					t.Fatalf("%s: %s switched off", name, id)
				}
			}
			for class, n := range l.ControlMax {
				if n < 1 || !controlName(class) {
					t.Fatalf("%s: control_max %q: %d", name, class, n)
				}
			}
			if l.Hours != nil {
				if _, ok := l.Hours.open(day(0)); !ok {
					t.Fatalf("%s: bad hours %+v loaded", name, *l.Hours)
				}
			}
			// Whatever loads must decide without panicking.
			_ = Decide(Line{Barcode: metforminA.Barcode, Item: &metforminA, Qty: 1, Manual: true}, testCard,
				Basket{}, History{}, l, p.Denied, day(0))
		}
	})
}

// TestLoadPolicy_expiryNearDays checks the near-expiry window: inherited
// when left out, 0 accepted (no near-expiry flag), a region over default.
func TestLoadPolicy_expiryNearDays(t *testing.T) {
	p, err := LoadPolicy(strings.NewReader(`{"version": "v", "default": {"expiry_near_days": 60},
		"regions": {"110000": {"expiry_near_days": 0}, "120000": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for region, want := range map[string]int{"": 60, "110000": 0, "120000": 60} {
		if got := p.Limits(region).ExpiryNearDays; got != want {
			t.Errorf("Limits(%q).ExpiryNearDays = %d, want %d", region, got, want)
		}
	}
	if got := DefaultPolicy().Limits("").ExpiryNearDays; got != 30 {
		t.Errorf("default window %d, want 30", got)
	}
}
