package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// apiError is an error as a client sees it: a status, a stable code, and
// what to tell a person in both languages.
type apiError struct {
	Status int    `json:"-"`
	Code   string `json:"error"`
	ZH     string `json:"message_zh"`
	EN     string `json:"message_en"`
}

func (e *apiError) Error() string { return "console: " + e.Code + ": " + e.EN }

func badParam(name, zh, en string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: "bad_" + name, ZH: zh, EN: en}
}

var (
	errNotFound = &apiError{Status: http.StatusNotFound, Code: "not_found",
		ZH: "没有这个页面", EN: "no such page"}
	errNoReceiver = &apiError{Status: http.StatusNotFound, Code: "no_receiver",
		ZH: "此进程没有接收器", EN: "no receiver runs in this process"}
	errMethod = &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		ZH: "不支持此请求方法", EN: "this method is not served here"}
	errUnauthorized = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
		ZH: "需要分析员密码", EN: "the analysts' password is required"}
	errLoopbackOnly = &apiError{Status: http.StatusForbidden, Code: "loopback_only",
		ZH: "未设置密码时只对本机开放；请为 --http 配置密码后再从其他机器访问",
		EN: "without a password only this machine is served: configure a password for --http to serve others"}
	errLockedOut = &apiError{Status: http.StatusTooManyRequests, Code: "locked_out",
		ZH: "密码错误次数过多，请稍后再试", EN: "too many wrong passwords from this address: try again later"}
	errStore = &apiError{Status: http.StatusInternalServerError, Code: "store_unavailable",
		ZH: "无法读取档案库", EN: "the archive cannot be read"}
	errAuthConfig = &apiError{Status: http.StatusInternalServerError, Code: "auth_misconfigured",
		ZH: "配置的密码不是有效的 bcrypt 哈希", EN: "the configured password is not a bcrypt hash"}
	errInternal = &apiError{Status: http.StatusInternalServerError, Code: "internal_error",
		ZH: "内部错误", EN: "internal error"}
)

func writeError(w http.ResponseWriter, e *apiError) {
	if e == errUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="tillguard bureau", charset="UTF-8"`)
	}
	writeJSON(w, e.Status, e)
}

// writeLockedOut answers a locked-out client, saying when to come back.
func writeLockedOut(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	writeError(w, errLockedOut)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errInternal)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
