package server_test

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func (h *harness) start(form url.Values) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/authorize/start", strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", h.url+"/authorize")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAuthorizePage(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 1})
	rec := h.do("GET", "/authorize?auth_type=2", "", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	for _, want := range []string{`action="/authorize/start"`, `name="auth_type"`, `name="biz_appid"`, `name="mobile" value="1"`, `value="2" selected`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, external := range []string{"<script", "src=", "<link", "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("page loads something (%s)", external)
		}
	}
}

func TestAuthorizeStart(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 2})
	h.ready()
	biz := h.emu.AppID(1)

	codes := map[string]bool{}
	for range 2 {
		resp := h.start(url.Values{"auth_type": {"2"}, "mobile": {"0"}})
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), h.emuURL+"/cgi-bin/componentloginpage?") || q.Get("component_appid") != h.appID ||
			q.Get("redirect_uri") != h.url+"/authorize/callback" || q.Get("auth_type") != "2" || q.Get("pre_auth_code") == "" {
			t.Errorf("PC link %s", loc)
		}
		codes[q.Get("pre_auth_code")] = true
	}
	if len(codes) != 2 {
		t.Errorf("two clicks got the same pre-auth code")
	}

	resp := h.start(url.Values{"auth_type": {"3"}, "biz_appid": {biz}, "mobile": {"1"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, h.emuURL+"/wxaopen/safe/bindcomponent?action=bindcomponent") ||
		!strings.Contains(loc, "biz_appid="+biz) || !strings.HasSuffix(loc, "#wechat_redirect") {
		t.Errorf("mobile link: %d %s", resp.StatusCode, loc)
	}

	// GET works too, for links and QR codes.
	rec := h.do("GET", "/authorize/start?mobile=1", "", nil)
	if rec.Code != http.StatusFound || !strings.Contains(rec.Header().Get("Location"), "/wxaopen/safe/bindcomponent?") {
		t.Errorf("GET start: %d %s", rec.Code, rec.Header().Get("Location"))
	}

	for _, bad := range []url.Values{
		{"auth_type": {"7"}},
		{"auth_type": {"x"}},
		{"biz_appid": {"not-an-appid"}},
		{"mobile": {"maybe"}},
	} {
		resp := h.start(bad)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%v: status %d", bad, resp.StatusCode)
		}
	}
}

func TestAuthorizeStartWithoutTicket(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 1, noEngineRun: true})
	rec := h.do("POST", "/authorize/start", "", strings.NewReader(""))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "try again") {
		t.Errorf("status %d: %s", rec.Code, rec.Body.String())
	}
}

// callbackFor runs the merchant's click on the emulator's page and returns
// the callback path WeChat redirects to.
func (h *harness) callbackFor(i int) string {
	h.t.Helper()
	pre, err := h.eng.PreAuthCode(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	redirect, _ := h.emu.Authorize(h.ctx, pre.Value, h.emu.AppID(i), h.url+"/authorize/callback", nil)
	u, err := url.Parse(redirect)
	if err != nil || u.Query().Get("auth_code") == "" {
		h.t.Fatalf("redirect %q", redirect)
	}
	return u.RequestURI()
}

func TestAuthorizeCallback(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 3})
	h.ready()

	// The push is lost: the redirect's code is the only one.
	h.blockPushes.Store(true)
	cb := h.callbackFor(0)
	h.blockPushes.Store(false)
	acct, err := h.emu.Account(h.emu.AppID(0))
	if err != nil {
		t.Fatal(err)
	}
	rec := h.do("GET", cb, "", nil)
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, "Authorization complete") || !strings.Contains(page, acct.AppID) ||
		!strings.Contains(page, template.HTMLEscapeString(acct.NickName)) {
		t.Fatalf("callback: %d %s", rec.Code, page)
	}
	for _, id := range acct.FuncInfo {
		if !strings.Contains(page, "permission set "+strconv.Itoa(id)+"<") {
			t.Errorf("permission set %d not shown", id)
		}
	}
	if _, ok := h.eng.CachedAuthorizerToken(acct.AppID); !ok {
		t.Errorf("the callback did not store the authorization")
	}
	// A reload of the page.
	rec = h.do("GET", cb, "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "already") || !strings.Contains(rec.Body.String(), acct.AppID) {
		t.Errorf("reload: %d %s", rec.Code, rec.Body.String())
	}

	// The push arrives first and exchanges the code.
	cb = h.callbackFor(1)
	h.eventually("the push's exchange", func() bool { _, ok := h.eng.CachedAuthorizerToken(h.emu.AppID(1)); return ok })
	rec = h.do("GET", cb, "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "already") || !strings.Contains(rec.Body.String(), h.emu.AppID(1)) {
		t.Errorf("after the push: %d %s", rec.Code, rec.Body.String())
	}

	const forged = "queryauthcode@@@forged-code-value-1234"
	for _, tc := range []struct {
		name, path string
		status     int
		says       string
	}{
		{"invalid code", "/authorize/callback?auth_code=" + url.QueryEscape(forged) + "&expires_in=600", 400, "invalid, has expired or was already used"},
		{"no code", "/authorize/callback?expires_in=600", 400, "no valid authorization code"},
		{"malformed query", "/authorize/callback?auth_code=%zz", 400, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("GET", tc.path, "", nil)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.says) {
				t.Errorf("status %d: %s", rec.Code, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "forged-code") {
				t.Errorf("the page shows the code")
			}
		})
	}
	if strings.Contains(h.logs.String(), "forged-code-value") {
		t.Errorf("the logs show the code")
	}
}
