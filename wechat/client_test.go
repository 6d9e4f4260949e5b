package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

const (
	testAppID  = "wx0c0c0c0c0c0c0c0c"
	testSecret = "appsecret-S3cr3tVaLuE9876"
	testToken  = "50_ZqXt0kenValueABCDEFGHIJKLMNOP"
	testTicket = "ticket@@@T1cketValueQwErTy"
	testAuthz  = "wx1a1a1a1a1a1a1a1a"
	testCode   = "queryauthcode@@@C0deValueZxCv"
	testRT     = "refreshtoken@@@R3freshValueAsDf"
)

// recorded is one request as a WeChat-like server saw it.
type recorded struct {
	Method      string
	Path        string
	Query       map[string][]string
	ContentType string
	Body        map[string]any
}

// wechatServer answers every request with status and answer, the way
// WeChat does (HTTP 200 with an errcode for errors), and records what it got.
type wechatServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
}

func newWeChatServer(t *testing.T, status int, answer string) *wechatServer {
	t.Helper()
	s := &wechatServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not a JSON object: %v", err)
		}
		s.mu.Lock()
		s.requests = append(s.requests, recorded{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			ContentType: r.Header.Get("Content-Type"), Body: body,
		})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wechatServer) only(t *testing.T) recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) != 1 {
		t.Fatalf("server got %d requests, want 1", len(s.requests))
	}
	return s.requests[0]
}

func newTestClient(t *testing.T, base string) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: base, ComponentAppID: testAppID, ComponentSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// callCase is one endpoint called against a canned answer.
type callCase struct {
	name      string
	call      func(context.Context, *Client) (any, error)
	answer    string
	wantPath  string
	wantToken string // component_access_token in the query; "" = none
	wantBody  map[string]any
	want      any
}

func componentToken(ctx context.Context, c *Client) (any, error) {
	return c.ComponentToken(ctx, testTicket)
}
func preAuthCode(ctx context.Context, c *Client) (any, error) {
	return c.CreatePreAuthCode(ctx, testToken)
}
func queryAuth(ctx context.Context, c *Client) (any, error) {
	return c.QueryAuth(ctx, testToken, testCode)
}
func authorizerToken(ctx context.Context, c *Client) (any, error) {
	return c.AuthorizerToken(ctx, testToken, testAuthz, testRT)
}

type infoResult struct {
	Info wxtoken.AccountInfo
	Auth Authorization
}

func authorizerInfo(ctx context.Context, c *Client) (any, error) {
	info, auth, err := c.AuthorizerInfo(ctx, testToken, testAuthz)
	return infoResult{info, auth}, err
}
func authorizerList(ctx context.Context, c *Client) (any, error) {
	return c.AuthorizerList(ctx, testToken, 0, 500)
}
func authorizerOption(ctx context.Context, c *Client) (any, error) {
	return c.AuthorizerOption(ctx, testToken, testAuthz, "voice_recognize")
}

var (
	componentTokenBody = map[string]any{"component_appid": testAppID, "component_appsecret": testSecret, "component_verify_ticket": testTicket}
	queryAuthBody      = map[string]any{"component_appid": testAppID, "authorization_code": testCode}
	authorizerBody     = map[string]any{"component_appid": testAppID, "authorizer_appid": testAuthz}
	refreshBody        = map[string]any{"component_appid": testAppID, "authorizer_appid": testAuthz, "authorizer_refresh_token": testRT}
	listBody           = map[string]any{"component_appid": testAppID, "offset": 0.0, "count": 500.0}
	optionBody         = map[string]any{"component_appid": testAppID, "authorizer_appid": testAuthz, "option_name": "voice_recognize"}
)

