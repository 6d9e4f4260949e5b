package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
)

// apiPaths are the WeChat API paths, in a fixed order for the fuzzers.
func apiPaths(e *Emulator) []string {
	paths := make([]string, 0, len(e.routes))
	for p := range e.routes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// badBodies are malformed inputs every API must answer with an errcode.
var badBodies = []string{
	"", " ", "null", "[]", "{", `"text"`, "12", `{"component_appid":1}`, `{"component_appid":null}`,
	`{"component_appid":["wx"]}`, `{"component_appid":{"a":1}}`, `{"offset":"1","count":true}`,
	`{"authorizer_appid":"wx` + strings.Repeat("f", 16) + `"}`, "\xff\xfe{}", `{"touser":1}`,
	`{"component_appid":"` + strings.Repeat("x", 70<<10) + `"}`,
}

// Every API answers bad input with HTTP 200 and a WeChat errcode, never a
// panic, a 5xx or HTML, and bad input changes nothing.
func TestBadInputEverywhere(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true})
	ct := f.componentToken()
	acct, _ := f.e.Account(f.e.AppID(f.indexOfType(OfficialAccount, true)))
	at := f.refresh(ct, acct.AppID, acct.RefreshToken)["authorizer_access_token"].(string)
	before := f.e.Counters().Refreshes
	for _, path := range apiPaths(f.e) {
		if !f.e.routes[path].post {
			continue // the GET APIs take no body; their query is checked in TestBizAPIs
		}
		for _, body := range badBodies {
			for _, q := range []string{"", "component_access_token=" + ct, "access_token=" + at, "access_token=" + ct, "component_access_token=%zz"} {
				w := f.do(http.MethodPost, path+"?"+q, body)
				m := decodeAnswer(t, w)
				if errcode(t, m) == 0 {
					t.Fatalf("POST %s?%s %.40q: success on bad input: %v", path, q, body, m)
				}
			}
		}
	}
	after := f.e.Counters().Refreshes
	if len(before) != len(after) || after[acct.AppID] != before[acct.AppID] {
		t.Fatalf("bad input refreshed: %v → %v", before, after)
	}
	if f.e.AuthorizerTokenValid(acct.AppID, at) != true {
		t.Fatal("bad input invalidated a token")
	}
}

// FuzzAPI sends arbitrary query strings and bodies to every WeChat API.
// "$CT" and "$AT" in the query stand for a valid component and authorizer
// token, so the fuzzer reaches the body parsers.
func FuzzAPI(f *testing.F) {
	fx := newFixture(f, Config{PreAuthorized: true, Authorizers: 50})
	ct := fx.componentToken()
	acct, _ := fx.e.Account(fx.e.AppID(fx.indexOfType(OfficialAccount, true)))
	at := fx.refresh(ct, acct.AppID, acct.RefreshToken)["authorizer_access_token"].(string)
	paths := apiPaths(fx.e)
	for i := range paths {
		for _, b := range badBodies[:len(badBodies)-1] {
			f.Add(uint8(i), "component_access_token=$CT", b, true)
		}
		f.Add(uint8(i), "access_token=$AT&openid="+openID, `{"touser":"`+openID+`","msgtype":"text","text":{"content":"hi"}}`, true)
		f.Add(uint8(i), "component_access_token=$CT", `{"component_appid":"`+fx.cfg.ComponentAppID+`","authorizer_appid":"`+acct.AppID+`","authorizer_refresh_token":"`+acct.RefreshToken+`","offset":0,"count":10,"option_name":"voice_recognize","option_value":"1"}`, true)
		f.Add(uint8(i), "", "", false)
	}
	f.Fuzz(func(t *testing.T, pathIndex uint8, query, body string, post bool) {
		path := paths[int(pathIndex)%len(paths)]
		query = strings.NewReplacer("$CT", url.QueryEscape(ct), "$AT", url.QueryEscape(at)).Replace(query)
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "/", strings.NewReader(body))
		r.URL.Path, r.URL.RawQuery = path, query
		w := httptest.NewRecorder()
		fx.e.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s?%s: HTTP %d %s", method, path, query, w.Code, w.Header().Get("Content-Type"))
		}
		var m map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON object: %s", w.Body.String())
		}
	})
}

