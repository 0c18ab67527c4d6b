package bureau

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tillguard/tillguard/policy"
	"github.com/tillguard/tillguard/sync/archive"
	"github.com/tillguard/tillguard/sync/bundle"
	"github.com/tillguard/tillguard/sync/feed"
	"github.com/tillguard/tillguard/sync/mqttclient"
)

// Export formats.
const (
	FormatJSONL = "jsonl" // {"rec":…,"sig":"…"} per line, the record's bytes exactly as the till signed them
	FormatCSV   = "csv"   // one row per sale line, record fields flattened
)

// ExportFilter selects what Export writes. Empty Pharmacy and Till mean
// every till in the archive.
type ExportFilter struct {
	Pharmacy, Till string
	FromSeq        uint64 // first seq per till; 0 or 1 = all
}

// exporter is the part of an archive.Store that Export reads.
type exporter interface {
	Tills(ctx context.Context, q archive.TillQuery) ([]archive.TillInfo, error)
	Scan(ctx context.Context, pharmacy, till string, from uint64, limit int, fn func(seq uint64, rec, sig []byte) error) error
}

// CSVHeader is the first row of a CSV export.
var CSVHeader = []string{
	"pharmacy", "till", "seq", "id", "prev", "kind", "at",
	"card_type", "card_no", "card_region", "card_name",
	"cashier", "pharmacist", "reason", "ref", "device_name", "device_state",
	"payment_method", "insurance_fen", "cash_fen",
	"phar_name", "phar_prac_cert_no", "mdtrt_sn", "setl_id", "psn_no", "mdtrt_setl_type", "hi_feesetl_type", "psn_cert_type",
	"line", "barcode", "med_list_codg", "name", "qty", "days", "days_limit", "price_fen",
	"drug_trac_codg", "rx_flag", "rx_ref", "manual", "decision", "rule", "flags", "overridden", "pay",
	"fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno", "manu_lotnum", "manu_date", "expy_end", "trdn_flag", "prsc_dr_name",
	"sig",
}

// csvLineColumns is how many of CSVHeader's columns describe a line.
const csvLineColumns = 25

// Export writes the archive's records, till by till in seq order, as JSON
// lines or CSV. A CSV row is one line of a record (a record without lines
// is one row with the line columns empty); lists are joined with ';'. A
// CSV text cell that a spreadsheet would run as a formula is written with
// a leading "'", and NUL bytes are dropped (csvCell).
//
// Format3505 and Format3506 are the national platform's uploads
// (ExportUpload).
func Export(ctx context.Context, w io.Writer, ar exporter, format string, f ExportFilter) error {
	if format == Format3505 || format == Format3506 {
		_, err := ExportUpload(ctx, w, ar, format, f)
		return err
	}
	if format != FormatJSONL && format != FormatCSV {
		return fmt.Errorf("bureau: export: format %q: want %s, %s, %s or %s", format, FormatJSONL, FormatCSV, Format3505, Format3506)
	}
	if (f.Pharmacy == "") != (f.Till == "") {
		return errors.New("bureau: export: pharmacy and till go together")
	}
	tills, err := selectTills(ctx, ar, f)
	if err != nil {
		return fmt.Errorf("bureau: export: %w", err)
	}
	bw := bufio.NewWriter(w)
	var cw *csv.Writer
	if format == FormatCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(CSVHeader); err != nil {
			return fmt.Errorf("bureau: export: %w", err)
		}
	}
	for _, t := range tills {
		err := ar.Scan(ctx, t.Pharmacy, t.Till, max(f.FromSeq, 1), 0, func(_ uint64, rec, sig []byte) error {
			if cw == nil {
				return writeJSONLine(bw, rec, sig)
			}
			return writeCSV(cw, rec, sig)
		})
		if err != nil {
			return fmt.Errorf("bureau: export %s/%s: %w", t.Pharmacy, t.Till, err)
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("bureau: export: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bureau: export: %w", err)
	}
	return nil
}

