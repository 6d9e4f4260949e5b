package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

type transportEnv struct {
	c      *client.Client
	api    *fakeAPI
	wechat *fakeWeChat
	url    string // WeChat's base URL
	http   *http.Client
}

func newTransportEnv(t *testing.T) *transportEnv {
	t.Helper()
	c, api, _ := newTestClient(t, appA)
	wx := &fakeWeChat{api: api, appID: appA}
	srv := wx.start(t)
	return &transportEnv{c: c, api: api, wechat: wx, url: srv.URL, http: &http.Client{Transport: c.Transport(appA, nil)}}
}

// staleCache makes the client hold a token that WeChat no longer accepts: the
// client caches one, then the service refreshes it behind the client's back.
func (e *transportEnv) staleCache(t *testing.T) (stale, current wxtoken.Token) {
	t.Helper()
	stale, err := e.c.TokenSource(appA).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return stale, e.api.rotate(appA)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTransportSetsAccessToken(t *testing.T) {
	e := newTransportEnv(t)
	target := e.url + "/cgi-bin/message/custom/send?b=%2F&access_token=old&a=1+2&access_token=older"
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != `{"errcode":0,"errmsg":"ok"}` {
		t.Errorf("answer %s", body)
	}
	cur, _ := e.api.current(appA)
	calls := e.wechat.recorded()
	if len(calls) != 1 || calls[0].query != "b=%2F&a=1+2&access_token="+cur.Value {
		t.Errorf("WeChat got %+v; want the caller's parameters as encoded plus one access_token", calls)
	}
	if req.URL.String() != target {
		t.Errorf("the caller's request was changed: %s", req.URL)
	}
}

func TestTransportRenewsRejectedTokenAndRetriesOnce(t *testing.T) {
	const payload = `{"touser":"oAbc","msgtype":"text","text":{"content":"hello"}}`
	bodies := []struct {
		name string
		make func() io.Reader // nil: no body
	}{
		{"no body", nil},
		{"GetBody", func() io.Reader { return strings.NewReader(payload) }},
		{"stream without GetBody", func() io.Reader { return io.NopCloser(strings.NewReader(payload)) }},
	}
	for _, code := range []int{40001, 42001, 40014} {
		for _, body := range bodies {
			t.Run(fmt.Sprintf("%d/%s", code, body.name), func(t *testing.T) {
				e := newTransportEnv(t)
				e.wechat.rejectCode = code
				stale, current := e.staleCache(t)

				method, want := http.MethodGet, ""
				var rd io.Reader
				if body.make != nil {
					method, want, rd = http.MethodPost, payload, body.make()
				}
				req, _ := http.NewRequest(method, e.url+"/cgi-bin/message/custom/send", rd)
				resp, err := e.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, resp); got != `{"errcode":0,"errmsg":"ok"}` {
					t.Errorf("answer %s, want the retry's", got)
				}
				calls := e.wechat.recorded()
				if len(calls) != 2 || calls[0].token != stale.Value || calls[1].token != current.Value {
					t.Fatalf("WeChat calls %+v; want the stale token, then the current one", calls)
				}
				for i, call := range calls {
					if call.body != want {
						t.Errorf("call %d sent body %q, want %q", i, call.body, want)
					}
				}
				if n := e.api.invalidateRequests.Load(); n != 1 {
					t.Errorf("%d invalidate requests, want 1", n)
				}
				// The renewed token is cached for the next call.
				resp, err = e.http.Get(e.url + "/cgi-bin/message/custom/send")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if n := len(e.wechat.recorded()); n != 3 {
					t.Errorf("%d WeChat calls after a further request, want 3", n)
				}
			})
		}
	}
}

func TestTransportDoesNotRetryTwice(t *testing.T) {
	e := newTransportEnv(t)
	e.wechat.alwaysNo = true
	first, _ := e.c.TokenSource(appA).Token(context.Background())
	resp, err := e.http.Post(e.url+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if !strings.HasPrefix(body, `{"errcode":40001,`) {
		t.Errorf("answer %s, want WeChat's rejection as it was", body)
	}
	calls := e.wechat.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d WeChat calls, want 2 (one retry)", len(calls))
	}
	if calls[0].token != first.Value || calls[1].token == first.Value {
		t.Errorf("tokens sent: %s then %s; want the renewed one on the retry", calls[0].token, calls[1].token)
	}
	if n := e.api.invalidateRequests.Load(); n != 1 {
		t.Errorf("%d invalidate requests, want 1", n)
	}
}

