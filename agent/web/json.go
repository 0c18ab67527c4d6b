package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tillguard/tillguard/agent/session"
)

// maxBody bounds request bodies; the API takes small JSON objects only.
const maxBody = 64 << 10

// readJSON is the one decoder of request bodies: the body must be one JSON
// object of at most maxBody bytes that fits v, with no field v lacks, and
// no object with a key twice — neither exactly nor in another case, since
// encoding/json matches keys case-insensitively and would read
// {"qty":1,"QTY":999} as 999. It answers the error itself (400, 413 for a
// body too large; codes in errorTable) and returns false on any of these.
// An empty body is allowed only when empty is true (v is then left as it
// is).
func readJSON(w http.ResponseWriter, r *http.Request, v any, empty bool) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			answerError(w, errBodyTooLarge, fmt.Sprintf("the body is over %d bytes", maxBody))
			return false
		}
		answerError(w, errBadJSON, "the body could not be read")
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if empty {
			return true
		}
		answerError(w, errBadJSON, "the body is empty: want a JSON object")
		return false
	}
	if b = bytes.TrimSpace(b); b[0] != '{' {
		answerError(w, errBadJSON, "the body must be a JSON object")
		return false
	}
	if err := decodeStrict(b, v); err != nil {
		code, detail := decodeProblem(err)
		answerError(w, code, detail)
		return false
	}
	return true
}

// errTrailing: something follows the JSON value.
var errTrailing = errors.New("trailing data")

// keyError is an object with a key twice (checkKeys).
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

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
		return errTrailing
	}
	return nil
}

// decodeProblem turns a decodeStrict error into the API's code and a
// detail that names the client's mistake in the client's terms: field
// names and JSON types as sent, never the till's Go types.
func decodeProblem(err error) (code, detail string) {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		key    *keyError
	)
	switch {
	case errors.As(err, &key):
		return errDuplicateKey, key.msg
	case errors.Is(err, errTrailing):
		return errBadJSON, "trailing data after the JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errBadJSON, "the JSON ends too early (unexpected EOF)"
	case errors.As(err, &syntax):
		return errBadJSON, fmt.Sprintf("not valid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return errWrongType, typeProblem(typ)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errUnknownField, "unknown field " + f
	}
	return errBadJSON, "not a JSON object the API takes"
}

// typeProblem says which field has the wrong type, as the client named it.
func typeProblem(e *json.UnmarshalTypeError) string {
	want := jsonType(e.Type)
	got, _, _ := strings.Cut(e.Value, " ") // "number 1.5" → "number"
	if e.Field == "" {
		return fmt.Sprintf("want %s, not %s", want, got)
	}
	return fmt.Sprintf("field %q must be %s, not %s", e.Field, want, got)
}

// jsonType names the JSON a Go type is read from.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonType(t.Elem())
	}
	return "an object"
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
						return &keyError{fmt.Sprintf("key %q given twice", k)}
					}
					return &keyError{fmt.Sprintf("keys %q and %q differ only in case", first, k)}
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

// The API's error codes: every error answer under /api/ (and every 405)
// is errorBody with one of these, a contract with integrators that does
// not change with the wording (README "Errors").
const (
	// The request itself.
	errBadJSON            = "bad_json"
	errWrongType          = "wrong_type"
	errUnknownField       = "unknown_field"
	errDuplicateKey       = "duplicate_key"
	errBodyTooLarge       = "body_too_large"
	errBadBarcode         = "bad_barcode"
	errBadQty             = "bad_qty"
	errBadPayment         = "bad_payment"
	errBadRx              = "bad_rx"
	errBadPrescriber      = "bad_prescriber"
	errBadRefund          = "bad_refund"
	errBadFromSeq         = "bad_from_seq"
	errCashierRequired    = "cashier_required"
	errPharmacistRequired = "pharmacist_required"
	errReasonRequired     = "reason_required"
	errLineRequired       = "line_required"
	errSaleRequired       = "sale_id_required"
	errLinesRequired      = "lines_required"
	errBadSettlement      = "bad_settlement"
	errNameRequired       = "name_required"
	errBadName            = "bad_name"
	errPracCertRequired   = "prac_cert_required"
	errBadPracCert        = "bad_prac_cert"
	errBadRequest         = "bad_request"

	// The session's state.
	errNoSuchLine        = "no_such_line"
	errSaleNotFound      = "sale_not_found"
	errEmptyBasket       = "empty_basket"
	errHeldLines         = "held_lines"
	errCardRequired      = "card_required"
	errCardChanged       = "card_changed"
	errNoCardChange      = "no_card_change"
	errNoPharmacist      = "no_pharmacist"
	errNothingInsurable  = "nothing_insurable"
	errNotHeld           = "not_held"
	errReturnTooMany     = "return_too_many"
	errTraceNotInSale    = "trace_not_in_sale"
	errReturnRefused     = "return_refused"
	errConflict          = "conflict"
	errLedgerUnavailable = "ledger_unavailable"

	// Routing, the guards and the till.
	errNotFound         = "not_found"
	errMethodNotAllowed = "method_not_allowed"
	errWrongHost        = "wrong_host"
	errCrossSite        = "cross_site"
	errNotJSON          = "not_json"
	errPasswordRequired = "password_required"
	errTooManyAttempts  = "too_many_attempts"
	errUnavailable      = "unavailable"
	errInternal         = "internal_error"
)

