package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken/internal/servertest"
	"github.com/wxtoken/wxtoken/postgres"
)

// TestStoreOutage cuts the connection to PostgreSQL under a running engine:
// tokens keep being served from memory while they are valid, readiness says
// the store is unreachable, and once the store is back refreshes and
// readiness recover.
func TestStoreOutage(t *testing.T) {
	serverURL := servertest.URL(t, "WXTOKEN_TEST_POSTGRES_URL", "PostgreSQL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	viaProxy, proxy := servertest.ViaProxy(t, serverURL, "5432")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "engine_outage_" + hex.EncodeToString(b)
	ctx := context.Background()
	store, err := postgres.Open(ctx, viaProxy, postgres.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		store.Close()
		if conn, err := pgx.Connect(ctx, serverURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(ctx)
		}
	})

	const n = 5
	h := newHarness(t, harnessOptions{authorizers: n, preAuthorized: true, store: store})
	if _, err := h.eng.Sync(h.ctx, false); err != nil {
		t.Fatal(err)
	}
	h.settle()
	var ids []string
	for _, a := range h.emu.Accounts(0, n) {
		ids = append(ids, a.AppID)
	}
	before := map[string]string{}
	for _, id := range ids {
		tok, err := h.eng.AuthorizerToken(h.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = tok.Value
	}

	proxy.Down()
	for _, id := range ids {
		tok, err := h.eng.AuthorizerToken(h.ctx, id)
		if err != nil || tok.Value != before[id] {
			t.Fatalf("%s during the outage: %v; want the cached token", id, err)
		}
	}
	if !healthMentions(h.eng.Health(h.ctx), "store unreachable") {
		t.Errorf("readiness during the outage: %+v, want the store reported", h.eng.Health(h.ctx))
	}

	proxy.Up(t)
	// Past the refresh margin: every token is refreshed through the store
	// that came back.
	h.advance(2*time.Hour, time.Minute, nil)
	for _, id := range ids {
		tok, err := h.eng.AuthorizerToken(h.ctx, id)
		if err != nil {
			t.Fatalf("%s after the outage: %v", id, err)
		}
		if tok.Value == before[id] || !h.emu.AuthorizerTokenValid(id, tok.Value) {
			t.Errorf("%s was not refreshed after the store came back", id)
		}
	}
	for _, p := range h.eng.Health(h.ctx) {
		if strings.Contains(p.Message, "store") {
			t.Errorf("readiness still reports the store after it came back: %+v", p)
		}
	}
}
