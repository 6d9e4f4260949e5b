package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/wechat"
)

var epoch = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// API keys of the harness, by role.
const (
	keyAdmin     = "admin-key-0123456789abcdef"
	keyComponent = "component-key-0123456789abcd"
	keyReader    = "reader-key-0123456789abcdef" // read:authorizer of one account
	keyInvalid   = "invalidate-key-0123456789abcd"
	keyProxy     = "proxy-key-0123456789abcdefgh"
	keyNothing   = "proxy-other-0123456789abcdef" // proxy: for an appid glob that matches none of the accounts
)

// harness is one platform on a virtual clock: the emulator as WeChat, an
// engine over a SQLite file, and the server under test in front of it, on
// real loopback HTTP so that the emulator's pushes go through the handler.
type harness struct {
	t       testing.TB
	ctx     context.Context
	clock   *wxtoken.ManualClock
	emu     *emulator.Emulator
	emuURL  string
	store   *countingStore
	eng     *engine.Engine
	srv     *server.Server
	url     string // the server's base URL
	logs    *syncbuf.Buffer
	crypter *msgcrypt.Crypter
	appID   string // the component appid
	reg     *prometheus.Registry
	// blockPushes makes the event URL unreachable for the emulator, as if
	// WeChat's push were lost.
	blockPushes atomic.Bool
}

