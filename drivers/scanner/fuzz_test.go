package scanner

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add([]byte(tc.aim + tc.data))
		f.Add([]byte(tc.data))
	}
	f.Add([]byte("]"))
	f.Add([]byte("]E"))
	f.Add([]byte("]Q1http://x/gtin/09506000134352/lot/A%2FB?11=250101&linkType=all"))
	f.Add([]byte("]Q1https://x/414/9520123456788"))
	f.Add([]byte("]Q1(01)0"))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := Classify(line)
		if c.AIM+c.Data != string(line) {
			t.Fatalf("AIM %q + Data %q is not the line %q", c.AIM, c.Data, line)
		}
		if err != nil {
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("error %v does not wrap ErrUnreadable", err)
			}
			if c != (Code{AIM: c.AIM, Data: c.Data}) {
				t.Fatalf("failed classification left fields set: %+v", c)
			}
			return
		}
		if c.Product != "" && (!ValidEAN(c.Product) || len(c.Product) != 8 && len(c.Product) != 13) {
			t.Fatalf("product %q is not a valid EAN-8/EAN-13", c.Product)
		}
		switch c.Kind {
		case KindEAN13, KindEAN8:
			if c.Product != c.Data {
				t.Fatalf("EAN product %q is not the data %q", c.Product, c.Data)
			}
		case KindTrace:
			if !isTrace(c.Trace) || c.Trace != c.Data {
				t.Fatalf("bad trace %+v", c)
			}
		case KindGS1:
			checkGS1Code(t, c)
		case KindRx:
			if c.Rx != c.Data || !strings.HasPrefix(c.Rx, "RX") {
				t.Fatalf("bad rx %+v", c)
			}
		case KindVoucher:
			checkVoucher(t, c)
		default:
			t.Fatalf("nil error with kind %v", c.Kind)
		}
		if c.Box() && c.Kind != KindTrace && c.Kind != KindGS1 {
			t.Fatalf("%v is a box", c.Kind)
		}
	})
}

// checkGS1Code checks a GS1 code against the parser of its syntax: the
// Code must be exactly what that parse gives, with a GTIN (issue #16).
func checkGS1Code(t *testing.T, c Code) {
	t.Helper()
	parse := ParseGS1
	if isDigitalLink(c.Data) {
		parse = ParseDigitalLink
	}
	g, err := parse(c.Data)
	want := Code{AIM: c.AIM, Data: c.Data}
	want.setGS1(g)
	if err != nil || c != want {
		t.Fatalf("GS1 code %+v disagrees with its parse: %+v, %v", c, g, err)
	}
	if len(c.GTIN) != 14 || !ValidEAN(c.GTIN) {
		t.Fatalf("GS1 code without a valid GTIN: %+v", c)
	}
	if c.Product != "" && !strings.HasSuffix(c.GTIN, c.Product) {
		t.Fatalf("product %q is not the GTIN %q's", c.Product, c.GTIN)
	}
}

// checkVoucher checks that a voucher is nothing a pack carries (issue #16).
func checkVoucher(t *testing.T, c Code) {
	t.Helper()
	probe := Code{Data: c.Data}
	if matched, _ := probe.byShape(); matched || c.AIM != "]Q1" || allDigits(c.Data) || bracketedAI(c.Data) ||
		isDigitalLink(c.Data) || strings.HasPrefix(c.Data, "RX") {
		t.Fatalf("voucher %+v has the shape of another code", c)
	}
	for i := 0; i < len(c.Data); i++ {
		if c.Data[i] < 0x20 || c.Data[i] > 0x7e {
			t.Fatalf("voucher %q is not printable ASCII", c.Data)
		}
	}
}

