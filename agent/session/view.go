package session

import (
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// View is the session as the till screen and POS integrations see it
// (GET /api/session, SPEC.md §5). Names and card numbers are masked.
type View struct {
	State  string     `json:"state"` // idle or open
	Card   *CardView  `json:"card"`
	Lines  []LineView `json:"lines"`
	Totals Totals     `json:"totals"`
	RxRef  string     `json:"rx_ref,omitempty"`
	Notice *Notice    `json:"notice,omitempty"`
}

// CardView is the masked card.
type CardView struct {
	Type    string `json:"type"`
	No      string `json:"no"`
	Name    string `json:"name"`
	Region  string `json:"region"`
	Present bool   `json:"present"`
}

// LineView is one line with its decision. Its position in Lines is the
// line number overrides name.
type LineView struct {
	Barcode     string   `json:"barcode"`
	MedListCodg string   `json:"med_list_codg"`
	Name        string   `json:"name"`
	Qty         int      `json:"qty"`
	Days        int      `json:"days"`
	PriceFen    int64    `json:"price_fen"`
	Traces      []string `json:"drug_trac_codg,omitempty"`
	Decision    string   `json:"decision"`
	Rule        string   `json:"rule"`
	ReasonZH    string   `json:"reason_zh"`
	ReasonEN    string   `json:"reason_en"`
	Flags       []string `json:"flags,omitempty"` // rule ids of the other findings
	Overridden  bool     `json:"overridden,omitempty"`
	Manual      bool     `json:"manual,omitempty"`
	DaysLimit   int      `json:"days_limit,omitempty"`
}

// Totals splits the basket as a split checkout would pay it, in fen.
type Totals struct {
	InsuranceFen int64 `json:"insurance_fen"`
	CashFen      int64 `json:"cash_fen"`
	TotalFen     int64 `json:"total_fen"`
}

// View returns a snapshot of the session.
func (s *Session) View() View {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := View{State: "idle", Lines: []LineView{}, RxRef: s.rxRef, Notice: s.notice}
	if s.card != nil || len(s.lines) > 0 {
		v.State = "open"
	}
	if s.card != nil {
		no := feed.MaskCardNo(s.card.No)
		v.Card = &CardView{Type: s.card.Type, No: no, Name: feed.MaskName(s.card.Name), Region: s.card.Region, Present: s.present}
	}
	for _, l := range s.lines {
		fl := s.feedLine(l, "")
		v.Lines = append(v.Lines, LineView{
			Barcode: fl.Barcode, MedListCodg: fl.MedListCodg, Name: fl.Name, Qty: fl.Qty, Days: fl.Days,
			PriceFen: fl.PriceFen, Traces: fl.DrugTracCodg, Decision: fl.Decision, Rule: fl.Rule,
			ReasonZH: fl.ReasonZH, ReasonEN: fl.ReasonEN, Flags: fl.Flags, Overridden: fl.Overridden,
			Manual: fl.Manual, DaysLimit: fl.DaysLimit,
		})
		if l.dec.Verdict == policy.Block {
			v.Totals.CashFen += fl.PriceFen
		} else {
			v.Totals.InsuranceFen += fl.PriceFen
		}
		v.Totals.TotalFen += fl.PriceFen
	}
	return v
}
