package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// componentAPIPrefix is never proxied, whatever the configured prefixes:
// those endpoints run the lifecycle (an api_query_auth or
// api_authorizer_token called past the engine would rotate a refresh token
// the store never sees), and they take the component token, which the proxy
// does not hold out.
const componentAPIPrefix = "cgi-bin/component/"

// maxInspectedAnswer: answers up to this size are read whole before they are
// forwarded, to notice a rejected token. WeChat's errcode answers are tens of
// bytes; anything bigger is payload and streams straight through.
const maxInspectedAnswer = 64 << 10

// hopHeaders are connection-level headers that a proxy must not forward
// (RFC 9110 7.6.1), plus the ones that belong to this hop's caller:
// Authorization carries the API key, Cookie the caller's session here.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var proxyMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true,
	http.MethodPut: true, http.MethodPatch: true, http.MethodDelete: true,
}

func defaultProxyClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// WeChat's API does not redirect; following one would carry the
		// token in the query somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// proxyPath checks the {path...} of a proxy request and returns it as
// received (still escaped, so that WeChat sees what the caller sent). It
// refuses anything that could leave the configured API families: dot
// segments, empty segments, encoded slashes, backslashes or dots, control
// characters, and a path outside the prefixes.
func (s *Server) proxyPath(r *http.Request, appID string) (string, error) {
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/v1/proxy/"+appID+"/")
	if raw == r.URL.EscapedPath() {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the path must be /v1/proxy/{appid}/{WeChat API path}")
	}
	return checkProxyPath(raw, s.proxyPrefixes)
}

func checkProxyPath(raw string, prefixes []string) (string, error) {
	lower := strings.ToLower(raw)
	for _, bad := range []string{"%2f", "%5c", "%2e", "%00"} {
		if strings.Contains(lower, bad) {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "the API path may not contain encoded slashes, backslashes or dots")
		}
	}
	p, err := url.PathUnescape(raw)
	if err != nil {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the API path is not properly escaped")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '?' || p[i] == '#' {
			return "", wxtoken.Errorf(wxtoken.EInvalid, "the API path contains a control character")
		}
	}
	if !cleanRelativePath(p) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the API path has empty, '.' or '..' segments")
	}
	if strings.HasPrefix(p, componentAPIPrefix) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "component endpoints (cgi-bin/component/) are not proxied")
	}
	for _, prefix := range prefixes {
		if strings.HasPrefix(p, prefix) {
			return raw, nil
		}
	}
	return "", wxtoken.Errorf(wxtoken.EInvalid, "the API path is outside the proxied prefixes (%s)", strings.Join(prefixes, ", "))
}

// proxyBody is a request body on its way upstream: replay holds the whole
// body when it was small enough to keep for a retry.
type proxyBody struct {
	stream io.Reader // nil: no body
	length int64     // -1: unknown
	replay []byte
	// canReplay is true when the body is held whole (or there is none).
	canReplay bool
	capped    *cappedReader
}

// cappedReader fails once more than limit bytes were read, and remembers
// that it did, so that the proxy can answer 413 rather than 502.
type cappedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

var errBodyTooLarge = errors.New("request body too large")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		// One byte more than allowed: hand on only what fits, then fail.
		n = int(c.left)
		c.left = 0
		c.exceeded = true
		return n, errBodyTooLarge
	}
	c.left -= int64(n)
	return n, err
}

// prepareBody keeps a body of up to ProxyRetryBodyCap in memory and streams
// anything larger, never holding more than the cap.
func (s *Server) prepareBody(r *http.Request) (*proxyBody, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &proxyBody{canReplay: true}, nil
	}
	capped := &cappedReader{r: r.Body, left: s.proxyMaxBody}
	if r.ContentLength > s.proxyRetryBodyCap {
		return &proxyBody{stream: capped, length: r.ContentLength, capped: capped}, nil
	}
	head, err := io.ReadAll(io.LimitReader(capped, s.proxyRetryBodyCap+1))
	if err != nil {
		if capped.exceeded {
			return nil, tooLargeBody(s.proxyMaxBody)
		}
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "the request body could not be read")
	}
	if int64(len(head)) <= s.proxyRetryBodyCap {
		if r.ContentLength >= 0 && int64(len(head)) != r.ContentLength {
			return nil, wxtoken.Errorf(wxtoken.EInvalid, "the request body is shorter than its Content-Length")
		}
		return &proxyBody{stream: bytes.NewReader(head), length: int64(len(head)), replay: head, canReplay: true}, nil
	}
	// Chunked and larger than the cap: what was read goes first, the rest
	// streams behind it.
	return &proxyBody{stream: io.MultiReader(bytes.NewReader(head), capped), length: r.ContentLength, capped: capped}, nil
}