// checkParsedGS1 checks what a successful ParseGS1 or ParseDigitalLink
// returns: a valid GTIN, set-82 fields, and dates that are real dates
// agreeing with their YYMMDD.
func checkParsedGS1(t *testing.T, g GS1) {
	t.Helper()
	if len(g.GTIN) != 14 || !ValidEAN(g.GTIN) {
		t.Fatalf("GTIN %q invalid", g.GTIN)
	}
	for _, v := range []string{g.Lot, g.Serial, g.Variant} {
		if len(v) > 20 {
			t.Fatalf("variable field %q longer than 20", v)
		}
		for i := 0; i < len(v); i++ {
			if !inSet82(v[i]) {
				t.Fatalf("variable field %q has byte 0x%02x", v, v[i])
			}
		}
	}
	checkDate(t, g.Expiry, g.ExpiryDate, true)
	checkDate(t, g.Produced, g.ProducedDate, false)

}

// checkDate checks date is yymmdd resolved; day 00 is the month's last
// day when last, else its first.
func checkDate(t *testing.T, yymmdd, date string, last bool) {
	t.Helper()
	if yymmdd == "" {
		if date != "" {
			t.Fatalf("date %q without YYMMDD", date)
		}
		return
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil || len(yymmdd) != 6 || d.Format("0601") != yymmdd[:4] {
		t.Fatalf("date %q for %q: %v", date, yymmdd, err)
	}
	switch day := yymmdd[4:]; {
	case day == "00" && last:
		if d.AddDate(0, 0, 1).Day() != 1 {
			t.Fatalf("day 00 of %q resolved to %s, not the month's last day", yymmdd, date)
		}
	case day == "00":
		if d.Day() != 1 {
			t.Fatalf("day 00 of %q resolved to %s, not the month's first day", yymmdd, date)
		}
	case d.Format("02") != day:
		t.Fatalf("date %q for %q", date, yymmdd)
	}
}

// encodeGS1 writes g back as an element string: fixed fields first, GS
// after each variable field but the last.
func encodeGS1(g GS1) string {
	var b strings.Builder
	for _, f := range []struct{ ai, v string }{{"01", g.GTIN}, {"11", g.Produced}, {"17", g.Expiry}} {
		if f.v != "" {
			b.WriteString(f.ai + f.v)
		}
	}
	sep := ""
	for _, f := range []struct{ ai, v string }{{"22", g.Variant}, {"10", g.Lot}, {"21", g.Serial}} {
		if f.v != "" {
			b.WriteString(sep + f.ai + f.v)
			sep = gsS
		}
	}
	return b.String()
}

// encodeDigitalLink writes g back as a Digital Link: qualifiers in the
// path, percent-encoded, dates in the query.
func encodeDigitalLink(g GS1) string {
	var b strings.Builder
	b.WriteString("https://example.com/01/" + g.GTIN)
	for _, f := range []struct{ ai, v string }{{"22", g.Variant}, {"10", g.Lot}, {"21", g.Serial}} {
		if f.v != "" {
			b.WriteString("/" + f.ai + "/" + url.PathEscape(f.v))
		}
	}
	sep := "?"
	for _, f := range []struct{ ai, v string }{{"17", g.Expiry}, {"11", g.Produced}} {
		if f.v != "" {
			b.WriteString(sep + f.ai + "=" + f.v)
			sep = "&"
		}
	}
	return b.String()
}

func FuzzParseGS1(f *testing.F) {
	f.Add("0106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001")
	f.Add(gsS + "21SN" + gsS + "10L" + gsS)
	f.Add("0116901234567899" + gsS + "17270200")
	f.Add("10A121B2")
	f.Add("0100000012345670" + "11280229" + "17280200" + "22V" + gsS + "21S")
	f.Add("0106901234567892" + "11250100")
	f.Add("17270200" + "10L")
	f.Fuzz(func(t *testing.T, data string) {
		g, err := ParseGS1(data)
		if err != nil {
			if !errors.Is(err, ErrUnreadable) || g != (GS1{}) {
				t.Fatalf("ParseGS1(%q) = %+v, %v", data, g, err)
			}
			return
		}
		checkParsedGS1(t, g)
		again, err := ParseGS1(encodeGS1(g))
		if err != nil || again != g {
			t.Fatalf("round trip of %+v: %+v, %v", g, again, err)
		}
		if dl, err := ParseDigitalLink(encodeDigitalLink(g)); err != nil || dl != g {
			t.Fatalf("%+v as a Digital Link: %+v, %v", g, dl, err)
		}
	})
}

func FuzzParseDigitalLink(f *testing.F) {
	for _, tc := range digitalLinkCases {
		f.Add(tc.in)
	}
	f.Add("https://x/01/0")
	f.Add("http://x/8004/1?17=")
	f.Add("https://x/01/09506000134352/10/%")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseDigitalLink(s)
		if err != nil {
			if !errors.Is(err, ErrUnreadable) || g != (GS1{}) {
				t.Fatalf("ParseDigitalLink(%q) = %+v, %v", s, g, err)
			}
			return
		}
		if !isDigitalLink(s) {
			t.Fatalf("ParseDigitalLink(%q) read a link isDigitalLink does not see", s)
		}
		checkParsedGS1(t, g)
		if again, err := ParseDigitalLink(encodeDigitalLink(g)); err != nil || again != g {
			t.Fatalf("round trip of %+v: %+v, %v", g, again, err)
		}
		if es, err := ParseGS1(encodeGS1(g)); err != nil || es != g {
			t.Fatalf("%+v as an element string: %+v, %v", g, es, err)
		}
	})
}

