package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTrip(t *testing.T) {
	c := newCodec(42, 7)
	other := newCodec(43, 7)
	for k := kindComponentToken; k < kindAccountData; k++ {
		for _, id := range [][2]uint32{{0, 1}, {999_999, 3}, {1 << 30, 1<<32 - 1}} {
			v := c.mint(k, id[0], id[1])
			if !strings.HasPrefix(v, formats[k].prefix) {
				t.Fatalf("kind %d: %q lacks prefix %q", k, v, formats[k].prefix)
			}
			index, serial, ok := c.parse(k, v)
			if !ok || index != id[0] || serial != id[1] {
				t.Fatalf("kind %d: parse(%q) = %d, %d, %v; want %v", k, v, index, serial, ok, id)
			}
			if _, _, ok := other.parse(k, v); ok {
				t.Errorf("kind %d: a value of another seed parses", k)
			}
			for k2 := kindComponentToken; k2 < kindAccountData; k2++ {
				if _, _, ok := c.parse(k2, v); ok && k2 != k && formats[k2].prefix == formats[k].prefix {
					t.Errorf("a value of kind %d parses as kind %d", k, k2)
				}
			}
			tampered := []byte(v)
			last := len(tampered) - 1
			tampered[last] = map[bool]byte{true: 'B', false: 'A'}[tampered[last] == 'A']
			if _, _, ok := c.parse(k, string(tampered)); ok {
				t.Errorf("kind %d: tampered value parses", k)
			}
		}
	}
	// Salted values differ between runs; the seeded refresh tokens do not.
	run2 := newCodec(42, 8)
	if run2.mint(kindAuthorizerToken, 5, 1) == c.mint(kindAuthorizerToken, 5, 1) {
		t.Error("access tokens of two runs are equal")
	}
	if run2.mint(kindRefreshToken, 5, 0) != c.mint(kindRefreshToken, 5, 0) {
		t.Error("the seeded refresh token changed between runs")
	}
	for _, index := range []uint32{0, 1, 999_999} {
		appID := c.appID(index)
		if len(appID) != 18 || !strings.HasPrefix(appID, "wx") {
			t.Fatalf("appid %q", appID)
		}
		if got, ok := c.accountIndex(appID, 1_000_000); !ok || got != index {
			t.Fatalf("accountIndex(%q) = %d, %v", appID, got, ok)
		}
		if _, ok := c.accountIndex(appID, int(index)); ok {
			t.Errorf("appid of index %d accepted with %d accounts", index, index)
		}
		if _, ok := c.accountIndex(strings.ToUpper(appID), 1_000_000); ok {
			t.Error("upper-case appid accepted")
		}
	}
}

func TestComponentToken(t *testing.T) {
	f := newFixture(t, Config{})
	ticket := f.pushTicket()
	good := map[string]any{"component_appid": f.cfg.ComponentAppID, "component_appsecret": f.cfg.ComponentSecret, "component_verify_ticket": ticket}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"success", good, 0},
		{"no appid", with("component_appid", nil), 41002},
		{"foreign appid", with("component_appid", "wx0000000000000000"), 40013},
		{"no secret", with("component_appsecret", ""), 41004},
		{"wrong secret", with("component_appsecret", "x"+f.cfg.ComponentSecret[1:]), 40125},
		{"no ticket", with("component_verify_ticket", nil), 61006},
		{"unknown ticket", with("component_verify_ticket", "ticket@@@forged"), 61006},
		{"ticket of another seed", with("component_verify_ticket", newCodec(1, 7).mint(kindTicket, 0, 1)), 61006},
		{"ticket never minted", with("component_verify_ticket", f.e.codec.mint(kindTicket, 0, 9)), 61006},
		{"wrong type", with("component_appsecret", 12345), 47001},
		{"malformed JSON", `{"component_appid":`, 47001},
		{"array", `[]`, 47001},
		{"empty body", " ", 44002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := f.api("/cgi-bin/component/api_component_token", nil, tt.body)
			f.wantErr(m, tt.want)
			if tt.want == 0 {
				tok, _ := m["component_access_token"].(string)
				if !strings.HasPrefix(tok, "86_") || m["expires_in"] != float64(7200) {
					t.Fatalf("answer %v", m)
				}
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		f.wantErr(decodeAnswer(t, f.do(http.MethodGet, "/cgi-bin/component/api_component_token", "")), 43002)
	})
	t.Run("oversized body", func(t *testing.T) {
		body := `{"component_appid":"` + strings.Repeat("x", 70<<10) + `"}`
		f.wantErr(decodeAnswer(t, f.do(http.MethodPost, "/cgi-bin/component/api_component_token", body)), 47001)
	})
	t.Run("expired ticket", func(t *testing.T) {
		f.clock.Advance(12 * time.Hour)
		f.wantErr(f.componentTokenWith(ticket), 61005)
	})
}