const (
	authorizationAnswer = `{"authorization_info":{"authorizer_appid":"wx1a1a1a1a1a1a1a1a","authorizer_access_token":"51_authzAccessTokenABCDEFGHIJKLMNOPQ","expires_in":7200,"authorizer_refresh_token":"refreshtoken@@@NewR3fresh","func_info":[{"funcscope_category":{"id":1}},{"funcscope_category":{"id":15},"confirm_info":{"need_confirm":0}},{"funcscope_category":{"id":4}},{"funcscope_category":{"id":1}}]}}`
	infoAnswer          = `{"authorizer_info":{"nick_name":"微信SDK Demo Special","head_img":"http://wx.qlogo.cn/mmopen/GPy","service_type_info":{"id":"2"},"verify_type_info":{"id":-1},"user_name":"gh_eb5e3a772040","principal_name":"腾讯计算机系统有限公司","alias":"paytest01","qrcode_url":"URL","business_info":{"open_pay":1},"account_status":1,"MiniProgramInfo":{"network":{},"categories":[{"first":"工具","second":"效率"}],"visit_status":0}},"authorization_info":{"authorizer_appid":"wx1a1a1a1a1a1a1a1a","authorizer_refresh_token":"refreshtoken@@@InfoR3fresh","func_info":[{"funcscope_category":{"id":17}},{"funcscope_category":{"id":18}}]}}`
	listAnswer          = `{"total_count":"3","list":[{"authorizer_appid":"wx1a1a1a1a1a1a1a1a","refresh_token":"refreshtoken@@@L1","auth_time":1522200000},{"authorizer_appid":"wx2b2b2b2b2b2b2b2b","refresh_token":"","auth_time":"1522200100"},{"refresh_token":"refreshtoken@@@orphan","auth_time":1}]}`
)

