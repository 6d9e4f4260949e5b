package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken/internal/servertest"
	"github.com/wxtoken/wxtoken/postgres"
)

const urlVar = "WXTOKEN_TEST_POSTGRES_URL"

func testURL(tb testing.TB) string {
	tb.Helper()
	return servertest.URL(tb, urlVar, "PostgreSQL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
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

// viaProxy returns dbURL with its host replaced by a proxy's, and the
// proxy, which forwards to dbURL's host.
func viaProxy(tb testing.TB, dbURL string) (string, *servertest.Proxy) {
	tb.Helper()
	return servertest.ViaProxy(tb, dbURL, "5432")
}
