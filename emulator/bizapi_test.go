package emulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

const openID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"

func TestBizAPIs(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Authorizers: 40})
	tok := f.componentToken()
	token := func(index int) string {
		a, _ := f.e.Account(f.e.AppID(index))
		m := f.refresh(tok, a.AppID, a.RefreshToken)
		f.wantErr(m, 0)
		return m["authorizer_access_token"].(string)
	}
	oa := f.indexOfType(OfficialAccount, true)
	noMenu := f.indexOfType(OfficialAccount, false)
	mp := f.indexOfType(MiniProgram, false)
	oaTok, noMenuTok, mpTok := token(oa), token(noMenu), token(mp)
	send := func(tok string, body any) map[string]any {
		return f.api("/cgi-bin/message/custom/send", url.Values{"access_token": {tok}}, body)
	}
	get := func(path, tok string, extra url.Values) map[string]any {
		q := url.Values{"access_token": {tok}}
		for k, v := range extra {
			q[k] = v
		}
		return f.api(path, q, nil)
	}
	text := map[string]any{"touser": openID, "msgtype": "text", "text": map[string]string{"content": "QUERY_AUTH_CODE_from_api"}}

	tests := []struct {
		name string
		call func() map[string]any
		want int
	}{
		{"send text", func() map[string]any { return send(oaTok, text) }, 0},
		{"mini program sends", func() map[string]any { return send(mpTok, text) }, 0},
		{"send to a bad openid", func() map[string]any {
			return send(oaTok, map[string]any{"touser": "nobody", "msgtype": "text", "text": map[string]string{"content": "x"}})
		}, 40003},
		{"send an unknown type", func() map[string]any { return send(oaTok, map[string]any{"touser": openID, "msgtype": "hologram"}) }, 40008},
		{"send empty text", func() map[string]any { return send(oaTok, map[string]any{"touser": openID, "msgtype": "text"}) }, 44004},
		{"send too long", func() map[string]any {
			return send(oaTok, map[string]any{"touser": openID, "msgtype": "text", "text": map[string]string{"content": strings.Repeat("长", 700)}})
		}, 45002},
		{"send malformed", func() map[string]any { return send(oaTok, `{"touser":`) }, 47001},
		{"send by GET", func() map[string]any { return get("/cgi-bin/message/custom/send", oaTok, nil) }, 43002},
		{"user info", func() map[string]any {
			return get("/cgi-bin/user/info", oaTok, url.Values{"openid": {openID}, "lang": {"en"}})
		}, 0},
		{"user info without openid", func() map[string]any { return get("/cgi-bin/user/info", oaTok, nil) }, 41009},
		{"user info bad openid", func() map[string]any { return get("/cgi-bin/user/info", oaTok, url.Values{"openid": {"x"}}) }, 40003},
		{"user info of a mini program", func() map[string]any { return get("/cgi-bin/user/info", mpTok, url.Values{"openid": {openID}}) }, 48001},
		{"menu", func() map[string]any { return get("/cgi-bin/menu/get", oaTok, nil) }, 0},
		{"no menu", func() map[string]any { return get("/cgi-bin/menu/get", noMenuTok, nil) }, 46003},
		{"menu of a mini program", func() map[string]any { return get("/cgi-bin/menu/get", mpTok, nil) }, 48001},
		{"mini program basic info", func() map[string]any { return get("/cgi-bin/account/getaccountbasicinfo", mpTok, nil) }, 0},
		{"no token", func() map[string]any { return get("/cgi-bin/menu/get", "", nil) }, 41001},
		{"forged token", func() map[string]any { return get("/cgi-bin/menu/get", "86_forged", nil) }, 40001},
		{"component token", func() map[string]any { return get("/cgi-bin/menu/get", tok, nil) }, 61015},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.call()
			f.wantErr(m, tt.want)
		})
	}
	msgs := f.e.Messages()
	if len(msgs) != 2 || msgs[0].AppID != f.e.AppID(oa) || msgs[0].Content != "QUERY_AUTH_CODE_from_api" || msgs[0].ToUser != openID {
		t.Fatalf("messages %+v", msgs)
	}
	m := get("/cgi-bin/user/info", oaTok, url.Values{"openid": {openID}})
	if m["openid"] != openID {
		t.Fatalf("user info %v", m)
	}
	if m := get("/cgi-bin/menu/get", oaTok, nil); len(m["menu"].(map[string]any)["button"].([]any)) == 0 {
		t.Fatalf("menu %v", m)
	}

	// Tokens: superseded 40001 after the overlap, expired 42001.
	newer := token(oa)
	f.clock.Advance(300 * time.Second)
	f.wantErr(get("/cgi-bin/menu/get", oaTok, nil), 40001)
	f.wantErr(get("/cgi-bin/menu/get", newer, nil), 0)
	f.clock.Advance(7200 * time.Second)
	f.wantErr(get("/cgi-bin/menu/get", newer, nil), 42001)

	counters := f.e.Counters()
	if counters.Count("menu/get", 0) != 3 || counters.Count("menu/get", 40001) != 2 || counters.Count("menu/get", 46003) != 1 || counters.Count("menu/get", 42001) != 1 {
		t.Fatalf("menu/get counters %v", counters.Calls["menu/get"])
	}
}

