package session

import (
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// View is the session as the till screen and POS integrations see it
// (GET /api/session, README "Pages and JSON API"). Names and card numbers are masked.
type View struct {
	// State is open while a sale is under way (a basket, or a card
	// change waiting), else idle; the card in the reader shows either way.
	State      string          `json:"state"`
	Card       *CardView       `json:"card"`
	CardChange *CardChangeView `json:"card_change,omitempty"` // another card read while the basket is open
	Lines      []LineView      `json:"lines"`
	Totals     Totals          `json:"totals"`
	RxRef      string          `json:"rx_ref,omitempty"`
	Notice     *Notice         `json:"notice,omitempty"`
	// Pharmacist is who is signed in on duty; null = nobody, and
	// prescription drugs are held (pharmacist_absent).
	Pharmacist *Pharmacist `json:"pharmacist"`
}

// CardChangeView is a card change waiting for the cashier: the basket is
// From's until the cashier confirms it is To's, or voids it.
type CardChangeView struct {
	From *CardView `json:"from"`
	To   *CardView `json:"to"`
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
	if len(s.lines) > 0 || s.pending != nil {
		v.State = "open"
	}
	if s.card != nil {
		v.Card = cardView(s.card, s.present)
	}
	if s.pharmacist != nil {
		v.Pharmacist = new(*s.pharmacist)
	}
	if s.pending != nil {
		v.CardChange = &CardChangeView{From: v.Card, To: cardView(s.pending, true)}
		if v.Notice == nil {
			v.Notice = cardChangeNotice // until it is settled, whatever else was said since
		}
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

// cardView is c masked.
func cardView(c *Card, present bool) *CardView {
	return &CardView{Type: c.Type, No: feed.MaskCardNo(c.No), Name: feed.MaskName(c.Name), Region: c.Region, Present: present}
}