type harnessOptions struct {
	authorizers int
	// upstream replaces the emulator as the proxy's WeChat.
	upstream string
	// configure adjusts the server's Config.
	configure func(*server.Config)
	// previousKey is an EncodingAESKey the server also accepts.
	previousKey string
	// noEngineRun leaves the engine's loops stopped.
	noEngineRun bool
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock := wxtoken.NewManualClock(epoch)
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := &harness{t: t, ctx: ctx, clock: clock, logs: logs}

	// The server is listening before it exists, so the emulator can be told
	// its push URL.
	var handler atomic.Pointer[http.Handler]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wechat/component/events" && h.blockPushes.Load() {
			http.Error(w, "lost", http.StatusBadGateway)
			return
		}
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	h.url = front.URL

	emu, err := emulator.New(emulator.Config{
		PushURL:     front.URL + "/wechat/component/events",
		Authorizers: max(o.authorizers, 1),
		Seed:        7,
		Salt:        11,
		Clock:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.emu = emu
	ecfg := emu.Config()
	h.appID = ecfg.ComponentAppID
	wx := httptest.NewServer(emu)
	t.Cleanup(wx.Close)
	h.emuURL = wx.URL

	inner, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wxtoken.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	h.store = &countingStore{Store: inner}

	client, err := wechat.New(wechat.Config{BaseURL: wx.URL, ComponentAppID: ecfg.ComponentAppID, ComponentSecret: ecfg.ComponentSecret})
	if err != nil {
		t.Fatal(err)
	}
	h.eng, err = engine.New(engine.Config{
		ComponentAppID: ecfg.ComponentAppID,
		Store:          h.store,
		WeChat:         client,
		Clock:          clock,
		Logger:         logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	var opts []msgcrypt.Option
	if o.previousKey != "" {
		opts = append(opts, msgcrypt.WithPreviousKey(o.previousKey))
	}
	h.crypter, err = msgcrypt.NewCrypter(ecfg.Token, ecfg.ComponentAppID, ecfg.EncodingAESKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	upstream := wx.URL
	if o.upstream != "" {
		upstream = o.upstream
	}
	h.reg = prometheus.NewRegistry()
	cfg := server.Config{
		Engine:         h.eng,
		Crypter:        h.crypter,
		ComponentAppID: ecfg.ComponentAppID,
		Clock:          clock,
		Logger:         logger,
		EventMaxAge:    10 * time.Minute,
		APIKeys: []server.APIKey{
			{Name: "admin", Key: keyAdmin, Scopes: []string{"admin"}},
			{Name: "component", Key: keyComponent, Scopes: []string{"read:component"}},
			{Name: "reader", Key: keyReader, Scopes: []string{"read:authorizer:" + emu.AppID(0)}},
			{Name: "invalidator", Key: keyInvalid, Scopes: []string{"invalidate", "read:authorizer:wx*"}},
			{Name: "proxy", Key: keyProxy, Scopes: []string{"proxy"}},
			{Name: "nothing", Key: keyNothing, Scopes: []string{"proxy:wxnomatch*"}},
		},
		WeChatBaseURL:  upstream,
		AuthPCBase:     wx.URL,
		AuthMobileBase: wx.URL,
		PublicURL:      front.URL,
		Registry:       h.reg,
	}
	if o.configure != nil {
		o.configure(&cfg)
	}
	h.srv, err = server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.eng.SetObserver(h.srv.Observer())
	hd := h.srv.Handler()
	handler.Store(&hd)

	if !o.noEngineRun {
		done := make(chan struct{})
		go func() { defer close(done); _ = h.eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	} else {
		t.Cleanup(cancel)
	}
	return h
}

// ready pushes a ticket and waits until the engine holds a component token.
func (h *harness) ready() {
	h.t.Helper()
	if err := h.emu.PushTicket(h.ctx); err != nil {
		h.t.Fatalf("push ticket: %v", err)
	}
	h.eventually("a component token", func() bool {
		_, ok := h.eng.CachedComponentToken()
		return ok
	})
}

// authorize runs the merchant's side for the seeded account i through the
// emulator's page, which pushes "authorized" to the server, and waits until
// the engine serves its token.
func (h *harness) authorize(i int) string {
	h.t.Helper()
	appID := h.emu.AppID(i)
	pre, err := h.eng.PreAuthCode(h.ctx)
	if err != nil {
		h.t.Fatalf("pre-auth code: %v", err)
	}
	if _, err := h.emu.Authorize(h.ctx, pre.Value, appID, h.url+"/authorize/callback", nil); err != nil {
		h.t.Fatalf("authorize %s: %v", appID, err)
	}
	h.eventually("the token of "+appID, func() bool {
		_, ok := h.eng.CachedAuthorizerToken(appID)
		return ok
	})
	return appID
}

// eventually polls cond while goroutines catch up; it never waits for
// virtual time.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// do sends a request through the full handler, in process.
func (h *harness) do(method, target, key string, body io.Reader) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, target, body)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// apiError decodes the error body of the API.
func apiError(t *testing.T, rec *httptest.ResponseRecorder) (code string, errcode int) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			ErrCode int    `json:"errcode"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body is not JSON: %q", rec.Body.String())
	}
	if body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("error body without code or message: %q", rec.Body.String())
	}
	return body.Error.Code, body.Error.ErrCode
}

// sealPush builds a push the way WeChat does: query string and body.
func sealPush(t testing.TB, c *msgcrypt.Crypter, payload string, ts time.Time, nonce string) (string, []byte) {
	t.Helper()
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	body, sig, err := c.SealPush([]byte(payload), timestamp, nonce)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"signature": {"ignored"}, "timestamp": {timestamp}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {sig}}
	return q.Encode(), body
}

func ticketPayload(appID, ticket string, created time.Time) string {
	return "<xml><AppId><![CDATA[" + appID + "]]></AppId><CreateTime>" + strconv.FormatInt(created.Unix(), 10) +
		"</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[" +
		ticket + "]]></ComponentVerifyTicket></xml>"
}

// countingStore counts the reads and lease operations that the hot path
// must not make.
type countingStore struct {
	wxtoken.Store
	calls atomic.Int64
}

func (s *countingStore) GetAuthorizer(ctx context.Context, componentAppID, appID string) (*wxtoken.Authorizer, error) {
	s.calls.Add(1)
	return s.Store.GetAuthorizer(ctx, componentAppID, appID)
}

func (s *countingStore) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (wxtoken.Lease, error) {
	s.calls.Add(1)
	return s.Store.AcquireLease(ctx, name, owner, now, ttl)
}

func (s *countingStore) GetComponentToken(ctx context.Context, componentAppID string) (wxtoken.ComponentToken, error) {
	s.calls.Add(1)
	return s.Store.GetComponentToken(ctx, componentAppID)
}

func (s *countingStore) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	s.calls.Add(1)
	return s.Store.ListAuthorizers(ctx, f)
}