func TestIPWhitelist(t *testing.T) {
	// httptest.NewRequest calls come from 192.0.2.1.
	f := newFixture(t, Config{IPWhitelist: []string{"10.0.0.0/8", "127.0.0.1"}})
	m := f.componentTokenWith(f.pushTicket())
	f.wantErr(m, 61004)
	if msg := m["errmsg"].(string); !strings.Contains(msg, "requestIP: 192.0.2.1") {
		t.Fatalf("errmsg %q", msg)
	}
	g := newFixture(t, Config{IPWhitelist: []string{"192.0.2.0/24"}})
	g.wantErr(g.componentTokenWith(g.pushTicket()), 0)
	// Over a real loopback connection, 127.0.0.1 is the caller.
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/cgi-bin/component/api_start_push_ticket", "application/json",
		strings.NewReader(`{"component_appid":"`+f.cfg.ComponentAppID+`","component_secret":"`+f.cfg.ComponentSecret+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := f.e.Counters().Count("api_start_push_ticket", 0); c != 1 {
		t.Fatalf("whitelisted loopback caller refused: %v", f.e.Counters().Calls)
	}
	if _, err := New(Config{IPWhitelist: []string{"not-an-ip"}}); err == nil {
		t.Fatal("a bad whitelist entry was accepted")
	}
}

func TestQuotas(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true, Quotas: map[string]int{"api_create_preauthcode": 2, "menu/get": 1}})
	tok := f.componentToken()
	create := func() int { return errcode(t, f.component("api_create_preauthcode", tok, map[string]any{})) }
	clearQuota := func(body map[string]any) int {
		return errcode(t, f.api("/cgi-bin/clear_quota/v2", nil, body))
	}
	if got := []int{create(), create(), create()}; !slices.Equal(got, []int{0, 0, 45009}) {
		t.Fatalf("three calls of a quota of 2 answered %v, want [0 0 45009]", got)
	}
	// The next Beijing day (10:00 + 14 h) resets it.
	f.clock.Advance(14 * time.Hour)
	tok = f.componentToken()
	if got := []int{create(), create(), create()}; !slices.Equal(got, []int{0, 0, 45009}) {
		t.Fatalf("quota not reset by the next day: %v", got)
	}
	// Authorizer APIs count per account.
	menu := func(index int) int {
		a, _ := f.e.Account(f.e.AppID(index))
		at := f.refresh(tok, a.AppID, a.RefreshToken)["authorizer_access_token"].(string)
		return errcode(t, f.api("/cgi-bin/menu/get", url.Values{"access_token": {at}}, nil))
	}
	oa := f.indexOfType(OfficialAccount, true)
	if menu(oa) != 0 || menu(oa) != 45009 {
		t.Fatal("per-account quota")
	}
	for name, tt := range map[string]struct {
		body map[string]any
		want int
	}{
		"no secret":      {map[string]any{"component_appid": f.cfg.ComponentAppID}, 41004},
		"wrong secret":   {map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": "nope"}, 40125},
		"foreign appid":  {map[string]any{"component_appid": "wx0000000000000000", "appsecret": f.cfg.ComponentSecret}, 40013},
		"no appid":       {map[string]any{"appsecret": f.cfg.ComponentSecret}, 41002},
		"unknown target": {map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret, "appid": "wx0000000000000001"}, 40013},
	} {
		t.Run(name, func(t *testing.T) {
			if got := clearQuota(tt.body); got != tt.want {
				t.Fatalf("errcode %d, want %d", got, tt.want)
			}
		})
	}
	// Clearing the account's quota lets it call again; the platform's stays.
	if got := clearQuota(map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret, "appid": f.e.AppID(oa)}); got != 0 {
		t.Fatalf("clear for the account: %d", got)
	}
	if menu(oa) != 0 || create() != 45009 {
		t.Fatal("clearing an account's quota")
	}
	// The platform's own, through the appid + appsecret form.
	if got := clearQuota(map[string]any{"appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret}); got != 0 {
		t.Fatalf("clear for the platform: %d", got)
	}
	if create() != 0 {
		t.Fatal("quota not cleared")
	}
	for i := 1; i < 10; i++ {
		if got := clearQuota(map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret}); got != 0 {
			t.Fatalf("clear %d: %d", i+1, got)
		}
	}
	if got := clearQuota(map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret}); got != 48006 {
		t.Fatalf("11th clear in a month: %d, want 48006", got)
	}
	f.clock.Advance(31 * 24 * time.Hour)
	if got := clearQuota(map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret}); got != 0 {
		t.Fatalf("clear in the next month: %d", got)
	}
	if err := f.e.Revoke(context.Background(), f.e.AppID(oa)); err != nil {
		t.Fatal(err)
	}
	if got := clearQuota(map[string]any{"component_appid": f.cfg.ComponentAppID, "appsecret": f.cfg.ComponentSecret, "appid": f.e.AppID(oa)}); got != 61003 {
		t.Fatalf("clear for a revoked account: %d", got)
	}
	if w := f.do(http.MethodPost, "/cgi-bin/component/clear_quota/v2", `{"component_appid":"`+f.cfg.ComponentAppID+`","appsecret":"`+f.cfg.ComponentSecret+`"}`); w.Code != 200 {
		t.Fatal("clear_quota/v2 under /cgi-bin/component/")
	}
}