func writeCSV(cw *csv.Writer, rec, sig []byte) error {
	var r feed.Record
	if err := json.Unmarshal(rec, &r); err != nil {
		return fmt.Errorf("record does not decode: %w", err)
	}
	// Every text cell goes through csvCell: the till wrote it (a signature
	// proves who, not that it is harmless). Numbers and flags the exporter
	// formats itself are left alone, negative ones too: strconv writes
	// only an optional '-' and digits, which a spreadsheet reads as the
	// number it is, never as a formula, and a "'" would make it text.
	t := csvCell
	u := strconv.FormatUint
	i := strconv.Itoa
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	head := []string{t(r.Pharmacy), t(r.Till), u(r.Seq, 10), t(r.ID), t(r.Prev), t(r.Kind), t(r.At), "", "", "", "", t(r.Cashier), t(r.Pharmacist), t(r.Reason), t(r.Ref), "", "", "", "", ""}
	if r.Card != nil {
		head[7], head[8], head[9], head[10] = t(r.Card.Type), t(r.Card.No), t(r.Card.Region), t(r.Card.Name)
	}
	if r.Device != nil {
		head[15], head[16] = t(r.Device.Name), t(r.Device.State)
	}
	if r.Payment != nil {
		head[17], head[18], head[19] = t(r.Payment.Method), strconv.FormatInt(r.Payment.InsuranceFen, 10), strconv.FormatInt(r.Payment.CashFen, 10)
	}
	head = append(head, t(r.PharName), t(r.PharPracCertNo))
	st := r.Settlement
	if st == nil {
		st = &feed.Settlement{}
	}
	head = append(head, t(st.MdtrtSn), t(st.SetlID), t(st.PsnNo), t(st.MdtrtSetlType), t(st.HiFeesetlType), t(st.PsnCertType))
	// Text as well: standard base64 may begin with '+'.
	s := t(base64.StdEncoding.EncodeToString(sig))
	if len(r.Lines) == 0 {
		row := append(append([]string(nil), head...), make([]string, csvLineColumns)...)
		return cw.Write(append(row, s))
	}
	for n, l := range r.Lines {
		row := append(append([]string(nil), head...),
			i(n+1), t(l.Barcode), t(l.MedListCodg), t(l.Name), i(l.Qty), i(l.Days), i(l.DaysLimit), strconv.FormatInt(l.PriceFen, 10),
			t(strings.Join(l.DrugTracCodg, ";")), b(l.RxFlag), t(l.RxRef), b(l.Manual), t(l.Decision), t(l.Rule), t(strings.Join(l.Flags, ";")), b(l.Overridden), t(l.Pay),
			t(l.FixmedinsHilistID), t(l.FixmedinsHilistName), t(l.FixmedinsBchno), t(l.ManuLotnum), t(l.ManuDate), t(l.ExpyEnd), b(l.TrdnFlag), t(l.PrscDrName),
			s)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	return nil
}

// formulaLead are the first characters that make a spreadsheet (Excel,
// LibreOffice Calc, Google Sheets) take a CSV cell for a formula: OWASP's
// list for CSV injection.
const formulaLead = "=+-@\t\r"

// csvCell neutralises a text cell of the CSV export: NUL bytes are removed
// (spreadsheets and many CSV readers cut or choke on them), and a cell
// that would begin with one of formulaLead gets a leading "'", which a
// spreadsheet takes as "this is text" and does not show, so
// =HYPERLINK(…) in a cashier's name stays a name. A program reading the
// CSV sees the "'"; the JSON lines export is the exact copy.
func csvCell(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if s != "" && strings.IndexByte(formulaLead, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// PolicyBundle builds a bundle from the catalogue and policy file bytes
// after loading both as a till will, so the bureau never signs a bundle
// its tills would refuse.
func PolicyBundle(region string, version uint64, issuedAt string, catalogCSV, policyJSON []byte) (bundle.Bundle, error) {
	if _, err := policy.LoadCatalog(strings.NewReader(string(catalogCSV))); err != nil {
		return bundle.Bundle{}, fmt.Errorf("bureau: policy bundle: catalogue: %w", err)
	}
	if len(policyJSON) > 0 {
		if _, err := policy.LoadPolicy(strings.NewReader(string(policyJSON))); err != nil {
			return bundle.Bundle{}, fmt.Errorf("bureau: policy bundle: policy: %w", err)
		}
	}
	return bundle.Bundle{Region: region, Version: version, IssuedAt: issuedAt, CatalogCSV: string(catalogCSV), PolicyJSON: string(policyJSON)}, nil
}

// PublishPolicy publishes a signed bundle message, retained at QoS 1, on
// its region's topic, and waits for the broker's PUBACK. It verifies the
// message against pub first: a bundle that tills would refuse is not sent.
func PublishPolicy(ctx context.Context, mo mqttclient.Options, payload []byte, pub ed25519.PublicKey) error {
	s, err := bundle.Parse(payload)
	if err != nil {
		return fmt.Errorf("bureau: publish policy: %w", err)
	}
	if _, err := bundle.Verify(payload, pub, s.Bundle.Region, 0); err != nil {
		return fmt.Errorf("bureau: publish policy: %w", err)
	}
	c, err := mqttclient.Connect(ctx, mo)
	if err != nil {
		return fmt.Errorf("bureau: publish policy: %w", err)
	}
	defer c.Close()
	tok := c.Publish(mqttclient.Message{Topic: feed.PolicyTopic(s.Bundle.Region), Payload: payload, QoS: 1, Retained: true})
	if err := tok.Wait(publishTimeout); err != nil {
		return fmt.Errorf("bureau: publish policy: %w", err)
	}
	return nil
}

// selectTills is the till f names, or every till in the store.
func selectTills(ctx context.Context, ar exporter, f ExportFilter) ([]archive.TillInfo, error) {
	if f.Pharmacy != "" {
		return []archive.TillInfo{{Pharmacy: f.Pharmacy, Till: f.Till}}, nil
	}
	return allTills(ctx, ar)
}

// allTills lists every till in the store, page by page.
func allTills(ctx context.Context, ar exporter) ([]archive.TillInfo, error) {
	var all []archive.TillInfo
	q := archive.TillQuery{Limit: archive.MaxLimit}
	for {
		page, err := ar.Tills(ctx, q)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			return all, nil
		}
		last := page[len(page)-1]
		q.AfterPharmacy, q.AfterTill = last.Pharmacy, last.Till
	}
}

// writeJSONLine writes the record as a till sent it (feed.Seal: the
// record's exact bytes, which its signature covers) and a newline.
func writeJSONLine(w *bufio.Writer, rec, sig []byte) error {
	p, err := feed.Seal(rec, sig)
	if err != nil {
		return err
	}
	w.Write(p)
	return w.WriteByte('\n')
}
