package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

type tokenAnswer struct {
	AppID          string `json:"authorizer_appid"`
	Token          string `json:"authorizer_access_token"`
	ComponentToken string `json:"component_access_token"`
	ExpiresAt      string `json:"expires_at"`
}

func decodeToken(t *testing.T, body []byte) tokenAnswer {
	t.Helper()
	var a tokenAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("token answer is not JSON: %q", body)
	}
	if _, err := time.Parse(time.RFC3339, a.ExpiresAt); err != nil {
		t.Fatalf("expires_at %q is not RFC 3339", a.ExpiresAt)
	}
	return a
}

// secrets returns every token and refresh token in the store, so that tests
// can check none of them leaked where it must not.
func (h *harness) secrets() []string {
	h.t.Helper()
	var out []string
	as, err := h.store.Store.ListAuthorizers(h.ctx, wxtoken.AuthorizerFilter{ComponentAppID: h.appID, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range as {
		if a.RefreshToken != "" {
			out = append(out, a.RefreshToken)
		}
		if a.AccessToken.Value != "" {
			out = append(out, a.AccessToken.Value)
		}
	}
	if ct, err := h.store.Store.GetComponentToken(h.ctx, h.appID); err == nil {
		out = append(out, ct.Value)
	}
	if tk, err := h.store.Store.GetTicket(h.ctx, h.appID); err == nil {
		out = append(out, tk.Value)
	}
	return out
}

func TestTokenAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 4})
	h.ready()
	a0 := h.authorize(0)
	a1 := h.authorize(1)
	a2 := h.emu.AppID(2) // never authorized
	tok0, _ := h.eng.CachedAuthorizerToken(a0)
	ct, _ := h.eng.CachedComponentToken()

	cases := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
		status int
		code   string // error code, for errors
		check  func(t *testing.T, body []byte)
	}{
		{"component token, no key", "GET", "/v1/component/token", "", "", 401, "unauthorized", nil},
		{"component token, unknown key", "GET", "/v1/component/token", "not-a-key-0123456789", "", 401, "unauthorized", nil},
		{"component token, reader", "GET", "/v1/component/token", keyReader, "", 403, "forbidden", nil},
		{"component token, component key", "GET", "/v1/component/token", keyComponent, "", 200, "", func(t *testing.T, b []byte) {
			if got := decodeToken(t, b); got.ComponentToken != ct.Value {
				t.Errorf("component token %q, want the engine's", wxtoken.Redact(got.ComponentToken))
			}
		}},
		{"component token, admin", "GET", "/v1/component/token", keyAdmin, "", 200, "", nil},
		{"authorizer token, reader of it", "GET", "/v1/authorizers/" + a0 + "/token", keyReader, "", 200, "", func(t *testing.T, b []byte) {
			got := decodeToken(t, b)
			if got.AppID != a0 || got.Token != tok0.Value {
				t.Errorf("token answer for %s: appid %s, token %s", a0, got.AppID, wxtoken.Redact(got.Token))
			}
			if want := tok0.ExpiresAt.UTC().Format(time.RFC3339); got.ExpiresAt != want {
				t.Errorf("expires_at %s, want %s", got.ExpiresAt, want)
			}
		}},
		{"authorizer token, reader of another", "GET", "/v1/authorizers/" + a1 + "/token", keyReader, "", 403, "forbidden", nil},
		{"authorizer token, glob", "GET", "/v1/authorizers/" + a1 + "/token", keyInvalid, "", 200, "", nil},
		{"authorizer token, component key", "GET", "/v1/authorizers/" + a0 + "/token", keyComponent, "", 403, "forbidden", nil},
		{"authorizer token, proxy key", "GET", "/v1/authorizers/" + a0 + "/token", keyProxy, "", 403, "forbidden", nil},
		{"authorizer token, no key", "GET", "/v1/authorizers/" + a0 + "/token", "", "", 401, "unauthorized", nil},
		{"authorizer token, malformed appid", "GET", "/v1/authorizers/not-an-appid/token", keyAdmin, "", 400, "invalid", nil},
		{"authorizer token, unknown appid", "GET", "/v1/authorizers/" + a2 + "/token", keyAdmin, "", 404, "not_found", nil},
		{"authorizer, admin", "GET", "/v1/authorizers/" + a0, keyAdmin, "", 200, "", func(t *testing.T, b []byte) {
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if v["authorizer_appid"] != a0 || v["state"] != "authorized" {
				t.Errorf("authorizer %v", v)
			}
			if fi, _ := v["func_info"].([]any); len(fi) == 0 {
				t.Errorf("func_info missing: %v", v["func_info"])
			}
			for _, f := range []string{"token_expires_at", "last_refresh_at", "authorized_at", "updated_at"} {
				s, _ := v[f].(string)
				if _, err := time.Parse(time.RFC3339, s); err != nil {
					t.Errorf("%s = %v, want RFC 3339", f, v[f])
				}
			}
			if info, _ := v["account_info"].(map[string]any); info["nick_name"] == "" || info["nick_name"] == nil {
				t.Errorf("account info missing: %v", v["account_info"])
			}
		}},
		{"authorizer, reader of another", "GET", "/v1/authorizers/" + a1, keyReader, "", 403, "forbidden", nil},
		{"authorizer, unknown", "GET", "/v1/authorizers/" + a2, keyAdmin, "", 404, "not_found", nil},
		{"authorizer, malformed", "GET", "/v1/authorizers/x", keyAdmin, "", 400, "invalid", nil},
		{"list, component key", "GET", "/v1/authorizers", keyComponent, "", 403, "forbidden", nil},
		{"list, bad limit", "GET", "/v1/authorizers?limit=0", keyAdmin, "", 400, "invalid", nil},
		{"list, huge limit", "GET", "/v1/authorizers?limit=100000", keyAdmin, "", 400, "invalid", nil},
		{"list, bad state", "GET", "/v1/authorizers?state=happy", keyAdmin, "", 400, "invalid", nil},
		{"list, bad cursor", "GET", "/v1/authorizers?cursor=../x", keyAdmin, "", 400, "invalid", nil},
		{"list, reader sees its one", "GET", "/v1/authorizers", keyReader, "", 200, "", func(t *testing.T, b []byte) {
			var l struct {
				Authorizers []map[string]any `json:"authorizers"`
				NextCursor  *string          `json:"next_cursor"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Authorizers) != 1 || l.Authorizers[0]["authorizer_appid"] != a0 || l.NextCursor == nil || *l.NextCursor != "" {
				t.Errorf("reader's list: %s", b)
			}
		}},
		{"invalidate, reader", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyReader, `{"authorizer_access_token":"x"}`, 403, "forbidden", nil},
		{"invalidate, bad JSON", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":`, 400, "invalid", nil},
		{"invalidate, unknown field", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"token":"x"}`, 400, "invalid", nil},
		{"invalidate, empty token", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":""}`, 400, "invalid", nil},
		{"invalidate, two objects", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":"a"}{}`, 400, "invalid", nil},
		{"invalidate, too large", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":"` + strings.Repeat("a", 5000) + `"}`, 413, "too_large", nil},
		{"invalidate, unknown appid", "POST", "/v1/authorizers/" + a2 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":"x"}`, 404, "not_found", nil},
		{"invalidate, a stale token", "POST", "/v1/authorizers/" + a0 + "/token/invalidate", keyInvalid, `{"authorizer_access_token":"50_stale-token-of-long-ago"}`, 200, "", func(t *testing.T, b []byte) {
			if got := decodeToken(t, b); got.Token != tok0.Value {
				t.Errorf("a stale report must not change the token")
			}
		}},
		{"wrong method on a /v1 route", "DELETE", "/v1/component/token", keyAdmin, "", 405, "method_not_allowed", nil},
		{"unknown /v1 route", "GET", "/v1/nothing", keyAdmin, "", 404, "not_found", nil},
		{"dot segments", "GET", "/v1/authorizers/../component/token", keyAdmin, "", 400, "invalid", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			} else {
				body = strings.NewReader("")
			}
			rec := h.do(tc.method, tc.path, tc.key, body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.code != "" {
				if code, _ := apiError(t, rec); code != tc.code {
					t.Errorf("error code %q, want %q", code, tc.code)
				}
				if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
				if tc.status == 405 && rec.Header().Get("Allow") == "" {
					t.Errorf("405 without Allow")
				}
			}
			if tc.status == 200 && rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("a token answer may be cached: Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes())
			}
		})
	}

	// Nothing but the token routes shows a token: the authorizer views and
	// the logs never do.
	for _, path := range []string{"/v1/authorizers", "/v1/authorizers/" + a0, "/v1/authorizers/" + a1} {
		body := h.do("GET", path, keyAdmin, nil).Body.String()
		for _, s := range h.secrets() {
			if strings.Contains(body, s) {
				t.Errorf("%s shows a secret (%s)", path, wxtoken.Redact(s))
			}
		}
	}
	logs := h.logs.String()
	for _, s := range append(h.secrets(), keyAdmin, keyReader, keyInvalid, keyComponent) {
		if strings.Contains(logs, s) {
			t.Errorf("the logs show a secret (%s)", wxtoken.Redact(s))
		}
	}
	if !strings.Contains(logs, "token handed out") || !strings.Contains(logs, "api_key=reader") || !strings.Contains(logs, "authorizer_appid="+a0) {
		t.Errorf("token hand-outs are not logged with key name and appid")
	}
}

func TestTokenHotPathTouchesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 2})
	h.ready()
	a0 := h.authorize(0)
	storeBefore := h.store.calls.Load()
	wxBefore := h.emu.Counters()
	for range 200 {
		if rec := h.do("GET", "/v1/authorizers/"+a0+"/token", keyAdmin, nil); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec := h.do("GET", "/v1/component/token", keyAdmin, nil); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := h.store.calls.Load() - storeBefore; n != 0 {
		t.Errorf("the hot path made %d store calls", n)
	}
	wxAfter := h.emu.Counters()
	for _, ep := range []string{"api_authorizer_token", "api_component_token"} {
		if wxAfter.Total(ep) != wxBefore.Total(ep) {
			t.Errorf("the hot path called %s", ep)
		}
	}
}

