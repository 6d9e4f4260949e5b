package emulator

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func authCodeOf(t *testing.T, redirect string) string {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("auth_code")
}

func TestAuthorizeAndExchange(t *testing.T) {
	f := newFixture(t, Config{})
	tok := f.componentToken()
	appID := f.e.AppID(3)
	pre := f.preAuthCode(tok)

	redirect, err := f.e.Authorize(context.Background(), pre, appID, "https://platform.example/cb?x=1", []int{1, 2, 15})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redirect)
	code := u.Query().Get("auth_code")
	if u.Host != "platform.example" || u.Query().Get("x") != "1" || u.Query().Get("expires_in") != "600" || code == "" {
		t.Fatalf("redirect %s", redirect)
	}
	ev := f.rc.last(t)
	wantEv := map[string]string{"InfoType": "authorized", "AuthorizerAppid": appID, "AuthorizationCode": code, "PreAuthCode": pre,
		"AuthorizationCodeExpiredTime": strconv.FormatInt(start.Add(600*time.Second).Unix(), 10)}
	for k, v := range wantEv {
		if ev[k] != v {
			t.Fatalf("push %s = %q, want %q", k, ev[k], v)
		}
	}
	// Before the exchange, the list shows the authorization without a refresh token.
	entry, ok := f.listEntry(tok, appID)
	if !ok || entry["refresh_token"] != "" || entry["auth_time"] != float64(start.Unix()) {
		t.Fatalf("list entry before the exchange: %v", entry)
	}
	// The pre-auth code is single-use.
	if _, err := f.e.Authorize(context.Background(), pre, appID, "https://platform.example/cb", nil); !errors.Is(err, ErrPreAuthCodeInvalid) {
		t.Fatalf("second use of a pre-auth code: %v", err)
	}

	m := f.component("api_query_auth", tok, map[string]any{"authorization_code": code})
	f.wantErr(m, 0)
	info := m["authorization_info"].(map[string]any)
	access, refresh := info["authorizer_access_token"].(string), info["authorizer_refresh_token"].(string)
	if info["authorizer_appid"] != appID || info["expires_in"] != float64(7200) || len(refresh) < 20 {
		t.Fatalf("authorization_info %v", info)
	}
	funcs := info["func_info"].([]any)
	if len(funcs) != 3 || funcs[2].(map[string]any)["funcscope_category"].(map[string]any)["id"] != float64(15) {
		t.Fatalf("func_info %v", funcs)
	}
	if !f.e.AuthorizerTokenValid(appID, access) || !f.e.RefreshTokenValid(appID, refresh) {
		t.Fatal("oracles reject the exchanged tokens")
	}
	if entry, _ := f.listEntry(tok, appID); entry["refresh_token"] != refresh {
		t.Fatalf("list after the exchange: %v", entry)
	}
	// Used up (by default) and, for another code, expired.
	f.wantErr(f.component("api_query_auth", tok, map[string]any{"authorization_code": code}), 61009)
	redirect2, err := f.e.Authorize(context.Background(), f.preAuthCode(tok), f.e.AppID(4), "https://platform.example/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(600 * time.Second)
	f.wantErr(f.component("api_query_auth", tok, map[string]any{"authorization_code": authCodeOf(t, redirect2)}), 61010)

	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"unknown code":  {map[string]any{"authorization_code": "queryauthcode@@@nope"}, 61009},
		"never minted":  {map[string]any{"authorization_code": f.e.codec.mint(kindAuthCode, 0, 999)}, 61009},
		"empty code":    {map[string]any{"authorization_code": ""}, 61009},
		"wrong type":    {map[string]any{"authorization_code": 5}, 47001},
		"foreign appid": {map[string]any{"component_appid": "wx9999999999999999", "authorization_code": code}, 40013},
	} {
		t.Run(name, func(t *testing.T) {
			f.wantErr(f.component("api_query_auth", f.componentToken(), tt.body), tt.want)
		})
	}
}

