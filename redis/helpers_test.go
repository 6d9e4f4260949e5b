package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/redis"
)

const urlVar = "WXTOKEN_TEST_REDIS_URL"

// testURL is the server the tests run against. Outside CI a developer
// without Redis skips them; in CI a missing server is a failure, not a
// silent pass.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set, and CI=true requires the Redis tests to run", urlVar)
		}
		tb.Skip("set WXTOKEN_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to run")
	}
	return u
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

// tcpProxy stands between a store and the server so that a test can cut the
// connection and restore it without disturbing the server other tests use.
type tcpProxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func startProxy(tb testing.TB, target string) *tcpProxy {
	tb.Helper()
	p := &tcpProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	tb.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *tcpProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// down refuses new connections and cuts the open ones, as a crashed server.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// up accepts connections again on the same address.
func (p *tcpProxy) up(tb testing.TB) {
	tb.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		tb.Fatalf("proxy up: %v", err)
	}
	p.serve(ln)
}

// viaProxy returns serverURL with its host replaced by the proxy's, and the
// proxy, which forwards to serverURL's host.
func viaProxy(tb testing.TB, serverURL string) (string, *tcpProxy) {
	tb.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		tb.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "6379")
	}
	p := startProxy(tb, host)
	u.Host = p.addr
	return u.String(), p
}
