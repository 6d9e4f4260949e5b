// Package wechat is the typed client of WeChat's third-party platform
// ("component") endpoints, the builder of authorization links, and the parser
// of the decrypted pushes to the authorization event URL.
//
// It holds no state beyond its configuration and does no retries or caching:
// deciding when to call, retry or refresh is the lifecycle's job (package
// engine). What it guarantees is that every answer becomes either a typed
// value or a typed, secret-free error:
//
//   - WeChat's errcode answers: *wxtoken.Error with Code wxtoken.EWeChat and
//     ErrCode set, whatever the errcode (callers decide, see IsTokenRejected);
//   - transport failures, HTTP 5xx and undecodable answers: Code
//     wxtoken.EUnavailable, with ErrRequestFailed, ErrHTTPStatus or
//     ErrBadAnswer in the chain (see IsRetryable);
//   - bad arguments, caught before any request: Code wxtoken.EInvalid.
//
// The component token travels in the URL, and the error of a failed
// http.Client.Do prints the URL; no error of this package carries that text,
// and every text from outside (errmsg, transport errors) is scrubbed of the
// values sent with the call.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// DefaultBaseURL is where WeChat's API lives.
const DefaultBaseURL = "https://api.weixin.qq.com"

// DefaultMaxAnswerBytes caps an answer body: the largest answer, a full page
// of 500 authorizers, is about 100 KiB.
const DefaultMaxAnswerBytes = 1 << 20

// Config configures a Client.
type Config struct {
	BaseURL         string // default DefaultBaseURL; the emulator in tests
	ComponentAppID  string
	ComponentSecret string
	// HTTPClient defaults to a client with a 15 s timeout that does not
	// follow redirects (WeChat never redirects its API; following one would
	// carry the request somewhere unexpected).
	HTTPClient *http.Client
	// Logger receives one Debug line per call: endpoint, HTTP status,
	// errcode, duration. Never a value. Default: discard.
	Logger *slog.Logger
	// MaxAnswerBytes caps the answer body; default DefaultMaxAnswerBytes.
	MaxAnswerBytes int64
}

