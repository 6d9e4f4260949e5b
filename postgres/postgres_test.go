package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/postgres"
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

// nextChange waits for the next change on ch, failing the test after a while:
// notifications cross a real server, so the wait is real time.
func nextChange(t *testing.T, ch <-chan wxtoken.Change) wxtoken.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	return wxtoken.Change{}
}

func TestWatchAcrossInstances(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	a, b := openStore(t, dbURL, schema), openStore(t, dbURL, schema)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

	auth := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@one", AccessToken: wxtoken.Token{Value: "50_access", ExpiresAt: now.Add(2 * time.Hour)}}
	stale := auth.Clone()
	steps := []struct {
		name  string
		write func() error
		want  *wxtoken.Change // nil: the write must not be announced
	}{
		{"ticket", func() error {
			_, err := a.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: componentID, Value: "ticket@@@1", CreatedAt: now, ReceivedAt: now})
			return err
		}, &wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: componentID}},
		{"older ticket is not stored", func() error {
			stored, err := a.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: componentID, Value: "ticket@@@0", CreatedAt: now.Add(-time.Minute), ReceivedAt: now})
			if stored {
				t.Error("an older ticket replaced a newer one")
			}
			return err
		}, nil},
		{"component token", func() error {
			return a.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: componentID, Token: wxtoken.Token{Value: "ctoken", ExpiresAt: now.Add(2 * time.Hour)}, ObtainedAt: now})
		}, &wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: componentID}},
		{"new authorizer", func() error { return a.PutAuthorizer(ctx, auth) },
			&wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: componentID, AppID: appID, Version: 1}},
		{"lost compare-and-set", func() error {
			if err := a.PutAuthorizer(ctx, stale); wxtoken.ErrorCode(err) != wxtoken.EConflict {
				t.Errorf("stale write: %v, want a conflict", err)
			}
			return nil
		}, nil},
		{"refresh from the other instance", func() error {
			got, err := b.GetAuthorizer(ctx, componentID, appID)
			if err != nil {
				return err
			}
			got.AccessToken = wxtoken.Token{Value: "50_access2", ExpiresAt: now.Add(4 * time.Hour)}
			return b.PutAuthorizer(ctx, got)
		}, &wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: componentID, AppID: appID, Version: 2}},
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.want == nil {
			continue
		}
		if got := nextChange(t, changes); got != *st.want {
			t.Errorf("%s: change %+v, want %+v", st.name, got, *st.want)
		}
	}

	cancel()
	for range changes { // must close once ctx is done
	}
}

func TestWatchSurvivesConnectionLoss(t *testing.T) {
	dbURL := testURL(t)
	schema := newSchema(t, dbURL)
	proxied, proxy := viaProxy(t, dbURL)
	s := openStore(t, proxied, schema)
	direct := openStore(t, dbURL, schema)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}

	proxy.down()
	if _, err := s.GetTicket(ctx, componentID); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("GetTicket with the server gone: %v, want code unavailable", err)
	}
	if err := s.Ping(ctx); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("Ping with the server gone: %v, want code unavailable", err)
	}
	// A change made while the watcher is cut off is not seen as such; the
	// resync after reconnecting stands for it.
	if _, err := direct.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: componentID, Value: "ticket@@@missed", CreatedAt: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	proxy.up(t)

	if got := nextChange(t, changes); got.Kind != wxtoken.ChangeResync {
		t.Fatalf("first change after reconnecting: %+v, want a resync", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.GetTicket(ctx, componentID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing after the server came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := direct.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: componentID, Token: wxtoken.Token{Value: "ctoken"}}); err != nil {
		t.Fatal(err)
	}
	want := wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: componentID}
	if got := nextChange(t, changes); got != want {
		t.Errorf("change after reconnecting: %+v, want %+v", got, want)
	}
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

// TestDueAuthorizersBelowAMillisecond: storetest writes whole milliseconds;
// real clocks do not, and "before" stays strict at any precision.
func TestDueAuthorizersBelowAMillisecond(t *testing.T) {
	dbURL := testURL(t)
	s := openStore(t, dbURL, newSchema(t, dbURL))
	checkDueBelowAMillisecond(t, s)
}
