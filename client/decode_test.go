package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
)

const (
	testKey = "test-api-key-0123456789abcdef"
	appA    = "wx1111111111111111"
)

// errorCases are canned answers of the server and the error each must give.
// They also seed FuzzDecodeToken.
var errorCases = []struct {
	name   string
	status int
	body   string
	want   Error
	is     error // errors.Is must match this, when set
}{
	{"unknown key", 401, `{"error":{"code":"unauthorized","message":"missing or unknown API key"}}`,
		Error{Status: 401, Code: "unauthorized", Message: "missing or unknown API key"}, &wxtoken.Error{Code: wxtoken.EUnauthorized}},
	{"scope", 403, `{"error":{"code":"forbidden","message":"the key may not read this authorizer"}}`,
		Error{Status: 403, Code: "forbidden", Message: "the key may not read this authorizer"}, nil},
	{"unknown authorizer", 404, `{"error":{"code":"not_found","message":"no authorizer wx1111111111111111"}}`,
		Error{Status: 404, Code: "not_found", Message: "no authorizer wx1111111111111111"}, wxtoken.ErrNotFound},
	{"needs reauthorization", 409, `{"error":{"code":"needs_reauthorization","message":"the merchant must authorize again","errcode":61023}}`,
		Error{Status: 409, Code: "needs_reauthorization", Message: "the merchant must authorize again", ErrCode: 61023}, &wxtoken.Error{Code: wxtoken.ENeedsReauthorization}},
	{"revoked", 410, `{"error":{"code":"revoked","message":"the authorization was revoked"}}`,
		Error{Status: 410, Code: "revoked", Message: "the authorization was revoked"}, &wxtoken.Error{Code: wxtoken.ERevoked}},
	{"wechat error", 502, `{"error":{"code":"wechat_error","message":"WeChat refused the refresh","errcode":45009}}`,
		Error{Status: 502, Code: "wechat_error", Message: "WeChat refused the refresh", ErrCode: 45009}, nil},
	{"unavailable", 503, `{"error":{"code":"unavailable","message":"no valid token yet"}}`,
		Error{Status: 503, Code: "unavailable", Message: "no valid token yet"}, nil},
	{"gateway page", 502, `<html><body>bad gateway</body></html>`,
		Error{Status: 502, Code: "unavailable", Message: "Bad Gateway"}, nil},
	{"empty 500", 500, ``,
		Error{Status: 500, Code: "internal", Message: "Internal Server Error"}, nil},
	{"gone without JSON", 410, `gone`,
		Error{Status: 410, Code: "revoked", Message: "Gone"}, nil},
	{"error without code", 400, `{"error":{"message":"bad appid"}}`,
		Error{Status: 400, Code: "invalid", Message: "bad appid"}, nil},
	{"key echoed", 400, `{"error":{"code":"invalid","message":"bad header Bearer ` + testKey + `"}}`,
		Error{Status: 400, Code: "invalid", Message: "bad header Bearer [api key]"}, nil},
	{"not JSON", 200, `authorizer_access_token=90_secret_value_Zx9v`,
		Error{Status: 200, Code: "internal", Message: "malformed answer from the wxtoken server: the answer is not the expected JSON"}, nil},
	{"no token", 200, `{"authorizer_appid":"wx1111111111111111","expires_at":"2030-01-02T05:04:05Z"}`,
		Error{Status: 200, Code: "internal", Message: "malformed answer from the wxtoken server: the answer has no authorizer_access_token"}, nil},
	{"bad expiry", 200, `{"authorizer_appid":"wx1111111111111111","authorizer_access_token":"90_secret_value_Zx9v","expires_at":"in two hours"}`,
		Error{Status: 200, Code: "internal", Message: "malformed answer from the wxtoken server: expires_at is not an RFC 3339 time"}, nil},
	{"token as number", 200, `{"authorizer_appid":"wx1111111111111111","authorizer_access_token":12345678901,"expires_at":"2030-01-02T05:04:05Z"}`,
		Error{Status: 200, Code: "internal", Message: "malformed answer from the wxtoken server: the answer is not the expected JSON"}, nil},
	{"other authorizer", 200, `{"authorizer_appid":"wx9999999999999999","authorizer_access_token":"90_secret_value_Zx9v","expires_at":"2030-01-02T05:04:05Z"}`,
		Error{Status: 200, Code: "internal", Message: "malformed answer from the wxtoken server: the answer names another authorizer"}, nil},
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := New(srv.URL, testKey)
			_, err := c.AuthorizerToken(context.Background(), appA)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want a *client.Error", err)
			}
			if *e != tc.want {
				t.Errorf("err = %#v\n want %#v", *e, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
			msg := err.Error()
			if strings.Contains(msg, testKey) || strings.Contains(msg, "secret_value") {
				t.Errorf("error text leaks a secret: %s", msg)
			}
		})
	}
}

