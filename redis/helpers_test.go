package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/servertest"
	"github.com/wxtoken/wxtoken/redis"
)

const urlVar = "WXTOKEN_TEST_REDIS_URL"

func testURL(tb testing.TB) string {
	tb.Helper()
	return servertest.URL(tb, urlVar, "Redis", "redis://127.0.0.1:6379/0")
}

// newPrefix returns a fresh key prefix and deletes every key under it when
// the test ends, after the stores opened with it are closed.
func newPrefix(tb testing.TB, serverURL string) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "wxtoken_test_" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		if err := deleteKeys(context.Background(), serverURL, prefix); err != nil {
			tb.Errorf("delete keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

func deleteKeys(ctx context.Context, serverURL, prefix string) error {
	opts, err := goredis.ParseURL(serverURL)
	if err != nil {
		return err
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// failFast makes a store give up on an unreachable server at once, instead
// of riding out a blip with go-redis's retries, so that outage tests are quick.
func failFast(o *goredis.Options) {
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.DialTimeout = time.Second
}

func openStore(tb testing.TB, serverURL, prefix string) *redis.Store {
	tb.Helper()
	s, err := redis.Open(context.Background(), serverURL, redis.WithPrefix(prefix), redis.WithClientOptions(failFast))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// viaProxy returns serverURL with its host replaced by a proxy's, and the
// proxy, which forwards to serverURL's host.
func viaProxy(tb testing.TB, serverURL string) (string, *servertest.Proxy) {
	tb.Helper()
	return servertest.ViaProxy(tb, serverURL, "6379")
}