func TestAuthCodeSwitches(t *testing.T) {
	f := newFixture(t, Config{AuthCodeReusable: true, AuthCodeExpiredTimeRelative: true, AuthCodeTTL: time.Hour})
	tok := f.componentToken()
	redirect, err := f.e.Authorize(context.Background(), f.preAuthCode(tok), f.e.AppID(0), "http://localhost/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := f.rc.last(t); ev["AuthorizationCodeExpiredTime"] != "3600" {
		t.Fatalf("relative expiry: %v", ev["AuthorizationCodeExpiredTime"])
	}
	code := authCodeOf(t, redirect)
	first := f.component("api_query_auth", tok, map[string]any{"authorization_code": code})
	second := f.component("api_query_auth", tok, map[string]any{"authorization_code": code})
	f.wantErr(second, 0)
	a, b := first["authorization_info"].(map[string]any), second["authorization_info"].(map[string]any)
	if a["authorizer_refresh_token"] != b["authorizer_refresh_token"] || a["authorizer_access_token"] == b["authorizer_access_token"] {
		t.Fatal("a reused code must return the same refresh token and a new access token")
	}
}

func TestAuthorizeErrors(t *testing.T) {
	f := newFixture(t, Config{PreAuthCodeTTL: 30 * time.Minute})
	tok := f.componentToken()
	pre := f.preAuthCode(tok)
	ctx := context.Background()
	for name, tt := range map[string]struct {
		pre, appID, redirect string
		funcInfo             []int
		want                 error
	}{
		"bad redirect":      {pre, f.e.AppID(0), "/relative", nil, ErrRedirectURI},
		"ftp redirect":      {pre, f.e.AppID(0), "ftp://x/y", nil, ErrRedirectURI},
		"unknown account":   {pre, "wx0123456789abcdef", "https://x/", nil, ErrUnknownAccount},
		"beyond seeded":     {pre, f.e.AppID(f.cfg.Authorizers), "https://x/", nil, ErrUnknownAccount},
		"no sets":           {pre, f.e.AppID(0), "https://x/", []int{}, ErrNoFuncInfo},
		"forged pre code":   {"preauthcode@@@abc", f.e.AppID(0), "https://x/", nil, ErrPreAuthCodeInvalid},
		"unminted pre code": {f.e.codec.mint(kindPreAuthCode, 0, 77), f.e.AppID(0), "https://x/", nil, ErrPreAuthCodeInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.e.Authorize(ctx, tt.pre, tt.appID, tt.redirect, tt.funcInfo); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	f.clock.Advance(30 * time.Minute)
	if _, err := f.e.Authorize(ctx, pre, f.e.AppID(0), "https://x/", nil); !errors.Is(err, ErrPreAuthCodeExpired) {
		t.Fatalf("expired pre-auth code: %v", err)
	}
	// Refused authorizations changed nothing.
	if a, _ := f.e.Account(f.e.AppID(0)); a.Authorized {
		t.Fatal("a refused authorization authorized the account")
	}
}

// api_authorizer_token: each call mints a new access token (the previous
// lives 300 s), the refresh token stays, and bad input gives WeChat's codes.
func TestAuthorizerToken(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Authorizers: 1000})
	tok := f.componentToken()
	appID := f.e.AppID(999)
	entry, ok := f.listEntry(tok, f.e.AppID(3))
	if !ok || entry["refresh_token"] == "" {
		t.Fatalf("seeded account not listed with a refresh token: %v", entry)
	}
	acct, _ := f.e.Account(appID)
	refresh := acct.RefreshToken

	first := f.refresh(tok, appID, refresh)
	f.wantErr(first, 0)
	if first["authorizer_refresh_token"] != refresh || first["expires_in"] != float64(7200) {
		t.Fatalf("answer %v", first)
	}
	a1 := first["authorizer_access_token"].(string)
	f.clock.Advance(time.Hour)
	a2 := f.refresh(tok, appID, refresh)["authorizer_access_token"].(string)
	if a1 == a2 || !f.e.AuthorizerTokenValid(appID, a1) || !f.e.AuthorizerTokenValid(appID, a2) {
		t.Fatal("both the new and the previous token must be valid")
	}
	f.clock.Advance(300 * time.Second)
	if f.e.AuthorizerTokenValid(appID, a1) || !f.e.AuthorizerTokenValid(appID, a2) {
		t.Fatal("the previous token must die after 300 s")
	}
	if f.e.AuthorizerTokenValid(f.e.AppID(998), a2) {
		t.Fatal("a token is valid for another account")
	}
	if got := f.e.Counters().Refreshes[appID]; got != 2 {
		t.Fatalf("refresh counter %d, want 2", got)
	}
	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"empty refresh token":     {map[string]any{"authorizer_appid": appID, "authorizer_refresh_token": ""}, 61023},
		"null refresh token":      {map[string]any{"authorizer_appid": appID, "authorizer_refresh_token": nil}, 61023},
		"other account's token":   {map[string]any{"authorizer_appid": f.e.AppID(1), "authorizer_refresh_token": refresh}, 61023},
		"forged refresh token":    {map[string]any{"authorizer_appid": appID, "authorizer_refresh_token": "refreshtoken@@@xyz"}, 61023},
		"unknown appid":           {map[string]any{"authorizer_appid": "wx00000000000000ff", "authorizer_refresh_token": refresh}, 40013},
		"no appid":                {map[string]any{"authorizer_refresh_token": refresh}, 41002},
		"appid of a number":       {map[string]any{"authorizer_appid": 12, "authorizer_refresh_token": refresh}, 47001},
		"foreign component appid": {map[string]any{"component_appid": "wx1234567890abcdef", "authorizer_appid": appID, "authorizer_refresh_token": refresh}, 40013},
	} {
		t.Run(name, func(t *testing.T) {
			f.wantErr(f.component("api_authorizer_token", tok, tt.body), tt.want)
		})
	}
	if got := f.e.Counters().Refreshes[appID]; got != 2 {
		t.Fatalf("failed refreshes counted: %d", got)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, RefreshTokenRotation: 1})
	tok := f.componentToken()
	appID := f.e.AppID(2)
	acct, _ := f.e.Account(appID)
	r0 := acct.RefreshToken
	m := f.refresh(tok, appID, r0)
	r1 := m["authorizer_refresh_token"].(string)
	if r1 == r0 {
		t.Fatal("rotation probability 1 returned the same refresh token")
	}
	if !f.e.RefreshTokenValid(appID, r0) {
		t.Fatal("the previous refresh token must live 300 s more")
	}
	f.clock.Advance(300 * time.Second)
	f.wantErr(f.refresh(tok, appID, r0), 61023)
	f.wantErr(f.refresh(tok, appID, r1), 0)
	if entry, _ := f.listEntry(tok, appID); entry["refresh_token"] == r1 || entry["refresh_token"] == "" {
		t.Fatal("the list must show the latest refresh token")
	}
}