var callCases = []callCase{
	{
		name: "component token", call: componentToken,
		answer:   `{"component_access_token":"50_newComponentTokenABCDEFGHIJ","expires_in":7200}`,
		wantPath: "/cgi-bin/component/api_component_token", wantBody: componentTokenBody,
		want: Token{Value: "50_newComponentTokenABCDEFGHIJ", ExpiresIn: 2 * time.Hour},
	},
	{
		name: "component token: expires_in as string, errcode 0, unknown fields", call: componentToken,
		answer:   `{"errcode":0,"errmsg":"ok","component_access_token":"50_x","expires_in":"7200","new_field":{"a":[1,2]}}`,
		wantPath: "/cgi-bin/component/api_component_token", wantBody: componentTokenBody,
		want: Token{Value: "50_x", ExpiresIn: 2 * time.Hour},
	},
	{
		name: "component token: no expires_in falls back to 7200 s", call: componentToken,
		answer:   `{"component_access_token":"50_x"}`,
		wantPath: "/cgi-bin/component/api_component_token", wantBody: componentTokenBody,
		want: Token{Value: "50_x", ExpiresIn: DefaultTokenLifetime},
	},
	{
		name: "component token: absurd expires_in is capped", call: componentToken,
		answer:   `{"component_access_token":"50_x","expires_in":9e15}`,
		wantPath: "/cgi-bin/component/api_component_token", wantBody: componentTokenBody,
		want: Token{Value: "50_x", ExpiresIn: MaxLifetime},
	},
	{
		name:     "start push ticket",
		call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.StartPushTicket(ctx) },
		answer:   `{"errcode":0,"errmsg":"ok"}`,
		wantPath: "/cgi-bin/component/api_start_push_ticket",
		wantBody: map[string]any{"component_appid": testAppID, "component_secret": testSecret},
	},
	{
		name: "pre-auth code", call: preAuthCode,
		answer:   `{"pre_auth_code":"preauthcode@@@P1","expires_in":1800}`,
		wantPath: "/cgi-bin/component/api_create_preauthcode", wantToken: testToken,
		wantBody: map[string]any{"component_appid": testAppID},
		want:     PreAuthCode{Value: "preauthcode@@@P1", ExpiresIn: 30 * time.Minute},
	},
	{
		name: "pre-auth code without expires_in gets the shorter documented lifetime", call: preAuthCode,
		answer:   `{"pre_auth_code":"preauthcode@@@P1","expires_in":null}`,
		wantPath: "/cgi-bin/component/api_create_preauthcode", wantToken: testToken,
		wantBody: map[string]any{"component_appid": testAppID},
		want:     PreAuthCode{Value: "preauthcode@@@P1", ExpiresIn: 10 * time.Minute},
	},
	{
		name: "query auth", call: queryAuth, answer: authorizationAnswer,
		wantPath: "/cgi-bin/component/api_query_auth", wantToken: testToken, wantBody: queryAuthBody,
		want: Authorization{
			AuthorizerAppID: testAuthz, AccessToken: "51_authzAccessTokenABCDEFGHIJKLMNOPQ",
			RefreshToken: "refreshtoken@@@NewR3fresh", ExpiresIn: 2 * time.Hour, FuncInfo: []int{1, 4, 15},
		},
	},
	{
		name: "query auth without API permission: no tokens", call: queryAuth,
		answer:   `{"authorization_info":{"authorizer_appid":"wx1a1a1a1a1a1a1a1a","func_info":[]}}`,
		wantPath: "/cgi-bin/component/api_query_auth", wantToken: testToken, wantBody: queryAuthBody,
		want: Authorization{AuthorizerAppID: testAuthz},
	},
	{
		name: "authorizer token with a rotated refresh token", call: authorizerToken,
		answer:   `{"authorizer_access_token":"51_fresh","expires_in":"7200","authorizer_refresh_token":"refreshtoken@@@Rotated"}`,
		wantPath: "/cgi-bin/component/api_authorizer_token", wantToken: testToken, wantBody: refreshBody,
		want: AuthorizerToken{AccessToken: "51_fresh", RefreshToken: "refreshtoken@@@Rotated", ExpiresIn: 2 * time.Hour},
	},
	{
		name: "authorizer token without refresh token keeps the one sent", call: authorizerToken,
		answer:   `{"authorizer_access_token":"51_fresh","expires_in":7200}`,
		wantPath: "/cgi-bin/component/api_authorizer_token", wantToken: testToken, wantBody: refreshBody,
		want: AuthorizerToken{AccessToken: "51_fresh", RefreshToken: testRT, ExpiresIn: 2 * time.Hour},
	},
	{
		name: "authorizer info", call: authorizerInfo, answer: infoAnswer,
		wantPath: "/cgi-bin/component/api_get_authorizer_info", wantToken: testToken, wantBody: authorizerBody,
		want: infoResult{
			Info: wxtoken.AccountInfo{
				NickName: "微信SDK Demo Special", HeadImg: "http://wx.qlogo.cn/mmopen/GPy", ServiceType: 2, VerifyType: -1,
				UserName: "gh_eb5e3a772040", Alias: "paytest01", QRCodeURL: "URL", PrincipalName: "腾讯计算机系统有限公司",
				AccountStatus: 1,
				MiniProgram:   &wxtoken.MiniProgram{Categories: []wxtoken.MiniProgramCategory{{First: "工具", Second: "效率"}}},
			},
			Auth: Authorization{AuthorizerAppID: testAuthz, RefreshToken: "refreshtoken@@@InfoR3fresh", FuncInfo: []int{17, 18}},
		},
	},
	{
		name: "authorizer info without appid in the answer is about the one asked", call: authorizerInfo,
		answer:   `{"authorizer_info":{"nick_name":"n"},"authorization_info":{"authorizer_refresh_token":"refreshtoken@@@X"}}`,
		wantPath: "/cgi-bin/component/api_get_authorizer_info", wantToken: testToken, wantBody: authorizerBody,
		want: infoResult{
			Info: wxtoken.AccountInfo{NickName: "n"},
			Auth: Authorization{AuthorizerAppID: testAuthz, RefreshToken: "refreshtoken@@@X"},
		},
	},
	{
		name: "authorizer list: numbers as strings, an entry without appid dropped", call: authorizerList, answer: listAnswer,
		wantPath: "/cgi-bin/component/api_get_authorizer_list", wantToken: testToken, wantBody: listBody,
		want: AuthorizerList{TotalCount: 3, Items: []ListedAuthorizer{
			{AppID: testAuthz, RefreshToken: "refreshtoken@@@L1", AuthTime: time.Unix(1522200000, 0).UTC()},
			{AppID: "wx2b2b2b2b2b2b2b2b", AuthTime: time.Unix(1522200100, 0).UTC()},
		}},
	},
	{
		name: "authorizer option as string", call: authorizerOption,
		answer:   `{"authorizer_appid":"wx1a1a1a1a1a1a1a1a","option_name":"voice_recognize","option_value":"1"}`,
		wantPath: "/cgi-bin/component/api_get_authorizer_option", wantToken: testToken, wantBody: optionBody,
		want: "1",
	},
	{
		name: "authorizer option as number", call: authorizerOption,
		answer:   `{"option_name":"voice_recognize","option_value":0}`,
		wantPath: "/cgi-bin/component/api_get_authorizer_option", wantToken: testToken, wantBody: optionBody,
		want: "0",
	},
	{
		name: "set authorizer option",
		call: func(ctx context.Context, c *Client) (any, error) {
			return nil, c.SetAuthorizerOption(ctx, testToken, testAuthz, "voice_recognize", "1")
		},
		answer:   `{"errcode":0,"errmsg":"ok"}`,
		wantPath: "/cgi-bin/component/api_set_authorizer_option", wantToken: testToken,
		wantBody: map[string]any{"component_appid": testAppID, "authorizer_appid": testAuthz, "option_name": "voice_recognize", "option_value": "1"},
	},
	{
		name:     "clear quota of the component",
		call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.ClearQuota(ctx, "") },
		answer:   `{"errcode":0,"errmsg":"ok"}`,
		wantPath: "/cgi-bin/component/clear_quota/v2",
		wantBody: map[string]any{"component_appid": testAppID, "appsecret": testSecret},
	},
	{
		name:     "clear quota of an authorizer",
		call:     func(ctx context.Context, c *Client) (any, error) { return nil, c.ClearQuota(ctx, testAuthz) },
		answer:   `{}`,
		wantPath: "/cgi-bin/component/clear_quota/v2",
		wantBody: map[string]any{"component_appid": testAppID, "appsecret": testSecret, "appid": testAuthz},
	},
}

