package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// secretCores are the parts of the test secrets that must never show, not
// even in part: the realistic prefixes ("ticket@@@") are not secret.
var secretCores = []string{
	"S3cr3tVaLuE9876",       // testSecret
	"ZqXt0kenValueABCDEFGH", // testToken
	"T1cketValueQwErTy",     // testTicket
	"C0deValueZxCv",         // testCode
	"R3freshValueAsDf",      // testRT
}

// assertNoSecret fails when text holds any 6-character window of a secret.
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, core := range secretCores {
		for i := 0; i+6 <= len(core); i++ {
			if w := core[i : i+6]; strings.Contains(text, w) {
				t.Errorf("%s leaks %q (of a secret): %s", what, w, text)
				break
			}
		}
	}
}

// echoingErrmsg answers with an errcode whose errmsg repeats the request in
// every way a server might: the URL with its query, the raw body, the values
// URL-escaped and cut short.
func echoingErrmsg(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	echo := fmt.Sprintf("invalid request %s body %s escaped %s short %s %s %s",
		r.URL.String(), body, url.QueryEscape(string(body)), testTicket[:20], testToken[:23], testRT[:22])
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"errcode":47001,"errmsg":%q}`, echo+" rid: 6523f1a2-0b3c4d5e-6f708192")
}

// urlInErrorTransport fails like the worst transport: its error text holds
// the whole URL and body.
type urlInErrorTransport struct{}

func (urlInErrorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	return nil, fmt.Errorf("proxy refused %s (query %s) with %s", r.URL, r.URL.RawQuery, body)
}

func TestNoSecretsInErrorsOrLogs(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	servers := map[string]http.HandlerFunc{
		"errmsg echoing the request": echoingErrmsg,
		"5xx echoing the request": func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "upstream failed for %s %s", r.URL, body)
		},
		"4xx echoing the request": func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad %s %s", r.URL, body)
		},
		"HTML 200 echoing the request": func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "<html>%s %s</html>", r.URL, body)
		},
		"connection cut mid-answer": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			fmt.Fprintf(w, `{"errcode":40001,"errmsg":"%s`, r.URL.RawQuery)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		},
		"redirect to a broken Location carrying the token": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1%zz]/?"+r.URL.RawQuery+"&t="+testToken)
			w.WriteHeader(http.StatusFound)
		},
	}

	type setup struct {
		name   string
		base   string
		client *http.Client
		ctx    func(context.Context) context.Context
	}
	var setups []setup
	for name, h := range servers {
		srv := httptest.NewServer(h)
		defer srv.Close()
		// A client that follows redirects, unlike the default one, so the
		// broken Location reaches the transport's error text.
		setups = append(setups, setup{name: name, base: srv.URL, client: &http.Client{}})
	}
	setups = append(setups,
		setup{name: "connection refused", base: closedURL},
		setup{name: "transport error holding URL and body", base: "http://wechat.invalid", client: &http.Client{Transport: urlInErrorTransport{}}},
		setup{name: "context canceled", base: closedURL, ctx: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx
		}},
		setup{name: "deadline exceeded", base: closedURL, ctx: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithDeadline(ctx, time.Unix(1, 0))
			_ = cancel // released with the parent at the end of the test
			return ctx
		}},
	)

	calls := map[string]func(context.Context, *Client) error{
		"component token": func(ctx context.Context, c *Client) error { _, err := c.ComponentToken(ctx, testTicket); return err },
		"start push":      func(ctx context.Context, c *Client) error { return c.StartPushTicket(ctx) },
		"pre-auth code":   func(ctx context.Context, c *Client) error { _, err := c.CreatePreAuthCode(ctx, testToken); return err },
		"query auth": func(ctx context.Context, c *Client) error {
			_, err := c.QueryAuth(ctx, testToken, testCode)
			return err
		},
		"authorizer token": func(ctx context.Context, c *Client) error {
			_, err := c.AuthorizerToken(ctx, testToken, testAuthz, testRT)
			return err
		},
		"clear quota": func(ctx context.Context, c *Client) error { return c.ClearQuota(ctx, testAuthz) },
	}

	for _, s := range setups {
		for callName, call := range calls {
			t.Run(s.name+"/"+callName, func(t *testing.T) {
				var logs bytes.Buffer
				c, err := New(Config{
					BaseURL: s.base, ComponentAppID: testAppID, ComponentSecret: testSecret,
					HTTPClient: s.client,
					Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				})
				if err != nil {
					t.Fatal(err)
				}
				ctx := t.Context()
				if s.ctx != nil {
					ctx = s.ctx(ctx)
				}
				err = call(ctx, c)
				if err == nil {
					t.Fatal("no error")
				}
				assertNoSecret(t, "error", err.Error())
				assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
				assertNoSecret(t, "log", logs.String())
				if !strings.Contains(logs.String(), "endpoint=") {
					t.Errorf("no log line for the call: %q", logs.String())
				}
				var ue *url.Error
				if errors.As(err, &ue) {
					t.Errorf("a *url.Error is reachable from %v", err)
				}
				if code := wxtoken.ErrorCode(err); code != wxtoken.EWeChat && code != wxtoken.EUnavailable {
					t.Errorf("code %q", code)
				}
			})
		}
	}
}

