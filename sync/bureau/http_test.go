package bureau

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tillguard/tillguard/sync/mqttclient"
)

func get(t *testing.T, h http.Handler, url string) (int, string) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, url, nil))
	body, _ := io.ReadAll(rr.Result().Body)
	return rr.Code, string(body)
}

func TestHandler(t *testing.T) {
	b, _, ft := setup(t)
	b.process([]mqttclient.Message{ft.next(t), ft.next(t), ft.next(t), {Topic: "bad", Payload: []byte("x")}})
	h := b.Handler()

	if code, body := get(t, h, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}

	code, body := get(t, h, "/api/tills")
	if code != 200 {
		t.Fatalf("tills %d", code)
	}
	var tills []map[string]any
	if err := json.Unmarshal([]byte(body), &tills); err != nil {
		t.Fatal(err)
	}
	if len(tills) != 1 || tills[0]["pharmacy"] != "P1" || tills[0]["till"] != "T1" || tills[0]["contiguous"] != 3.0 || tills[0]["count"] != 3.0 {
		t.Fatalf("tills %s", body)
	}

	code, body = get(t, h, "/api/records?pharmacy=P1&till=T1&from_seq=2")
	if code != 200 {
		t.Fatalf("records %d %s", code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	seq := 2
	for sc.Scan() {
		var line struct {
			Rec json.RawMessage `json:"rec"`
			Sig string          `json:"sig"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		sig, _ := base64.StdEncoding.DecodeString(line.Sig)
		if !bytes.Equal(line.Rec, ft.recs[seq-1]) || !ed25519.Verify(ft.pub(), line.Rec, sig) {
			t.Fatalf("record %d not served as signed: %s", seq, line.Rec)
		}
		seq++
	}
	if seq != 4 {
		t.Fatalf("served up to %d", seq-1)
	}

	if _, body := get(t, h, "/api/records?pharmacy=P1&till=T1&limit=1"); strings.Count(body, "\n") != 1 {
		t.Fatalf("limit ignored: %q", body)
	}

	code, body = get(t, h, "/api/alarms")
	var alarms []Alarm
	if err := json.Unmarshal([]byte(body), &alarms); code != 200 || err != nil || len(alarms) != 1 || alarms[0].Kind != AlarmBadPayload {
		t.Fatalf("alarms %d %s %v", code, body, err)
	}
}

func TestHandler_badRequests(t *testing.T) {
	b, _, _ := setup(t)
	h := b.Handler()
	for _, url := range []string{
		"/api/records",
		"/api/records?pharmacy=P1",
		"/api/records?pharmacy=P1&till=a/b",
		"/api/records?pharmacy=P1&till=T1&from_seq=-1",
		"/api/records?pharmacy=P1&till=T1&limit=0",
	} {
		if code, _ := get(t, h, url); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", url, code)
		}
	}
	if code, body := get(t, h, "/api/alarms"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("empty alarms %d %q", code, body)
	}
	if code, body := get(t, h, "/api/tills"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("empty tills %d %q", code, body)
	}
}