// Each refresh mints a new token; the previous lives 300 s more, older ones
// die with 40001, expired ones answer 42001.
func TestComponentTokenOverlap(t *testing.T) {
	f := newFixture(t, Config{})
	call := func(tok string) int {
		return errcode(t, f.component("api_create_preauthcode", tok, map[string]any{}))
	}
	t1 := f.componentToken()
	f.clock.Advance(time.Hour)
	t2 := f.componentToken()
	if t1 == t2 {
		t.Fatal("a refresh returned the same token")
	}
	if call(t1) != 0 || call(t2) != 0 || !f.e.ComponentTokenValid(t1) {
		t.Fatal("previous token not valid during the overlap")
	}
	f.clock.Advance(299 * time.Second)
	if call(t1) != 0 {
		t.Fatal("previous token died before 300 s")
	}
	f.clock.Advance(time.Second)
	if got := call(t1); got != 40001 || f.e.ComponentTokenValid(t1) {
		t.Fatalf("previous token after 300 s: %d", got)
	}
	t3 := f.componentToken()
	if call(t2) != 0 || call(t1) != 40001 {
		t.Fatal("second-previous token must be dead and previous alive")
	}
	f.clock.Advance(7200 * time.Second)
	if got := call(t3); got != 42001 {
		t.Fatalf("expired token: %d, want 42001", got)
	}
	if got := call(t2); got != 42001 {
		t.Fatalf("previous token past its own expiry: %d, want 42001", got)
	}
	// Token missing, garbage, and an authorizer token on a component API.
	f.wantErr(f.api("/cgi-bin/component/api_create_preauthcode", nil, map[string]any{"component_appid": f.cfg.ComponentAppID}), 41001)
	if got := call("86_garbage"); got != 40001 {
		t.Fatalf("garbage token: %d", got)
	}
	if got := call(f.e.codec.mint(kindAuthorizerToken, 1, 1)); got != 61014 {
		t.Fatalf("authorizer token on a component API: %d, want 61014", got)
	}
}

func TestAccessTokenParam(t *testing.T) {
	for _, reject := range []bool{false, true} {
		f := newFixture(t, Config{RejectAccessTokenParam: reject})
		tok := f.componentToken()
		m := f.api("/cgi-bin/component/api_create_preauthcode", url.Values{"access_token": {tok}}, map[string]any{"component_appid": f.cfg.ComponentAppID})
		want := 0
		if reject {
			want = 41001
		}
		f.wantErr(m, want)
	}
}

func TestStartPushTicket(t *testing.T) {
	f := newFixture(t, Config{})
	body := func(appID, secret string) map[string]any {
		return map[string]any{"component_appid": appID, "component_secret": secret}
	}
	for _, tt := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"foreign appid", body("wx1111111111111111", f.cfg.ComponentSecret), 40013},
		{"wrong secret", body(f.cfg.ComponentAppID, "nope"), 40125},
		{"no secret", body(f.cfg.ComponentAppID, ""), 41004},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.wantErr(f.api("/cgi-bin/component/api_start_push_ticket", nil, tt.body), tt.want)
			if len(f.rc.all()) != 0 {
				t.Fatal("a refused call pushed")
			}
		})
	}
	m := f.api("/cgi-bin/component/api_start_push_ticket", nil, body(f.cfg.ComponentAppID, f.cfg.ComponentSecret))
	if m["errcode"] != float64(0) || m["errmsg"] != "ok" {
		t.Fatalf("answer %v", m)
	}
	// The push follows the answer; with a recorder it has happened by now.
	f.wantErr(f.componentTokenWith(f.rc.last(t)["ComponentVerifyTicket"]), 0)
	f.e.PausePushes()
	f.api("/cgi-bin/component/api_start_push_ticket", nil, body(f.cfg.ComponentAppID, f.cfg.ComponentSecret))
	if n := len(f.rc.all()); n != 2 {
		t.Fatalf("api_start_push_ticket while paused: %d pushes, want 2", n)
	}
}

func TestUnknownPath(t *testing.T) {
	f := newFixture(t, Config{})
	f.wantErr(f.api("/cgi-bin/component/api_nonexistent", nil, map[string]any{}), 40066)
	if w := f.do(http.MethodGet, "/nothing", ""); w.Code != http.StatusNotFound {
		t.Fatalf("unknown page: HTTP %d", w.Code)
	}
}

func TestQueryParam(t *testing.T) {
	for _, tt := range []struct{ raw, name, want string }{
		{"a=1&component_access_token=xyz", "component_access_token", "xyz"},
		{"component_access_token=&access_token=q", "component_access_token", ""},
		{"access_token=a%2Bb", "access_token", "a+b"},
		{"access%5Ftoken=v", "access_token", "v"},
		{"access_token=%zz", "access_token", ""},
		{"x=1", "access_token", ""},
		{"", "access_token", ""},
	} {
		if got := queryParam(tt.raw, tt.name); got != tt.want {
			t.Errorf("queryParam(%q, %q) = %q, want %q", tt.raw, tt.name, got, tt.want)
		}
	}
}

// The hand-written JSON of the hot path says what encoding/json would.
func TestAuthorizerTokenAnswerJSON(t *testing.T) {
	c := newCodec(1, 2)
	a := authorizerTokenAnswer{c.mint(kindAuthorizerToken, 9, 9), 7200, c.mint(kindRefreshToken, 9, 0)}
	want, _ := json.Marshal(a)
	if got := a.appendJSON(nil); string(got) != string(want) {
		t.Fatalf("%s\nwant %s", got, want)
	}
}
