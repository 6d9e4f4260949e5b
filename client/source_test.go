package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

func TestTokenSourceOneFetchForManyCallers(t *testing.T) {
	c, api, _ := newTestClient(t, appA)
	release := api.hold()

	const n = 100
	var started, done sync.WaitGroup
	got := make([]wxtoken.Token, n)
	errs := make([]error, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			got[i], errs[i] = c.TokenSource(appA).Token(context.Background())
		}()
	}
	started.Wait()
	// Hold the one fetch open until it has arrived, so that callers pile up
	// on it rather than on the cache.
	waitFor(t, func() bool { return api.tokenRequests.Load() >= 1 })
	release()
	done.Wait()

	if n := api.tokenRequests.Load(); n != 1 {
		t.Errorf("%d HTTP fetches for 100 concurrent callers, want 1", n)
	}
	want, _ := api.current(appA)
	for i := range n {
		if errs[i] != nil || got[i] != want {
			t.Fatalf("caller %d: %v, %v", i, got[i].Value, errs[i])
		}
	}
}

func TestTokenSourceRefetchesOnlyShortlyBeforeExpiry(t *testing.T) {
	for _, early := range []time.Duration{time.Minute, 5 * time.Minute, 0} {
		t.Run(early.String(), func(t *testing.T) {
			clock := wxtoken.NewManualClock(epoch)
			api := newFakeAPI(clock, appA)
			srv := api.start(t)
			c := client.New(srv.URL, testKey, client.WithClock(clock), client.WithEarlyExpiry(early))
			src := c.TokenSource(appA)
			ctx := context.Background()

			first, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The server refreshes on its own schedule; the client must keep
			// what it has until its own margin is reached.
			var second wxtoken.Token
			for _, at := range []time.Duration{0, time.Hour, 2*time.Hour - early - time.Second} {
				clock.Set(epoch.Add(at))
				if at == time.Hour {
					second = api.rotate(appA)
				}
				if got, _ := src.Token(ctx); got.Value != first.Value {
					t.Fatalf("at +%v: got a new token before the margin", at)
				}
			}
			if n := api.tokenRequests.Load(); n != 1 {
				t.Fatalf("%d fetches before the margin, want 1", n)
			}
			clock.Set(first.ExpiresAt.Add(-early))
			got, err := src.Token(ctx)
			if err != nil || got.Value != second.Value {
				t.Fatalf("at expiry-%v: %v, %v; want the server's new token", early, got.Value, err)
			}
			if n := api.tokenRequests.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2", n)
			}
			// The new token is cached in turn.
			src.Token(ctx)
			if n := api.tokenRequests.Load(); n != 2 {
				t.Fatalf("%d fetches after the refetch, want 2", n)
			}
		})
	}
}

func TestTokenSourceFailures(t *testing.T) {
	cases := []struct {
		name     string
		failure  fakeFailure
		keepsOld bool // a still-valid cached token is better than this error
	}{
		{"unavailable", fakeFailure{http.StatusServiceUnavailable, "unavailable", "store down", 0}, true},
		{"wechat busy", fakeFailure{http.StatusBadGateway, "wechat_error", "system busy", -1}, true},
		{"revoked", fakeFailure{http.StatusGone, "revoked", "the authorization was revoked", 0}, false},
		{"needs reauthorization", fakeFailure{http.StatusConflict, "needs_reauthorization", "authorize again", 61023}, false},
		{"key withdrawn", fakeFailure{http.StatusUnauthorized, "unauthorized", "unknown key", 0}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, api, clock := newTestClient(t, appA)
			src := c.TokenSource(appA)
			ctx := context.Background()
			first, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			api.setFailure(appA, tc.failure)

			// Inside the margin, the cached token is still valid.
			clock.Set(first.ExpiresAt.Add(-30 * time.Second))
			got, err := src.Token(ctx)
			if tc.keepsOld {
				if err != nil || got.Value != first.Value {
					t.Fatalf("got %v, %v; want the cached token while it is valid", got.Value, err)
				}
			} else {
				var e *client.Error
				if !errors.As(err, &e) || e.Code != tc.failure.code || e.ErrCode != tc.failure.errcode {
					t.Fatalf("err = %v, want code %s", err, tc.failure.code)
				}
			}
			// Past the expiry nothing is served.
			clock.Set(first.ExpiresAt)
			if _, err := src.Token(ctx); err == nil {
				t.Fatal("an expired token was served")
			}
		})
	}
}

