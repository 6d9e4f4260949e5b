package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// ctl calls a control endpoint and decodes its JSON answer.
func (f *fixture) ctl(method, path, body string, wantStatus int) map[string]any {
	f.t.Helper()
	w := f.do(method, path, body)
	if w.Code != wantStatus {
		f.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, w.Code, wantStatus, w.Body.String())
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		f.t.Fatalf("%s %s: not JSON: %s", method, path, w.Body.String())
	}
	return m
}

func TestControlEndpoints(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true})
	tok := f.componentToken()
	appID := f.e.AppID(f.indexOfType(OfficialAccount, true))
	acct, _ := f.e.Account(appID)

	if m := f.ctl("GET", "/emulator/config", "", 200); m["component_appid"] != f.cfg.ComponentAppID || m["component_secret"] != nil {
		t.Fatalf("config %v", m)
	}
	// Clock.
	if m := f.ctl("GET", "/emulator/clock", "", 200); m["manual"] != true || m["now"] != start.Format(time.RFC3339) {
		t.Fatalf("clock %v", m)
	}
	if m := f.ctl("POST", "/emulator/clock/advance", `{"duration":"90m"}`, 200); m["now"] != start.Add(90*time.Minute).Format(time.RFC3339) {
		t.Fatalf("advance %v", m)
	}
	f.ctl("POST", "/emulator/clock/advance", `{"duration":"-1m"}`, 400)
	f.ctl("POST", "/emulator/clock/advance", `{"duration":`, 400)

	// Faults.
	f.ctl("POST", "/emulator/faults", `{"endpoint":"api_authorizer_token","errcode":-1,"count":1}`, 200)
	if m := f.ctl("GET", "/emulator/faults", "", 200); m["api_authorizer_token"].(map[string]any)["errcode"] != float64(-1) {
		t.Fatalf("faults %v", m)
	}
	f.wantErr(f.refresh(tok, appID, acct.RefreshToken), -1)
	f.ctl("POST", "/emulator/faults", `{"endpoint":"message/custom/send","http_status":500}`, 200)
	f.ctl("DELETE", "/emulator/faults/message/custom/send", "", 200)
	f.ctl("POST", "/emulator/faults", `{"endpoint":"*","delay":"1ms"}`, 200)
	f.ctl("DELETE", "/emulator/faults", "", 200)
	if len(f.e.Faults()) != 0 {
		t.Fatal("faults not cleared")
	}
	f.ctl("POST", "/emulator/faults", `{"endpoint":"nope","errcode":1}`, 400)
	f.ctl("POST", "/emulator/faults", `{"endpoint":"api_authorizer_token","delay":"x"}`, 400)
	f.ctl("POST", "/emulator/faults", `{"endpoint":"api_authorizer_token","probability":"high"}`, 400)

	// Pushes.
	f.ctl("POST", "/emulator/pushes/pause", "", 200)
	if !f.e.PushesPaused() {
		t.Fatal("not paused")
	}
	f.ctl("POST", "/emulator/pushes/resume", "", 200)
	if m := f.ctl("POST", "/emulator/pushes/ticket", "", 200); m["success"] != true || m["info_type"] != "component_verify_ticket" {
		t.Fatalf("push %v", m)
	}
	if m := f.ctl("GET", "/emulator/pushes", "", 200); len(m["pushes"].([]any)) != len(f.e.Pushes()) {
		t.Fatalf("pushes %v", m)
	}

	// Accounts, oracle, counters.
	if m := f.ctl("GET", "/emulator/accounts?offset=2&limit=3", "", 200); len(m["accounts"].([]any)) != 3 || m["total"] != float64(12) {
		t.Fatalf("accounts %v", m)
	}
	f.ctl("GET", "/emulator/accounts?limit=-1", "", 400)
	a := f.ctl("GET", "/emulator/accounts/"+appID, "", 200)
	if a["nick_name"] != acct.NickName || a["authorized"] != true || strings.Contains(f.do("GET", "/emulator/accounts/"+appID, "").Body.String(), "refreshtoken@@@") {
		t.Fatalf("account %v", a)
	}
	f.ctl("GET", "/emulator/accounts/wx0000000000000000", "", 404)
	oracle := func(kind, appID, token string) any {
		b, _ := json.Marshal(map[string]string{"kind": kind, "appid": appID, "token": token})
		return f.ctl("POST", "/emulator/oracle", string(b), 200)["valid"]
	}
	if oracle("component_token", "", tok) != true || oracle("refresh_token", appID, acct.RefreshToken) != true || oracle("authorizer_token", appID, "86_x") != false {
		t.Fatal("oracle")
	}
	f.ctl("POST", "/emulator/oracle", `{"kind":"ticket"}`, 400)
	access := f.refresh(tok, appID, acct.RefreshToken)["authorizer_access_token"].(string)
	if oracle("authorizer_token", appID, access) != true {
		t.Fatal("oracle rejects a fresh token")
	}
	c := f.ctl("GET", "/emulator/counters?appid="+appID, "", 200)
	if c["refreshes"].(map[string]any)[appID] != float64(1) || c["calls"].(map[string]any)["api_authorizer_token"].(map[string]any)["-1"] != float64(1) {
		t.Fatalf("counters %v", c)
	}

	// Authorization changes.
	f.ctl("POST", "/emulator/accounts/"+appID+"/update", `{"func_info":[1,2]}`, 200)
	if f.rc.last(t)["InfoType"] != "updateauthorized" {
		t.Fatal("update did not push")
	}
	f.ctl("POST", "/emulator/accounts/"+appID+"/update", `{"func_info":[]}`, 400)
	f.ctl("POST", "/emulator/accounts/"+appID+"/rotate-refresh-token", "", 200)
	if f.e.RefreshTokenValid(appID, acct.RefreshToken) {
		t.Fatal("rotate")
	}
	f.ctl("POST", "/emulator/accounts/"+appID+"/drop-refresh-token", "", 200)
	if m := f.ctl("POST", "/emulator/accounts/"+appID+"/revoke", "", 200); m["pushed"] != true {
		t.Fatalf("revoke %v", m)
	}
	f.ctl("POST", "/emulator/accounts/"+appID+"/revoke", "", 409)
	f.ctl("POST", "/emulator/accounts/wx0000000000000000/revoke", "", 404)

	// Authorize through the control API.
	b, _ := json.Marshal(map[string]any{"pre_auth_code": f.preAuthCode(tok), "appid": appID, "redirect_uri": "https://p.example/cb", "func_info": []int{1}})
	m := f.ctl("POST", "/emulator/authorize", string(b), 200)
	u, _ := url.Parse(m["redirect"].(string))
	if u.Query().Get("auth_code") == "" || m["pushed"] != true {
		t.Fatalf("authorize %v", m)
	}
	f.ctl("POST", "/emulator/authorize", string(b), 409) // pre-auth code used
	f.ctl("POST", "/emulator/authorize", `{"appid":1}`, 400)
	f.ctl("GET", "/emulator/nothing", "", 404)
	f.ctl("POST", "/emulator/clock", "", 405)
	f.ctl("POST", "/emulator/oracle", strings.Repeat(" ", 70<<10), 413)
	if m := f.ctl("GET", "/emulator/messages", "", 200); m["messages"] == nil {
		t.Fatal("messages")
	}
}

