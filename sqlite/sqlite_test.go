package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/storetest"
)

func openFile(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return openFile(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) wxtoken.Store { return openFile(t, sqlite.MemoryPath) })
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678_901_234, time.UTC)

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const comp, app = "wxcomponent000001", "wxauthorizer00001"
	if _, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@keep", CreatedAt: t0, ReceivedAt: t0}); err != nil {
		t.Fatal(err)
	}
	a := &wxtoken.Authorizer{ComponentAppID: comp, AppID: app, State: wxtoken.StateAuthorized, RefreshToken: "refreshtoken@@@keep",
		AccessToken: wxtoken.Token{Value: "50_keep", ExpiresAt: t0.Add(time.Hour)}}
	if err := s.PutAuthorizer(ctx, a); err != nil {
		t.Fatal(err)
	}
	first := &wxtoken.Event{ComponentAppID: comp, Kind: wxtoken.EventAuthorized, At: t0}
	if err := s.AppendEvent(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "lease", "owner-1", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openFile(t, path)
	tk, err := s.GetTicket(ctx, comp)
	if err != nil || tk.Value != "ticket@@@keep" || !tk.CreatedAt.Equal(t0) {
		t.Fatalf("ticket after reopen: %v, %v (created %v)", wxtoken.Redact(tk.Value), err, tk.CreatedAt)
	}
	got, err := s.GetAuthorizer(ctx, comp, app)
	if err != nil || got.RefreshToken != a.RefreshToken || got.Version != a.Version || !got.AccessToken.ExpiresAt.Equal(a.AccessToken.ExpiresAt) {
		t.Fatalf("authorizer after reopen: %+v, %v", got, err)
	}
	// Nanoseconds survive, beyond the millisecond the suite requires.
	if got.AccessToken.ExpiresAt.Nanosecond() != t0.Nanosecond() {
		t.Errorf("expiry nanoseconds %d, want %d", got.AccessToken.ExpiresAt.Nanosecond(), t0.Nanosecond())
	}
	// The compare-and-set continues from the stored version.
	got.RefreshToken = "refreshtoken@@@after-reopen"
	if err := s.PutAuthorizer(ctx, got); err != nil {
		t.Fatalf("update after reopen: %v", err)
	}
	_, err = s.AcquireLease(ctx, "lease", "owner-2", t0.Add(time.Second), time.Minute)
	if wxtoken.ErrorCode(err) != wxtoken.EConflict {
		t.Fatalf("lease after reopen taken by another owner: %v", err)
	}
	next := &wxtoken.Event{ComponentAppID: comp, Kind: wxtoken.EventRevoked, At: t0}
	if err := s.AppendEvent(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.ID <= first.ID {
		t.Fatalf("event ID after reopen %d, want more than %d", next.ID, first.ID)
	}
}

// appliedMigrations reads schema_migrations behind the store's back.
func appliedMigrations(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT printf('%04d_%s.sql', version, name) FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrationsAppliedOnce(t *testing.T) {
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	for i := range 3 {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := appliedMigrations(t, path); !slices.Equal(got, want) {
			t.Fatalf("after open %d: schema_migrations = %v, want %v", i, got, want)
		}
	}
}

func TestConcurrentOpenOfNewFile(t *testing.T) {
	// Two replicas starting on one new file must not both apply a migration.
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := sqlite.Open(t.Context(), path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := appliedMigrations(t, path); len(got) == 0 || !strings.HasPrefix(got[0], "0001_") {
		t.Fatalf("schema_migrations = %v", got)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wxtoken.db")
	s := openFile(t, path)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlite.Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Fatalf("error %q does not say the schema is newer", err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		want    string
		wantErr bool
	}{
		{url: "sqlite://wxtoken.db", want: "wxtoken.db"},
		{url: "sqlite://data/wxtoken.db", want: "data/wxtoken.db"},
		{url: "sqlite:///var/lib/wxtoken.db", want: "/var/lib/wxtoken.db"},
		{url: "SQLite:///var/lib/wxtoken.db", want: "/var/lib/wxtoken.db"},
		{url: "sqlite://my%20data.db", want: "my data.db"},
		{url: "sqlite://:memory:", want: sqlite.MemoryPath},
		{url: "sqlite://", wantErr: true},
		{url: "sqlite:///", wantErr: true},
		{url: "sqlite:///var/lib/", wantErr: true},
		{url: "sqlite://x.db?mode=ro", wantErr: true},
		{url: "sqlite://x.db#frag", wantErr: true},
		{url: "sqlite://bad%zzescape.db", wantErr: true},
		{url: "sqlite://nul%00.db", wantErr: true},
		{url: "postgres://localhost/db", wantErr: true},
		{url: "wxtoken.db", wantErr: true},
		{url: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := sqlite.ParseURL(tc.url)
			if tc.wantErr {
				if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
					t.Fatalf("ParseURL(%q) = %q, %v; want an invalid error", tc.url, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseURL(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"sqlite://wxtoken.db", "sqlite:///var/lib/wxtoken.db", "sqlite://:memory:", "sqlite://a%2Fb", "sqlite://x?y", "sqlite://%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		path, err := sqlite.ParseURL(raw)
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Fatalf("ParseURL(%q): error %v is not invalid", raw, err)
			}
			return
		}
		if path == "" || strings.ContainsRune(path, 0) || strings.HasSuffix(path, "/") {
			t.Fatalf("ParseURL(%q) = %q", raw, path)
		}
	})
}

func TestOpenURL(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, url, wantPath string
	}{
		{"absolute", "sqlite://" + filepath.Join(dir, "abs.db"), filepath.Join(dir, "abs.db")},
		{"memory", "sqlite://:memory:", sqlite.MemoryPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.OpenURL(t.Context(), tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Path() != tc.wantPath {
				t.Fatalf("Path() = %q, want %q", s.Path(), tc.wantPath)
			}
			if tc.wantPath != sqlite.MemoryPath {
				if _, err := os.Stat(tc.wantPath); err != nil {
					t.Fatalf("database file not created: %v", err)
				}
			}
		})
	}
}

func TestInvalidInputChangesNothing(t *testing.T) {
	ctx := t.Context()
	s := openFile(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	const comp = "wxcomponent000001"
	good := &wxtoken.Authorizer{ComponentAppID: comp, AppID: "wxauthorizer00001", State: wxtoken.StateAuthorized, RefreshToken: "refreshtoken@@@good"}
	if err := s.PutAuthorizer(ctx, good); err != nil {
		t.Fatal(err)
	}
	withState := good.Clone()
	withState.State = "bogus"
	tooLate := good.Clone()
	tooLate.AccessToken.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	negative := good.Clone()
	negative.Version = -1

	tests := []struct {
		name string
		call func() error
	}{
		{"authorizer with unknown state", func() error { return s.PutAuthorizer(ctx, withState) }},
		{"authorizer time out of range", func() error { return s.PutAuthorizer(ctx, tooLate) }},
		{"authorizer with negative version", func() error { return s.PutAuthorizer(ctx, negative) }},
		{"authorizer without appid", func() error {
			return s.PutAuthorizer(ctx, &wxtoken.Authorizer{ComponentAppID: comp, State: wxtoken.StateAuthorized})
		}},
		{"nil authorizer", func() error { return s.PutAuthorizer(ctx, nil) }},
		{"empty ticket", func() error {
			_, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, CreatedAt: t0})
			return err
		}},
		{"ticket without CreatedAt", func() error {
			_, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@x"})
			return err
		}},
		{"component token without component", func() error {
			return s.PutComponentToken(ctx, wxtoken.ComponentToken{Token: wxtoken.Token{Value: "x"}})
		}},
		{"lease with zero ttl", func() error { _, err := s.AcquireLease(ctx, "l", "o", t0, 0); return err }},
		{"lease without owner", func() error { _, err := s.AcquireLease(ctx, "l", "", t0, time.Second); return err }},
		{"event without kind", func() error { return s.AppendEvent(ctx, &wxtoken.Event{ComponentAppID: comp, At: t0}) }},
		{"negative list limit", func() error {
			_, err := s.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp, Limit: -1})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
				t.Fatalf("error %v, want code invalid", err)
			}
		})
	}
	got, err := s.GetAuthorizer(ctx, comp, good.AppID)
	if err != nil || got.Version != good.Version || got.State != wxtoken.StateAuthorized {
		t.Fatalf("authorizer after bad writes: %+v, %v", got, err)
	}
	for _, q := range []func() error{
		func() error { _, err := s.GetTicket(ctx, comp); return err },
		func() error { _, err := s.GetComponentToken(ctx, comp); return err },
	} {
		if err := q(); wxtoken.ErrorCode(err) != wxtoken.ENotFound {
			t.Fatalf("a rejected write left something: %v", err)
		}
	}
	if _, err := s.AcquireLease(ctx, "l", "someone", t0, time.Second); err != nil {
		t.Fatalf("rejected lease writes left the lease held: %v", err)
	}
	if evs, err := s.ListEvents(ctx, wxtoken.EventFilter{ComponentAppID: comp}); err != nil || len(evs) != 0 {
		t.Fatalf("events after rejected append: %d, %v", len(evs), err)
	}
}

func TestWatchSlowReaderGetsResync(t *testing.T) {
	ctx := t.Context()
	s := openFile(t, filepath.Join(t.TempDir(), "wxtoken.db"), sqlite.WithWatchBuffer(2))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Watch(watchCtx)
	if err != nil {
		t.Fatal(err)
	}
	const comp = "wxcomponent000001"
	// More writes than the buffer holds, none read: the writer must not block.
	for i := range 10 {
		if _, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@x", CreatedAt: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(5 * time.Second)
	var kinds []wxtoken.ChangeKind
	for !slices.Contains(kinds, wxtoken.ChangeResync) {
		select {
		case c := <-ch:
			kinds = append(kinds, c.Kind)
		case <-timeout:
			t.Fatalf("no resync after an overflow; got %v", kinds)
		}
	}
	if kinds[0] != wxtoken.ChangeTicket {
		t.Fatalf("first change %v, want the buffered ticket change", kinds[0])
	}

	// Close ends the watch.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	timeout = time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				if _, err := s.Watch(ctx); err == nil {
					t.Fatal("Watch on a closed store succeeded")
				}
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed by Close")
		}
	}
}