// chunkReader delivers data in reads whose sizes follow pattern; a 0 in
// the pattern is a read timeout, (0, nil), never two in a row so the data
// always drains.
type chunkReader struct {
	data    []byte
	pattern []byte
	i       int
	idle    bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.pattern) > 0 {
		n = int(r.pattern[r.i%len(r.pattern)] % 8)
		r.i++
	}
	if n == 0 && !r.idle {
		r.idle = true
		return 0, nil
	}
	r.idle = false
	n = max(n, 1)
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// refSplit is the splitting rule written the obvious way, on the whole
// input at once.
func refSplit(data []byte, term Terminator, maxLine int) (lines [][]byte, dropped uint64) {
	sep := byte('\n')
	if term == CR {
		sep = '\r'
	}
	parts := bytes.Split(data, []byte{sep})
	for _, p := range parts[:len(parts)-1] { // the last part has no terminator yet
		if term == CRLF {
			p = bytes.TrimSuffix(p, []byte("\r"))
		}
		switch {
		case len(p) > maxLine:
			dropped++
		case len(p) > 0:
			lines = append(lines, p)
		}
	}
	return lines, dropped
}

func FuzzLineSplit(f *testing.F) {
	f.Add([]byte("]E06901234567892\r96385074\r\r"), byte(0), []byte{1, 0, 3})
	f.Add([]byte("]Q1RX123456\r\n\r\n0106901234567892"+gsS+"\n"), byte(2), []byte{7, 0, 2})
	f.Add([]byte("x\ny\r\nzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n"), byte(1+4*3), []byte{})
	f.Fuzz(func(t *testing.T, data []byte, cfg byte, pattern []byte) {
		term := Terminator(cfg % 3)
		maxLine := 1 + int(cfg/3)%48
		if len(data) > 4096 {
			return
		}
		d := New(&chunkReader{data: data, pattern: pattern}, &Opts{Terminator: term, MaxLine: maxLine})
		var got []Event
		err := d.Run(t.Context(), func(e Event) { got = append(got, e) })
		if !errors.Is(err, io.EOF) {
			t.Fatalf("Run = %v, want EOF", err)
		}
		lines, dropped := refSplit(data, term, maxLine)
		if d.Dropped() != dropped {
			t.Errorf("Dropped = %d, want %d", d.Dropped(), dropped)
		}
		if len(got) != len(lines) {
			t.Fatalf("%d events, want %d (%q)", len(got), len(lines), lines)
		}
		var unreadable uint64
		for i, l := range lines {
			c, err := Classify(l)
			if got[i].Code != c || errString(got[i].Err) != errString(err) {
				t.Fatalf("event %d = %+v, want %+v, %v", i, got[i], c, err)
			}
			if err != nil {
				unreadable++
			}
		}
		if d.Unreadable() != unreadable {
			t.Errorf("Unreadable = %d, want %d", d.Unreadable(), unreadable)
		}
	})
}