func TestTokenSourceCallerGivingUpDoesNotFailOthers(t *testing.T) {
	c, api, _ := newTestClient(t, appA)
	release := api.hold()
	src := c.TokenSource(appA)

	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := src.Token(ctx)
		firstErr <- err
	}()
	waitFor(t, func() bool { return api.tokenRequests.Load() == 1 })
	second := make(chan wxtoken.Token, 1)
	go func() {
		tok, err := src.Token(context.Background())
		if err != nil {
			t.Error(err)
		}
		second <- tok
	}()
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: %v, want context.Canceled", err)
	}
	release()
	tok := <-second
	if want, _ := api.current(appA); tok != want {
		t.Errorf("second caller got %q", tok.Value)
	}
	if n := api.tokenRequests.Load(); n != 1 {
		t.Errorf("%d fetches, want the first caller's fetch to finish for the second", n)
	}
}

func TestTokenSourcesAreSharedPerAppID(t *testing.T) {
	c, api, _ := newTestClient(t, appA, appB)
	ctx := context.Background()
	for range 3 {
		for _, id := range []string{appA, appB} {
			if _, err := c.TokenSource(id).Token(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := api.tokenRequests.Load(); n != 2 {
		t.Errorf("%d fetches for two appids, want 2", n)
	}
	a, _ := c.TokenSource(appA).Token(ctx)
	b, _ := c.TokenSource(appB).Token(ctx)
	if a.Value == b.Value {
		t.Error("two appids share a token")
	}
}

// BenchmarkTokenSourceCached is the hot path of every WeChat call through the
// client: a cached token, read by many goroutines at once.
func BenchmarkTokenSourceCached(b *testing.B) {
	api := newFakeAPI(wxtoken.SystemClock{}, appA)
	srv := api.start(b)
	src := client.New(srv.URL, testKey).TokenSource(appA)
	ctx := context.Background()
	if _, err := src.Token(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := src.Token(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if n := api.tokenRequests.Load(); n != 1 {
		b.Fatalf("%d fetches, want 1", n)
	}
}

func TestTokenSourcePausesRefetchingWhileTheTokenIsValid(t *testing.T) {
	cases := []struct {
		name  string
		setup func(api *fakeAPI)
	}{
		// The client wants tokens 15 minutes before expiry; the server
		// refreshes only 10 minutes before: in between, every fetch brings
		// the same token back.
		{"server refreshes later", func(api *fakeAPI) {}},
		{"server unavailable", func(api *fakeAPI) {
			api.setFailure(appA, fakeFailure{http.StatusServiceUnavailable, "unavailable", "store down", 0})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := wxtoken.NewManualClock(epoch)
			api := newFakeAPI(clock, appA)
			srv := api.start(t)
			src := client.New(srv.URL, testKey, client.WithClock(clock), client.WithEarlyExpiry(15*time.Minute)).TokenSource(appA)
			ctx := context.Background()
			first, err := src.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clock.Set(first.ExpiresAt.Add(-14 * time.Minute))
			tc.setup(api)

			for i := range 3 {
				for range 50 {
					if got, err := src.Token(ctx); err != nil || got != first {
						t.Fatalf("round %d: %v, %v; want the valid cached token", i, got.Value, err)
					}
				}
				if n := api.tokenRequests.Load(); n != int64(2+i) {
					t.Fatalf("round %d: %d fetches, want %d: one per pause", i, n, 2+i)
				}
				clock.Advance(5 * time.Second)
			}
		})
	}
}