// apiError is a row of errorTable: the HTTP status of a code and what
// the cashier reads, Chinese first with English beside.
type apiError struct {
	status int
	zh, en string
}

// errorTable is the one table of the API's errors.
var errorTable = map[string]apiError{
	errBadJSON:            {400, "请求格式错误，须为一个 JSON 对象", "bad JSON: the body must be one JSON object"},
	errWrongType:          {400, "请求字段类型错误", "bad JSON: a field has the wrong type"},
	errUnknownField:       {400, "请求含未知字段", "bad JSON: unknown field"},
	errDuplicateKey:       {400, "请求字段重复", "bad JSON: a field is given twice"},
	errBodyTooLarge:       {413, "请求过大（上限 64 KiB）", "the body is over 64 KiB"},
	errBadBarcode:         {400, "条码无效，请核对后重新输入", "not a product barcode: check it and key it in again"},
	errBadQty:             {400, "数量须为 1–999", "qty must be 1–999"},
	errBadPayment:         {400, "支付方式须为医保、现金或混合", `payment must be "insurance", "cash" or "split"`},
	errBadRx:              {400, "处方号无效：须为 RX 加 6–32 位数字或大写字母", "bad prescription reference: want RX and 6–32 of 0-9 A-Z"},
	errBadPrescriber:      {400, "开方医师姓名无效：须为 1–50 个字符，不含控制字符", "bad prescriber: want 1–50 characters, no control characters"},
	errBadRefund:          {400, "退款方式须为退回医保基金或现金", `refund must be "fund" or "cash"`},
	errBadFromSeq:         {400, "from_seq 须为正整数", "from_seq must be a positive integer"},
	errCashierRequired:    {400, "须填写收银员", "the cashier is required"},
	errPharmacistRequired: {400, "须填写药师", "the pharmacist is required"},
	errReasonRequired:     {400, "须填写放行理由", "a reason is required"},
	errLineRequired:       {400, "须指明行号", `"line" is required`},
	errSaleRequired:       {400, "须填写原销售单号", "the sale id is required"},
	errLinesRequired:      {400, "须列出退货商品", "at least one line is required"},
	errBadSettlement:      {400, "医保结算信息无效，请核对 POS 传来的结算字段", "bad settlement: check the settlement fields the POS sent"},
	errNameRequired:       {400, "须填写药师姓名", "the pharmacist's name is required"},
	errBadName:            {400, "药师姓名无效：须为 1–50 个字符", "bad name: want 1–50 characters"},
	errPracCertRequired:   {400, "须填写执业药师注册证号", "the practising certificate number is required"},
	errBadPracCert:        {400, "执业药师注册证号无效：须为 1–32 位字母、数字或 -", "bad practising certificate number: want 1–32 of A-Z a-z 0-9 -"},
	errBadRequest:         {400, "请求无效", "bad request"},

	errNoSuchLine:        {404, "购物篮中没有该行", "no such line in the basket"},
	errSaleNotFound:      {404, "本机账本中没有该销售单", "sale not found in this till's ledger"},
	errEmptyBasket:       {409, "购物篮为空", "the basket is empty"},
	errHeldLines:         {409, "有商品待药师审核", "items await the pharmacist"},
	errCardRequired:      {409, "医保支付须插入医保卡", "insurance needs the card in the reader"},
	errCardChanged:       {409, "读到另一张卡：请确认购物篮归新持卡人，或作废", "another card was read: confirm the basket is the new holder's, or void it"},
	errNoCardChange:      {409, "没有待确认的换卡", "no card change to confirm"},
	errNoPharmacist:      {409, "当前没有药师签到", "no pharmacist is signed in"},
	errNothingInsurable:  {409, "购物篮中没有可医保支付的商品", "nothing in the basket can be paid by insurance"},
	errNotHeld:           {409, "该行不是待审核商品，不能放行（拦截不可放行）", "the line is not held: only a hold can be released, never a block"},
	errReturnTooMany:     {409, "退货数量超过该销售单剩余数量", "more than is left of the sale to return"},
	errTraceNotInSale:    {409, "追溯码不属于该销售单未退的商品", "a trace code is not an unreturned box of the sale"},
	errReturnRefused:     {409, "退货被拒绝（已记录）", "return refused (recorded)"},
	errConflict:          {409, "当前状态不能执行该操作", "not possible in the session's present state"},
	errLedgerUnavailable: {503, "账本无法写入，操作未完成", "the ledger cannot persist: nothing was done"},

	errNotFound:         {404, "没有这个接口", "no such endpoint"},
	errMethodNotAllowed: {405, "请求方法不允许", "method not allowed"},
	errWrongHost:        {421, "请求的主机名不是本收银机", "the host is not this till's address"},
	errCrossSite:        {403, "拒绝来自其他网站的请求", "cross-site request refused"},
	errNotJSON:          {415, "请求须为 JSON", "want Content-Type: application/json"},
	errPasswordRequired: {401, "需要店主密码", "the owner's password is required"},
	errTooManyAttempts:  {429, "密码错误次数过多，请稍后再试", "too many wrong passwords: try again later"},
	errUnavailable:      {503, "暂时无法处理，请稍后再试", "unavailable: try again later"},
	errInternal:         {500, "内部错误", "internal error"},
}

