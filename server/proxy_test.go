package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/server"
)

// fakeWeChat is an upstream that records what reached it, answers 40001 to
// the tokens it is told to reject, and serves and swallows large bodies
// without holding them.
type fakeWeChat struct {
	mu       sync.Mutex
	seen     []seenCall
	rejected map[string]bool
}

type seenCall struct {
	method, path string
	token        string
	query        string
	header       http.Header
	bodySHA      string
	bodyLen      int64
}

func newFakeWeChat(t *testing.T) (*fakeWeChat, string) {
	f := &fakeWeChat{rejected: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeWeChat) reject(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rejected[token] = true
}

func (f *fakeWeChat) calls() []seenCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenCall(nil), f.seen...)
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	call := seenCall{method: r.Method, path: r.URL.EscapedPath(), token: r.URL.Query().Get("access_token"),
		query: r.URL.RawQuery, header: r.Header.Clone(), bodySHA: hex.EncodeToString(h.Sum(nil)), bodyLen: n}
	f.mu.Lock()
	f.seen = append(f.seen, call)
	rejected := f.rejected[call.token]
	f.mu.Unlock()

	w.Header().Set("X-Upstream", "fake")
	w.Header().Set("Connection", "X-Secret-Hop")
	w.Header().Set("X-Secret-Hop", "must not be forwarded")
	if rejected {
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 1"}`)
		return
	}
	if r.URL.Path == "/cgi-bin/media/get" {
		size, _ := strconv.ParseInt(r.URL.Query().Get("size"), 10, 64)
		w.Header().Set("Content-Type", "video/mp4")
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		io.Copy(w, newGenReader(size))
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok", "sha256": call.bodySHA, "size": n})
}

// genReader produces n deterministic bytes without holding them: a fixed
// pseudo-random block, stamped with its position every 64 KiB so that lost,
// repeated or reordered chunks change the hash. It is cheap, which matters
// under the race detector.
type genReader struct {
	left, pos int64
}

const genBlock = 64 << 10

var genPattern = func() []byte {
	b := make([]byte, genBlock)
	state := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		b[i] = byte(state)
	}
	return b
}()

func newGenReader(n int64) *genReader { return &genReader{left: n} }

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	off := g.pos % genBlock
	n := copy(p, genPattern[off:])
	if int64(n) > g.left {
		n = int(g.left)
	}
	// Stamp the block number over the first 8 bytes of each block.
	var stamp [8]byte
	binary.LittleEndian.PutUint64(stamp[:], uint64(g.pos/genBlock))
	if off < 8 {
		copy(p[:n], stamp[off:])
	}
	g.pos += int64(n)
	g.left -= int64(n)
	return n, nil
}

func genSHA(n int64) string {
	h := sha256.New()
	io.Copy(h, newGenReader(n))
	return hex.EncodeToString(h.Sum(nil))
}

// hideLength makes a body of unknown length, so the client sends it chunked.
type hideLength struct{ io.Reader }

func proxyRequest(t *testing.T, method, url string, body io.Reader, length int64) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("Authorization", "Bearer "+keyProxy)
	return req
}