func TestClockNotManual(t *testing.T) {
	e, err := New(Config{Clock: wxtoken.NewScaledClock(start, 60)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, e: e}
	m := f.ctl("GET", "/emulator/clock", "", 200)
	if m["manual"] != false || m["scale"] != float64(60) || m["origin"] != start.Format(time.RFC3339) {
		t.Fatalf("clock %v", m)
	}
	f.ctl("POST", "/emulator/clock/advance", `{"duration":"1m"}`, 409)
	if w := f.do(http.MethodGet, "/", ""); w.Code != 200 || !strings.Contains(w.Body.String(), e.Config().ComponentAppID) {
		t.Fatalf("index page: %d", w.Code)
	}
}

// New's defaults and validation.
func TestConfig(t *testing.T) {
	a, err := New(Config{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(Config{Seed: 5})
	ca, cb := a.Config(), b.Config()
	if ca.ComponentAppID != cb.ComponentAppID || ca.EncodingAESKey != cb.EncodingAESKey || !wxtoken.ValidAppID(ca.ComponentAppID) || len(ca.EncodingAESKey) != 43 {
		t.Fatalf("generated credentials differ or are malformed: %+v", ca)
	}
	if ca.TicketInterval != 10*time.Minute || ca.TokenOverlap != 300*time.Second || ca.TicketRepeat != 3 || ca.Quotas["api_component_token"] != 10000 {
		t.Fatalf("defaults %+v", ca)
	}
	for name, cfg := range map[string]Config{
		"bad appid":         {ComponentAppID: "xyz"},
		"bad aes key":       {EncodingAESKey: "short"},
		"negative accounts": {Authorizers: -1},
		"bad push url":      {PushURL: "ftp://x"},
		"tiny interval":     {TicketInterval: time.Millisecond},
		"bad rotation":      {RefreshTokenRotation: 1.5},
		"negative retries":  {PushRetries: -1},
		"negative repeat":   {TicketRepeat: -2},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseQuotas(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want map[string]int
		ok   bool
	}{
		{"", map[string]int{}, true},
		{"none", map[string]int{}, true},
		{"api_component_token=10000, menu/get=5", map[string]int{"api_component_token": 10000, "menu/get": 5}, true},
		{"api_component_token", nil, false},
		{"=5", nil, false},
		{"x=-1", nil, false},
		{"x=many", nil, false},
	} {
		got, err := ParseQuotas(tt.in)
		if (err == nil) != tt.ok || tt.ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseQuotas(%q) = %v, %v", tt.in, got, err)
		}
	}
}