// sessionErrors gives the code of a session error, the finer errors
// before their classes (each finer error wraps its class).
var sessionErrors = []struct {
	err  error
	code string
}{
	{session.ErrBadBarcode, errBadBarcode},
	{session.ErrBadQty, errBadQty},
	{session.ErrBadPayment, errBadPayment},
	{session.ErrBadRx, errBadRx},
	{session.ErrBadPrescriber, errBadPrescriber},
	{session.ErrBadRefund, errBadRefund},
	{session.ErrCashierRequired, errCashierRequired},
	{session.ErrPharmacistRequired, errPharmacistRequired},
	{session.ErrReasonRequired, errReasonRequired},
	{session.ErrSaleRequired, errSaleRequired},
	{session.ErrLinesRequired, errLinesRequired},
	{session.ErrBadSettlement, errBadSettlement},
	{session.ErrNameRequired, errNameRequired},
	{session.ErrBadName, errBadName},
	{session.ErrPracCertRequired, errPracCertRequired},
	{session.ErrBadPracCert, errBadPracCert},
	{session.ErrInvalid, errBadRequest},
	{session.ErrEmptyBasket, errEmptyBasket},
	{session.ErrHeldLines, errHeldLines},
	{session.ErrCardRequired, errCardRequired},
	{session.ErrCardChanged, errCardChanged},
	{session.ErrNoCardChange, errNoCardChange},
	{session.ErrNoPharmacist, errNoPharmacist},
	{session.ErrNothingInsurable, errNothingInsurable},
	{session.ErrReturnTooMany, errReturnTooMany},
	{session.ErrTraceNotInSale, errTraceNotInSale},
	{session.ErrRefused, errReturnRefused},
	{session.ErrNotOverridable, errNotHeld},
	{session.ErrConflict, errConflict},
	{session.ErrNoLine, errNoSuchLine},
	{session.ErrNotFound, errSaleNotFound},
	{session.ErrPersist, errLedgerUnavailable},
}

// sessionCode is the API's code for a session error; errInternal for
// one the session does not document.
func sessionCode(err error) string {
	for _, e := range sessionErrors {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return errInternal
}

// statusCodes names the refusals written with writeError by status, for
// the guards and pages that give a status and a message only.
var statusCodes = map[int]string{
	http.StatusBadRequest:            errBadRequest,
	http.StatusUnauthorized:          errPasswordRequired,
	http.StatusForbidden:             errCrossSite,
	http.StatusNotFound:              errNotFound,
	http.StatusMethodNotAllowed:      errMethodNotAllowed,
	http.StatusRequestEntityTooLarge: errBodyTooLarge,
	http.StatusUnsupportedMediaType:  errNotJSON,
	http.StatusMisdirectedRequest:    errWrongHost,
	http.StatusTooManyRequests:       errTooManyAttempts,
	http.StatusServiceUnavailable:    errUnavailable,
}

// errorBody is every error answer under /api/: a stable code, what the
// cashier reads, and what exactly was wrong when there is more to say.
// Every field is a string.
type errorBody struct {
	Error     string `json:"error"`
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
	Detail    string `json:"detail,omitempty"`
}

// maxDetail bounds a detail: it may quote what the client sent.
const maxDetail = 300

// answerError answers code with its table messages and detail.
func answerError(w http.ResponseWriter, code, detail string) {
	e := errorTable[code]
	answerMessage(w, code, e.zh, e.en, detail)
}

// answerMessage answers code with messages of its own (a ledger's
// reason, a refusal that names the payment).
func answerMessage(w http.ResponseWriter, code, zh, en, detail string) {
	status := errorTable[code].status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, errorBody{Error: code, MessageZH: zh, MessageEN: en, Detail: clip(detail, maxDetail)})
}

// writeError answers status with msg, "中文 / English" or English alone,
// under the code statusCodes gives it: the guards, the pages and the live
// updates refuse this way.
func writeError(w http.ResponseWriter, status int, msg string) {
	code, ok := statusCodes[status]
	if !ok {
		code = errInternal
	}
	zh, en := splitMessage(msg)
	if zh == "" {
		zh = errorTable[code].zh
	}
	writeJSON(w, status, errorBody{Error: code, MessageZH: zh, MessageEN: clip(en, maxDetail)})
}

// splitMessage splits "中文 / English" at its first " / "; a message with
// no Chinese before one is English alone.
func splitMessage(msg string) (zh, en string) {
	if before, after, ok := strings.Cut(msg, " / "); ok && hasHan(before) {
		return before, after
	}
	return "", msg
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