// FuzzPage sends arbitrary queries and forms to the authorization page.
func FuzzPage(f *testing.F) {
	fx := newFixture(f, Config{Authorizers: 50})
	ct := fx.componentToken()
	valid := url.Values{"component_appid": {fx.cfg.ComponentAppID}, "pre_auth_code": {fx.preAuthCode(ct)}, "redirect_uri": {"https://p.example/cb"}}
	f.Add(valid.Encode(), "", false)
	f.Add(valid.Encode()+"&auth_type=2&category_id_list=17|18", "", false)
	f.Add(valid.Encode()+"&biz_appid="+fx.e.AppID(3), "", false)
	f.Add(valid.Encode()+"&start=49", "", false)
	f.Add("", valid.Encode()+"&appid="+fx.e.AppID(1)+"&funcs_shown=1&func=1", true)
	f.Add("", valid.Encode()+"&appid="+fx.e.AppID(1)+"&category_id_list=1|x", true)
	f.Add("", "%zz=%", true)
	f.Add("auth_type=99&component_appid=wx", "", false)
	f.Fuzz(func(t *testing.T, query, form string, post bool) {
		for _, path := range []string{"/cgi-bin/componentloginpage", "/wxaopen/safe/bindcomponent"} {
			var r *http.Request
			if post {
				r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(http.MethodGet, "/", nil)
			}
			r.URL.Path, r.URL.RawQuery = path, query
			w := httptest.NewRecorder()
			fx.e.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK, http.StatusFound, http.StatusBadRequest:
			default:
				t.Fatalf("%s: HTTP %d", path, w.Code)
			}
		}
	})
}

// FuzzControl sends arbitrary JSON to the control endpoints that take a body.
func FuzzControl(f *testing.F) {
	fx := newFixture(f, Config{PreAuthorized: true, Authorizers: 20})
	paths := []string{"/emulator/clock/advance", "/emulator/faults", "/emulator/authorize", "/emulator/oracle",
		"/emulator/accounts/" + fx.e.AppID(1) + "/update", "/emulator/accounts/" + fx.e.AppID(2) + "/revoke"}
	for i := range paths {
		for _, b := range []string{"", "{", "null", `{"duration":"1h"}`, `{"endpoint":"api_query_auth","errcode":61009,"count":1}`,
			`{"endpoint":"*","delay":"-1s"}`, `{"kind":"refresh_token","appid":"wx","token":"x"}`, `{"func_info":[1,"x"]}`,
			`{"func_info":[2,3]}`, `{"pre_auth_code":"preauthcode@@@x","appid":"wx","redirect_uri":"https://x/"}`} {
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, pathIndex uint8, body string) {
		path := paths[int(pathIndex)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		w := httptest.NewRecorder()
		fx.e.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusBadGateway {
			t.Fatalf("%s %q: HTTP %d", path, body, w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s: not JSON: %s", path, w.Body.String())
		}
		fx.e.ClearFaults()
	})
}

// FuzzParseValue: parsing never panics, and a value that parses is the one
// spelling of its (index, serial).
func FuzzParseValue(f *testing.F) {
	c := newCodec(42, 7)
	for k := kindComponentToken; k < kindAccountData; k++ {
		f.Add(uint8(k), c.mint(k, 3, 4))
		f.Add(uint8(k), formats[k].prefix+"AAAA")
	}
	f.Add(uint8(0), "wx0123456789abcdef")
	f.Fuzz(func(t *testing.T, k uint8, s string) {
		kd := kind(k % uint8(kindAccountData))
		if kd == kindAppID {
			if index, ok := c.accountIndex(s, 1_000_000); ok && c.appID(index) != s {
				t.Fatalf("appid %q parses to %d, which spells %q", s, index, c.appID(index))
			}
			return
		}
		if index, serial, ok := c.parse(kd, s); ok && c.mint(kd, index, serial) != s {
			t.Fatalf("%q parses to (%d, %d), which spells %q", s, index, serial, c.mint(kd, index, serial))
		}
	})
}

// FuzzSettings: the --quota and --ip-whitelist parsers reject bad text
// cleanly.
func FuzzSettings(f *testing.F) {
	for _, s := range []string{"", "none", "api_component_token=10000", "a=1,b=2", "=5", "x=-1", "10.0.0.0/8,127.0.0.1", "::1", "1.2.3.4/33", "bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if q, err := ParseQuotas(s); err == nil {
			for name, n := range q {
				if name == "" || n < 0 {
					t.Fatalf("ParseQuotas(%q) accepted %q=%d", s, name, n)
				}
			}
		}
		if wl, err := parseWhitelist(strings.Split(s, ",")); err == nil {
			for _, p := range wl {
				if !p.IsValid() {
					t.Fatalf("parseWhitelist(%q) returned %v", s, p)
				}
			}
		}
	})
}