// Revocation, permission changes and WeChat-side refresh token trouble.
func TestRevokeUpdateRotateDrop(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true})
	ctx := context.Background()
	tok := f.componentToken()
	oa := f.indexOfType(OfficialAccount, true)
	appID := f.e.AppID(oa)
	acct, _ := f.e.Account(appID)
	refresh := acct.RefreshToken
	access := f.refresh(tok, appID, refresh)["authorizer_access_token"].(string)
	menu := func(tok string) int {
		return errcode(t, f.api("/cgi-bin/menu/get", url.Values{"access_token": {tok}}, nil))
	}
	if got := menu(access); got != 0 {
		t.Fatalf("menu/get: %d", got)
	}

	// Update: menu set removed → 61007; pushed with a new code that exchanges
	// for the same refresh token.
	if err := f.e.UpdateAuthorization(ctx, appID, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	ev := f.rc.last(t)
	if ev["InfoType"] != "updateauthorized" || ev["AuthorizerAppid"] != appID || ev["AuthorizationCode"] == "" || ev["PreAuthCode"] == "" {
		t.Fatalf("push %v", ev)
	}
	if got := menu(access); got != 61007 {
		t.Fatalf("menu/get without its permission set: %d, want 61007", got)
	}
	m := f.component("api_query_auth", tok, map[string]any{"authorization_code": ev["AuthorizationCode"]})
	f.wantErr(m, 0)
	if got := m["authorization_info"].(map[string]any)["authorizer_refresh_token"]; got != refresh {
		t.Fatal("updateauthorized changed the refresh token")
	}
	pushes := len(f.rc.all())
	if err := f.e.UpdateAuthorization(ctx, appID, []int{1, 2}); err != nil || len(f.rc.all()) != pushes {
		t.Fatalf("unchanged sets pushed: %v", err)
	}

	// WeChat rotates the refresh token: the old one dies, the list has the new.
	if err := f.e.RotateRefreshToken(appID); err != nil {
		t.Fatal(err)
	}
	f.wantErr(f.refresh(tok, appID, refresh), 61023)
	entry, _ := f.listEntry(tok, appID)
	rotated := entry["refresh_token"].(string)
	if rotated == "" || rotated == refresh {
		t.Fatalf("list after rotation: %v", entry)
	}
	f.wantErr(f.refresh(tok, appID, rotated), 0)

	// The refresh token is lost: 61023, list shows "".
	if err := f.e.DropRefreshToken(appID); err != nil {
		t.Fatal(err)
	}
	f.wantErr(f.refresh(tok, appID, rotated), 61023)
	if entry, _ := f.listEntry(tok, appID); entry["refresh_token"] != "" {
		t.Fatalf("list after drop: %v", entry)
	}

	// Revoke: unauthorized pushed, refresh 61023, calls 61003, off the list.
	before := int(f.list(tok, 0, 1)["total_count"].(float64))
	if err := f.e.Revoke(ctx, appID); err != nil {
		t.Fatal(err)
	}
	if ev := f.rc.last(t); ev["InfoType"] != "unauthorized" || ev["AuthorizerAppid"] != appID {
		t.Fatalf("push %v", ev)
	}
	f.wantErr(f.refresh(tok, appID, rotated), 61023)
	if got := menu(access); got != 61003 {
		t.Fatalf("call of a revoked account: %d, want 61003", got)
	}
	f.wantErr(f.component("api_get_authorizer_info", tok, map[string]any{"authorizer_appid": appID}), 61003)
	if _, listed := f.listEntry(tok, appID); listed {
		t.Fatal("revoked account still listed")
	}
	if after := int(f.list(tok, 0, 1)["total_count"].(float64)); after != before-1 {
		t.Fatalf("total_count %d after revoking one of %d", after, before)
	}
	for name, err := range map[string]error{
		"revoke":  f.e.Revoke(ctx, appID),
		"update":  f.e.UpdateAuthorization(ctx, appID, []int{1}),
		"rotate":  f.e.RotateRefreshToken(appID),
		"drop":    f.e.DropRefreshToken(appID),
		"unknown": f.e.Revoke(ctx, "wxffffffffffffffff"),
	} {
		want := ErrNotAuthorized
		if name == "unknown" {
			want = ErrUnknownAccount
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}

	// Authorizing again: authorized event, old tokens stay dead, new code
	// gives a new refresh token.
	redirect, err := f.e.Authorize(ctx, f.preAuthCode(tok), appID, "https://p.example/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.rc.last(t)["InfoType"] != "authorized" || f.e.AuthorizerTokenValid(appID, access) {
		t.Fatal("re-authorization after revoke")
	}
	m = f.component("api_query_auth", tok, map[string]any{"authorization_code": authCodeOf(t, redirect)})
	f.wantErr(m, 0)
	if r := m["authorization_info"].(map[string]any)["authorizer_refresh_token"]; r == rotated || r == refresh {
		t.Fatal("re-authorization reused an old refresh token")
	}
}

// Re-authorizing an authorized account invalidates its refresh token unless
// the switch says otherwise; changed sets push updateauthorized.
func TestReauthorization(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run("keep="+strconv.FormatBool(keep), func(t *testing.T) {
			f := newFixture(t, Config{PreAuthorized: true, ReauthorizeKeepsRefreshToken: keep})
			tok := f.componentToken()
			appID := f.e.AppID(0)
			acct, _ := f.e.Account(appID)
			redirect, err := f.e.Authorize(context.Background(), f.preAuthCode(tok), appID, "https://p.example/cb", []int{1})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.rc.last(t)["InfoType"]; got != "updateauthorized" {
				t.Fatalf("re-authorization with other sets pushed %s", got)
			}
			if f.e.RefreshTokenValid(appID, acct.RefreshToken) != keep {
				t.Fatalf("old refresh token valid = %v", !keep)
			}
			m := f.component("api_query_auth", tok, map[string]any{"authorization_code": authCodeOf(t, redirect)})
			got := m["authorization_info"].(map[string]any)["authorizer_refresh_token"]
			if (got == acct.RefreshToken) != keep {
				t.Fatalf("exchange returned the old refresh token = %v", got == acct.RefreshToken)
			}
			if a, _ := f.e.Account(appID); !reflect.DeepEqual(a.FuncInfo, []int{1}) {
				t.Fatalf("func info %v", a.FuncInfo)
			}
		})
	}
}

