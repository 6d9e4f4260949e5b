package emulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// callback is the platform's redirect_uri: it records what it was sent.
type callback struct {
	srv   *httptest.Server
	mu    sync.Mutex
	query []url.Values
}

func newCallback(t *testing.T) *callback {
	cb := &callback{}
	cb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.query = append(cb.query, r.URL.Query())
		cb.mu.Unlock()
		io.WriteString(w, "authorized, thanks")
	}))
	t.Cleanup(cb.srv.Close)
	return cb
}

var buttonPattern = regexp.MustCompile(`name="appid" value="(wx[0-9a-f]{16})"`)

func getPage(t *testing.T, client *http.Client, target string) (int, string) {
	t.Helper()
	resp, err := client.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The merchant's flow over real HTTP: open the page from the platform's
// link, click "authorize", follow the redirect to the platform with the code;
// the push carries the same code.
func TestPageFlow(t *testing.T) {
	f := newFixture(t, Config{Authorizers: 40})
	srv := httptest.NewServer(f.e)
	t.Cleanup(srv.Close)
	cb := newCallback(t)
	tok := f.componentToken()
	client := srv.Client()

	for _, tt := range []struct {
		name, path string
		authType   string
		want       AccountType // "" both
	}{
		{"PC official accounts", "/cgi-bin/componentloginpage", "1", OfficialAccount},
		{"mobile mini programs", "/wxaopen/safe/bindcomponent", "2", MiniProgram},
		{"old mobile host, both", "/safe/bindcomponent", "3", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pre := f.preAuthCode(tok)
			q := url.Values{"component_appid": {f.cfg.ComponentAppID}, "pre_auth_code": {pre}, "redirect_uri": {cb.srv.URL + "/authorize/callback"},
				"auth_type": {tt.authType}, "category_id_list": {"1|2|15|17"}}
			if strings.Contains(tt.path, "bindcomponent") {
				q.Set("action", "bindcomponent")
				q.Set("no_scan", "1")
			}
			status, body := getPage(t, client, srv.URL+tt.path+"?"+q.Encode())
			if status != http.StatusOK {
				t.Fatalf("page: HTTP %d: %s", status, body)
			}
			buttons := buttonPattern.FindAllStringSubmatch(body, -1)
			if len(buttons) == 0 {
				t.Fatalf("no account to authorize:\n%s", body)
			}
			for _, b := range buttons {
				a, err := f.e.Account(b[1])
				if err != nil || (tt.want != "" && a.Type != tt.want) {
					t.Fatalf("page lists %s (%s) for auth_type %s", b[1], a.Type, tt.authType)
				}
				if !strings.Contains(body, a.NickName) {
					t.Fatalf("page lacks the name of %s", b[1])
				}
			}
			if !strings.Contains(body, "自定义菜单权限") || !strings.Contains(body, "/emulator/avatar/") {
				t.Fatal("page lacks the permission sets or avatars")
			}
			appID := buttons[0][1]

			// Click: the form posts its fields and the button's appid; the
			// merchant unticks set 17.
			form := url.Values{}
			for k, v := range q {
				form[k] = v
			}
			form.Set("appid", appID)
			form.Set("funcs_shown", "1")
			form["func"] = []string{"1", "2", "15"}
			resp, err := client.PostForm(srv.URL+tt.path, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/authorize/callback" {
				t.Fatalf("after clicking: HTTP %d at %s", resp.StatusCode, resp.Request.URL)
			}
			cb.mu.Lock()
			got := cb.query[len(cb.query)-1]
			cb.mu.Unlock()
			code := got.Get("auth_code")
			if code == "" || got.Get("expires_in") != "600" {
				t.Fatalf("callback query %v", got)
			}
			ev := f.rc.last(t)
			if ev["InfoType"] != "authorized" || ev["AuthorizationCode"] != code || ev["AuthorizerAppid"] != appID || ev["PreAuthCode"] != pre {
				t.Fatalf("push %v does not match the redirect", ev)
			}
			m := f.component("api_query_auth", tok, map[string]any{"authorization_code": code})
			f.wantErr(m, 0)
			if n := len(m["authorization_info"].(map[string]any)["func_info"].([]any)); n != 3 {
				t.Fatalf("granted %d sets, want the 3 ticked", n)
			}
			// The pre-auth code is used up: the page now refuses it.
			status, body = getPage(t, client, srv.URL+tt.path+"?"+q.Encode())
			if status != http.StatusBadRequest || !strings.Contains(body, "失效") {
				t.Fatalf("reused pre-auth code: HTTP %d", status)
			}
		})
	}
}

