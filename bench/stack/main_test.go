package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
)

func TestStackServesEveryAuthorizer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	readyFile := filepath.Join(t.TempDir(), "stack.env")
	appIDsFile := filepath.Join(t.TempDir(), "appids")
	var out, errs syncbuf.Buffer
	type endpoint struct{ url, key string }
	ready := make(chan endpoint, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-authorizers", "7", "-ready-file", readyFile, "-appids-out", appIDsFile, "-dir", t.TempDir(), "-log-level", "warn"},
			&out, &errs, func(url, key string) { ready <- endpoint{url, key} })
	}()
	var ep endpoint
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatalf("the stack stopped before it was ready: %v\n%s", err, errs.String())
	}

	env, err := os.ReadFile(readyFile)
	if err != nil || !strings.Contains(string(env), "WXTOKEN_URL="+ep.url+"\n") || !strings.Contains(string(env), "WXTOKEN_BENCH_KEY="+ep.key+"\n") {
		t.Errorf("ready file %q, %v", env, err)
	}
	c := client.New(ep.url, ep.key)
	page, err := c.Authorizers(ctx, "", 100)
	if err != nil || len(page.Authorizers) != 7 {
		t.Fatalf("listed %+v, %v; want 7 authorizers", page, err)
	}
	ids, _ := os.ReadFile(appIDsFile)
	if n := strings.Count(string(ids), "\n"); n != 7 {
		t.Errorf("appids file has %d lines, want 7", n)
	}
	for _, a := range page.Authorizers {
		if !strings.Contains(string(ids), a.AppID+"\n") {
			t.Errorf("%s is missing from the appids file", a.AppID)
		}
		tok, err := c.AuthorizerToken(ctx, a.AppID)
		if err != nil || !tok.Valid(time.Now()) || a.State != wxtoken.StateAuthorized {
			t.Errorf("%s (%s): %v", a.AppID, a.State, err)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
