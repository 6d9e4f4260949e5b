package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
)

// TestOpenAPIMatchesRoutes compares the checked-in OpenAPI document with
// the route table, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil || string(onDisk) != string(openAPIDocument) {
		t.Fatalf("the embedded document is not openapi.json")
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || m == "summary" || m == "description" {
				continue
			}
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range (&Server{}).routeTable() {
		p := strings.ReplaceAll(rt.pattern, "...}", "}")
		methods := []string{rt.method}
		if rt.method == "" {
			methods = anyMethods
		}
		for _, m := range methods {
			served[m+" "+p] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.json", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in openapi.json but not served", r)
		}
	}
}

// TestErrorTableIsDocumented checks that docs/api.md lists every code of
// the error table with its status.
func TestErrorTableIsDocumented(t *testing.T) {
	docs, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for code, status := range errorStatus {
		row := "| `" + code + "` | " + http.StatusText(status)
		if !strings.Contains(string(docs), row) {
			t.Errorf("docs/api.md has no row %q", row)
		}
	}
}

func TestScopes(t *testing.T) {
	kr, err := newKeyring([]APIKey{
		{Name: "a", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"read:authorizer:wx1*", "proxy:wx2?bc*"}},
		{Name: "b", Key: "bbbbbbbbbbbbbbbbbbbb", Scopes: []string{"admin"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := kr.keys[0], kr.keys[1]
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"glob read", a.canReadAuthorizer("wx1abcdefabcdefab"), true},
		{"glob read, other", a.canReadAuthorizer("wx2abcdefabcdefab"), false},
		{"glob proxy", a.canProxy("wx2xbcdefabcdefab"), true},
		{"glob proxy, other", a.canProxy("wx1abcdefabcdefab"), false},
		{"no component", a.canReadComponent(), false},
		{"no invalidate", a.canInvalidate(), false},
		{"list", a.canList(), true},
		{"admin reads", b.canReadAuthorizer("wx9abcdefabcdefab"), true},
		{"admin proxies", b.canProxy("wx9abcdefabcdefab"), true},
		{"admin component", b.canReadComponent(), true},
		{"admin invalidates", b.canInvalidate(), true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	for _, bad := range [][]APIKey{
		{{Name: "", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"admin"}}},
		{{Name: "short", Key: "short", Scopes: []string{"admin"}}},
		{{Name: "none", Key: "aaaaaaaaaaaaaaaaaaaa"}},
		{{Name: "unknown", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"write:everything"}}},
		{{Name: "badglob", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"read:authorizer:wx["}}},
		{{Name: "empty glob", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"read:authorizer:"}}},
		{{Name: "x", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"admin"}}, {Name: "y", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"admin"}}},
		{{Name: "x", Key: "aaaaaaaaaaaaaaaaaaaa", Scopes: []string{"admin"}}, {Name: "x", Key: "bbbbbbbbbbbbbbbbbbbb", Scopes: []string{"admin"}}},
	} {
		if _, err := newKeyring(bad); err == nil {
			t.Errorf("keys %v accepted", bad[0].Name)
		} else if strings.Contains(err.Error(), "aaaaaaaa") || strings.Contains(err.Error(), "bbbbbbbb") {
			t.Errorf("the error shows a key: %v", err)
		}
	}
	if _, err := newKeyring(nil); err != nil {
		t.Errorf("no keys: %v", err)
	}
}

func FuzzInvalidateBody(f *testing.F) {
	for _, s := range []string{`{"authorizer_access_token":"50_abc"}`, `{"authorizer_access_token":""}`, `{"token":"x"}`,
		`{"authorizer_access_token":"a"}{}`, `{"authorizer_access_token":"a b"}`, `[]`, `null`, ``, `{"authorizer_access_token":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseInvalidateBody(body)
		if err != nil {
			if c := wxtoken.ErrorCode(err); c != wxtoken.EInvalid && c != wxtoken.ETooLarge {
				t.Fatalf("error code %s", c)
			}
			if tok != "" {
				t.Fatalf("a token with an error")
			}
			return
		}
		if tok == "" || len(tok) > 512 || !printableASCII(tok) {
			t.Fatalf("accepted token %q", tok)
		}
		var v map[string]any
		if json.Unmarshal(body, &v) != nil || v["authorizer_access_token"] != tok || len(v) != 1 {
			t.Fatalf("accepted %q as %q", body, tok)
		}
	})
}

func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=2", "limit=0", "limit=1001", "cursor=wx1234567890abcdef&state=revoked", "state=x", "%zz", "cursor=../"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseListQuery(raw)
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Fatalf("error code %s", wxtoken.ErrorCode(err))
			}
			return
		}
		if q.limit < 1 || q.limit > maxPageLimit || (q.cursor != "" && !wxtoken.ValidAppID(q.cursor)) || (q.state != "" && !q.state.Valid()) {
			t.Fatalf("accepted %+v from %q", q, raw)
		}
	})
}

func FuzzProxyPath(f *testing.F) {
	for _, s := range []string{"cgi-bin/user/info", "cgi-bin/../sns", "cgi-bin/%2e%2e/sns", "cgi-bin%2Fx", "cgi-bin//x", "http://evil/x",
		"cgi-bin/component/api_query_auth", "wxa/getwxacode", "cgi-bin/%zz", "cgi-bin/a%0ab", "cgi-bin/./x", "cgi-bin/x\\y", "cgi-bin/%252e%252e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := checkProxyPath(raw, DefaultProxyPrefixes)
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Fatalf("error code %s", wxtoken.ErrorCode(err))
			}
			return
		}
		if got != raw {
			t.Fatalf("path rewritten")
		}
		p, uerr := url.PathUnescape(raw)
		if uerr != nil || p != path.Clean(p) || strings.HasPrefix(p, componentAPIPrefix) || strings.ContainsAny(p, "\\?#") {
			t.Fatalf("accepted %q (%q)", raw, p)
		}
		if !slices.ContainsFunc(DefaultProxyPrefixes, func(pre string) bool { return strings.HasPrefix(p, pre) }) {
			t.Fatalf("accepted %q outside the prefixes", raw)
		}
		// What WeChat's server will see must resolve to the same path.
		u, perr := url.Parse("https://api.weixin.qq.com/" + raw)
		if perr != nil || u.Host != "api.weixin.qq.com" || path.Clean(u.Path) != "/"+p {
			t.Fatalf("%q leaves the API host or path: %v", raw, u)
		}
	})
}

func FuzzStartParams(f *testing.F) {
	for _, s := range []string{"", "auth_type=3", "auth_type=7", "biz_appid=wx1234567890abcdef&mobile=1", "mobile=2", "%zz", "auth_type=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseStartParams(v)
		if err != nil {
			return
		}
		if (p.authType != 0 && !validAuthType(p.authType)) || (p.bizAppID != "" && !wxtoken.ValidAppID(p.bizAppID)) {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func FuzzPushQuery(f *testing.F) {
	for _, s := range []string{"msg_signature=a&timestamp=1700000000&nonce=n", "timestamp=x&nonce=n&msg_signature=a", "%zz",
		"msg_signature=a&timestamp=-1&nonce=n", "msg_signature=a&timestamp=1&nonce=n&encrypt_type=raw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parsePushQuery(raw)
		if err != nil {
			return
		}
		if q.msgSignature == "" || q.nonce == "" || q.timestamp == "" || q.unix <= 0 {
			t.Fatalf("accepted %+v", q)
		}
	})
}
