package scanner

import (
	"net/url"
	"strings"
	"time"
)

// A GS1 Digital Link is a web address that carries GS1 data: the path names
// a GS1 key and its qualifiers as /AI/value pairs
// (https://example.com/01/09506000134352/10/ABC/21/123), the query adds
// other AIs as AI=value (?17=261231). Packs print it in a plain QR (]Q1),
// the same symbol a buyer's voucher comes in, so the two must never be
// confused.

// dlKeys are the GS1 keys a Digital Link path may name, by AI. Only a GTIN
// (01) names a product; a link naming another key is still a GS1 code, so
// it is unreadable rather than a voucher.
var dlKeys = map[string]bool{
	"00": true, "01": true, "253": true, "255": true, "401": true, "402": true, "414": true,
	"417": true, "8003": true, "8004": true, "8006": true, "8010": true, "8013": true, "8017": true, "8018": true,
}

// gtinQualifiers are the AIs a Digital Link path may put after a GTIN.
var gtinQualifiers = map[string]bool{"22": true, "10": true, "21": true}

// dlAliases are the path words of the first Digital Link standard (1.0),
// since deprecated but still printed, for the AIs tillguard reads.
var dlAliases = map[string]string{"gtin": "01", "cpv": "22", "lot": "10", "ser": "21"}

// isDigitalLink reports whether s is an http or https address whose path
// names a GS1 key (/<key AI>/<value>): a GS1 code, well formed or not.
func isDigitalLink(s string) bool {
	_, ok := dlPath(s)
	return ok
}

// ParseDigitalLink reads the GTIN and the AIs tillguard knows from a GS1
// Digital Link. The path after the GTIN may hold 22, 10 and 21; the query
// may hold any AI ParseGS1 knows, and other parameters (linkType and the
// like, whose names are not digits) are ignored, as the standard lets a
// reader do. Values are percent-decoded and then held to the same rules as
// in an element string (ParseGS1); a GTIN-8, -12 or -13 is padded to 14
// digits. A byte outside printable ASCII, or a space, anywhere (the host
// too) makes the link unreadable: it is line noise. A link naming another GS1 key, an unknown or repeated AI, a
// broken percent-encoding or a bad value is an error wrapping
// ErrUnreadable.
func ParseDigitalLink(s string) (GS1, error) {
	path, ok := dlPath(s)
	if !ok {
		return GS1{}, unreadable("not a GS1 Digital Link: want http(s)://host/…/01/<GTIN>")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return GS1{}, unreadable("GS1 Digital Link byte %d is 0x%02x: a web address is printable ASCII without spaces", i, s[i])
		}
	}
	var g GS1
	year := time.Now().Year()
	if err := g.dlPathAIs(path, year); err != nil {
		return GS1{}, err
	}
	if err := g.dlQueryAIs(dlQuery(s), year); err != nil {
		return GS1{}, err
	}
	if err := g.complete(); err != nil {
		return GS1{}, err
	}
	return g, nil
}

// dlPath returns the path segments of s from its GS1 key on, still
// percent-encoded, with aliases turned into AIs.
func dlPath(s string) ([]string, bool) {
	rest, ok := cutHTTP(s)
	if !ok {
		return nil, false
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	segs := strings.Split(rest, "/")[1:] // [0] is the host
	for i := range segs {
		if ai, ok := dlAliases[segs[i]]; ok {
			segs[i] = ai
		}
	}
	for i := 0; i+1 < len(segs); i++ {
		if dlKeys[segs[i]] && segs[i+1] != "" {
			return segs[i:], true
		}
	}
	return nil, false
}

// cutHTTP returns what follows "http://" or "https://", in any case.
func cutHTTP(s string) (string, bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[len(scheme):], true
		}
	}
	return "", false
}

// dlQuery returns the query of s without "?" and the fragment.
func dlQuery(s string) string {
	s, _, _ = strings.Cut(s, "#")
	_, q, _ := strings.Cut(s, "?")
	return q
}

// dlPathAIs reads /01/<GTIN> and the qualifiers after it.
func (g *GS1) dlPathAIs(segs []string, year int) error {
	if segs[0] != "01" {
		return unreadable("GS1 Digital Link names GS1 key AI %s, not the GTIN (AI 01) of a product", segs[0])
	}
	if len(segs)%2 == 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1] // a trailing slash
	}
	if len(segs)%2 == 1 {
		return unreadable("GS1 Digital Link path AI %q has no value", segs[len(segs)-1])
	}
	for i := 0; i < len(segs); i += 2 {
		ai := segs[i]
		if i > 0 && !gtinQualifiers[ai] {
			return unreadable("GS1 Digital Link path has AI %q after the GTIN: only 22, 10 and 21 go there", ai)
		}
		val, err := dlUnescape(ai, segs[i+1])
		if err != nil {
			return err
		}
		if ai == "01" {
			val = padGTIN(val)
		}
		if err := g.set(ai, val, year); err != nil {
			return err
		}
	}
	return nil
}

// dlQueryAIs reads the AI=value pairs of the query.
func (g *GS1) dlQueryAIs(q string, year int) error {
	for _, kv := range strings.Split(q, "&") {
		ai, raw, _ := strings.Cut(kv, "=")
		if ai == "" || !allDigits(ai) {
			continue // not an AI
		}
		val, err := dlUnescape(ai, raw)
		if err != nil {
			return err
		}
		if err := g.set(ai, val, year); err != nil {
			return err
		}
	}
	return nil
}

// dlUnescape percent-decodes one value. It does not read "+" as a space:
// that is HTML forms, not URIs, and "+" is a GS1 character.
func dlUnescape(ai, raw string) (string, error) {
	val, err := url.PathUnescape(raw)
	if err != nil {
		return "", unreadable("GS1 Digital Link AI %s value %q has a broken percent-encoding", ai, raw)
	}
	return val, nil
}

// padGTIN writes a GTIN-8, -12 or -13 as the GTIN-14 an element string
// carries; anything else is left for checkValue to refuse.
func padGTIN(v string) string {
	switch len(v) {
	case 8, 12, 13:
		if allDigits(v) {
			return strings.Repeat("0", 14-len(v)) + v
		}
	}
	return v
}