func TestClientCalls(t *testing.T) {
	for _, tc := range callCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWeChatServer(t, http.StatusOK, tc.answer)
			got, err := tc.call(t.Context(), newTestClient(t, srv.URL))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
			req := srv.only(t)
			if req.Method != http.MethodPost || !strings.HasPrefix(req.ContentType, "application/json") {
				t.Errorf("request %s with Content-Type %q, want POST application/json", req.Method, req.ContentType)
			}
			if req.Path != tc.wantPath {
				t.Errorf("path %q, want %q", req.Path, tc.wantPath)
			}
			var wantQuery map[string][]string
			if tc.wantToken != "" {
				wantQuery = map[string][]string{"component_access_token": {tc.wantToken}}
			}
			if len(req.Query) > 0 || wantQuery != nil {
				if !reflect.DeepEqual(req.Query, wantQuery) {
					t.Errorf("query %v, want %v", req.Query, wantQuery)
				}
			}
			if !reflect.DeepEqual(req.Body, tc.wantBody) {
				t.Errorf("body %v, want %v", req.Body, tc.wantBody)
			}
		})
	}
}

// errorCase is an answer that must become an error.
type errorCase struct {
	name          string
	call          func(context.Context, *Client) (any, error)
	status        int
	answer        string
	wantCode      string
	wantErrCode   int
	wantSentinel  error
	retryable     bool
	tokenRejected bool
	wantInMessage string
}

