package scanner

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add([]byte(tc.aim + tc.data))
		f.Add([]byte(tc.data))
	}
	f.Add([]byte("]"))
	f.Add([]byte("]E"))
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
			g, err := ParseGS1(c.Data)
			if err != nil || g.Serial != c.Serial || g.Lot != c.Lot || g.Expiry != c.Expiry {
				t.Fatalf("GS1 code %+v disagrees with ParseGS1: %+v, %v", c, g, err)
			}
		case KindRx:
			if c.Rx != c.Data || !strings.HasPrefix(c.Rx, "RX") {
				t.Fatalf("bad rx %+v", c)
			}
		case KindVoucher:
			if c.AIM != "]Q1" {
				t.Fatalf("voucher without ]Q1: %+v", c)
			}
		default:
			t.Fatalf("nil error with kind %v", c.Kind)
		}
		if c.Box() && c.Kind != KindTrace && c.Kind != KindGS1 {
			t.Fatalf("%v is a box", c.Kind)
		}
	})
}

// encodeGS1 writes g back as an element string, GS after each variable
// field but the last.
func encodeGS1(g GS1) string {
	var b strings.Builder
	if g.GTIN != "" {
		b.WriteString("01" + g.GTIN)
	}
	if g.Expiry != "" {
		b.WriteString("17" + g.Expiry)
	}
	if g.Lot != "" {
		b.WriteString("10" + g.Lot)
		if g.Serial != "" {
			b.WriteString(gsS)
		}
	}
	if g.Serial != "" {
		b.WriteString("21" + g.Serial)
	}
	return b.String()
}

func FuzzParseGS1(f *testing.F) {
	f.Add("0106901234567892" + "17261231" + "10LOT42" + gsS + "21SN0001")
	f.Add(gsS + "21SN" + gsS + "10L" + gsS)
	f.Add("0116901234567899" + gsS + "17270200")
	f.Add("10A121B2")
	f.Fuzz(func(t *testing.T, data string) {
		g, err := ParseGS1(data)
		if err != nil {
			if !errors.Is(err, ErrUnreadable) || g != (GS1{}) {
				t.Fatalf("ParseGS1(%q) = %+v, %v", data, g, err)
			}
			return
		}
		if g == (GS1{}) {
			t.Fatalf("ParseGS1(%q) found nothing but no error", data)
		}
		if g.GTIN != "" && (len(g.GTIN) != 14 || !ValidEAN(g.GTIN)) {
			t.Fatalf("GTIN %q invalid", g.GTIN)
		}
		if g.Expiry != "" && (len(g.Expiry) != 6 || !allDigits(g.Expiry)) {
			t.Fatalf("expiry %q invalid", g.Expiry)
		}
		for _, v := range []string{g.Lot, g.Serial} {
			if len(v) > 20 || strings.IndexByte(v, gs) >= 0 {
				t.Fatalf("variable field %q invalid", v)
			}
		}
		again, err := ParseGS1(encodeGS1(g))
		if err != nil || again != g {
			t.Fatalf("round trip of %+v: %+v, %v", g, again, err)
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
