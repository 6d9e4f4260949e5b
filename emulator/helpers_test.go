package emulator

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
)

// start is a Tuesday, 10:00 in Beijing: far from a day boundary.
var start = time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)

// receiver is a platform's authorization event URL: it verifies and opens
// each push the way a real platform must, and records the payloads.
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	crypter *msgcrypt.Crypter
	token   string

	mu     sync.Mutex
	events []map[string]string
	answer string // what to answer; default "success"
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, answer: "success"}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// bind makes the receiver open pushes sealed with e's credentials.
func (rc *receiver) bind(e *Emulator) {
	cfg := e.Config()
	c, err := msgcrypt.NewCrypter(cfg.Token, cfg.ComponentAppID, cfg.EncodingAESKey)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.crypter, rc.token = c, cfg.Token
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	c, token, answer := rc.crypter, rc.token, rc.answer
	rc.mu.Unlock()
	q := r.URL.Query()
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || q.Get("encrypt_type") != "aes" {
		http.Error(w, "bad push", http.StatusBadRequest)
		return
	}
	if err := msgcrypt.Verify(q.Get("signature"), token, q.Get("timestamp"), q.Get("nonce")); err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	msg, env, _, err := c.OpenPush(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	if err != nil {
		http.Error(w, "bad envelope: "+err.Error(), http.StatusBadRequest)
		return
	}
	fields, err := parseFlatXML(msg)
	if err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	fields["_envelope_appid"] = env.AppID
	fields["_timestamp"] = q.Get("timestamp")
	rc.mu.Lock()
	rc.events = append(rc.events, fields)
	rc.mu.Unlock()
	io.WriteString(w, answer)
}

func (rc *receiver) setAnswer(s string) {
	rc.mu.Lock()
	rc.answer = s
	rc.mu.Unlock()
}

func (rc *receiver) all() []map[string]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]string(nil), rc.events...)
}

func (rc *receiver) last(t testing.TB) map[string]string {
	t.Helper()
	ev := rc.all()
	if len(ev) == 0 {
		t.Fatal("no push received")
	}
	return ev[len(ev)-1]
}

