package policy

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRules_catalogue checks the rule catalogue against the table of docs/rules.md.
func TestRules_catalogue(t *testing.T) {
	want := []struct {
		id  RuleID
		sev Verdict
	}{
		{"non_drug", Block}, {"not_covered", Block}, {"days_supply", Block}, {"rx_required", Hold},
		{"rx_items", Flag}, {"special_control", Block}, {"trace_dup", Block}, {"trace_missing", Flag},
		{"price_cap", Block}, {"card_expired", Block}, {"card_blocked", Block}, {"card_burst", Hold},
		{"off_hours", Hold}, {"manual_entry", Flag}, {"cash_refund", Block}, {"expired", Block},
		{"pharmacist_absent", Hold},
	}
	rules := Rules()
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for i, r := range rules {
		if r.ID != want[i].id || r.Severity != want[i].sev {
			t.Errorf("rule %d = %s %s, want %s %s", i, r.ID, r.Severity, want[i].id, want[i].sev)
		}
		if r.TitleZH == "" || r.TitleEN == "" || len(r.Sources) == 0 {
			t.Errorf("%s: title or sources missing: %+v", r.ID, r)
		}
		if len(r.Allowed) == 0 || r.Allowed[0] != r.Severity {
			t.Errorf("%s: Allowed %v does not start with the default", r.ID, r.Allowed)
		}
		if r.Required != (r.ID == RuleNonDrug || r.ID == RuleNotCovered) {
			t.Errorf("%s: Required = %v", r.ID, r.Required)
		}
	}
	if _, ok := RuleID("nope").Info(); ok {
		t.Error("Info of an unknown rule")
	}
	if RuleID("nope").severity() != Block {
		t.Error("an unknown rule does not fail closed")
	}
	rules[0].Sources[0] = "changed"
	if Rules()[0].Sources[0] == "changed" {
		t.Error("Rules shares its slices")
	}
}

// TestRules_reasons checks every reason belongs to a known rule, each
// rule has one, and Chinese and English use the same placeholders.
func TestRules_reasons(t *testing.T) {
	ph := regexp.MustCompile(`\{[a-z_]+\}`)
	has := map[RuleID]bool{}
	for r := reason(1); r < numReasons; r++ {
		id, zh, en := r.text()
		if !id.known() || zh == "" || en == "" {
			t.Errorf("reason %d: rule %q, %q / %q", r, id, zh, en)
		}
		has[id] = true
		a, b := ph.FindAllString(zh, -1), ph.FindAllString(en, -1)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(slices.Compact(a), slices.Compact(b)) {
			t.Errorf("reason %d: placeholders %v in Chinese, %v in English", r, a, b)
		}
	}
	for _, r := range Rules() {
		if !has[r.ID] {
			t.Errorf("rule %s has no reason", r.ID)
		}
	}
}

// TestRules_seedCitations checks that every source line the rules cite
// (in Rules() and in rules.go's comments) is quoted in docs/rules.md, which
// names the source documents and quotes each cited line ("000…:29 — …"):
// a citation the docs do not carry is one a maintainer cannot check.
func TestRules_seedCitations(t *testing.T) {
	src, err := os.ReadFile("rules.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	cite := regexp.MustCompile(`\b(\d{3})_[0-9a-f]{16}\.txt:(\d+)`)
	all := cite.FindAllString(string(src), -1)
	for _, r := range Rules() {
		for _, s := range r.Sources {
			if cite.MatchString(s) {
				all = append(all, s)
			}
			if strings.HasSuffix(s, ".txt:") {
				t.Errorf("%s: source %q without a line", r.ID, s)
			}
		}
	}
	quoted := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^- (\d{3})…:(\d+) — \S`).FindAllStringSubmatch(string(doc), -1) {
		quoted[m[1]+":"+m[2]] = true
	}
	for _, c := range all {
		m := cite.FindStringSubmatch(c)
		if !quoted[m[1]+":"+m[2]] {
			t.Errorf("%s: cited in policy, not quoted in docs/rules.md", c)
		}
	}
	if len(all) < 30 {
		t.Errorf("only %d citations found", len(all))
	}
}

func TestHours_open(t *testing.T) {
	at := func(hm string) time.Time {
		h, _ := strconv.Atoi(hm[:2])
		m, _ := strconv.Atoi(hm[3:])
		return time.Date(2025, 7, 10, h, m, 0, 0, cst)
	}
	tests := []struct {
		open, close, at string
		in, ok          bool
	}{
		{"08:00", "22:00", "08:00", true, true},
		{"08:00", "22:00", "21:59", true, true},
		{"08:00", "22:00", "22:00", false, true},
		{"08:00", "22:00", "07:59", false, true},
		{"08:00", "22:00", "23:30", false, true},
		{"08:00", "02:00", "23:30", true, true},
		{"08:00", "02:00", "01:59", true, true},
		{"08:00", "02:00", "02:00", false, true},
		{"08:00", "02:00", "07:00", false, true},
		{"00:00", "24:00", "23:59", true, true},
		{"07:00", "24:00", "06:59", false, true},
		{"08:00", "08:00", "03:00", true, true},
		{"8:00", "22:00", "10:00", false, false},
		{"08:00", "24:01", "10:00", false, false},
		{"24:00", "22:00", "10:00", false, false},
		{"", "", "10:00", false, false},
	}
	for _, tt := range tests {
		in, ok := Hours{tt.open, tt.close}.open(at(tt.at))
		if in != tt.in || ok != tt.ok {
			t.Errorf("%s–%s at %s: in %v ok %v, want %v %v", tt.open, tt.close, tt.at, in, ok, tt.in, tt.ok)
		}
	}
}

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 5: "0.05", 3650: "36.50", 100: "1.00", -250: "-2.50", 1e10: "100000000.00"} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}
