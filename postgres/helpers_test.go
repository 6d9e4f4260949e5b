package postgres_test

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

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken/postgres"
)

const urlVar = "WXTOKEN_TEST_POSTGRES_URL"

// testURL is the database the tests run against. Outside CI a developer
// without PostgreSQL skips them; in CI a missing database is a failure, not a
// silent pass.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set, and CI=true requires the PostgreSQL tests to run", urlVar)
		}
		tb.Skip("set WXTOKEN_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run")
	}
	return u
}

// newSchema names a fresh schema and drops it when the test ends, after the
// stores opened on it (their cleanups run first) are closed.
func newSchema(tb testing.TB, dbURL string) string {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "wxtoken_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func openStore(tb testing.TB, dbURL, schema string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), dbURL, postgres.WithSchema(schema))
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

// viaProxy returns dbURL with its host replaced by the proxy's, and the
// proxy, which forwards to dbURL's host.
func viaProxy(tb testing.TB, dbURL string) (string, *tcpProxy) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	p := startProxy(tb, host)
	u.Host = p.addr
	return u.String(), p
}
