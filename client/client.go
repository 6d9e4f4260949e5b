// Package client is the Go client of wxtoken's token API, for the platform's
// other services. It fetches authorizer and component tokens over HTTP, keeps
// them in memory until shortly before they expire, reports rejected tokens so
// that the service refreshes them, and offers an http.RoundTripper that puts
// the authorizer's token on outgoing WeChat calls, so that a Go service calls
// WeChat directly without handling tokens at all.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Client talks to one wxtoken server with one API key. It is safe for
// concurrent use; create one per process and share it.
type Client struct {
	base  string // without a trailing slash
	key   string
	http  *http.Client
	clock wxtoken.Clock
	early time.Duration

	mu      sync.Mutex
	sources map[string]*tokenSource
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used to reach the wxtoken server.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithClock sets the clock that decides when a cached token is too old.
func WithClock(clock wxtoken.Clock) Option {
	return func(c *Client) {
		if clock != nil {
			c.clock = clock
		}
	}
}

// WithEarlyExpiry sets how long before its expiry a cached token is fetched
// again (default 1 minute), so that a token handed out is still good for the
// call it is used in.
func WithEarlyExpiry(d time.Duration) Option {
	return func(c *Client) {
		if d >= 0 {
			c.early = d
		}
	}
}

// DefaultEarlyExpiry is the default of WithEarlyExpiry.
const DefaultEarlyExpiry = time.Minute

// fetchTimeout bounds a fetch shared by many callers: it runs on its own
// context so that the first caller giving up does not fail the others.
const fetchTimeout = 30 * time.Second

// maxAnswer caps the body of an API answer that is read into memory.
const maxAnswer = 8 << 20

// New returns a client of the wxtoken server at baseURL (for example
// "http://127.0.0.1:8080") that authenticates with the bearer key.
func New(baseURL, key string, opts ...Option) *Client {
	c := &Client{
		base:    strings.TrimRight(baseURL, "/"),
		key:     key,
		clock:   wxtoken.SystemClock{},
		early:   DefaultEarlyExpiry,
		sources: map[string]*tokenSource{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		// The default transport keeps 2 idle connections per host, which makes
		// a busy service open and close connections to wxtoken all the time.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		c.http = &http.Client{Transport: tr, Timeout: fetchTimeout}
	}
	return c
}

// Error is an error answer of the wxtoken server, or a problem with its
// answer. Code is one of the wxtoken.E* codes; Status is the HTTP status (0
// when no request was made); ErrCode is WeChat's errcode when WeChat's answer
// caused the error. Messages never contain a token or the API key.
type Error struct {
	Status  int
	Code    string
	Message string
	ErrCode int
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wxtoken: ")
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.ErrCode != 0 {
		fmt.Fprintf(&b, " (errcode %d)", e.ErrCode)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	return b.String()
}

// Is lets errors.Is(err, wxtoken.ErrNotFound) and errors.Is(err,
// &wxtoken.Error{Code: wxtoken.ENeedsReauthorization}) match on the code, the
// same way as for errors of the engine itself.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *wxtoken.Error:
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
	case *Error:
		return t.Code == e.Code && (t.Status == 0 || t.Status == e.Status)
	}
	return false
}

// temporary reports whether the failure may pass by itself, so that a cached
// token that is still valid is better than the error.
func temporary(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return !errors.Is(err, context.Canceled) // network failures, timeouts
	}
	return e.Code == wxtoken.EUnavailable || e.Code == wxtoken.EInternal || e.Status >= 500
}

// AuthorizerToken asks the server for the current access token of the
// authorizer appID. It makes a request every time; TokenSource caches.
func (c *Client) AuthorizerToken(ctx context.Context, appID string) (wxtoken.Token, error) {
	if err := checkAppID(appID); err != nil {
		return wxtoken.Token{}, err
	}
	status, body, err := c.do(ctx, http.MethodGet, authorizerPath(appID)+"/token", nil)
	if err != nil {
		return wxtoken.Token{}, err
	}
	return decodeAuthorizerToken(status, body, appID)
}

// ComponentToken asks the server for the current component_access_token.
func (c *Client) ComponentToken(ctx context.Context) (wxtoken.Token, error) {
	status, body, err := c.do(ctx, http.MethodGet, "/v1/component/token", nil)
	if err != nil {
		return wxtoken.Token{}, err
	}
	return decodeComponentToken(status, body)
}