// Client calls https://api.weixin.qq.com/cgi-bin/component/… for one
// platform. It is safe for concurrent use.
type Client struct {
	base      string
	appID     string
	secret    string
	http      *http.Client
	log       *slog.Logger
	maxAnswer int64
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "wechat: BaseURL must be an absolute http(s) URL without user, query or fragment")
	}
	if cfg.ComponentAppID == "" {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "wechat: ComponentAppID is required")
	}
	if cfg.ComponentSecret == "" {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "wechat: ComponentSecret is required")
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		appID:     cfg.ComponentAppID,
		secret:    cfg.ComponentSecret,
		http:      cfg.HTTPClient,
		log:       cfg.Logger,
		maxAnswer: cfg.MaxAnswerBytes,
	}
	if c.http == nil {
		c.http = &http.Client{
			Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxAnswer <= 0 {
		c.maxAnswer = DefaultMaxAnswerBytes
	}
	return c, nil
}

// ComponentAppID is the platform this client acts for.
func (c *Client) ComponentAppID() string { return c.appID }

// post sends request to endpoint and returns the body of a successful answer
// (errcode absent or 0). componentToken, when not empty, goes in the query as
// component_access_token. secrets are the values sent with the call, to be
// scrubbed from any text that comes back.
func (c *Client) post(ctx context.Context, endpoint, componentToken string, request any, secrets ...string) (body []byte, err error) {
	start := time.Now()
	status := 0
	defer func() {
		c.logCall(ctx, endpoint, status, err, time.Since(start))
	}()

	target := c.base + "/cgi-bin/component/" + endpoint
	if componentToken != "" {
		target += "?component_access_token=" + url.QueryEscape(componentToken)
	}
	s := newScrubber(append(secrets, c.secret, componentToken, target)...)

	payload, err := json.Marshal(request)
	if err != nil {
		return nil, &wxtoken.Error{Code: wxtoken.EInternal, Message: "wechat: " + endpoint + ": encoding request", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, requestFailed(endpoint, err, s)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, requestFailed(endpoint, err, s)
	}
	defer resp.Body.Close()
	status = resp.StatusCode

	body, err = io.ReadAll(io.LimitReader(resp.Body, c.maxAnswer+1))
	if err != nil {
		return nil, requestFailed(endpoint, fmt.Errorf("reading answer: %w", err), s)
	}
	if int64(len(body)) > c.maxAnswer {
		return nil, badAnswer(endpoint, "answer larger than "+strconv.FormatInt(c.maxAnswer, 10)+" bytes")
	}
	if err := checkAnswer(endpoint, status, body, s); err != nil {
		return nil, err
	}
	return body, nil
}

func (c *Client) logCall(ctx context.Context, endpoint string, status int, err error, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("endpoint", endpoint),
		slog.Int("status", status),
		slog.Int("errcode", wxtoken.WeChatErrCode(err)),
		slog.Duration("duration", d),
	}
	if err != nil {
		attrs = append(attrs, slog.String("outcome", wxtoken.ErrorCode(err)))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat call", attrs...)
}

// ComponentToken mints a component_access_token from the latest
// component_verify_ticket (api_component_token). Every call mints a new one;
// the previous one stays valid about 5 more minutes.
func (c *Client) ComponentToken(ctx context.Context, ticket string) (Token, error) {
	const ep = "api_component_token"
	if ticket == "" {
		return Token{}, invalidArgument(ep, "empty component_verify_ticket")
	}
	body, err := c.post(ctx, ep, "", map[string]string{
		"component_appid":         c.appID,
		"component_appsecret":     c.secret,
		"component_verify_ticket": ticket,
	}, ticket)
	if err != nil {
		return Token{}, err
	}
	return decodeComponentToken(body)
}

// StartPushTicket asks WeChat to push a component_verify_ticket again
// (api_start_push_ticket), for when pushes stopped or none was ever received.
func (c *Client) StartPushTicket(ctx context.Context) error {
	_, err := c.post(ctx, "api_start_push_ticket", "", map[string]string{
		"component_appid":  c.appID,
		"component_secret": c.secret,
	})
	return err
}

// CreatePreAuthCode creates the single-use code of an authorization link
// (api_create_preauthcode).
func (c *Client) CreatePreAuthCode(ctx context.Context, componentToken string) (PreAuthCode, error) {
	const ep = "api_create_preauthcode"
	if componentToken == "" {
		return PreAuthCode{}, invalidArgument(ep, "empty component_access_token")
	}
	body, err := c.post(ctx, ep, componentToken, map[string]string{"component_appid": c.appID})
	if err != nil {
		return PreAuthCode{}, err
	}
	return decodePreAuthCode(body)
}

// QueryAuth exchanges an authorization code, from the redirect or from an
// authorized push, for the account's tokens and granted permission sets
// (api_query_auth). The tokens are empty when the account granted no API
// permission; the refresh token must be persisted before anything else.
func (c *Client) QueryAuth(ctx context.Context, componentToken, authCode string) (Authorization, error) {
	const ep = "api_query_auth"
	if componentToken == "" {
		return Authorization{}, invalidArgument(ep, "empty component_access_token")
	}
	if authCode == "" {
		return Authorization{}, invalidArgument(ep, "empty authorization_code")
	}
	body, err := c.post(ctx, ep, componentToken, map[string]string{
		"component_appid":    c.appID,
		"authorization_code": authCode,
	}, authCode)
	if err != nil {
		return Authorization{}, err
	}
	return decodeAuthorization(body)
}

// AuthorizerToken refreshes an account's access token
// (api_authorizer_token). The answer's RefreshToken is always set: WeChat's
// new one when it rotated it, else the one sent. Store it either way.
func (c *Client) AuthorizerToken(ctx context.Context, componentToken, authorizerAppID, refreshToken string) (AuthorizerToken, error) {
	const ep = "api_authorizer_token"
	if componentToken == "" {
		return AuthorizerToken{}, invalidArgument(ep, "empty component_access_token")
	}
	if authorizerAppID == "" {
		return AuthorizerToken{}, invalidArgument(ep, "empty authorizer_appid")
	}
	if refreshToken == "" {
		// WeChat would answer 61023; an empty refresh token is our bug, not
		// a revoked authorization, so it must not look like one.
		return AuthorizerToken{}, invalidArgument(ep, "empty authorizer_refresh_token")
	}
	body, err := c.post(ctx, ep, componentToken, map[string]string{
		"component_appid":          c.appID,
		"authorizer_appid":         authorizerAppID,
		"authorizer_refresh_token": refreshToken,
	}, refreshToken)
	if err != nil {
		return AuthorizerToken{}, err
	}
	t, err := decodeAuthorizerToken(body)
	if err != nil {
		return AuthorizerToken{}, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// AuthorizerInfo fetches an account's profile and its authorization (refresh
// token and func_info, no access token) (api_get_authorizer_info).
// AccountInfo.FetchedAt is left for the caller to set from its clock.
func (c *Client) AuthorizerInfo(ctx context.Context, componentToken, authorizerAppID string) (wxtoken.AccountInfo, Authorization, error) {
	const ep = "api_get_authorizer_info"
	if componentToken == "" {
		return wxtoken.AccountInfo{}, Authorization{}, invalidArgument(ep, "empty component_access_token")
	}
	if authorizerAppID == "" {
		return wxtoken.AccountInfo{}, Authorization{}, invalidArgument(ep, "empty authorizer_appid")
	}
	body, err := c.post(ctx, ep, componentToken, map[string]string{
		"component_appid":  c.appID,
		"authorizer_appid": authorizerAppID,
	})
	if err != nil {
		return wxtoken.AccountInfo{}, Authorization{}, err
	}
	info, auth, err := decodeAuthorizerInfo(body)
	if err != nil {
		return wxtoken.AccountInfo{}, Authorization{}, err
	}
	switch auth.AuthorizerAppID {
	case "":
		auth.AuthorizerAppID = authorizerAppID
	case authorizerAppID:
	default:
		// A refresh token filed under the wrong account would be used for
		// the wrong account: refuse the whole answer.
		return wxtoken.AccountInfo{}, Authorization{}, badAnswer(ep, "answer is about another authorizer")
	}
	return info, auth, nil
}

// MaxAuthorizerListCount is the largest page api_get_authorizer_list serves.
const MaxAuthorizerListCount = 500

// AuthorizerList pages through every account that authorized the platform,
// with its refresh token (api_get_authorizer_list): the way to recover a
// refresh token the store lost. A listed RefreshToken may be empty when the
// authorization's code was never exchanged.
func (c *Client) AuthorizerList(ctx context.Context, componentToken string, offset, count int) (AuthorizerList, error) {
	const ep = "api_get_authorizer_list"
	if componentToken == "" {
		return AuthorizerList{}, invalidArgument(ep, "empty component_access_token")
	}
	if offset < 0 {
		return AuthorizerList{}, invalidArgument(ep, "negative offset")
	}
	if count < 1 || count > MaxAuthorizerListCount {
		return AuthorizerList{}, invalidArgument(ep, "count must be between 1 and 500")
	}
	body, err := c.post(ctx, ep, componentToken, map[string]any{
		"component_appid": c.appID,
		"offset":          offset,
		"count":           count,
	})
	if err != nil {
		return AuthorizerList{}, err
	}
	list, skipped, err := decodeAuthorizerList(body)
	if err != nil {
		return AuthorizerList{}, err
	}
	if skipped > 0 {
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat: authorizer list entries without appid dropped",
			slog.String("endpoint", ep), slog.Int("dropped", skipped))
	}
	return list, nil
}

// AuthorizerOption reads one of an account's option settings
// (api_get_authorizer_option), e.g. "location_report", "voice_recognize",
// "customer_service".
func (c *Client) AuthorizerOption(ctx context.Context, componentToken, authorizerAppID, name string) (string, error) {
	const ep = "api_get_authorizer_option"
	if err := checkOptionArgs(ep, componentToken, authorizerAppID, name); err != nil {
		return "", err
	}
	body, err := c.post(ctx, ep, componentToken, map[string]string{
		"component_appid":  c.appID,
		"authorizer_appid": authorizerAppID,
		"option_name":      name,
	})
	if err != nil {
		return "", err
	}
	return decodeAuthorizerOption(body)
}

// SetAuthorizerOption changes one of an account's option settings
// (api_set_authorizer_option).
func (c *Client) SetAuthorizerOption(ctx context.Context, componentToken, authorizerAppID, name, value string) error {
	const ep = "api_set_authorizer_option"
	if err := checkOptionArgs(ep, componentToken, authorizerAppID, name); err != nil {
		return err
	}
	_, err := c.post(ctx, ep, componentToken, map[string]string{
		"component_appid":  c.appID,
		"authorizer_appid": authorizerAppID,
		"option_name":      name,
		"option_value":     value,
	})
	return err
}

func checkOptionArgs(ep, componentToken, authorizerAppID, name string) error {
	switch {
	case componentToken == "":
		return invalidArgument(ep, "empty component_access_token")
	case authorizerAppID == "":
		return invalidArgument(ep, "empty authorizer_appid")
	case name == "":
		return invalidArgument(ep, "empty option_name")
	}
	return nil
}

// ClearQuota resets the API call quotas (clear_quota/v2, with the app secret
// instead of a token, so that it works when the token quota itself is used
// up). appID "" clears the component's own quota; otherwise that account's.
// WeChat allows 10 clears a month (then errcode 48006).
func (c *Client) ClearQuota(ctx context.Context, appID string) error {
	request := map[string]string{
		"component_appid": c.appID,
		"appsecret":       c.secret,
	}
	if appID != "" {
		request["appid"] = appID
	}
	_, err := c.post(ctx, "clear_quota/v2", "", request)
	return err
}

// Token is a component_access_token with the lifetime WeChat gave it.
type Token struct {
	Value     string
	ExpiresIn time.Duration
}

// PreAuthCode is the single-use code of an authorization link.
type PreAuthCode struct {
	Value     string
	ExpiresIn time.Duration
}

// Authorization is what WeChat says about one account's authorization of
// the platform. FuncInfo holds the granted permission-set ids, sorted and
// without duplicates. ExpiresIn is 0 when there is no AccessToken.
type Authorization struct {
	AuthorizerAppID string
	AccessToken     string
	RefreshToken    string
	ExpiresIn       time.Duration
	FuncInfo        []int
}

// AuthorizerToken is the answer of a refresh.
type AuthorizerToken struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// AuthorizerList is one page of api_get_authorizer_list.
type AuthorizerList struct {
	TotalCount int
	Items      []ListedAuthorizer
}

// ListedAuthorizer is one account in the authorizer list.
type ListedAuthorizer struct {
	AppID        string
	RefreshToken string
	AuthTime     time.Time
}

// The String and LogValue methods below keep secrets out of logs and error
// texts when a whole value is printed by mistake.

func (t Token) String() string {
	return fmt.Sprintf("wechat.Token{Value:%s ExpiresIn:%s}", wxtoken.Redact(t.Value), t.ExpiresIn)
}

func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

func (p PreAuthCode) String() string {
	return fmt.Sprintf("wechat.PreAuthCode{Value:%s ExpiresIn:%s}", wxtoken.Redact(p.Value), p.ExpiresIn)
}

func (p PreAuthCode) LogValue() slog.Value { return slog.StringValue(p.String()) }

func (a Authorization) String() string {
	return fmt.Sprintf("wechat.Authorization{AuthorizerAppID:%s AccessToken:%s RefreshToken:%s ExpiresIn:%s FuncInfo:%v}",
		a.AuthorizerAppID, redactOptional(a.AccessToken), redactOptional(a.RefreshToken), a.ExpiresIn, a.FuncInfo)
}

func (a Authorization) LogValue() slog.Value { return slog.StringValue(a.String()) }

func (t AuthorizerToken) String() string {
	return fmt.Sprintf("wechat.AuthorizerToken{AccessToken:%s RefreshToken:%s ExpiresIn:%s}",
		redactOptional(t.AccessToken), redactOptional(t.RefreshToken), t.ExpiresIn)
}

func (t AuthorizerToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

func (l ListedAuthorizer) String() string {
	return fmt.Sprintf("wechat.ListedAuthorizer{AppID:%s RefreshToken:%s AuthTime:%s}",
		l.AppID, redactOptional(l.RefreshToken), l.AuthTime.Format(time.RFC3339))
}

func (l ListedAuthorizer) LogValue() slog.Value { return slog.StringValue(l.String()) }

func redactOptional(secret string) string {
	if secret == "" {
		return `""`
	}
	return wxtoken.Redact(secret)
}
