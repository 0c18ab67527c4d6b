package bureau

import (
	"fmt"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/ledger"
)

// crossHits turns what the archive's cross-till index found in a stored
// batch into alarms. It runs inside PutBatch, on the receiving goroutine.
func (b *Bureau) crossHits(hits []ledger.CrossHit) {
	for _, h := range hits {
		if h.Trace != "" {
			b.alarm(h.Pharmacy, h.Till, h.Seq, AlarmTraceDupCross, fmt.Sprintf(
				"trace code %s (line %d) already sold by %s/%s seq %d and not returned",
				h.Trace, h.Line+1, h.Holder.Pharmacy, h.Holder.Till, h.Holder.Seq))
			continue
		}
		b.checkDaysCross(h)
	}
}

// checkDaysCross raises days_supply_cross when the card's supply of the
// drug on hand across every till, plus this line, exceeds the limit, and
// another till's purchase is part of it: what no single till could see.
func (b *Bureau) checkDaysCross(h ledger.CrossHit) {
	limit := h.DaysLimit
	if limit <= 0 {
		limit = b.daysLimit
	}
	var all []policy.Purchase
	others := map[string]bool{}
	for _, p := range h.Earlier {
		pp := policy.Purchase{Generic: h.Generic, Days: p.Days, At: p.At}
		all = append(all, pp)
		if (p.Pharmacy != h.Pharmacy || p.Till != h.Till) && policy.OnHand([]policy.Purchase{pp}, h.Generic, h.At) > 0 {
			others[p.Pharmacy+"/"+p.Till] = true
		}
	}
	onHand := policy.OnHand(all, h.Generic, h.At)
	if len(others) == 0 || onHand <= limit && h.Days <= limit-onHand {
		return
	}
	b.alarm(h.Pharmacy, h.Till, h.Seq, AlarmDaysSupplyCross, fmt.Sprintf(
		"card %s: %d days of %s on hand across %d other till(s), line %d adds %d, limit %d",
		maskCard(h.Card), onHand, h.Generic, len(others), h.Line+1, h.Days, limit))
}

// maskCard keeps a card number out of logs and the API: its last 4
// characters only.
func maskCard(no string) string {
	if len(no) <= 4 {
		return "****"
	}
	return "****" + no[len(no)-4:]
}