func TestPageRestrictions(t *testing.T) {
	f := newFixture(t, Config{Authorizers: 40, AuthorizationDomain: "platform.example"})
	tok := f.componentToken()
	mp := f.e.AppID(f.indexOfType(MiniProgram, false))
	oa := f.e.AppID(f.indexOfType(OfficialAccount, true))
	base := func() url.Values {
		return url.Values{"component_appid": {f.cfg.ComponentAppID}, "pre_auth_code": {f.preAuthCode(tok)}, "redirect_uri": {"https://platform.example/cb"}}
	}
	page := func(path string, q url.Values, referer string) (int, string) {
		r := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
		if referer != "" {
			r.Header.Set("Referer", referer)
		}
		w := httptest.NewRecorder()
		f.e.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	const mobile = "/wxaopen/safe/bindcomponent"
	// biz_appid wins over auth_type.
	q := base()
	q.Set("auth_type", "1")
	q.Set("biz_appid", mp)
	status, body := page(mobile, q, "")
	buttons := buttonPattern.FindAllStringSubmatch(body, -1)
	if status != 200 || len(buttons) != 1 || buttons[0][1] != mp {
		t.Fatalf("biz_appid page: %d %v", status, buttons)
	}
	// The PC page checks the Referer against the authorization domain.
	if status, _ := page("/cgi-bin/componentloginpage", base(), "https://evil.example/x"); status != http.StatusBadRequest {
		t.Fatalf("foreign Referer: HTTP %d", status)
	}
	if status, _ := page("/cgi-bin/componentloginpage", base(), "https://www.platform.example/start"); status != http.StatusOK {
		t.Fatalf("Referer on a subdomain: HTTP %d", status)
	}
	for name, mutate := range map[string]func(url.Values){
		"foreign component":   func(q url.Values) { q.Set("component_appid", "wx0000000000000000") },
		"no pre-auth code":    func(q url.Values) { q.Del("pre_auth_code") },
		"forged pre-auth":     func(q url.Values) { q.Set("pre_auth_code", "preauthcode@@@x") },
		"relative redirect":   func(q url.Values) { q.Set("redirect_uri", "/cb") },
		"bad auth_type":       func(q url.Values) { q.Set("auth_type", "9") },
		"unknown biz_appid":   func(q url.Values) { q.Set("biz_appid", "wx0000000000000000") },
		"bad category list":   func(q url.Values) { q.Set("category_id_list", "1|x") },
		"negative start":      func(q url.Values) { q.Set("start", "-3") },
		"non-numeric auth":    func(q url.Values) { q.Set("auth_type", "one") },
		"huge category id":    func(q url.Values) { q.Set("category_id_list", "99999") },
		"empty category item": func(q url.Values) { q.Set("category_id_list", "1||2") },
	} {
		t.Run(name, func(t *testing.T) {
			q := base()
			mutate(q)
			if status, body := page(mobile, q, ""); status != http.StatusBadRequest || !strings.Contains(body, "<p class=\"err\">") {
				t.Fatalf("HTTP %d", status)
			}
		})
	}
	// A click for an account the page does not offer is refused and changes
	// nothing.
	post := func(form url.Values) int {
		r := httptest.NewRequest(http.MethodPost, mobile, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.e.ServeHTTP(w, r)
		return w.Code
	}
	form := base()
	form.Set("auth_type", "2")
	form.Set("appid", oa)
	if status := post(form); status != http.StatusBadRequest {
		t.Fatalf("official account clicked on a mini-program page: HTTP %d", status)
	}
	form.Set("appid", mp)
	form.Set("funcs_shown", "1")
	if status := post(form); status != http.StatusBadRequest {
		t.Fatalf("nothing ticked: HTTP %d", status)
	}
	form.Set("category_id_list", "17|18")
	form["func"] = []string{"17", "1"}
	if status := post(form); status != http.StatusBadRequest {
		t.Fatalf("a set that was not asked for: HTTP %d", status)
	}
	if a, _ := f.e.Account(mp); a.Authorized {
		t.Fatal("a refused click authorized the account")
	}
	form["func"] = []string{"17"}
	if status := post(form); status != http.StatusFound {
		t.Fatalf("valid click: HTTP %d", status)
	}
	if a, _ := f.e.Account(mp); !a.Authorized || len(a.FuncInfo) != 1 {
		t.Fatalf("account after click: %+v", a)
	}
}

// A page of one type among many accounts, with a link to the next page.
func TestPagePaging(t *testing.T) {
	f := newFixture(t, Config{Authorizers: 1_000_000})
	tok := f.componentToken()
	q := url.Values{"component_appid": {f.cfg.ComponentAppID}, "pre_auth_code": {f.preAuthCode(tok)},
		"redirect_uri": {"https://p.example/cb"}, "auth_type": {"2"}, "start": {"999000"}}
	w := f.do(http.MethodGet, "/cgi-bin/componentloginpage?"+q.Encode(), "")
	buttons := buttonPattern.FindAllStringSubmatch(w.Body.String(), -1)
	if w.Code != 200 || len(buttons) != pageSize {
		t.Fatalf("HTTP %d, %d accounts", w.Code, len(buttons))
	}
	if !strings.Contains(w.Body.String(), "start=") {
		t.Fatal("no link to the next page")
	}
	if a, _ := f.e.Account(buttons[0][1]); a.Index < 999000 || a.Type != MiniProgram {
		t.Fatalf("first account %+v", a)
	}
	// auth_type 5 (channels): nothing to show, no next page.
	q.Set("auth_type", "5")
	w = f.do(http.MethodGet, "/cgi-bin/componentloginpage?"+q.Encode(), "")
	if w.Code != 200 || buttonPattern.MatchString(w.Body.String()) || strings.Contains(w.Body.String(), "start=") {
		t.Fatalf("auth_type 5: HTTP %d", w.Code)
	}
}

func TestAvatar(t *testing.T) {
	f := newFixture(t, Config{})
	w := f.do(http.MethodGet, "/emulator/avatar/"+f.e.AppID(1)+".svg", "")
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "<svg") || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("avatar: %d %s", w.Code, w.Body.String())
	}
	if w := f.do(http.MethodGet, "/emulator/avatar/wx0000000000000000.svg", ""); w.Code != 404 {
		t.Fatalf("unknown avatar: %d", w.Code)
	}
}
