package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

const (
	appA = "wx1111111111111111"
	appB = "wx2222222222222222"
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestClient(t *testing.T, appIDs ...string) (*client.Client, *fakeAPI, *wxtoken.ManualClock) {
	t.Helper()
	clock := wxtoken.NewManualClock(epoch)
	api := newFakeAPI(clock, appIDs...)
	srv := api.start(t)
	return client.New(srv.URL+"/", testKey, client.WithClock(clock)), api, clock
}

func TestAuthorizerToken(t *testing.T) {
	c, api, _ := newTestClient(t, appA, appB)
	ctx := context.Background()
	for _, id := range []string{appA, appB} {
		got, err := c.AuthorizerToken(ctx, id)
		if err != nil {
			t.Fatalf("AuthorizerToken(%s): %v", id, err)
		}
		want, _ := api.current(id)
		if got.Value != want.Value || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Errorf("AuthorizerToken(%s) = %s until %v, want %s until %v", id, got.Value, got.ExpiresAt, want.Value, want.ExpiresAt)
		}
	}
	if n := api.tokenRequests.Load(); n != 2 {
		t.Errorf("%d token requests, want 2 (AuthorizerToken does not cache)", n)
	}

	comp, err := c.ComponentToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if comp.Value != "90_component_token_Hn3k" || !comp.ExpiresAt.Equal(epoch.Add(2*time.Hour)) {
		t.Errorf("ComponentToken = %s until %v", comp.Value, comp.ExpiresAt)
	}
}

func TestBadInputMakesNoRequest(t *testing.T) {
	c, api, _ := newTestClient(t, appA)
	ctx := context.Background()
	calls := map[string]func() error{
		"AuthorizerToken":   func() error { _, err := c.AuthorizerToken(ctx, ""); return err },
		"Invalidate appid":  func() error { _, err := c.Invalidate(ctx, "", "x"); return err },
		"Invalidate token":  func() error { _, err := c.Invalidate(ctx, appA, ""); return err },
		"Authorizer":        func() error { _, err := c.Authorizer(ctx, ""); return err },
		"TokenSource.Token": func() error { _, err := c.TokenSource("").Token(ctx); return err },
	}
	for name, call := range calls {
		err := call()
		var e *client.Error
		if !errors.As(err, &e) || e.Code != wxtoken.EInvalid || e.Status != 0 {
			t.Errorf("%s: err = %v, want a client.Error with code invalid and no status", name, err)
		}
	}
	if n := api.tokenRequests.Load() + api.invalidateRequests.Load(); n != 0 {
		t.Errorf("%d requests were sent for bad input", n)
	}
}

func TestUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := client.New(url, testKey).AuthorizerToken(context.Background(), appA)
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err = %v, want a transport error that is not a *client.Error", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("error text leaks the key: %v", err)
	}
}

func TestInvalidate(t *testing.T) {
	c, api, _ := newTestClient(t, appA)
	ctx := context.Background()
	src := c.TokenSource(appA)
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	next, err := c.Invalidate(ctx, appA, first.Value)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := api.current(appA)
	if next.Value == first.Value || next.Value != cur.Value {
		t.Fatalf("Invalidate returned %s; server's current is %s; rejected was %s", next.Value, cur.Value, first.Value)
	}
	// The source follows the report without asking the server again.
	fetches := api.tokenRequests.Load()
	if got, _ := src.Token(ctx); got.Value != next.Value {
		t.Errorf("source still hands out %s after the report, want %s", got.Value, next.Value)
	}
	if api.tokenRequests.Load() != fetches {
		t.Errorf("the source fetched again after Invalidate gave it the new token")
	}

	// A late report of the same token is answered from the cache; a report of
	// a token this client never saw goes to the server, which ignores it as
	// stale.
	before := api.invalidateRequests.Load()
	if again, err := c.Invalidate(ctx, appA, first.Value); err != nil || again.Value != next.Value {
		t.Errorf("second report: %v, %v", again.Value, err)
	}
	if api.invalidateRequests.Load() != before {
		t.Errorf("a repeated report of the same token went to the server")
	}
	if stale, err := c.Invalidate(ctx, appA, "90_unknown_token_value"); err != nil || stale.Value != next.Value {
		t.Errorf("stale report: %v, %v", stale.Value, err)
	}
	if cur2, _ := api.current(appA); cur2.Value != next.Value {
		t.Errorf("a stale report rotated the token")
	}

	_, err = c.Invalidate(ctx, "wx0000000000000000", "x")
	if !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Invalidate(unknown) = %v, want not_found", err)
	}
}

func TestConcurrentInvalidateSharesOneRequest(t *testing.T) {
	c, api, _ := newTestClient(t, appA)
	ctx := context.Background()
	first, err := c.TokenSource(appA).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release := api.hold()

	const n = 50
	var started, done sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			tok, err := c.Invalidate(ctx, appA, first.Value)
			if err != nil {
				t.Error(err)
			}
			results[i] = tok.Value
		}()
	}
	started.Wait()
	waitFor(t, func() bool { return api.invalidateRequests.Load() >= 1 })
	release()
	done.Wait()
	if n := api.invalidateRequests.Load(); n != 1 {
		t.Errorf("%d invalidate requests for one rejected token, want 1", n)
	}
	cur, _ := api.current(appA)
	for i, v := range results {
		if v != cur.Value {
			t.Fatalf("caller %d got %q, want the new token", i, v)
		}
	}
}

func TestAuthorizerAndList(t *testing.T) {
	ids := []string{"wx3333333333333333", appA, appB}
	c, api, _ := newTestClient(t, ids...)
	ctx := context.Background()

	info, err := c.Authorizer(ctx, appB)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := api.current(appB)
	if info.AppID != appB || info.State != wxtoken.StateAuthorized || !info.TokenExpiresAt.Equal(cur.ExpiresAt) || !info.LastRefreshAt.IsZero() ||
		info.AuthorizedAt.IsZero() ||
		info.Info.NickName != "Shop "+appB || len(info.FuncInfo) != 2 {
		t.Errorf("Authorizer = %+v", info)
	}
	if _, err := c.Authorizer(ctx, "wx0000000000000000"); !errors.Is(err, wxtoken.ErrNotFound) {
		t.Errorf("Authorizer(unknown) = %v", err)
	}

	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the cursor does not advance")
		}
		page, err := c.Authorizers(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Authorizers {
			seen = append(seen, a.AppID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{appA, appB, "wx3333333333333333"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", seen, want)
	}
	if _, err := c.Authorizers(ctx, "", -1); err != nil {
		t.Errorf("Authorizers without a limit: %v", err)
	}
}

// waitFor polls cond while goroutines catch up; it does not wait for time to
// pass on any clock the code under test reads.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