func TestAuthorizerList(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Authorizers: 1200})
	tok := f.componentToken()
	ctx := context.Background()
	for _, i := range []int{0, 5, 6, 600, 1199} {
		if err := f.e.Revoke(ctx, f.e.AppID(i)); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for offset := 0; ; offset += 500 {
		m := f.list(tok, offset, 500)
		f.wantErr(m, 0)
		if m["total_count"] != float64(1195) {
			t.Fatalf("total_count %v", m["total_count"])
		}
		list := m["list"].([]any)
		if len(list) == 0 {
			break
		}
		for _, it := range list {
			entry := it.(map[string]any)
			if entry["refresh_token"] == "" || entry["auth_time"].(float64) >= float64(start.Unix()) {
				t.Fatalf("entry %v", entry)
			}
			seen = append(seen, entry["authorizer_appid"].(string))
		}
	}
	if len(seen) != 1195 {
		t.Fatalf("%d listed, want 1195", len(seen))
	}
	want := 0
	for _, appID := range seen {
		for want == 0 || want == 5 || want == 6 || want == 600 || want == 1199 {
			want++
		}
		if appID != f.e.AppID(want) {
			t.Fatalf("listed %s, want index %d", appID, want)
		}
		want++
	}
	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"count over 500":  {map[string]any{"offset": 0, "count": 501}, 40097},
		"zero count":      {map[string]any{"offset": 0, "count": 0}, 40097},
		"negative offset": {map[string]any{"offset": -1, "count": 10}, 40097},
		"missing count":   {map[string]any{"offset": 0}, 40097},
		"string count":    {map[string]any{"offset": 0, "count": "10"}, 47001},
	} {
		t.Run(name, func(t *testing.T) {
			f.wantErr(f.component("api_get_authorizer_list", tok, tt.body), tt.want)
		})
	}
	// Without pre-authorization the list holds only what was authorized.
	g := newFixture(t, Config{})
	gt := g.componentToken()
	if m := g.list(gt, 0, 100); m["total_count"] != float64(0) || len(m["list"].([]any)) != 0 {
		t.Fatalf("empty platform list: %v", m)
	}
	g.authorizeAndExchange(gt, 7, nil)
	g.authorizeAndExchange(gt, 2, nil)
	m := g.list(gt, 0, 100)
	list := m["list"].([]any)
	if m["total_count"] != float64(2) || list[0].(map[string]any)["authorizer_appid"] != g.e.AppID(2) {
		t.Fatalf("list %v", m)
	}
}