func TestTransportErrorsAreTypedAndRetryable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c := newTestClient(t, closed.URL)

	_, err := c.CreatePreAuthCode(t.Context(), testToken)
	if !errors.Is(err, ErrRequestFailed) || wxtoken.ErrorCode(err) != wxtoken.EUnavailable || !IsRetryable(err) {
		t.Errorf("connection refused: %v (retryable %v)", err, IsRetryable(err))
	}
	if !strings.Contains(err.Error(), "wechat: api_create_preauthcode: request failed: ") {
		t.Errorf("error text %q", err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		t.Errorf("the original error is reachable through errors.As")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.CreatePreAuthCode(ctx, testToken)
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Errorf("canceled: %v: want errors.Is context.Canceled and not retryable", err)
	}

	ctx, cancel = context.WithDeadline(t.Context(), time.Unix(1, 0))
	defer cancel()
	_, err = c.CreatePreAuthCode(ctx, testToken)
	var timeout interface{ Timeout() bool }
	if !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) || !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("deadline: %v: want errors.Is DeadlineExceeded, retryable, Timeout()", err)
	}
}

func TestScrubber(t *testing.T) {
	s := newScrubber(testTicket, testSecret, "")
	tests := []struct{ in, want string }{
		{"plain " + testTicket + " end", "plain " + redacted + " end"},
		{"escaped " + url.QueryEscape(testTicket), "escaped " + redacted},
		{"no secret here rid: 6523f1a2-0b3c4d5e-6f708192", "no secret here rid: 6523f1a2-0b3c4d5e-6f708192"},
		{"foreign preauthcode@@@abcdef, ok", "foreign " + redacted + ", ok"},
		{"foreign token 50_abcdefghijklmnopqrstuvwxyz", "foreign token " + redacted},
		{"short 50_abc stays", "short 50_abc stays"},
	}
	for _, tc := range tests {
		if got := s.scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPrintedValuesHideSecrets(t *testing.T) {
	values := []any{
		Token{Value: testToken, ExpiresIn: time.Hour},
		PreAuthCode{Value: "preauthcode@@@" + secretCores[2]},
		Authorization{AuthorizerAppID: testAuthz, AccessToken: testToken, RefreshToken: testRT},
		AuthorizerToken{AccessToken: testToken, RefreshToken: testRT},
		ListedAuthorizer{AppID: testAuthz, RefreshToken: testRT},
		Event{AppID: testAppID, ComponentVerifyTicket: testTicket, AuthorizationCode: testCode, FastRegister: &FastRegister{AuthCode: testCode}},
		&Event{AppID: testAppID, ComponentVerifyTicket: testTicket},
	}
	for _, v := range values {
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("value", "v", v)
		for _, text := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %s", v, v, v), logs.String()} {
			assertNoSecret(t, fmt.Sprintf("%T", v), text)
		}
	}
}
