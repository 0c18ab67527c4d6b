package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxBody bounds request bodies; the API takes small JSON objects only.
const maxBody = 64 << 10

// readJSON is the one decoder of request bodies: the body must be one JSON
// value of at most maxBody bytes that fits v, with no field v lacks, and
// no object with a key twice — neither exactly nor in another case, since
// encoding/json matches keys case-insensitively and would read
// {"qty":1,"QTY":999} as 999. It answers 400 (413 for a body too large)
// itself and returns false on any of these. An empty body is allowed only
// when empty is true (v is then left as it is).
func readJSON(w http.ResponseWriter, r *http.Request, v any, empty bool) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("bad JSON: body over %d bytes", maxBody))
			return false
		}
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	if empty && len(bytes.TrimSpace(b)) == 0 {
		return true
	}
	if err := decodeStrict(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON: "+err.Error())
		return false
	}
	return true
}

// decodeStrict decodes b into v as readJSON describes.
func decodeStrict(b []byte, v any) error {
	if err := checkKeys(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

// checkKeys walks b's tokens and refuses an object with two keys that
// encoding/json would take for the same field. Syntax errors are left to
// the decoder, which reports them with their offset.
func checkKeys(b []byte) error {
	type frame struct {
		keys map[string]string // folded → as written; nil in an array
		key  bool              // the next token is a key
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF, or a syntax error for Decode to report
		}
		var top *frame
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		if top != nil && top.key {
			if k, ok := tok.(string); ok {
				f := foldKey(k)
				if first, dup := top.keys[f]; dup {
					if first == k {
						return fmt.Errorf("key %q given twice", k)
					}
					return fmt.Errorf("keys %q and %q differ only in case", first, k)
				}
				top.keys[f] = k
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]string{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].key = true
		}
	}
}

// foldKey folds a key as encoding/json does when it matches keys to
// fields (its fold.go): ASCII upper-cased, any other rune to the smallest
// of its case-fold set, so that the Kelvin sign K matches k.
func foldKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			return r
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				return r2
			}
			r = r2
		}
	}, k)
}
