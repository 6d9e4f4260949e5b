package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/postgres"
	"github.com/wxtoken/wxtoken/storetest"
)

const (
	componentID = "wxcomponent00000001"
	appID       = "wxauthorizer0000001"
)

func TestOpenConcurrentMigratesOnce(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)

	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(context.Background(), dbURL, postgres.WithSchema(schema))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || versions[0] != 1 {
		t.Fatalf("schema_migrations holds versions %v, want [1] once", versions)
	}

	// Every replica works on the one schema.
	a := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized}
	if err := stores[0].PutAuthorizer(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if _, err := s.GetAuthorizer(ctx, componentID, appID); err != nil {
			t.Errorf("replica %d: GetAuthorizer: %v", i, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	dbURL := testURL(t)
	tests := []struct {
		name string
		url  string
		opts []postgres.Option
		code string
	}{
		{"schema with a quote", dbURL, []postgres.Option{postgres.WithSchema(`x"; DROP TABLE y; --`)}, wxtoken.EInvalid},
		{"upper-case schema", dbURL, []postgres.Option{postgres.WithSchema("Wxtoken")}, wxtoken.EInvalid},
		{"empty schema", dbURL, []postgres.Option{postgres.WithSchema("")}, wxtoken.EInvalid},
		{"schema too long", dbURL, []postgres.Option{postgres.WithSchema("a23456789012345678901234567890123456789012345678x")}, wxtoken.EInvalid},
		{"not a URL", "postgres://user:secretpw@[::1", nil, wxtoken.EInvalid},
		{"nobody listening", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", []postgres.Option{postgres.WithSchema(newSchema(t, dbURL))}, wxtoken.EUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.url, tt.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if got := wxtoken.ErrorCode(err); got != tt.code {
				t.Errorf("code %q, want %q (%v)", got, tt.code, err)
			}
			if msg := err.Error(); contains(msg, "secretpw") {
				t.Errorf("error shows the password: %s", msg)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestWatchAcrossInstances(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	storetest.WatchAcrossInstances(t, openStore(t, dbURL, schema), openStore(t, dbURL, schema))
}

func TestWatchSurvivesConnectionLoss(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	proxied, proxy := viaProxy(t, dbURL)
	storetest.WatchSurvivesOutage(t, openStore(t, proxied, schema), openStore(t, dbURL, schema),
		proxy.Down, func() { proxy.Up(t) })
}

func TestTimesRoundTripExactly(t *testing.T) {
	dbURL := testURL(t)
	s := openStore(t, dbURL, newSchema(t, dbURL))
	ctx := context.Background()
	tests := []struct {
		name    string
		expires time.Time
	}{
		{"nanoseconds", time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.UTC)},
		{"zero", time.Time{}},
		{"other zone", time.Date(2025, 3, 1, 16, 0, 0, 1, time.FixedZone("CST", 8*3600))},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID + string(rune('a'+i)), State: wxtoken.StateAuthorized,
				AccessToken: wxtoken.Token{Value: "tok", ExpiresAt: tt.expires}, LastEventAt: tt.expires}
			if err := s.PutAuthorizer(ctx, a); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetAuthorizer(ctx, a.ComponentAppID, a.AppID)
			if err != nil {
				t.Fatal(err)
			}
			if !got.AccessToken.ExpiresAt.Equal(tt.expires) || !got.LastEventAt.Equal(tt.expires) {
				t.Errorf("read back %v / %v, wrote %v", got.AccessToken.ExpiresAt, got.LastEventAt, tt.expires)
			}
		})
	}
	if err := s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized,
		AccessToken: wxtoken.Token{ExpiresAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}}); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("an expiry in 2300: %v, want code invalid", err)
	}
}