func TestLongErrorMessageIsCut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"` + strings.Repeat("é", 2000) + `"}}`))
	}))
	defer srv.Close()
	_, err := New(srv.URL, testKey).ComponentToken(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Code != wxtoken.EUnavailable {
		t.Fatalf("err = %v", err)
	}
	if len(e.Message) > 520 || !strings.HasSuffix(e.Message, "é…") {
		t.Errorf("message of %d bytes ends %q; want at most ~512 bytes cut at a character", len(e.Message), e.Message[len(e.Message)-8:])
	}
}

// FuzzDecodeToken feeds arbitrary answers to the decoders of the API's JSON.
// Whatever comes in, they must not panic, must not hand out a token without a
// value or an expiry, and must not put a token of the answer into an error.
func FuzzDecodeToken(f *testing.F) {
	for _, tc := range errorCases {
		f.Add(tc.status, []byte(tc.body))
	}
	f.Add(200, []byte(`{"authorizer_appid":"wx1111111111111111","authorizer_access_token":"90_abcdefgh","expires_at":"2030-01-02T05:04:05Z"}`))
	f.Add(200, []byte(`{"authorizer_appid":"wx1111111111111111","authorizer_access_token":"90_abcdefgh","expires_at":"2030-01-02T05:04:05.123456789+08:00"}`))
	f.Add(200, []byte(`{"component_access_token":"90_component_Hn3k","expires_at":"2030-01-02T05:04:05Z"}`))
	f.Add(200, []byte(`{"component_access_token":"90_component_Hn3k","expires_at":"0001-01-01T00:00:00Z"}`))
	f.Add(200, []byte(`{"authorizers":[{"authorizer_appid":"wx1111111111111111","state":"authorized","func_info":[1,2]}],"next_cursor":"wx1"}`))
	f.Add(500, []byte(`{"error":{"code":"internal","message":"\xff\xfe"}}`))

	// The decoders' messages are fixed texts, so no part of an answer (a
	// token, say) can reach an error string.
	fixed := map[string]bool{}
	for _, tc := range errorCases {
		if tc.status == 200 {
			fixed[tc.want.Message] = true
		}
	}
	fixed["malformed answer from the wxtoken server: the answer has no component_access_token"] = true

	f.Fuzz(func(t *testing.T, status int, body []byte) {
		check := func(what string, tok wxtoken.Token, err error) {
			if err == nil {
				if tok.Value == "" || tok.ExpiresAt.IsZero() {
					t.Fatalf("%s: token %q until %v without an error", what, tok.Value, tok.ExpiresAt)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != wxtoken.EInternal || e.Status != 200 || !fixed[e.Message] {
				t.Fatalf("%s: err = %#v, want an internal *Error with one of the fixed messages", what, err)
			}
		}
		tok, err := decodeAuthorizerToken(200, body, appA)
		check("authorizer", tok, err)
		tok, err = decodeComponentToken(200, body)
		check("component", tok, err)

		var page AuthorizerPage
		if err := decodeJSON(200, body, &page); err != nil {
			check("page", wxtoken.Token{}, err)
		}

		if status < 100 || status > 999 {
			status = 500
		}
		e := decodeError(status, body)
		if e.Code == "" || e.Status != status || len(e.Message) > maxMessage+len("…") || !utf8.ValidString(e.Message) || len(e.Code) > 64+len("…") {
			t.Fatalf("decodeError(%d) = %#v", status, e)
		}
	})
}