// Invalidate reports that WeChat rejected the token rejected of appID (errcode
// 40001, 42001 or 40014) and returns the token to use from now on. The server
// refreshes only if rejected is still its current token, so a late report is
// harmless. Concurrent reports of the same token in this process share one
// request, and the token source of appID forgets the rejected token.
func (c *Client) Invalidate(ctx context.Context, appID, rejected string) (wxtoken.Token, error) {
	if err := checkAppID(appID); err != nil {
		return wxtoken.Token{}, err
	}
	if rejected == "" {
		return wxtoken.Token{}, &Error{Code: wxtoken.EInvalid, Message: "the rejected token is required"}
	}
	return c.source(appID).invalidate(ctx, rejected)
}

func (c *Client) invalidate(ctx context.Context, appID, rejected string) (wxtoken.Token, error) {
	body, err := json.Marshal(invalidateRequest{AccessToken: rejected})
	if err != nil {
		return wxtoken.Token{}, err
	}
	status, answer, err := c.do(ctx, http.MethodPost, authorizerPath(appID)+"/token/invalidate", body)
	if err != nil {
		return wxtoken.Token{}, err
	}
	return decodeAuthorizerToken(status, answer, appID)
}

type invalidateRequest struct {
	AccessToken string `json:"authorizer_access_token"`
}

// AuthorizerInfo is what the server tells about an authorizer. It holds no
// secret: the access token is only described by its expiry. Times the server
// does not know are zero.
type AuthorizerInfo struct {
	AppID    string                  `json:"authorizer_appid"`
	State    wxtoken.AuthorizerState `json:"state"`
	FuncInfo []int                   `json:"func_info"`
	Info     wxtoken.AccountInfo     `json:"account_info"`
	// TokenExpiresAt is when the current access token expires.
	TokenExpiresAt time.Time `json:"token_expires_at"`
	AuthorizedAt   time.Time `json:"authorized_at"`
	LastRefreshAt  time.Time `json:"last_refresh_at"`
	// LastError is a short, secret-free description of the last failure.
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AuthorizerPage is one page of the authorizer list.
type AuthorizerPage struct {
	Authorizers []AuthorizerInfo `json:"authorizers"`
	// NextCursor is passed to Authorizers for the next page; "" on the last.
	// A page may be short, or even empty, while NextCursor is set: the key
	// may not read every authorizer.
	NextCursor string `json:"next_cursor"`
}

// Authorizer returns what the server knows about appID.
func (c *Client) Authorizer(ctx context.Context, appID string) (*AuthorizerInfo, error) {
	if err := checkAppID(appID); err != nil {
		return nil, err
	}
	status, body, err := c.do(ctx, http.MethodGet, authorizerPath(appID), nil)
	if err != nil {
		return nil, err
	}
	var info AuthorizerInfo
	if err := decodeJSON(status, body, &info); err != nil {
		return nil, err
	}
	if info.AppID != appID {
		return nil, malformed(status, "the answer names another authorizer")
	}
	return &info, nil
}

// Authorizers returns one page of the authorizers, in AppID order, starting
// after cursor ("" for the first page). limit <= 0 leaves the page size to the
// server (100 by default, at most 1000).
func (c *Client) Authorizers(ctx context.Context, cursor string, limit int) (*AuthorizerPage, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/v1/authorizers"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	status, body, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	var page AuthorizerPage
	if err := decodeJSON(status, body, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

func checkAppID(appID string) error {
	if appID == "" {
		return &Error{Code: wxtoken.EInvalid, Message: "the authorizer appid is required"}
	}
	return nil
}

func authorizerPath(appID string) string {
	return "/v1/authorizers/" + url.PathEscape(appID)
}

// do sends one request and returns the status and body of a 2xx answer; any
// other answer becomes an *Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("wxtoken client: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// url.Error names the URL, which holds no secret: the key travels in a
		// header and http.Client strips passwords from URLs.
		return 0, nil, fmt.Errorf("wxtoken client: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return 0, nil, fmt.Errorf("wxtoken client: %s %s: reading the answer: %w", method, path, err)
	}
	if len(data) > maxAnswer {
		return 0, nil, malformed(resp.StatusCode, "answer larger than "+strconv.Itoa(maxAnswer)+" bytes")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := decodeError(resp.StatusCode, data)
		if c.key != "" {
			// A misconfigured proxy may echo the request; the key stays out.
			e.Message = strings.ReplaceAll(e.Message, c.key, "[api key]")
		}
		return 0, nil, e
	}
	return resp.StatusCode, data, nil
}
