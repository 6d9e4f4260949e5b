package client_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/wechat"
)

const (
	liveAdminKey  = "live-admin-key-0123456789abcdef"
	liveReaderKey = "live-reader-key-0123456789abcdef"
)

// liveStack is the real thing in process: the emulator as WeChat, an engine
// over a SQLite file, and the server in front of it, on one virtual clock.
type liveStack struct {
	clock  *wxtoken.ManualClock
	emu    *emulator.Emulator
	eng    *engine.Engine
	url    string // wxtoken's API
	wechat string // WeChat's API (the emulator)
}

func newLiveStack(t *testing.T) *liveStack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock := wxtoken.NewManualClock(time.Date(2030, 5, 6, 7, 0, 0, 0, time.UTC))
	logger := slog.New(slog.DiscardHandler)
	st := &liveStack{clock: clock}

	// The server listens before it exists so the emulator knows where to push.
	var handler atomic.Pointer[http.Handler]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	st.url = front.URL

	emu, err := emulator.New(emulator.Config{
		PushURL:     front.URL + "/wechat/component/events",
		Authorizers: 3,
		Seed:        42,
		Salt:        5,
		Clock:       clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	st.emu = emu
	ecfg := emu.Config()
	wx := httptest.NewServer(emu)
	t.Cleanup(wx.Close)
	st.wechat = wx.URL

	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wxtoken.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	wc, err := wechat.New(wechat.Config{BaseURL: wx.URL, ComponentAppID: ecfg.ComponentAppID, ComponentSecret: ecfg.ComponentSecret})
	if err != nil {
		t.Fatal(err)
	}
	st.eng, err = engine.New(engine.Config{ComponentAppID: ecfg.ComponentAppID, Store: store, WeChat: wc, Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	crypter, err := msgcrypt.NewCrypter(ecfg.Token, ecfg.ComponentAppID, ecfg.EncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Engine:         st.eng,
		Crypter:        crypter,
		ComponentAppID: ecfg.ComponentAppID,
		Clock:          clock,
		Logger:         logger,
		EventMaxAge:    10 * time.Minute,
		APIKeys: []server.APIKey{
			{Name: "admin", Key: liveAdminKey, Scopes: []string{"admin"}},
			{Name: "reader", Key: liveReaderKey, Scopes: []string{"read:authorizer:" + emu.AppID(0)}},
		},
		WeChatBaseURL:  wx.URL,
		AuthPCBase:     wx.URL,
		AuthMobileBase: wx.URL,
		PublicURL:      front.URL,
		Registry:       prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	st.eng.SetObserver(srv.Observer())
	h := srv.Handler()
	handler.Store(&h)

	done := make(chan struct{})
	go func() { defer close(done); _ = st.eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if err := emu.PushTicket(ctx); err != nil {
		t.Fatalf("push ticket: %v", err)
	}
	waitFor(t, func() bool { _, ok := st.eng.CachedComponentToken(); return ok })
	return st
}

// authorize runs the merchant's side for seeded account i and waits until the
// engine serves its token.
func (st *liveStack) authorize(t *testing.T, i int) string {
	t.Helper()
	ctx := context.Background()
	appID := st.emu.AppID(i)
	pre, err := st.eng.PreAuthCode(ctx)
	if err != nil {
		t.Fatalf("pre-auth code: %v", err)
	}
	if _, err := st.emu.Authorize(ctx, pre.Value, appID, st.url+"/authorize/callback", nil); err != nil {
		t.Fatalf("authorize %s: %v", appID, err)
	}
	waitFor(t, func() bool { _, ok := st.eng.CachedAuthorizerToken(appID); return ok })
	return appID
}

func TestAgainstRealServer(t *testing.T) {
	st := newLiveStack(t)
	appID := st.authorize(t, 0)
	c := client.New(st.url, liveAdminKey, client.WithClock(st.clock))
	ctx := context.Background()

	tok, err := c.AuthorizerToken(ctx, appID)
	served, _ := st.eng.CachedAuthorizerToken(appID)
	if err != nil || tok != served {
		t.Fatalf("AuthorizerToken = %v until %v, %v; the engine serves %v until %v", tok.Value, tok.ExpiresAt, err, served.Value, served.ExpiresAt)
	}
	comp, err := c.ComponentToken(ctx)
	if cached, _ := st.eng.CachedComponentToken(); err != nil || comp != cached.Token {
		t.Fatalf("ComponentToken: %v", err)
	}
	info, err := c.Authorizer(ctx, appID)
	if err != nil || info.State != wxtoken.StateAuthorized || !info.TokenExpiresAt.Equal(served.ExpiresAt) || len(info.FuncInfo) == 0 || info.AuthorizedAt.IsZero() {
		t.Fatalf("Authorizer = %+v, %v", info, err)
	}
	page, err := c.Authorizers(ctx, "", 10)
	if err != nil || len(page.Authorizers) != 1 || page.Authorizers[0].AppID != appID || page.NextCursor != "" {
		t.Fatalf("Authorizers = %+v, %v", page, err)
	}

	errorCases := []struct {
		name string
		call func() error
		code string
	}{
		{"not authorized", func() error { _, err := c.AuthorizerToken(ctx, st.emu.AppID(1)); return err }, wxtoken.ENotFound},
		{"bad appid", func() error { _, err := c.AuthorizerToken(ctx, "not-an-appid"); return err }, wxtoken.EInvalid},
		{"unknown key", func() error {
			_, err := client.New(st.url, "nobody-key-0123456789abcdef").AuthorizerToken(ctx, appID)
			return err
		}, wxtoken.EUnauthorized},
		{"scope", func() error {
			_, err := client.New(st.url, liveReaderKey).ComponentToken(ctx)
			return err
		}, wxtoken.EForbidden},
		{"invalidate without scope", func() error {
			_, err := client.New(st.url, liveReaderKey).Invalidate(ctx, appID, tok.Value)
			return err
		}, wxtoken.EForbidden},
	}
	for _, tc := range errorCases {
		err := tc.call()
		var e *client.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s: err = %v, want code %s", tc.name, err, tc.code)
		}
		if err != nil && (strings.Contains(err.Error(), tok.Value) || strings.Contains(err.Error(), liveAdminKey)) {
			t.Errorf("%s: error text leaks a secret: %v", tc.name, err)
		}
	}

	// A stale report leaves the token alone; a report of the current token
	// replaces it.
	if got, err := c.Invalidate(ctx, appID, "90_not_a_token_we_ever_had"); err != nil || got != tok {
		t.Fatalf("stale report: %v, %v", got.Value, err)
	}
	next, err := c.Invalidate(ctx, appID, tok.Value)
	if err != nil || next.Value == tok.Value {
		t.Fatalf("report of the current token: %v, %v; want a new token", next.Value, err)
	}
	if served, _ := st.eng.CachedAuthorizerToken(appID); served != next {
		t.Errorf("the engine serves %v, the client was told %v", served.Value, next.Value)
	}
}

func TestTransportAgainstRealServerAndEmulator(t *testing.T) {
	st := newLiveStack(t)
	appID := st.authorize(t, 0)
	c := client.New(st.url, liveAdminKey, client.WithClock(st.clock))
	hc := &http.Client{Transport: c.Transport(appID, nil)}
	ctx := context.Background()

	send := func() string {
		t.Helper()
		msg := `{"touser":"o` + strings.Repeat("A", 27) + `","msgtype":"text","text":{"content":"hello"}}`
		resp, err := hc.Post(st.wechat+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if answer := send(); !strings.Contains(answer, `"errcode":0`) {
		t.Fatalf("first call: %s", answer)
	}
	cached, _ := c.TokenSource(appID).Token(ctx)

	// The service refreshes the token behind the client's back (another
	// replica of the caller reported it, say); once WeChat's 5-minute overlap
	// has passed, the client's cached token is rejected with 40001.
	if _, err := st.eng.Invalidate(ctx, appID, cached.Value); err != nil {
		t.Fatal(err)
	}
	current, _ := st.eng.CachedAuthorizerToken(appID)
	st.clock.Advance(6 * time.Minute)
	if answer := send(); !strings.Contains(answer, `"errcode":0`) {
		t.Fatalf("call with a rejected cached token: %s; want the transport to renew it and retry", answer)
	}
	if now, _ := c.TokenSource(appID).Token(ctx); now != current {
		t.Errorf("the client caches %v, the service serves %v", now.Value, current.Value)
	}
	msgs := st.emu.Messages()
	if len(msgs) != 2 {
		t.Errorf("WeChat delivered %d messages, want 2", len(msgs))
	}
}
