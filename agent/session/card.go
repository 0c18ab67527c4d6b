package session

import (
	"fmt"
	"strings"

	"github.com/tillguard/tillguard/sync/feed"
)

// The buyer's card follows the reader, the basket follows the cashier: a
// card in the reader stays the session's from one sale to the next, and
// goes only when the reader reports it removed. A different card read
// while a basket is open never takes the basket: it waits as a card
// change until the cashier confirms the basket is the new holder's
// (ConfirmCard, a ledger record) or voids it, and until then insurance
// does not pay.

// CardRead takes the card the reader read.
func (s *Session) CardRead(c Card) {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = nil
	s.readCard(&c)
}

// readCard makes c the buyer when that takes no basket from anyone: the
// same card again, no basket, or a basket with no buyer yet. Otherwise c
// waits as the pending card change. A voucher counts as a card here: it
// names a buyer as a card does.
func (s *Session) readCard(c *Card) {
	switch {
	case s.card != nil && sameCard(s.card, c):
		// The holder's card back ends a change that was waiting.
		s.card, s.present, s.pending = c, true, nil
	case s.card == nil || len(s.lines) == 0:
		s.card, s.present, s.pending = c, true, nil
		s.redecide()
	default:
		s.pending = c
		if c.Type == feed.CardSSC && s.card.Type == feed.CardSSC {
			s.present = false // the reader holds one card: the new one
		}
		s.notice = cardChangeNotice
	}
}

var cardChangeNotice = &Notice{
	ZH: "读到另一张卡：请确认购物篮归新持卡人，或作废",
	EN: "Another card was read: confirm the basket is the new holder's, or void it",
}

func sameCard(a, b *Card) bool { return a.No == b.No && a.Type == b.Type }

// CardRemoved takes the reader's report that its card left. A pending
// change to that card ends and the basket stays its holder's; the holder's
// card out suspends insurance payment while a basket is open, and leaves
// the session when none is.
func (s *Session) CardRemoved() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	switch {
	case s.pending != nil && s.pending.Type == feed.CardSSC:
		s.pending = nil
		s.notice = &Notice{ZH: "新卡已拔出，购物篮仍属原持卡人", EN: "The other card was removed: the basket stays its holder's"}
	case s.card == nil || s.card.Type != feed.CardSSC:
	case len(s.lines) == 0:
		s.card, s.present = nil, false
		s.notice = &Notice{ZH: "医保卡已拔出", EN: "Card removed"}
	default:
		s.present = false
		s.notice = &Notice{ZH: "医保卡已拔出，医保支付暂停", EN: "Card removed: insurance payment suspended"}
	}
}

// CardError tells the cashier a card could not be read.
func (s *Session) CardError() {
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.notice = &Notice{ZH: "读卡失败，请重新插卡", EN: "Card read failed: insert the card again"}
}

// ConfirmCard is the cashier's word that the open basket is the pending
// card's holder's. The confirmation is a ledger record (kind card_change,
// on disk before the card changes); then every line is decided again for
// the new holder, as a card read decides them.
func (s *Session) ConfirmCard(cashier string) error {
	cashier = strings.TrimSpace(cashier)
	if cashier == "" {
		return problemf(ErrCashierRequired, "a card change needs the cashier's id")
	}
	s.mu.Lock()
	defer s.changed()
	defer s.mu.Unlock()
	s.cashier = cashier
	if s.pending == nil {
		return problemf(ErrNoCardChange, "no other card was read while the basket is open")
	}
	r := s.newRecord(feed.KindCardChange)
	r.Card = feedCard(s.pending)
	r.Cashier = cashier
	r.Reason = "from " + s.card.Type + " " + s.card.No
	for _, l := range s.lines {
		r.Lines = append(r.Lines, s.feedLine(l, ""))
	}
	if _, err := s.cfg.Ledger.Append(r); err != nil {
		return fmt.Errorf("%w: %w", ErrPersist, err)
	}
	s.card, s.present, s.pending = s.pending, true, nil
	s.notice = &Notice{ZH: "已确认：购物篮归新持卡人", EN: "Confirmed: the basket is the new holder's"}
	s.redecide()
	return nil
}

// feedCard is c as records carry it: the name masked.
func feedCard(c *Card) *feed.Card {
	return &feed.Card{Type: c.Type, No: c.No, Region: c.Region, Name: feed.MaskName(c.Name)}
}

// endSale closes the basket after a checkout or a void. The card in the
// reader stays for the next sale: a pending card (the reader holds it),
// else the holder's own while it is still in; a voucher is for one sale.
func (s *Session) endSale() {
	var next *Card
	switch {
	case s.pending != nil && s.pending.Type == feed.CardSSC:
		next = s.pending
	case s.card != nil && s.card.Type == feed.CardSSC && s.present:
		next = s.card
	}
	s.card, s.present, s.pending = next, next != nil, nil
	s.lines, s.rxRef, s.longRx, s.prescriber, s.notice = nil, "", false, "", nil
}
