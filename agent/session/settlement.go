package session

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/ledger"
)

// ErrBadSettlement: the POS's settlement is not one the till takes (a
// field too long, a character outside its set, a required field missing,
// or a settlement kind that contradicts the payment). A finer error of
// ErrInvalid.
var ErrBadSettlement = fmt.Errorf("%w: bad settlement", ErrInvalid)

// checkSettlement says what is wrong with st as the settlement of a sale
// paid by method, or nil. A cash sale is self-paid; an insurance or split
// sale went through the platform.
func checkSettlement(method string, st *feed.Settlement) error {
	if err := feed.CheckSettlement(st); err != nil {
		return problemf(ErrBadSettlement, "%s", strings.TrimPrefix(err.Error(), feed.ErrSettlement.Error()+": "))
	}
	switch {
	case method == PayCash && st.MdtrtSetlType == feed.SetlPlatform:
		return problemf(ErrBadSettlement, "a cash sale is self-paid: mdtrt_setl_type 2, not 1")
	case method != PayCash && st.MdtrtSetlType == feed.SetlSelfPaid:
		return problemf(ErrBadSettlement, "a sale paid by %s went through the platform: mdtrt_setl_type 1, not 2", method)
	}
	return nil
}

// Settle attaches the POS's settlement to a sale of this till made
// without one (or with one the POS now corrects): a settlement record,
// ref the sale, on disk when Settle returns without error. The upload
// takes the latest settlement of a sale. The sale must be in the ledger
// (ErrNotFound) and st fit its payment (ErrBadSettlement).
func (s *Session) Settle(saleID string, st feed.Settlement) (Receipt, error) {
	if saleID == "" {
		return Receipt{}, problemf(ErrSaleRequired, "a settlement needs the sale id")
	}
	if s.cfg.Index == nil {
		return Receipt{}, problemf(ErrNotFound, "sale %.80q not found (no ledger index)", saleID)
	}
	sale, err := s.cfg.Index.Sale(saleID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return Receipt{}, problemf(ErrNotFound, "sale %.80q not found", saleID)
	case err != nil:
		return Receipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	case sale.Record.Kind != feed.KindSale:
		return Receipt{}, problemf(ErrNotFound, "%.80q is no sale", saleID)
	}
	method := ""
	if sale.Record.Payment != nil {
		method = sale.Record.Payment.Method
	}
	if err := checkSettlement(method, &st); err != nil {
		return Receipt{}, err
	}
	r := &feed.Record{
		Pharmacy: s.cfg.Pharmacy, Till: s.cfg.Till, Kind: feed.KindSettlement,
		At: s.cfg.Now().Format(time.RFC3339), Ref: sale.Record.ID, Settlement: &st,
	}
	e, err := s.cfg.Ledger.Append(r)
	if err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrPersist, err)
	}
	return Receipt{ID: r.ID, Seq: e.Seq}, nil
}
