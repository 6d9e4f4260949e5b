package redis_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/storetest"
)

const (
	componentID = "wxcomponent00000001"
	appID       = "wxauthorizer0000001"
)

func TestOpenRejects(t *testing.T) {
	serverURL := testURL(t)
	tests := []struct {
		name string
		url  string
		opts []redis.Option
		code string
	}{
		{"prefix with a brace", serverURL, []redis.Option{redis.WithPrefix("wx{x}:")}, wxtoken.EInvalid},
		{"empty prefix", serverURL, []redis.Option{redis.WithPrefix("")}, wxtoken.EInvalid},
		{"not a URL", "redis://:secretpw@[::1", nil, wxtoken.EInvalid},
		{"unknown scheme", "http://:secretpw@127.0.0.1:6379/0", nil, wxtoken.EInvalid},
		{"nobody listening", "redis://:secretpw@127.0.0.1:1/0?dial_timeout=2s", nil, wxtoken.EUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redis.Open(context.Background(), tt.url, append(tt.opts, redis.WithClientOptions(failFast))...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if got := wxtoken.ErrorCode(err); got != tt.code {
				t.Errorf("code %q, want %q (%v)", got, tt.code, err)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestKeysCarryComponentHashTag checks the key layout a cluster relies on:
// every key of a platform's credentials has the platform as its hash tag, and
// the audit log's keys share the {events} tag.
func TestKeysCarryComponentHashTag(t *testing.T) {
	serverURL := testURL(t)
	prefix := newPrefix(t, serverURL)
	s := openStore(t, serverURL, prefix)
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

	if _, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: componentID, Value: "ticket@@@1", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: componentID, Token: wxtoken.Token{Value: "ctoken", ExpiresAt: now}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{wxtoken.ComponentTokenLease(componentID), wxtoken.AuthorizerLease(componentID, appID)} {
		if _, err := s.AcquireLease(ctx, name, "replica-1", now, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendEvent(ctx, &wxtoken.Event{ComponentAppID: componentID, AuthorizerAppID: appID, Kind: wxtoken.EventAuthorized, At: now}); err != nil {
		t.Fatal(err)
	}

	opts, _ := goredis.ParseURL(serverURL)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		prefix + "{" + componentID + "}:ticket":                                               true,
		prefix + "{" + componentID + "}:component_token":                                      true,
		prefix + "{" + componentID + "}:authorizer:" + appID:                                  true,
		prefix + "{" + componentID + "}:authorizers":                                          true,
		prefix + "{" + componentID + "}:due":                                                  true,
		prefix + "{" + componentID + "}:lease:" + wxtoken.ComponentTokenLease(componentID):    true,
		prefix + "{" + componentID + "}:lease:" + wxtoken.AuthorizerLease(componentID, appID): true,
		prefix + "{events}:seq":                                                               true,
		prefix + "{events}:component:" + componentID:                                          true,
		prefix + "{events}:authorizer:" + componentID + ":" + appID:                           true,
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %s", k)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("missing key %s", k)
	}
}

func TestRejectsIDsThatReshapeKeys(t *testing.T) {
	serverURL := testURL(t)
	prefix := newPrefix(t, serverURL)
	s := openStore(t, serverURL, prefix)
	ctx := context.Background()
	tests := []struct {
		name  string
		write func() error
	}{
		{"brace in component", func() error {
			_, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: "wx}{x", Value: "ticket@@@1"})
			return err
		}},
		{"colon in component", func() error {
			return s.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: "wx:x"})
		}},
		{"brace in authorizer", func() error {
			return s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: componentID, AppID: "wx{a}", State: wxtoken.StateAuthorized})
		}},
		{"colon in event's authorizer", func() error {
			return s.AppendEvent(ctx, &wxtoken.Event{ComponentAppID: componentID, AuthorizerAppID: "a:b", Kind: wxtoken.EventAuthorized})
		}},
		{"empty authorizer appid", func() error {
			return s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: componentID, State: wxtoken.StateAuthorized})
		}},
		{"unknown state", func() error {
			return s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: "sleeping"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Errorf("got %v, want code invalid", err)
			}
		})
	}
	opts, _ := goredis.ParseURL(serverURL)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) != 0 {
		t.Errorf("rejected writes left keys %v", keys)
	}
}

func TestWatchAcrossInstances(t *testing.T) {
	serverURL := testURL(t)
	prefix := newPrefix(t, serverURL)
	storetest.WatchAcrossInstances(t, openStore(t, serverURL, prefix), openStore(t, serverURL, prefix))
}

func TestWatchSurvivesConnectionLoss(t *testing.T) {
	serverURL := testURL(t)
	prefix := newPrefix(t, serverURL)
	proxied, proxy := viaProxy(t, serverURL)
	storetest.WatchSurvivesOutage(t, openStore(t, proxied, prefix), openStore(t, serverURL, prefix),
		proxy.Down, func() { proxy.Up(t) })
}

// startRedis runs a redis-server of its own on a unix socket, configured by
// args, for settings a test must not change on the shared server.
func startRedis(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, append([]string{"--port", "0", "--unixsocket", sock, "--dir", dir, "--logfile", filepath.Join(dir, "log")}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	u := "unix://" + sock
	opts, _ := goredis.ParseURL(u)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return u
}

func TestCheckDurability(t *testing.T) {
	testURL(t)
	tests := []struct {
		name string
		args []string
		want string // "" durable, else a substring of the warning
	}{
		{"AOF", []string{"--appendonly", "yes", "--save", ""}, ""},
		{"RDB snapshots", []string{"--appendonly", "no", "--save", "3600 1 300 100"}, ""},
		{"both", []string{"--appendonly", "yes", "--save", "900 1"}, ""},
		{"neither", []string{"--appendonly", "no", "--save", ""}, "NOT DURABLE"},
		{"CONFIG disabled", []string{"--rename-command", "CONFIG", ""}, redis.DurabilityUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, startRedis(t, tt.args...), redis.DefaultPrefix)
			warning, err := s.CheckDurability(context.Background())
			if err != nil {
				t.Fatalf("CheckDurability: %v", err)
			}
			switch {
			case tt.want == "" && warning != "":
				t.Errorf("warning %q on a durable server", warning)
			case tt.want != "" && !strings.Contains(warning, tt.want):
				t.Errorf("warning %q, want one containing %q", warning, tt.want)
			}
		})
	}

	t.Run("server gone", func(t *testing.T) {
		u, proxy := viaProxy(t, testURL(t))
		s := openStore(t, u, newPrefix(t, testURL(t)))
		proxy.Down()
		if _, err := s.CheckDurability(context.Background()); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
			t.Errorf("CheckDurability with the server gone: %v, want code unavailable", err)
		}
	})
}
