package archive

import (
	"fmt"
	"time"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// The cross-till rules: what no single till can see because it happened at
// another. Stores keep two indexes, written in the transaction that stores
// the records, and call the functions here to decide; so both stores index
// and decide alike.
//
//   - trace holders: traceability code → the unreturned sale holding it.
//     A sale at another till of a code someone holds is trace_dup_cross.
//     A return at the holder's till frees the code.
//   - card days: (card, generic, day, till) → days of that drug bought
//     with insurance on that calendar day at that till, and the last such
//     sale. A purchase that, with what the card has on hand from every
//     till, passes the days-supply limit, and where another till's
//     purchase is part of it, is days_supply_cross. A return shrinks its
//     sale's days in proportion.
//
// Summing per till and day bounds a lookup by WindowDays and the number of
// tills, however many sales a card has.

// WindowDays bounds how far back a card-days lookup reads: a purchase
// supplies at most this many days as far as the cross check is concerned
// (the longest legal supply is 84).
const WindowDays = 400

// TraceLine is one traceability code on a line.
type TraceLine struct {
	Line int
	Code string
}

// Traces lists the traceability codes of a record's lines.
func Traces(r *feed.Record) []TraceLine {
	var out []TraceLine
	for i, l := range r.Lines {
		for _, c := range l.DrugTracCodg {
			if c != "" {
				out = append(out, TraceLine{i, c})
			}
		}
	}
	return out
}

// CardLine is a sale line that counts toward a card's days supply.
type CardLine struct {
	Line      int
	Card      string
	Generic   string // first policy.GenericLen characters of med_list_codg
	Day       uint32 // the record's calendar date in its own offset, days since 1970
	Days      int    // days it supplies, at most WindowDays
	DaysLimit int    // the limit the till applied; 0 if not recorded
}

// CardLines lists a sale's insurance lines that supply days of a drug to
// a card. A record without a card or a parseable time has none.
func CardLines(r *feed.Record) []CardLine {
	at, err := time.Parse(time.RFC3339, r.At)
	if err != nil || r.Card == nil || r.Card.No == "" || len(r.Card.No) > 0xffff {
		return nil
	}
	var out []CardLine
	for i, l := range r.Lines {
		if l.Pay != "insurance" || l.Days <= 0 || len(l.MedListCodg) < policy.GenericLen {
			continue
		}
		out = append(out, CardLine{
			Line: i, Card: r.Card.No, Generic: l.MedListCodg[:policy.GenericLen], Day: Day(at),
			Days: min(l.Days, WindowDays), DaysLimit: l.DaysLimit,
		})
	}
	return out
}

// Returned lists, for a return of sale, the days each of the sale's card
// lines no longer supplies: its days in proportion to the packs returned.
func Returned(sale, ret *feed.Record) []CardLine {
	lines := CardLines(sale)
	var out []CardLine
	for _, rl := range ret.Lines {
		for _, cl := range lines {
			sl := sale.Lines[cl.Line]
			if sl.Barcode != rl.Barcode || sl.Qty <= 0 {
				continue
			}
			cl.Days = cl.Days * min(rl.Qty, sl.Qty) / sl.Qty
			if cl.Days > 0 {
				out = append(out, cl)
			}
			break
		}
	}
	return out
}

// Day numbers t's calendar date in t's own offset; dates before 1970 count
// as day 0.
func Day(t time.Time) uint32 {
	y, m, d := t.Date()
	n := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	return uint32(min(max(n, 0), 1<<32-1))
}

// WindowStart is the first day a lookup for day reads.
func WindowStart(day uint32) uint32 { return max(day, WindowDays) - WindowDays }

// DayPurchase is what a card bought of a drug at one till on one day.
type DayPurchase struct {
	Pharmacy, Till string
	Day            uint32
	Days           int
	Last           RecordRef // the last sale that day at that till
}

// TraceDup is the alarm for a code sold by rec (line) while holder holds it,
// or nil when the holder is the same till (that is the till's own rule).
func TraceDup(now time.Time, rec RecordRef, t TraceLine, holder RecordRef) *Alarm {
	if holder.Pharmacy == rec.Pharmacy && holder.Till == rec.Till {
		return nil
	}
	return &Alarm{
		At: now, Pharmacy: rec.Pharmacy, Till: rec.Till, Seq: rec.Seq, Kind: AlarmTraceDupCross, Key: t.Code,
		Detail: fmt.Sprintf("trace code %s (line %d) already sold by %s/%s seq %d and not returned",
			t.Code, t.Line+1, holder.Pharmacy, holder.Till, holder.Seq),
		Records: []RecordRef{rec, holder},
	}
}

// DaysSupply is the alarm for card line cl of rec, given the card's earlier
// purchases of the drug at every till within the window (this record's own
// not among them), or nil: the supply on hand across every till plus this
// line stays within the limit, or no other till's purchase is part of it.
// defaultLimit applies when the line records none.
func DaysSupply(now time.Time, rec RecordRef, cl CardLine, earlier []DayPurchase, defaultLimit int) *Alarm {
	limit := cl.DaysLimit
	if limit <= 0 {
		limit = defaultLimit
	}
	at := dayNoon(cl.Day)
	var all []policy.Purchase
	refs := []RecordRef{rec}
	others := map[string]bool{}
	for _, p := range earlier {
		if p.Day > cl.Day {
			continue
		}
		pp := policy.Purchase{Generic: cl.Generic, Days: p.Days, At: dayNoon(p.Day)}
		all = append(all, pp)
		other := p.Pharmacy != rec.Pharmacy || p.Till != rec.Till
		if other && policy.OnHand([]policy.Purchase{pp}, cl.Generic, at) > 0 {
			if !others[p.Pharmacy+"/"+p.Till] {
				refs = append(refs, p.Last)
			}
			others[p.Pharmacy+"/"+p.Till] = true
		}
	}
	onHand := policy.OnHand(all, cl.Generic, at)
	if len(others) == 0 || onHand <= limit && cl.Days <= limit-onHand {
		return nil
	}
	return &Alarm{
		At: now, Pharmacy: rec.Pharmacy, Till: rec.Till, Seq: rec.Seq, Kind: AlarmDaysSupplyCross, Key: cl.Generic,
		Detail: fmt.Sprintf("card %s: %d days of %s on hand across %d other till(s), line %d adds %d, limit %d",
			feed.MaskCardNo(cl.Card), onHand, cl.Generic, len(others), cl.Line+1, cl.Days, limit),
		Records: refs,
	}
}

// dayNoon is noon UTC of day: its calendar date is the record's in any zone
// within ±11 h, which is what OnHand counts in.
func dayNoon(day uint32) time.Time { return time.Unix(int64(day)*86400+12*3600, 0).UTC() }