var errorCases = []errorCase{
	{
		name: "expired ticket, HTTP 200 with errcode and rid", call: componentToken, status: 200,
		answer:   `{"errcode":61005,"errmsg":"component ticket is expired rid: 6523f1a2-0b3c4d5e-6f708192"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 61005,
		wantInMessage: "api_component_token: component ticket is expired rid: 6523f1a2-0b3c4d5e-6f708192",
	},
	{
		name: "errcode as string", call: componentToken, status: 200,
		answer:   `{"errcode":"40013","errmsg":"invalid appid"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 40013,
	},
	{
		name: "token expired", call: preAuthCode, status: 200,
		answer:   `{"errcode":42001,"errmsg":"access_token expired rid: 1"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 42001, tokenRejected: true,
	},
	{
		name: "token superseded", call: queryAuth, status: 200,
		answer:   `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 40001, tokenRejected: true,
	},
	{
		name: "token invalid", call: authorizerList, status: 200,
		answer:   `{"errcode":40014,"errmsg":"invalid access_token"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 40014, tokenRejected: true,
	},
	{
		name: "refresh token invalid stays a WeChat error", call: authorizerToken, status: 200,
		answer:   `{"errcode":61023,"errmsg":"refresh_token is invalid"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 61023,
	},
	{
		name: "revoked stays a WeChat error", call: authorizerInfo, status: 200,
		answer:   `{"errcode":61003,"errmsg":"component is not authorized by this account"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 61003,
	},
	{
		name: "system busy is retryable", call: authorizerToken, status: 200,
		answer:   `{"errcode":-1,"errmsg":"system error"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: -1, retryable: true,
	},
	{
		name: "quota reached is not retryable", call: componentToken, status: 200,
		answer:   `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 45009,
	},
	{
		name: "errcode without errmsg", call: preAuthCode, status: 200,
		answer:   `{"errcode":61004}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 61004, wantInMessage: "no errmsg",
	},
	{
		name: "HTTP 502 from a gateway", call: componentToken, status: 502,
		answer:   `<html>bad gateway</html>`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrHTTPStatus, retryable: true, wantInMessage: "HTTP 502",
	},
	{
		name: "HTTP 503 even with an errcode body", call: componentToken, status: 503,
		answer:   `{"errcode":40001,"errmsg":"x"}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrHTTPStatus, retryable: true,
	},
	{
		name: "HTTP 429", call: preAuthCode, status: 429, answer: ``,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrHTTPStatus, retryable: true,
	},
	{
		name: "HTTP 404 without errcode", call: preAuthCode, status: 404, answer: `not found`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrHTTPStatus,
	},
	{
		name: "HTTP 403 with errcode is WeChat's answer", call: preAuthCode, status: 403,
		answer:   `{"errcode":61004,"errmsg":"access clientip is not registered requestIP: 1.2.3.4"}`,
		wantCode: wxtoken.EWeChat, wantErrCode: 61004,
	},
	{
		name: "HTML with 200", call: componentToken, status: 200, answer: `<html>maintenance</html>`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "empty body", call: componentToken, status: 200, answer: ``,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "truncated JSON", call: authorizerList, status: 200, answer: `{"total_count":3,"list":[{"authorizer_appid":"wx`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "JSON array", call: componentToken, status: 200, answer: `[{"component_access_token":"x"}]`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "success without the token", call: componentToken, status: 200, answer: `{"expires_in":7200}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer, wantInMessage: "no component_access_token",
	},
	{
		name: "token of the wrong type", call: authorizerToken, status: 200, answer: `{"authorizer_access_token":{"v":1}}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "expires_in not a number", call: preAuthCode, status: 200, answer: `{"pre_auth_code":"p","expires_in":"soon"}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "query auth without appid", call: queryAuth, status: 200,
		answer:   `{"authorization_info":{"authorizer_access_token":"x","authorizer_refresh_token":"y"}}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "authorizer info about another account", call: authorizerInfo, status: 200,
		answer:   `{"authorizer_info":{},"authorization_info":{"authorizer_appid":"wx9f9f9f9f9f9f9f9f","authorizer_refresh_token":"r"}}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer, wantInMessage: "another authorizer",
	},
	{
		name: "list without total_count", call: authorizerList, status: 200, answer: `{"list":[]}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "option without value", call: authorizerOption, status: 200, answer: `{"option_name":"voice_recognize"}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer,
	},
	{
		name: "answer over the size cap", call: componentToken, status: 200,
		answer:   `{"component_access_token":"x","pad":"` + strings.Repeat("a", DefaultMaxAnswerBytes) + `"}`,
		wantCode: wxtoken.EUnavailable, wantSentinel: ErrBadAnswer, wantInMessage: "larger than",
	},
}

func TestClientErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWeChatServer(t, tc.status, tc.answer)
			_, err := tc.call(t.Context(), newTestClient(t, srv.URL))
			if err == nil {
				t.Fatal("no error")
			}
			var we *wxtoken.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %T is not a *wxtoken.Error: %v", err, err)
			}
			if we.Code != tc.wantCode || we.ErrCode != tc.wantErrCode {
				t.Errorf("code %q errcode %d, want %q %d (%v)", we.Code, we.ErrCode, tc.wantCode, tc.wantErrCode, err)
			}
			if tc.wantSentinel != nil && !errors.Is(err, tc.wantSentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.wantSentinel)
			}
			if got := IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable = %v, want %v (%v)", got, tc.retryable, err)
			}
			if got := IsTokenRejected(err); got != tc.tokenRejected {
				t.Errorf("IsTokenRejected = %v, want %v", got, tc.tokenRejected)
			}
			if !strings.Contains(err.Error(), tc.wantInMessage) {
				t.Errorf("error %q does not contain %q", err, tc.wantInMessage)
			}
		})
	}
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	srv := newWeChatServer(t, 200, `{}`)
	c := newTestClient(t, srv.URL)
	ctx := t.Context()
	calls := map[string]func() error{
		"empty ticket":          func() error { _, err := c.ComponentToken(ctx, ""); return err },
		"pre-auth: no token":    func() error { _, err := c.CreatePreAuthCode(ctx, ""); return err },
		"query auth: no code":   func() error { _, err := c.QueryAuth(ctx, testToken, ""); return err },
		"query auth: no token":  func() error { _, err := c.QueryAuth(ctx, "", testCode); return err },
		"refresh: no refresh":   func() error { _, err := c.AuthorizerToken(ctx, testToken, testAuthz, ""); return err },
		"refresh: no appid":     func() error { _, err := c.AuthorizerToken(ctx, testToken, "", testRT); return err },
		"info: no appid":        func() error { _, _, err := c.AuthorizerInfo(ctx, testToken, ""); return err },
		"list: count 0":         func() error { _, err := c.AuthorizerList(ctx, testToken, 0, 0); return err },
		"list: count 501":       func() error { _, err := c.AuthorizerList(ctx, testToken, 0, 501); return err },
		"list: negative offset": func() error { _, err := c.AuthorizerList(ctx, testToken, -1, 10); return err },
		"option: no name":       func() error { _, err := c.AuthorizerOption(ctx, testToken, testAuthz, ""); return err },
		"set option: no token":  func() error { return c.SetAuthorizerOption(ctx, "", testAuthz, "n", "v") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Errorf("got %v, want an EInvalid error", err)
			}
		})
	}
	if n := len(srv.requests); n != 0 {
		t.Errorf("server got %d requests for invalid arguments", n)
	}
}

func TestNewChecksConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{ComponentAppID: testAppID, ComponentSecret: testSecret}, true},
		{"base with trailing slash", Config{BaseURL: "http://127.0.0.1:1/", ComponentAppID: testAppID, ComponentSecret: testSecret}, true},
		{"no appid", Config{ComponentSecret: testSecret}, false},
		{"no secret", Config{ComponentAppID: testAppID}, false},
		{"relative base", Config{BaseURL: "api.weixin.qq.com", ComponentAppID: testAppID, ComponentSecret: testSecret}, false},
		{"ftp base", Config{BaseURL: "ftp://x", ComponentAppID: testAppID, ComponentSecret: testSecret}, false},
		{"base with query", Config{BaseURL: "http://x/?a=1", ComponentAppID: testAppID, ComponentSecret: testSecret}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if tc.ok != (err == nil) {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if wxtoken.ErrorCode(err) != wxtoken.EInvalid || strings.Contains(err.Error(), testSecret) {
					t.Errorf("error %v: want EInvalid without the secret", err)
				}
				return
			}
			if strings.HasSuffix(c.base, "/") {
				t.Errorf("base %q keeps a trailing slash", c.base)
			}
		})
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	srv := newWeChatServer(t, 200, `{"pre_auth_code":"p","expires_in":600}`)
	c, err := New(Config{BaseURL: srv.URL + "/wechat/", ComponentAppID: testAppID, ComponentSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePreAuthCode(t.Context(), testToken); err != nil {
		t.Fatal(err)
	}
	if got := srv.only(t).Path; got != "/wechat/cgi-bin/component/api_create_preauthcode" {
		t.Errorf("path %q", got)
	}
}

func TestDefaultClientDoesNotFollowRedirects(t *testing.T) {
	var followed bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed = true
		io.WriteString(w, `{"pre_auth_code":"p"}`)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/steal?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	_, err := newTestClient(t, redirector.URL).CreatePreAuthCode(t.Context(), testToken)
	if !errors.Is(err, ErrHTTPStatus) || followed {
		t.Errorf("err %v, followed %v: want ErrHTTPStatus and no request to the target", err, followed)
	}
}

func TestCallIsLoggedWithoutValues(t *testing.T) {
	srv := newWeChatServer(t, 200, `{"errcode":61005,"errmsg":"component ticket is expired rid: 1-2-3"}`)
	var logs strings.Builder
	c, err := New(Config{
		BaseURL: srv.URL, ComponentAppID: testAppID, ComponentSecret: testSecret,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ComponentToken(t.Context(), testTicket); err == nil {
		t.Fatal("no error")
	}
	line := logs.String()
	for _, want := range []string{"level=DEBUG", "endpoint=api_component_token", "status=200", "errcode=61005", "duration=", "outcome=wechat_error"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
	assertNoSecret(t, "log", line)
}