// parseFlatXML reads <xml><A>v</A>…</xml> into a map.
func parseFlatXML(b []byte) (map[string]string, error) {
	var doc struct {
		Fields []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range doc.Fields {
		out[f.XMLName.Local] = f.Value
	}
	return out, nil
}

// fixture is an emulator on a manual clock with a push receiver.
type fixture struct {
	t     testing.TB
	e     *Emulator
	clock *wxtoken.ManualClock
	rc    *receiver
	cfg   Config
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	clock := wxtoken.NewManualClock(start)
	rc := newReceiver(t)
	cfg.Clock = clock
	if cfg.PushURL == "" {
		cfg.PushURL = rc.srv.URL + "/wechat/component/events"
	}
	if cfg.Authorizers == 0 {
		cfg.Authorizers = 12
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	if cfg.Salt == 0 {
		cfg.Salt = 7
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc.bind(e)
	return &fixture{t: t, e: e, clock: clock, rc: rc, cfg: e.Config()}
}

// do sends one request through the handler and returns the recorder.
func (f *fixture) do(method, target string, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	w := httptest.NewRecorder()
	f.e.ServeHTTP(w, r)
	return w
}

// api posts a JSON body to a WeChat API and decodes the JSON answer,
// failing on anything but HTTP 200 with JSON.
func (f *fixture) api(path string, query url.Values, body any) map[string]any {
	f.t.Helper()
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		s = string(raw)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	method := http.MethodPost
	if body == nil {
		method = http.MethodGet
	}
	return decodeAnswer(f.t, f.do(method, target, s))
}

func decodeAnswer(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q: %s", ct, w.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, w.Body.String())
	}
	return m
}

// errcode returns the answer's errcode (0 when absent), checking that an
// error carries WeChat's " rid: " suffix.
func errcode(t testing.TB, m map[string]any) int {
	t.Helper()
	c, ok := m["errcode"].(float64)
	if !ok || c == 0 {
		return 0
	}
	if msg, _ := m["errmsg"].(string); !strings.Contains(msg, " rid: ") {
		t.Errorf("errmsg %q has no rid", msg)
	}
	return int(c)
}

func (f *fixture) wantErr(m map[string]any, want int) {
	f.t.Helper()
	if got := errcode(f.t, m); got != want {
		f.t.Fatalf("errcode %d, want %d (%v)", got, want, m)
	}
}

func tokenQuery(tok string) url.Values { return url.Values{"component_access_token": {tok}} }

// pushTicket pushes a ticket and returns it as the receiver decrypted it.
func (f *fixture) pushTicket() string {
	f.t.Helper()
	if err := f.e.PushTicket(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	ev := f.rc.last(f.t)
	if ev["InfoType"] != "component_verify_ticket" {
		f.t.Fatalf("last push is %v", ev)
	}
	return ev["ComponentVerifyTicket"]
}

func (f *fixture) componentTokenWith(ticket string) map[string]any {
	return f.api("/cgi-bin/component/api_component_token", nil, map[string]string{
		"component_appid": f.cfg.ComponentAppID, "component_appsecret": f.cfg.ComponentSecret, "component_verify_ticket": ticket,
	})
}

// componentToken gets a component token the way a platform does.
func (f *fixture) componentToken() string {
	f.t.Helper()
	ticket := f.e.Ticket()
	if f.e.checkTicket(ticket, f.clock.Now().UnixNano()) != 0 {
		ticket = f.pushTicket()
	}
	m := f.componentTokenWith(ticket)
	f.wantErr(m, 0)
	return m["component_access_token"].(string)
}

func (f *fixture) component(name, tok string, body map[string]any) map[string]any {
	f.t.Helper()
	if _, ok := body["component_appid"]; !ok {
		body["component_appid"] = f.cfg.ComponentAppID
	}
	return f.api("/cgi-bin/component/"+name, tokenQuery(tok), body)
}

func (f *fixture) preAuthCode(tok string) string {
	f.t.Helper()
	m := f.component("api_create_preauthcode", tok, map[string]any{})
	f.wantErr(m, 0)
	return m["pre_auth_code"].(string)
}

// authorizeAndExchange authorizes account index through the Go API and
// exchanges the code: it returns (access token, refresh token).
func (f *fixture) authorizeAndExchange(tok string, index int, funcInfo []int) (string, string) {
	f.t.Helper()
	redirect, err := f.e.Authorize(context.Background(), f.preAuthCode(tok), f.e.AppID(index), "https://platform.example/cb", funcInfo)
	if err != nil {
		f.t.Fatal(err)
	}
	u, _ := url.Parse(redirect)
	m := f.component("api_query_auth", tok, map[string]any{"authorization_code": u.Query().Get("auth_code")})
	f.wantErr(m, 0)
	info := m["authorization_info"].(map[string]any)
	return info["authorizer_access_token"].(string), info["authorizer_refresh_token"].(string)
}

func (f *fixture) refresh(tok string, appID, refreshToken string) map[string]any {
	f.t.Helper()
	return f.component("api_authorizer_token", tok, map[string]any{"authorizer_appid": appID, "authorizer_refresh_token": refreshToken})
}

func (f *fixture) list(tok string, offset, count int) map[string]any {
	f.t.Helper()
	return f.component("api_get_authorizer_list", tok, map[string]any{"offset": offset, "count": count})
}

// listEntry finds appID in the authorizer list (the first 500).
func (f *fixture) listEntry(tok, appID string) (map[string]any, bool) {
	f.t.Helper()
	m := f.list(tok, 0, 500)
	f.wantErr(m, 0)
	for _, it := range m["list"].([]any) {
		entry := it.(map[string]any)
		if entry["authorizer_appid"] == appID {
			return entry, true
		}
	}
	return nil, false
}

// indexOfType returns the first seeded account of type t.
func (f *fixture) indexOfType(t AccountType, hasMenu bool) int {
	f.t.Helper()
	for i := 0; i < f.cfg.Authorizers; i++ {
		a := f.e.account(uint32(i))
		if a.Type == t && (t != OfficialAccount || a.HasMenu == hasMenu) {
			return i
		}
	}
	f.t.Fatalf("no seeded %s (menu %v) among %d accounts", t, hasMenu, f.cfg.Authorizers)
	return 0
}
