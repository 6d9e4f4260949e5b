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
	"strings"

	"github.com/wxtoken/wxtoken"
)

// WeChat errcodes that mean "this access token is not (or no longer) good":
// invalid credential or not the latest token, expired token, invalid token.
const (
	errcodeInvalidCredential = 40001
	errcodeExpiredToken      = 42001
	errcodeInvalidToken      = 40014
)

func rejectsToken(errcode int) bool {
	switch errcode {
	case errcodeInvalidCredential, errcodeExpiredToken, errcodeInvalidToken:
		return true
	}
	return false
}

// maxReplayBody caps a request body without GetBody that is buffered so that
// the request can be sent again; a larger body is streamed and not retried.
const maxReplayBody = 1 << 20

// maxErrorAnswer caps how much of an answer is read to look for an errcode.
// WeChat's error answers are a few dozen bytes; anything longer is a real
// answer and is passed through without being buffered.
const maxErrorAnswer = 4 << 10

// Transport returns an http.RoundTripper for calls to WeChat's APIs on behalf
// of the authorizer appID. It sets access_token in the query of every request
// (replacing one already there) from the client's token source of appID. When
// WeChat answers errcode 40001, 42001 or 40014 it reports the token as
// rejected, and sends the request once more with the replacement; a second
// rejection is returned to the caller as it is. A request whose body cannot be
// sent again (no GetBody and over 1 MiB) is not retried.
//
// base is the transport that sends the requests; nil means
// http.DefaultTransport.
func (c *Client) Transport(appID string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{src: c.source(appID), base: base}
}

type transport struct {
	src  *tokenSource
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, err := t.src.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("wxtoken client: access token of %s: %w", t.src.appID, err)
	}
	body, replay, err := replayableBody(req)
	if err != nil {
		return nil, fmt.Errorf("wxtoken client: reading the request body: %w", err)
	}
	resp, err := t.send(req, tok.Value, body, replay)
	if err != nil {
		return nil, err
	}
	if replay == nil || !rejectsToken(peekErrcode(resp)) {
		return resp, nil
	}
	next, err := t.src.invalidate(ctx, tok.Value)
	if err != nil || next.Value == tok.Value {
		// Nothing better to send: WeChat's own answer tells the caller most.
		return resp, nil
	}
	retryBody, err := replay()
	if err != nil {
		return resp, nil
	}
	discard(resp)
	return t.send(req, next.Value, retryBody, replay)
}

// send sends a copy of req with token in the query; req itself is left as
// the caller made it, as RoundTripper's contract asks.
func (t *transport) send(req *http.Request, token string, body io.ReadCloser, replay func() (io.ReadCloser, error)) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.RawQuery = withAccessToken(out.URL.RawQuery, token)
	out.Body = body
	if replay != nil {
		out.GetBody = replay
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return nil, scrub(err, token)
	}
	return resp, nil
}

// withAccessToken sets access_token in a raw query, keeping the other
// parameters exactly as the caller encoded them.
func withAccessToken(rawQuery, token string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == "access_token" {
			continue
		}
		b.WriteString(part)
		b.WriteByte('&')
	}
	b.WriteString("access_token=")
	b.WriteString(url.QueryEscape(token))
	return b.String()
}

// replayableBody returns the body to send first and a function that gives a
// fresh copy of it for a retry, or a nil function when the body cannot be
// sent twice.
func replayableBody(req *http.Request) (io.ReadCloser, func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, func() (io.ReadCloser, error) { return http.NoBody, nil }, nil
	}
	if req.GetBody != nil {
		return req.Body, req.GetBody, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
	if err != nil {
		req.Body.Close()
		return nil, nil, err
	}
	if len(buf) > maxReplayBody {
		return readCloser{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}, nil, nil
	}
	req.Body.Close()
	replay := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	body, _ := replay()
	return body, replay, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// peekErrcode returns WeChat's errcode if resp is a short JSON answer, and 0
// otherwise. It leaves resp's body readable from the start.
func peekErrcode(resp *http.Response) int {
	if resp.Body == nil || resp.Body == http.NoBody || resp.ContentLength > maxErrorAnswer {
		return 0
	}
	ct := resp.Header.Get("Content-Type")
	for _, binary := range []string{"image/", "audio/", "video/", "application/octet-stream"} {
		if strings.HasPrefix(ct, binary) {
			return 0
		}
	}
	buf := make([]byte, maxErrorAnswer+1)
	n, err := io.ReadFull(resp.Body, buf)
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		// Longer than an error answer, or broken: hand it over as it is.
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf[:n]), resp.Body), resp.Body}
		return 0
	}
	resp.Body.Close()
	data := buf[:n]
	resp.Body = io.NopCloser(bytes.NewReader(data))
	var answer struct {
		ErrCode int `json:"errcode"`
	}
	if json.Unmarshal(data, &answer) != nil {
		return 0
	}
	return answer.ErrCode
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorAnswer))
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// scrub keeps the token out of an error of the base transport: some name the
// URL, which carries the token in its query.
func scrub(err error, token string) error {
	if token == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, token) && !strings.Contains(msg, url.QueryEscape(token)) {
		return err
	}
	return &scrubbedError{err: err, token: token}
}

// scrubbedError hides the token from its text and from errors.As: only the
// context's errors and a timeout are passed on, since any other error in the
// chain would print the token again.
type scrubbedError struct {
	err   error
	token string
}

func (e *scrubbedError) Error() string {
	msg := e.err.Error()
	msg = strings.ReplaceAll(msg, e.token, wxtoken.Redact(e.token))
	return strings.ReplaceAll(msg, url.QueryEscape(e.token), wxtoken.Redact(e.token))
}

func (e *scrubbedError) Unwrap() error {
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(e.err, ctxErr) {
			return ctxErr
		}
	}
	return nil
}

// Timeout keeps net.Error's answer for callers that retry timeouts.
func (e *scrubbedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}