func tooLargeBody(limit int64) error {
	return &wxtoken.Error{Code: wxtoken.ETooLarge, Message: "the request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

// handleProxy forwards a call to WeChat's API with the account's
// access_token. A call WeChat answers with a rejected token
// (40001/42001/40014) invalidates that token and, when the request body was
// kept, is sent once more with the fresh one.
func (s *Server) handleProxy(w http.ResponseWriter, r *http.Request) {
	if !proxyMethods[r.Method] {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE")
		s.fail(w, r, &wxtoken.Error{Code: codeMethodNotAllowed, Message: r.Method + " is not proxied"})
		return
	}
	k, appID, ok := s.authorizerRequest(w, r, (*apiKey).canProxy, "call WeChat for this authorizer")
	if !ok {
		return
	}
	apiPath, err := s.proxyPath(r, appID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, r, wxtoken.Errorf(wxtoken.EInvalid, "malformed query string"))
		return
	}
	if r.ContentLength > s.proxyMaxBody {
		s.fail(w, r, tooLargeBody(s.proxyMaxBody))
		return
	}
	// Revoked and needs-reauthorization accounts fail here, before anything
	// goes upstream.
	tok, err := s.eng.AuthorizerToken(r.Context(), appID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.prepareBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}

	resp, err := s.forward(r, apiPath, query, tok, body, body.stream)
	if err != nil {
		s.failUpstream(w, r, appID, tok, body, err)
		return
	}
	answer, inspected, err := inspectAnswer(resp)
	if err != nil {
		resp.Body.Close()
		s.failUpstream(w, r, appID, tok, body, err)
		return
	}
	if code, ok := rejectedTokenCode(answer, inspected); ok {
		fresh, ierr := s.eng.Invalidate(r.Context(), appID, tok.Value)
		switch {
		case ierr != nil:
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: token rejected and not refreshed", slog.String("authorizer_appid", appID),
				slog.Int("errcode", code), slog.Any("err", ierr))
		case !body.canReplay:
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "proxy: token rejected; body too large to resend, answer passed on",
				slog.String("authorizer_appid", appID), slog.Int("errcode", code))
		case fresh.Value != tok.Value:
			resp.Body.Close()
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "proxy: token rejected; resending with a fresh one",
				slog.String("authorizer_appid", appID), slog.Int("errcode", code))
			tok = fresh
			var replay io.Reader
			if body.stream != nil {
				replay = bytes.NewReader(body.replay)
			}
			if resp, err = s.forward(r, apiPath, query, tok, body, replay); err != nil {
				s.failUpstream(w, r, appID, tok, body, err)
				return
			}
			if answer, _, err = inspectAnswer(resp); err != nil {
				resp.Body.Close()
				s.failUpstream(w, r, appID, tok, body, err)
				return
			}
		}
	}
	defer resp.Body.Close()

	s.log.LogAttrs(r.Context(), slog.LevelInfo, "proxied", slog.String("api_key", k.name),
		slog.String("authorizer_appid", appID), slog.String("method", r.Method), slog.String("path", apiPath),
		slog.Int("status", resp.StatusCode))
	h := w.Header()
	copyHeaders(h, resp.Header)
	if resp.ContentLength >= 0 && r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	if answer != nil {
		_, _ = w.Write(answer)
	}
	if _, err := io.Copy(w, resp.Body); err != nil && r.Context().Err() == nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: answer cut short", slog.String("authorizer_appid", appID),
			slog.String("path", apiPath), slog.String("err", scrubToken(err.Error(), tok.Value)))
	}
}