func TestInvalidateRefreshesTheCurrentToken(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 2})
	h.ready()
	a0 := h.authorize(0)
	old, _ := h.eng.CachedAuthorizerToken(a0)
	rec := h.do("POST", "/v1/authorizers/"+a0+"/token/invalidate", keyInvalid, strings.NewReader(`{"authorizer_access_token":"`+old.Value+`"}`))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	fresh := decodeToken(t, rec.Body.Bytes())
	if fresh.Token == old.Value || fresh.Token == "" {
		t.Fatalf("the reported token was not replaced")
	}
	if !h.emu.AuthorizerTokenValid(a0, fresh.Token) {
		t.Errorf("WeChat does not know the new token")
	}
	// A second report of the same old token is stale: no new refresh.
	refreshes := h.emu.Counters().Total("api_authorizer_token")
	rec = h.do("POST", "/v1/authorizers/"+a0+"/token/invalidate", keyInvalid, strings.NewReader(`{"authorizer_access_token":"`+old.Value+`"}`))
	if got := decodeToken(t, rec.Body.Bytes()); got.Token != fresh.Token {
		t.Errorf("a stale report changed the token")
	}
	if h.emu.Counters().Total("api_authorizer_token") != refreshes {
		t.Errorf("a stale report refreshed")
	}
}

