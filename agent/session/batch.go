package session

import (
	"github.com/tillguard/tillguard/drivers/scanner"
	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/feed"
)

// batch is what a box says of its lot, as the national platform writes
// it: the lot number and the dates of manufacture and expiry, YYYY-MM-DD.
// Boxes of one product go on one line only when their batches are the
// same, so that a line has one lot to upload.
type batch struct {
	lot, manuDate, expyEnd string
}

// scanBatch is the batch a scanned code carries: a GS1 code's AI 10
// (lot), 11 (date of manufacture) and 17 (expiry), the dates as the
// scanner resolves them. An EAN or a traceability code carries none.
func scanBatch(c scanner.Code) batch {
	return batch{lot: c.Lot, manuDate: c.ProducedDate, expyEnd: c.ExpiryDate}
}

// orCatalogue fills what the box did not say from the catalogue's lot on
// the shelf, unless the box says something else of its lot: a box of
// another lot keeps only what it carries, and the rest is for the
// pharmacist to key in.
func (b batch) orCatalogue(up policy.UploadInfo) batch {
	agrees := func(box, cat string) bool { return box == "" || box == cat }
	if !agrees(b.lot, up.Lot) || !agrees(b.manuDate, up.ManuDate) || !agrees(b.expyEnd, up.ExpyEnd) {
		return b
	}
	return batch{lot: up.Lot, manuDate: up.ManuDate, expyEnd: up.ExpyEnd}
}

// uploadFields puts on fl what the platform's upload takes of the line
// and the till knows: the catalogue's own id and name of the item, the
// split-pack flag, and the batch. The prescriber (prsc_dr_name) comes
// with the prescription (feedLine).
func (s *Session) uploadFields(fl *feed.Line, l *line) {
	up := s.cfg.Catalog.Upload(l.barcode)
	fl.FixmedinsHilistID, fl.FixmedinsHilistName, fl.TrdnFlag = up.HilistID, up.HilistName, up.Trdn
	b := l.batch.orCatalogue(up)
	fl.ManuLotnum, fl.ManuDate, fl.ExpyEnd = b.lot, b.manuDate, b.expyEnd
}

// returnedLine puts on a return's line rl what names the sale line it
// comes from (the sale's id and the line's index): the sale line's
// fixmedins_bchno, which the platform's 3506 refers to, and its item and
// batch, so that the return uploads as what was sold.
func returnedLine(rl *feed.Line, saleID string, index int, sl feed.Line) {
	rl.FixmedinsBchno = feed.BatchNo(saleID, index)
	rl.FixmedinsHilistID, rl.FixmedinsHilistName, rl.TrdnFlag = sl.FixmedinsHilistID, sl.FixmedinsHilistName, sl.TrdnFlag
	rl.ManuLotnum, rl.ManuDate, rl.ExpyEnd, rl.PrscDrName = sl.ManuLotnum, sl.ManuDate, sl.ExpyEnd, sl.PrscDrName
}
