package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite policy/testdata/*/expected.json from what Decide returns")

// A scenario is a folder policy/testdata/<case>/ holding input.json and
// expected.json. input.json (unknown keys are errors):
//
//	comment       what the case shows, and why the numbers are what they are
//	catalog       catalogue CSV, relative to the case folder; "" = the shared ../testdata/catalog.csv
//	catalog_rows  extra CSV rows in the shared catalogue's column order
//	policy        a policy file path (relative to the case folder) or an inline policy object; absent = DefaultPolicy
//	region        6-digit region whose limits apply; "" = the policy's default
//	card          {"type","no","expires"} or null (no card: cash context)
//	line          {"barcode","qty","traces","manual","expiry"}; the item is looked up in the catalogue
//	basket        {"rx_ref","long_rx","pharmacist_on_duty","others":[line…]}; pharmacist_on_duty
//	              absent = true: a case shows its own rule in a shop whose pharmacist is signed
//	              in, and pharmacist_absent/ shows the shop without one
//	history       {"purchases":[{"barcode" or "generic","days","at"}],"sold_traces":[…],"recent_cards":[{"no","at"}]}
//	now           RFC 3339
//	steps         [{"now","line","region","pharmacist_on_duty"}…]: decide in turn; an allowed or
//	              flagged line joins the card's purchases, as the ledger would record it (the
//	              worked example); a step's region or pharmacist_on_duty, when given, replaces
//	              the case's for that step
//	return        {"paid_by","refund_to"}: decide a return (DecideReturn) instead
//
// expected.json is {"decision": …} or {"steps": [ … ]}. go test -run
// TestScenarios -update rewrites it; review the diff before committing.
type scenarioInput struct {
	Comment     string          `json:"comment"`
	Catalog     string          `json:"catalog"`
	CatalogRows []string        `json:"catalog_rows"`
	Policy      json.RawMessage `json:"policy"`
	Region      string          `json:"region"`
	Card        *struct {
		Type    string `json:"type"`
		No      string `json:"no"`
		Expires string `json:"expires"`
	} `json:"card"`
	Line   scenarioLine `json:"line"`
	Basket struct {
		RxRef            string         `json:"rx_ref"`
		LongRx           bool           `json:"long_rx"`
		PharmacistOnDuty *bool          `json:"pharmacist_on_duty"`
		Others           []scenarioLine `json:"others"`
	} `json:"basket"`
	History struct {
		Purchases []struct {
			Barcode string `json:"barcode"`
			Generic string `json:"generic"`
			Days    int    `json:"days"`
			At      string `json:"at"`
		} `json:"purchases"`
		SoldTraces  []string `json:"sold_traces"`
		RecentCards []struct {
			No string `json:"no"`
			At string `json:"at"`
		} `json:"recent_cards"`
	} `json:"history"`
	Now   string `json:"now"`
	Steps []struct {
		Now              string       `json:"now"`
		Line             scenarioLine `json:"line"`
		Region           string       `json:"region"`
		PharmacistOnDuty *bool        `json:"pharmacist_on_duty"`
	} `json:"steps"`
	Return *struct {
		PaidBy   string `json:"paid_by"`
		RefundTo string `json:"refund_to"`
	} `json:"return"`
}

type scenarioLine struct {
	Barcode string   `json:"barcode"`
	Qty     int      `json:"qty"`
	Traces  []string `json:"traces"`
	Manual  bool     `json:"manual"`
	Expiry  string   `json:"expiry"`
}

type scenarioExpected struct {
	Decision *decisionJSON  `json:"decision,omitempty"`
	Steps    []decisionJSON `json:"steps,omitempty"`
}

type decisionJSON struct {
	Verdict  Verdict       `json:"verdict"`
	Rule     RuleID        `json:"rule,omitempty"`
	ReasonZH string        `json:"reason_zh,omitempty"`
	ReasonEN string        `json:"reason_en,omitempty"`
	Days     int           `json:"days,omitempty"`
	OnHand   int           `json:"on_hand,omitempty"`
	Limit    int           `json:"limit,omitempty"`
	Findings []findingJSON `json:"findings,omitempty"`
}

type findingJSON struct {
	Rule     RuleID  `json:"rule"`
	Verdict  Verdict `json:"verdict"`
	ReasonZH string  `json:"reason_zh"`
	ReasonEN string  `json:"reason_en"`
}

func toJSON(d Decision) decisionJSON {
	out := decisionJSON{Verdict: d.Verdict, Rule: d.Rule, ReasonZH: d.ReasonZH, ReasonEN: d.ReasonEN,
		Days: d.Days, OnHand: d.OnHand, Limit: d.Limit}
	for _, f := range d.Findings {
		out.Findings = append(out.Findings, findingJSON(f))
	}
	return out
}

// TestScenarios runs every case folder under testdata and compares its
// decisions with expected.json.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no scenarios under testdata")
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runScenario(t, dir)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestScenarios -update to create it)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("decisions differ from %s\n got:\n%s\nwant:\n%s", path, buf.Bytes(), want)
			}
		})
	}
}

func runScenario(t *testing.T, dir string) scenarioExpected {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	var in scenarioInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("input.json: %v", err)
	}
	if in.Comment == "" {
		t.Error("input.json: say what the case shows in comment")
	}
	if in.Return != nil {
		return scenarioExpected{Decision: ptr(toJSON(DecideReturn(Return{PaidBy: in.Return.PaidBy, RefundTo: in.Return.RefundTo})))}
	}

	cat := scenarioCatalog(t, dir, in.Catalog, in.CatalogRows)
	pol := scenarioPolicy(t, dir, in.Policy)
	lim := pol.Limits(in.Region)
	var card *Card
	if in.Card != nil {
		card = &Card{Type: in.Card.Type, No: in.Card.No, Expires: in.Card.Expires}
	}
	line := func(l scenarioLine) Line {
		out := Line{Barcode: l.Barcode, Qty: l.Qty, Traces: l.Traces, Manual: l.Manual, Expiry: l.Expiry}
		if it, ok := cat.Lookup(l.Barcode); ok {
			out.Item = &it
		}
		return out
	}
	b := Basket{RxRef: in.Basket.RxRef, LongRx: in.Basket.LongRx, PharmacistOnDuty: orTrue(in.Basket.PharmacistOnDuty)}
	for _, o := range in.Basket.Others {
		b.Others = append(b.Others, line(o))
	}
	var h History
	for _, p := range in.History.Purchases {
		g := p.Generic
		if p.Barcode != "" {
			it, ok := cat.Lookup(p.Barcode)
			if !ok {
				t.Fatalf("history: barcode %s not in the catalogue", p.Barcode)
			}
			g = it.Generic()
		}
		h.Purchases = append(h.Purchases, Purchase{Generic: g, Days: p.Days, At: parseTime(t, p.At)})
	}
	h.SoldTraces = in.History.SoldTraces
	for _, c := range in.History.RecentCards {
		h.RecentCards = append(h.RecentCards, CardSeen{No: c.No, At: parseTime(t, c.At)})
	}

	if len(in.Steps) == 0 {
		d := Decide(line(in.Line), card, b, h, lim, pol.Denied, parseTime(t, in.Now))
		checkDecision(t, d)
		return scenarioExpected{Decision: ptr(toJSON(d))}
	}
	var out scenarioExpected
	for _, s := range in.Steps {
		now := parseTime(t, s.Now)
		l := line(s.Line)
		lim, b := lim, b
		if s.Region != "" {
			lim = pol.Limits(s.Region)
		}
		if s.PharmacistOnDuty != nil {
			b.PharmacistOnDuty = *s.PharmacistOnDuty
		}
		d := Decide(l, card, b, h, lim, pol.Denied, now)
		checkDecision(t, d)
		if (d.Verdict == Allow || d.Verdict == Flag) && d.Days > 0 {
			h.Purchases = append(h.Purchases, Purchase{Generic: l.Item.Generic(), Days: d.Days, At: now})
		}
		out.Steps = append(out.Steps, toJSON(d))
	}
	return out
}

// checkDecision holds for every decision: the deciding finding is the most
// severe, the first of its rank, and every reason is filled in.
func checkDecision(t *testing.T, d Decision) {
	t.Helper()
	if d.Verdict == Allow {
		if d.Rule != "" || d.ReasonZH != "" || len(d.Findings) != 0 {
			t.Errorf("allowed with rule %q, reason %q, %d findings", d.Rule, d.ReasonZH, len(d.Findings))
		}
		return
	}
	top := -1
	for i, f := range d.Findings {
		if top < 0 || f.Verdict.rank() > d.Findings[top].Verdict.rank() {
			top = i
		}
		for _, s := range []string{f.ReasonZH, f.ReasonEN} {
			if s == "" || strings.ContainsAny(s, "{}") {
				t.Errorf("finding %s: reason %q", f.Rule, s)
			}
		}
	}
	if top < 0 {
		t.Fatalf("verdict %s without findings", d.Verdict)
	}
	if f := d.Findings[top]; f.Rule != d.Rule || f.Verdict != d.Verdict || f.ReasonZH != d.ReasonZH || f.ReasonEN != d.ReasonEN {
		t.Errorf("decided by %s %s, but the first most severe finding is %+v", d.Verdict, d.Rule, f)
	}
}

func scenarioCatalog(t *testing.T, dir, file string, rows []string) *Catalog {
	t.Helper()
	path := "../testdata/catalog.csv"
	if file != "" {
		path = filepath.Join(dir, file)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		data = append(data, r+"\n"...)
	}
	c, err := LoadCatalog(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func scenarioPolicy(t *testing.T, dir string, raw json.RawMessage) *Policy {
	t.Helper()
	if len(raw) == 0 {
		return DefaultPolicy()
	}
	data := []byte(raw)
	var file string
	if json.Unmarshal(raw, &file) == nil {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		data = b
	}
	p, err := LoadPolicy(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return tm
}

func ptr[T any](v T) *T { return &v }

// orTrue reads a JSON boolean that is true when absent.
func orTrue(v *bool) bool { return v == nil || *v }

// TestScenarios_coverEveryRule checks the case folders show every rule at
// every severity it can have, as the issue asks.
func TestScenarios_coverEveryRule(t *testing.T) {
	files, err := filepath.Glob("testdata/*/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var e scenarioExpected
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ds := e.Steps
		if e.Decision != nil {
			ds = append(ds, *e.Decision)
		}
		for _, d := range ds {
			for _, fd := range d.Findings {
				seen[fmt.Sprintf("%s/%s", fd.Rule, fd.Verdict)] = true
			}
		}
	}
	for _, r := range Rules() {
		for _, v := range r.Allowed {
			if !seen[fmt.Sprintf("%s/%s", r.ID, v)] {
				t.Errorf("no scenario shows %s at %s", r.ID, v)
			}
		}
	}
}