// forward sends one call upstream. body describes the request body; stream
// is what to send this time (the original stream, or the kept copy).
func (s *Server) forward(r *http.Request, apiPath string, query url.Values, tok wxtoken.Token, body *proxyBody, stream io.Reader) (*http.Response, error) {
	q := make(url.Values, len(query)+1)
	for k, v := range query {
		if k == "access_token" || k == "component_access_token" {
			continue
		}
		q[k] = v
	}
	q.Set("access_token", tok.Value)
	target := s.upstream.String() + "/" + apiPath + "?" + q.Encode()

	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, stream)
	if err != nil {
		return nil, err
	}
	if stream != nil {
		req.ContentLength = body.length
		if body.canReplay {
			req.ContentLength = int64(len(body.replay))
		}
	}
	copyHeaders(req.Header, r.Header)
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	// Let the transport negotiate compression and undo it, so the answer
	// can be inspected for an errcode.
	req.Header.Del("Accept-Encoding")

	start := time.Now()
	resp, err := s.httpClient.Do(req)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.metrics.proxyUpstream.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return resp, err
}

// inspectAnswer reads an answer of up to maxInspectedAnswer bytes whole, so
// its errcode can be looked at; a larger one is returned with its first
// bytes in head and the rest still in resp.Body. inspected says the head is
// the whole answer.
func inspectAnswer(resp *http.Response) (head []byte, inspected bool, err error) {
	if resp.ContentLength > maxInspectedAnswer || resp.ContentLength == 0 {
		return nil, false, nil
	}
	head, err = io.ReadAll(io.LimitReader(resp.Body, maxInspectedAnswer+1))
	if err != nil {
		return nil, false, err
	}
	return head, len(head) <= maxInspectedAnswer, nil
}

// rejectedTokenCode reports an answer that says the access token was
// refused. Only a whole, small JSON object counts: media and other payloads
// are never parsed.
func rejectedTokenCode(answer []byte, inspected bool) (int, bool) {
	if !inspected {
		return 0, false
	}
	trimmed := bytes.TrimLeft(answer, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return 0, false
	}
	code, ok := wechat.ErrCodeOf(answer)
	if !ok {
		return 0, false
	}
	switch code {
	case wechat.ErrCodeInvalidCredential, wechat.ErrCodeAccessTokenExpired, wechat.ErrCodeInvalidAccessToken:
		return code, true
	}
	return 0, false
}

func (s *Server) failUpstream(w http.ResponseWriter, r *http.Request, appID string, tok wxtoken.Token, body *proxyBody, err error) {
	if body.capped != nil && body.capped.exceeded {
		s.fail(w, r, tooLargeBody(s.proxyMaxBody))
		return
	}
	if r.Context().Err() != nil {
		return // the caller went away; nobody to answer
	}
	msg := err.Error()
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		msg = ue.Err.Error() // without the URL, which holds the token
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "proxy: WeChat not reached", slog.String("authorizer_appid", appID),
		slog.Bool("timeout", errors.Is(err, context.DeadlineExceeded)), slog.String("err", scrubToken(msg, tok.Value)))
	s.fail(w, r, wxtoken.Errorf(wxtoken.EUnavailable, "WeChat could not be reached"))
}

// scrubToken removes the token, in the encodings it travelled in, from text
// about to be logged.
func scrubToken(text, token string) string {
	if token == "" {
		return text
	}
	text = strings.ReplaceAll(text, token, "[REDACTED]")
	return strings.ReplaceAll(text, url.QueryEscape(token), "[REDACTED]")
}

// copyHeaders copies src into dst, without hop-by-hop headers or those the
// Connection header names.
func copyHeaders(dst, src http.Header) {
	skip := map[string]bool{}
	for _, h := range hopHeaders {
		skip[h] = true
	}
	for _, v := range src.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				skip[http.CanonicalHeaderKey(f)] = true
			}
		}
	}
	for k, vs := range src {
		if skip[k] {
			continue
		}
		dst[k] = append(dst[k][:0:0], vs...)
	}
}