func TestTransportPassesOtherAnswersThrough(t *testing.T) {
	cases := []struct {
		name        string
		path        string
		rejectCode  int
		stale       bool
		body        func() io.Reader
		wantCalls   int
		wantInvalid int64
		check       func(t *testing.T, answer string, calls []wechatCall)
	}{
		{name: "other errcode", path: "/cgi-bin/message/custom/send", rejectCode: 45009, stale: true, wantCalls: 1,
			check: func(t *testing.T, answer string, _ []wechatCall) {
				if !strings.HasPrefix(answer, `{"errcode":45009,`) {
					t.Errorf("answer %s", answer)
				}
			}},
		{name: "long JSON answer", path: "/cgi-bin/user/get", wantCalls: 1,
			check: func(t *testing.T, answer string, _ []wechatCall) {
				if len(answer) < 6000 || !strings.HasSuffix(answer, `"next_openid":""}`) {
					t.Errorf("answer of %d bytes was not passed through whole", len(answer))
				}
			}},
		{name: "binary answer", path: "/cgi-bin/material/get_material", wantCalls: 1,
			check: func(t *testing.T, answer string, _ []wechatCall) {
				if answer != string(jpegLike) {
					t.Errorf("answer %q", answer)
				}
			}},
		{name: "large body without GetBody", path: "/cgi-bin/media/upload", stale: true,
			body: func() io.Reader {
				return io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20+10)))
			},
			wantCalls: 1,
			check: func(t *testing.T, answer string, calls []wechatCall) {
				if !strings.HasPrefix(answer, `{"errcode":40001,`) || len(calls[0].body) != 1<<20+10 {
					t.Errorf("answer %s after sending %d bytes; want the rejection and the whole body sent", answer, len(calls[0].body))
				}
			}},
		{name: "large body with GetBody", path: "/cgi-bin/media/upload", stale: true,
			body:      func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte("y"), 2<<20)) },
			wantCalls: 2, wantInvalid: 1,
			check: func(t *testing.T, answer string, calls []wechatCall) {
				if answer != `{"errcode":0,"errmsg":"ok"}` || len(calls[1].body) != 2<<20 {
					t.Errorf("answer %s, retry sent %d bytes", answer, len(calls[1].body))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTransportEnv(t)
			e.wechat.rejectCode = tc.rejectCode
			if tc.stale {
				e.staleCache(t)
			}
			var rd io.Reader
			method := http.MethodGet
			if tc.body != nil {
				method, rd = http.MethodPost, tc.body()
			}
			req, _ := http.NewRequest(method, e.url+tc.path, rd)
			resp, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer := readAll(t, resp)
			calls := e.wechat.recorded()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d WeChat calls, want %d", len(calls), tc.wantCalls)
			}
			if n := e.api.invalidateRequests.Load(); n != tc.wantInvalid {
				t.Errorf("%d invalidate requests, want %d", n, tc.wantInvalid)
			}
			tc.check(t, answer, calls)
		})
	}
}

func TestTransportWithoutToken(t *testing.T) {
	e := newTransportEnv(t)
	e.api.setFailure(appA, fakeFailure{http.StatusGone, "revoked", "the authorization was revoked", 0})
	closed := false
	body := &closeRecorder{Reader: strings.NewReader("{}"), closed: &closed}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/cgi-bin/message/custom/send", body)
	_, err := e.http.Do(req)
	if !errors.Is(err, &wxtoken.Error{Code: wxtoken.ERevoked}) {
		t.Fatalf("err = %v, want the token source's revoked error", err)
	}
	if n := len(e.wechat.recorded()); n != 0 {
		t.Errorf("%d WeChat calls without a token", n)
	}
	if !closed {
		t.Error("the request body was not closed")
	}
}

type closeRecorder struct {
	io.Reader
	closed *bool
}

func (c *closeRecorder) Close() error { *c.closed = true; return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportErrorsHideTheToken(t *testing.T) {
	c, _, _ := newTestClient(t, appA)
	tok, err := c.TokenSource(appA).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	failing := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("proxyconnect %s: %w", r.URL, context.DeadlineExceeded)
	})
	hc := &http.Client{Transport: c.Transport(appA, failing)}
	_, err = hc.Get("https://api.weixin.qq.com/cgi-bin/user/get")
	if err == nil || strings.Contains(err.Error(), tok.Value) {
		t.Fatalf("err = %v; want an error without the token", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want it to stay a deadline error", err)
	}
}