func TestTokenOfRevokedAndReauthorizationAccounts(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 3})
	h.ready()
	a0 := h.authorize(0)
	a1 := h.authorize(1)

	if err := h.emu.Revoke(h.ctx, a0); err != nil {
		t.Fatal(err)
	}
	h.eventually("the revocation", func() bool {
		_, ok := h.eng.CachedAuthorizerToken(a0)
		return !ok
	})
	rec := h.do("GET", "/v1/authorizers/"+a0+"/token", keyAdmin, nil)
	if code, _ := apiError(t, rec); rec.Code != http.StatusGone || code != "revoked" {
		t.Errorf("revoked account: %d %s", rec.Code, rec.Body.String())
	}

	// An account whose refresh token WeChat rejected.
	ctx := context.Background()
	a, err := h.store.Store.GetAuthorizer(ctx, h.appID, a1)
	if err != nil {
		t.Fatal(err)
	}
	a.State = wxtoken.StateNeedsReauthorization
	a.AccessToken = wxtoken.Token{}
	if err := h.store.Store.PutAuthorizer(ctx, a); err != nil {
		t.Fatal(err)
	}
	h.eventually("the state change", func() bool {
		_, ok := h.eng.CachedAuthorizerToken(a1)
		return !ok
	})
	rec = h.do("GET", "/v1/authorizers/"+a1+"/token", keyAdmin, nil)
	if code, _ := apiError(t, rec); rec.Code != http.StatusConflict || code != "needs_reauthorization" {
		t.Errorf("needs_reauthorization account: %d %s", rec.Code, rec.Body.String())
	}
	rec = h.do("GET", "/v1/authorizers?state=needs_reauthorization", keyAdmin, nil)
	if !strings.Contains(rec.Body.String(), a1) || strings.Contains(rec.Body.String(), a0) {
		t.Errorf("state filter: %s", rec.Body.String())
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 5})
	h.ready()
	want := map[string]bool{}
	for i := range 5 {
		want[h.authorize(i)] = true
	}
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		rec := h.do("GET", "/v1/authorizers?limit=2&cursor="+cursor, keyAdmin, nil)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		var l struct {
			Authorizers []struct {
				AppID string `json:"authorizer_appid"`
			} `json:"authorizers"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, a := range l.Authorizers {
			if seen[a.AppID] {
				t.Errorf("%s on two pages", a.AppID)
			}
			seen[a.AppID] = true
		}
		if l.NextCursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		cursor = l.NextCursor
	}
	if len(seen) != len(want) || pages != 3 {
		t.Errorf("saw %d of %d accounts on %d pages", len(seen), len(want), pages)
	}
}