func TestAuthorizerInfoAndOptions(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Authorizers: 30})
	tok := f.componentToken()
	mp := f.e.AppID(f.indexOfType(MiniProgram, false))
	oa := f.e.AppID(f.indexOfType(OfficialAccount, true))
	for _, appID := range []string{mp, oa} {
		m := f.component("api_get_authorizer_info", tok, map[string]any{"authorizer_appid": appID})
		f.wantErr(m, 0)
		info := m["authorizer_info"].(map[string]any)
		auth := m["authorization_info"].(map[string]any)
		acct, _ := f.e.Account(appID)
		if info["nick_name"] != acct.NickName || info["user_name"] != acct.UserName || auth["authorizer_refresh_token"] != acct.RefreshToken {
			t.Fatalf("info %v", m)
		}
		_, isMP := info["MiniProgramInfo"]
		if isMP != (appID == mp) {
			t.Fatalf("MiniProgramInfo present = %v for %s", isMP, acct.Type)
		}
	}
	f.wantErr(f.component("api_get_authorizer_info", tok, map[string]any{"authorizer_appid": "wx0000000000000001"}), 40013)

	get := func(name string) map[string]any {
		return f.component("api_get_authorizer_option", tok, map[string]any{"authorizer_appid": oa, "option_name": name})
	}
	m := get("voice_recognize")
	f.wantErr(m, 0)
	for _, v := range []any{"1", 0, "0"} {
		f.wantErr(f.component("api_set_authorizer_option", tok, map[string]any{"authorizer_appid": oa, "option_name": "voice_recognize", "option_value": v}), 0)
		if got := get("voice_recognize")["option_value"]; got != "0" && got != "1" || got != toString(v) {
			t.Fatalf("option_value %v after setting %v", got, v)
		}
	}
	f.wantErr(get("favourite_colour"), 61012)
	f.wantErr(f.component("api_set_authorizer_option", tok, map[string]any{"authorizer_appid": oa, "option_name": "location_report", "option_value": "3"}), 61013)
	f.wantErr(f.component("api_set_authorizer_option", tok, map[string]any{"authorizer_appid": oa, "option_name": "location_report", "option_value": []int{1}}), 61013)
	if err := f.e.Revoke(context.Background(), oa); err != nil {
		t.Fatal(err)
	}
	f.wantErr(get("voice_recognize"), 61003)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	return ""
}