func TestProxyStreamsLargeBodies(t *testing.T) {
	fake, upstream := newFakeWeChat(t)
	h := newHarness(t, harnessOptions{authorizers: 1, upstream: upstream})
	h.ready()
	a0 := h.authorize(0)
	const size = 20 << 20
	want := genSHA(size)

	measure := func(name string, run func()) {
		t.Helper()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		run()
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s of %d MiB: %.2f MiB allocated in the whole process (client, proxy, upstream)", name, size>>20, float64(allocated)/(1<<20))
		if allocated > 8<<20 {
			t.Errorf("%s allocated %d bytes for a %d-byte body: it is buffered, not streamed", name, allocated, size)
		}
	}

	for _, chunked := range []bool{false, true} {
		name := "upload"
		var body io.Reader = newGenReader(size)
		length := int64(size)
		if chunked {
			name, body, length = "chunked upload", hideLength{body}, -1
		}
		measure(name, func() {
			req := proxyRequest(t, "POST", h.url+"/v1/proxy/"+a0+"/cgi-bin/media/upload?type=video", body, length)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ans struct {
				SHA  string `json:"sha256"`
				Size int64  `json:"size"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: status %d, %v", name, resp.StatusCode, err)
			}
			if ans.SHA != want || ans.Size != size {
				t.Errorf("%s: WeChat received %d bytes with another hash", name, ans.Size)
			}
		})
	}
	for _, chunked := range []bool{false, true} {
		name, extra := "download", ""
		if chunked {
			name, extra = "chunked download", "&chunked=1"
		}
		measure(name, func() {
			req := proxyRequest(t, "GET", h.url+"/v1/proxy/"+a0+"/cgi-bin/media/get?size="+strconv.Itoa(size)+extra, nil, 0)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			hs := sha256.New()
			n, err := io.Copy(hs, resp.Body)
			if err != nil || resp.StatusCode != 200 || n != size || hex.EncodeToString(hs.Sum(nil)) != want {
				t.Fatalf("%s: status %d, %d bytes, %v", name, resp.StatusCode, n, err)
			}
			if resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("X-Upstream") != "fake" {
				t.Errorf("%s: headers not passed on: %v", name, resp.Header)
			}
		})
	}
	if n := len(fake.calls()); n != 4 {
		t.Errorf("upstream saw %d calls, want 4", n)
	}
}

func TestProxyRetriesOnRejectedToken(t *testing.T) {
	fake, upstream := newFakeWeChat(t)
	h := newHarness(t, harnessOptions{authorizers: 1, upstream: upstream, configure: func(c *server.Config) {
		c.ProxyRetryBodyCap = 1024
	}})
	h.ready()
	a0 := h.authorize(0)

	send := func(body string, chunked bool) (*http.Response, []byte) {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		length := int64(len(body))
		if chunked {
			r, length = hideLength{r}, -1
		}
		req := proxyRequest(t, "POST", h.url+"/v1/proxy/"+a0+"/cgi-bin/message/custom/send?access_token=caller-supplied&x=1", r, length)
		req.Header.Set("X-Custom", "kept")
		req.Header.Set("Cookie", "session=of-the-caller")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("small body, chunked=%v", chunked), func(t *testing.T) {
			old, _ := h.eng.CachedAuthorizerToken(a0)
			fake.reject(old.Value)
			start := len(fake.calls())
			body := `{"touser":"oABCDEFGHIJKLMNOPQRSTUVWXYZa","msgtype":"text","text":{"content":"hi"}}`
			resp, b := send(body, chunked)
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"errcode":0`) {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			calls := fake.calls()[start:]
			if len(calls) != 2 {
				t.Fatalf("upstream saw %d calls, want the call and one retry", len(calls))
			}
			fresh, _ := h.eng.CachedAuthorizerToken(a0)
			if calls[0].token != old.Value || calls[1].token != fresh.Value || fresh.Value == old.Value {
				t.Errorf("the retry did not use the refreshed token")
				t.Log(h.logs.String())
			}
			sum := sha256.Sum256([]byte(body))
			for i, c := range calls {
				if c.bodySHA != hex.EncodeToString(sum[:]) {
					t.Errorf("call %d: body differs from what was sent", i)
				}
				if c.header.Get("Authorization") != "" || c.header.Get("Cookie") != "" {
					t.Errorf("call %d: the caller's credentials were forwarded", i)
				}
				if c.header.Get("X-Custom") != "kept" {
					t.Errorf("call %d: headers not forwarded", i)
				}
				if strings.Contains(c.query, "caller-supplied") || !strings.Contains(c.query, "x=1") {
					t.Errorf("call %d: query %q", i, c.query)
				}
			}
			if resp.Header.Get("X-Secret-Hop") != "" {
				t.Errorf("a header named in Connection was forwarded")
			}
		})
	}

	t.Run("large body is not retried", func(t *testing.T) {
		old, _ := h.eng.CachedAuthorizerToken(a0)
		fake.reject(old.Value)
		start := len(fake.calls())
		resp, b := send(strings.Repeat("x", 4096), false)
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"errcode":40001`) {
			t.Fatalf("WeChat's answer must be passed on as it is: %d %s", resp.StatusCode, b)
		}
		if n := len(fake.calls()) - start; n != 1 {
			t.Errorf("upstream saw %d calls, want 1", n)
		}
		if fresh, _ := h.eng.CachedAuthorizerToken(a0); fresh.Value == old.Value {
			t.Errorf("the rejected token was not invalidated")
		}
	})
}

func TestProxyRefusals(t *testing.T) {
	fake, upstream := newFakeWeChat(t)
	h := newHarness(t, harnessOptions{authorizers: 4, upstream: upstream, configure: func(c *server.Config) {
		c.ProxyMaxBody = 64 << 10
		c.ProxyRetryBodyCap = 16 << 10
	}})
	h.ready()
	a0 := h.authorize(0)
	a1 := h.authorize(1)
	a3 := h.authorize(3)
	rec, err := h.store.Store.GetAuthorizer(h.ctx, h.appID, a3)
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.AccessToken = wxtoken.StateNeedsReauthorization, wxtoken.Token{}
	if err := h.store.Store.PutAuthorizer(h.ctx, rec); err != nil {
		t.Fatal(err)
	}
	h.eventually("the state change", func() bool { _, ok := h.eng.CachedAuthorizerToken(a3); return !ok })
	if err := h.emu.Revoke(h.ctx, a1); err != nil {
		t.Fatal(err)
	}
	h.eventually("the revocation", func() bool { _, ok := h.eng.CachedAuthorizerToken(a1); return !ok })
	never := h.emu.AppID(2)

	cases := []struct {
		name   string
		method string
		path   string // after /v1/proxy/
		key    string
		body   io.Reader
		status int
		code   string
	}{
		{"cgi-bin", "GET", a0 + "/cgi-bin/user/info?openid=o1", keyProxy, nil, 200, ""},
		{"wxa", "POST", a0 + "/wxa/getwxacode", keyProxy, strings.NewReader("{}"), 200, ""},
		{"datacube", "POST", a0 + "/datacube/getweanalysisappiddailysummarytrend", keyProxy, strings.NewReader("{}"), 200, ""},
		{"channels", "POST", a0 + "/channels/ec/basics/info/get", keyProxy, strings.NewReader("{}"), 200, ""},
		{"admin key", "GET", a0 + "/cgi-bin/menu/get", keyAdmin, nil, 200, ""},
		{"no key", "GET", a0 + "/cgi-bin/menu/get", "", nil, 401, "unauthorized"},
		{"reader key", "GET", a0 + "/cgi-bin/menu/get", keyReader, nil, 403, "forbidden"},
		{"proxy key for other appids", "GET", a0 + "/cgi-bin/menu/get", keyNothing, nil, 403, "forbidden"},
		{"malformed appid", "GET", "nope/cgi-bin/menu/get", keyProxy, nil, 400, "invalid"},
		{"unknown appid", "GET", never + "/cgi-bin/menu/get", keyProxy, nil, 404, "not_found"},
		{"revoked", "GET", a1 + "/cgi-bin/menu/get", keyProxy, nil, 410, "revoked"},
		{"needs reauthorization", "POST", a3 + "/cgi-bin/message/custom/send", keyProxy, strings.NewReader("{}"), 409, "needs_reauthorization"},
		{"outside the prefixes", "GET", a0 + "/sns/userinfo", keyProxy, nil, 400, "invalid"},
		{"prefix without its slash", "GET", a0 + "/cgi-bin", keyProxy, nil, 400, "invalid"},
		{"prefix look-alike", "GET", a0 + "/cgi-binx/menu/get", keyProxy, nil, 400, "invalid"},
		{"component endpoints", "POST", a0 + "/cgi-bin/component/api_query_auth", keyProxy, strings.NewReader("{}"), 400, "invalid"},
		{"dot dot", "GET", a0 + "/cgi-bin/../sns/userinfo", keyProxy, nil, 400, "invalid"},
		{"encoded dot dot", "GET", a0 + "/cgi-bin/%2e%2e/sns/userinfo", keyProxy, nil, 400, "invalid"},
		{"encoded slash", "GET", a0 + "/cgi-bin%2F..%2Fsns/userinfo", keyProxy, nil, 400, "invalid"},
		{"encoded backslash", "GET", a0 + "/cgi-bin/%5c..%5csns", keyProxy, nil, 400, "invalid"},
		{"empty segment", "GET", a0 + "/cgi-bin//menu/get", keyProxy, nil, 400, "invalid"},
		{"absolute URL", "GET", a0 + "/http://evil.example/cgi-bin/x", keyProxy, nil, 400, "invalid"},
		{"encoded control character", "GET", a0 + "/cgi-bin/menu%0a/get", keyProxy, nil, 400, "invalid"},
		{"TRACE", "TRACE", a0 + "/cgi-bin/menu/get", keyProxy, nil, 405, "method_not_allowed"},
		{"over the body cap", "POST", a0 + "/cgi-bin/media/upload", keyProxy, bytes.NewReader(make([]byte, 65<<10)), 413, "too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := len(fake.calls())
			rec := h.do(tc.method, "/v1/proxy/"+tc.path, tc.key, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			forwarded := len(fake.calls()) - start
			if tc.code != "" {
				if code, _ := apiError(t, rec); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
				if forwarded != 0 {
					t.Errorf("a refused call reached WeChat")
				}
				return
			}
			if forwarded != 1 {
				t.Fatalf("upstream saw %d calls", forwarded)
			}
			call := fake.calls()[start]
			tok, _ := h.eng.CachedAuthorizerToken(a0)
			wantPath := "/" + strings.SplitN(strings.SplitN(tc.path, "?", 2)[0], "/", 2)[1]
			if call.path != wantPath || call.token != tok.Value || call.method != tc.method {
				t.Errorf("forwarded %s %s with token %v, want %s %s", call.method, call.path, call.token == tok.Value, tc.method, wantPath)
			}
		})
	}

	t.Run("chunked body over the cap", func(t *testing.T) {
		start := len(fake.calls())
		req := proxyRequest(t, "POST", h.url+"/v1/proxy/"+a0+"/cgi-bin/media/upload", hideLength{newGenReader(200 << 10)}, -1)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		for _, c := range fake.calls()[start:] {
			if c.bodyLen > 64<<10 {
				t.Errorf("WeChat received %d bytes, more than the cap", c.bodyLen)
			}
		}
	})
}

func TestProxyUpstreamDown(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 1, upstream: "http://127.0.0.1:1"})
	h.ready()
	a0 := h.authorize(0)
	rec := h.do("GET", "/v1/proxy/"+a0+"/cgi-bin/menu/get", keyProxy, nil)
	if code, _ := apiError(t, rec); rec.Code != 503 || code != "unavailable" {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	tok, _ := h.eng.CachedAuthorizerToken(a0)
	if strings.Contains(rec.Body.String(), tok.Value) || strings.Contains(h.logs.String(), tok.Value) {
		t.Errorf("the token leaked into an error or a log line")
	}
}

// TestProxyThroughEmulator calls an API of the emulator through the proxy:
// the emulator checks the token the proxy put in.
func TestProxyThroughEmulator(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 1})
	h.ready()
	a0 := h.authorize(0)
	rec := h.do("GET", "/v1/proxy/"+a0+"/cgi-bin/menu/get?access_token=forged", keyProxy, nil)
	var ans struct {
		ErrCode int `json:"errcode"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	switch ans.ErrCode {
	case 40001, 40014, 41001, 42001, 61003:
		t.Fatalf("the emulator refused the proxy's token: %s", rec.Body.String())
	}
}
