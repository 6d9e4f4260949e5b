package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/wechat"
)

// BenchmarkTokenHandler is GET /v1/authorizers/{appid}/token through the
// full handler (routing, metrics, key check, scope glob, hand-out log line)
// with 10,000 authorizers cached, each iteration asking for another one.
//
//	go test -run '^$' -bench BenchmarkTokenHandler -benchmem ./server/
func BenchmarkTokenHandler(b *testing.B) {
	const accounts = 10000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := wxtoken.NewManualClock(epoch)
	const componentAppID = "wx00000000000000c0"

	store, err := sqlite.Open(ctx, sqlite.MemoryPath)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: componentAppID,
		Token: wxtoken.Token{Value: "component-token-value-0000", ExpiresAt: epoch.Add(2 * time.Hour)}, ObtainedAt: epoch}); err != nil {
		b.Fatal(err)
	}
	appIDs := make([]string, accounts)
	for i := range appIDs {
		appIDs[i] = fmt.Sprintf("wx%016x", 0xa000000000000000+uint64(i))
		a := &wxtoken.Authorizer{ComponentAppID: componentAppID, AppID: appIDs[i], State: wxtoken.StateAuthorized,
			RefreshToken: "refreshtoken@@@" + appIDs[i],
			AccessToken:  wxtoken.Token{Value: fmt.Sprintf("86_%060d", i), ExpiresAt: epoch.Add(2 * time.Hour)},
			FuncInfo:     []int{1, 2, 3}, AuthorizedAt: epoch, UpdatedAt: epoch}
		if err := store.PutAuthorizer(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	client, err := wechat.New(wechat.Config{BaseURL: "http://127.0.0.1:1", ComponentAppID: componentAppID, ComponentSecret: "secret"})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	eng, err := engine.New(engine.Config{ComponentAppID: componentAppID, Store: store, WeChat: client, Clock: clock, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	crypter, err := msgcrypt.NewCrypter("token", componentAppID, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = eng.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, id := range appIDs {
		for {
			if _, ok := eng.CachedAuthorizerToken(id); ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}

	for _, logger := range []struct {
		name string
		log  *slog.Logger
	}{
		{"log=text", slog.New(slog.NewTextHandler(io.Discard, nil))},
		{"log=off", quiet},
	} {
		srv, err := server.New(server.Config{
			Engine: eng, Crypter: crypter, ComponentAppID: componentAppID, Clock: clock, Logger: logger.log,
			APIKeys: []server.APIKey{
				{Name: "other", Key: "other-key-0123456789abcdef", Scopes: []string{"proxy"}},
				{Name: "service", Key: "service-key-0123456789abcdef", Scopes: []string{"read:authorizer:wx*"}},
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		h := srv.Handler()
		reqs := make([]*http.Request, accounts)
		for i, id := range appIDs {
			reqs[i] = httptest.NewRequest(http.MethodGet, "/v1/authorizers/"+id+"/token", nil)
			reqs[i].Header.Set("Authorization", "Bearer service-key-0123456789abcdef")
		}
		b.Run(logger.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, reqs[i%accounts])
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
				i++
			}
		})
	}
}