// A million seeded accounts: listed, paged to the end, refreshable, without
// anything stored in advance.
func TestMillionAccounts(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Authorizers: 1_000_000})
	tok := f.componentToken()
	if err := f.e.Revoke(context.Background(), f.e.AppID(999_950)); err != nil {
		t.Fatal(err)
	}
	m := f.list(tok, 999_899-1, 500)
	f.wantErr(m, 0)
	list := m["list"].([]any)
	if m["total_count"] != float64(999_999) || len(list) != 101 {
		t.Fatalf("total %v, %d on the last page", m["total_count"], len(list))
	}
	last := list[len(list)-1].(map[string]any)
	if last["authorizer_appid"] != f.e.AppID(999_999) {
		t.Fatalf("last entry %v", last)
	}
	f.wantErr(f.refresh(tok, last["authorizer_appid"].(string), last["refresh_token"].(string)), 0)
	if a, err := f.e.Account(f.e.AppID(999_999)); err != nil || a.Refreshes != 1 || a.Index != 999_999 {
		t.Fatalf("account %+v, %v", a, err)
	}
	stored := 0
	for i := range f.e.shards {
		stored += len(f.e.shards[i].m)
	}
	if stored != 2 {
		t.Fatalf("%d accounts stored; only the revoked and the refreshed one changed", stored)
	}
}

func TestSameSets(t *testing.T) {
	for _, tt := range []struct {
		a, b []int
		want bool
	}{
		{[]int{1, 2}, []int{2, 1}, true},
		{[]int{1, 2, 2}, []int{1, 2}, true},
		{[]int{1}, []int{1, 2}, false},
		{nil, []int{}, true},
	} {
		if got := sameSets(tt.a, tt.b); got != tt.want {
			t.Errorf("sameSets(%v, %v) = %v", tt.a, tt.b, got)
		}
	}
}
