package sealed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/storetest"
)

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	k := keyring(t, newKey(t))
	storetest.Run(t, func(t *testing.T) wxtoken.Store {
		return sealed.Wrap(openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db")), k)
	})
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const comp = "wxcomponent000001"

func appID(i int) string { return fmt.Sprintf("wxa%015d", i) }

// secrets are the values the secret-at-rest test writes and then looks for.
type secrets struct {
	ticket, componentToken string
	refresh, access        []string
	latest                 []string // what the store holds now
}

func writeSecrets(t *testing.T, s wxtoken.Store, tag string) secrets {
	t.Helper()
	ctx := t.Context()
	sec := secrets{
		ticket:         "ticket@@@" + tag + "-TicketSecretValue",
		componentToken: "60_" + tag + "-ComponentTokenSecret",
	}
	if _, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: sec.ticket, CreatedAt: t0, ReceivedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: comp, Token: wxtoken.Token{Value: sec.componentToken, ExpiresAt: t0.Add(2 * time.Hour)}, ObtainedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := &wxtoken.Authorizer{
			ComponentAppID: comp, AppID: appID(i), State: wxtoken.StateAuthorized,
			RefreshToken: fmt.Sprintf("refreshtoken@@@%s-RefreshSecret%d", tag, i),
			AccessToken:  wxtoken.Token{Value: fmt.Sprintf("50_%s-AccessSecret%d", tag, i), ExpiresAt: t0.Add(time.Hour)},
		}
		if err := s.PutAuthorizer(ctx, a); err != nil {
			t.Fatal(err)
		}
		// A refresh: the previous tokens are overwritten, and must not be
		// left readable either (in the WAL, say).
		sec.refresh = append(sec.refresh, a.RefreshToken)
		sec.access = append(sec.access, a.AccessToken.Value)
		a.RefreshToken += "-rotated"
		a.AccessToken.Value += "-refreshed"
		if err := s.PutAuthorizer(ctx, a); err != nil {
			t.Fatal(err)
		}
		sec.refresh = append(sec.refresh, a.RefreshToken)
		sec.access = append(sec.access, a.AccessToken.Value)
		sec.latest = append(sec.latest, a.RefreshToken, a.AccessToken.Value)
	}
	sec.latest = append(sec.latest, sec.ticket, sec.componentToken)
	return sec
}

func (sec secrets) all() []string {
	return append(append([]string{sec.ticket, sec.componentToken}, sec.refresh...), sec.access...)
}

// filesContaining lists which of the database's files hold s.
func filesContaining(t *testing.T, path, s string) []string {
	t.Helper()
	var found []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, filepath.Base(p))
		}
	}
	return found
}

func TestSecretsAreNotStoredInPlaintext(t *testing.T) {
	k := keyring(t, newKey(t))
	tests := []struct {
		name   string
		seal   bool
		wantIn bool // the secrets are expected in the files
	}{
		// The control shows that the search finds secrets where they are:
		// without it, a search that never matches would pass.
		{name: "unsealed control", seal: false, wantIn: true},
		{name: "sealed", seal: true, wantIn: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wxtoken.db")
			raw := openSQLite(t, path)
			var s wxtoken.Store = raw
			if tc.seal {
				s = sealed.Wrap(raw, k)
			}
			sec := writeSecrets(t, s, strings.ReplaceAll(tc.name, " ", "-"))
			if _, err := os.Stat(path + "-wal"); err != nil {
				t.Fatalf("expected a WAL file while the store is open: %v", err)
			}
			check := func(when string) {
				for _, v := range sec.all() {
					found := filesContaining(t, path, v)
					// The latest values must be somewhere; overwritten ones may be gone.
					if tc.wantIn && len(found) == 0 && slices.Contains(sec.latest, v) {
						t.Errorf("%s: %s not found in the unsealed files", when, wxtoken.Redact(v))
					}
					if !tc.wantIn && len(found) > 0 {
						t.Errorf("%s: secret %s in plaintext in %v", when, wxtoken.Redact(v), found)
					}
				}
			}
			check("while open")
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}
			check("after close")
		})
	}
}

func TestRotation(t *testing.T) {
	ctx := t.Context()
	oldKey, newKeyBytes := newKey(t), newKey(t)
	oldRing := keyring(t, oldKey)
	rotating := keyring(t, newKeyBytes, oldKey)
	newOnly := keyring(t, newKeyBytes)

	raw := openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	sec := writeSecrets(t, sealed.Wrap(raw, oldRing), "rotation")
	// A revoked account has no tokens: nothing to reseal.
	revoked := &wxtoken.Authorizer{ComponentAppID: comp, AppID: appID(9), State: wxtoken.StateRevoked}
	if err := raw.PutAuthorizer(ctx, revoked); err != nil {
		t.Fatal(err)
	}

	// readAll returns the opened secrets in writeSecrets' latest order.
	readAll := func(s wxtoken.Store) ([]string, error) {
		tk, err := s.GetTicket(ctx, comp)
		if err != nil {
			return nil, err
		}
		ct, err := s.GetComponentToken(ctx, comp)
		if err != nil {
			return nil, err
		}
		out := []string{tk.Value, ct.Value}
		as, err := s.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp})
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			out = append(out, a.RefreshToken, a.AccessToken.Value)
		}
		return out, nil
	}
	want := []string{sec.ticket, sec.componentToken}
	for i := range 3 {
		want = append(want, sec.refresh[2*i+1], sec.access[2*i+1])
	}
	want = append(want, "", "")
	check := func(name string, s wxtoken.Store) {
		t.Helper()
		got, err := readAll(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: the secrets read back differ from those written", name)
		}
	}
	keyIDs := func() map[string]int {
		ids := map[string]int{}
		add := func(v string) {
			if id, err := sealed.KeyIDOf(v); err != nil {
				t.Fatal(err)
			} else if id != "" {
				ids[id]++
			}
		}
		tk, _ := raw.GetTicket(ctx, comp)
		ct, _ := raw.GetComponentToken(ctx, comp)
		add(tk.Value)
		add(ct.Value)
		as, _ := raw.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp})
		for _, a := range as {
			add(a.RefreshToken)
			add(a.AccessToken.Value)
		}
		return ids
	}

	check("old keyring", sealed.Wrap(raw, oldRing))
	check("rotating keyring before reseal", sealed.Wrap(raw, rotating))
	if _, err := readAll(sealed.Wrap(raw, newOnly)); !errors.Is(err, sealed.ErrUnknownKey) {
		t.Fatalf("new key alone before reseal: %v, want ErrUnknownKey", err)
	}

	s := sealed.Wrap(raw, rotating, sealed.WithClock(wxtoken.NewManualClock(t0)))
	n, err := s.Reseal(ctx, comp)
	if err != nil {
		t.Fatal(err)
	}
	// Ticket, component token, three authorizers; not the revoked one.
	if n != 5 {
		t.Fatalf("Reseal rewrote %d records, want 5", n)
	}
	if ids := keyIDs(); len(ids) != 1 || ids[sealed.KeyID(newKeyBytes)] != 8 {
		t.Fatalf("key ids after reseal: %v, want all 8 values under %s", ids, sealed.KeyID(newKeyBytes))
	}
	if n, err := s.Reseal(ctx, comp); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0, nil", n, err)
	}
	check("new key alone after reseal", sealed.Wrap(raw, newOnly))
	if _, err := readAll(sealed.Wrap(raw, oldRing)); !errors.Is(err, sealed.ErrUnknownKey) {
		t.Fatalf("old key alone after reseal: %v, want ErrUnknownKey", err)
	}
	// Reseal took and gave back the component token lease.
	if _, err := raw.AcquireLease(ctx, wxtoken.ComponentTokenLease(comp), "engine", t0, time.Minute); err != nil {
		t.Fatalf("component token lease after Reseal: %v", err)
	}
}

func TestWrongKeyErrorIsClearAndLeaksNothing(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	sec := writeSecrets(t, sealed.Wrap(raw, keyring(t, newKey(t))), "wrong-key")
	wrong := sealed.Wrap(raw, keyring(t, newKey(t)))

	rawTicket, _ := raw.GetTicket(ctx, comp)
	calls := []struct {
		name string
		call func() error
	}{
		{"GetTicket", func() error { _, err := wrong.GetTicket(ctx, comp); return err }},
		{"GetComponentToken", func() error { _, err := wrong.GetComponentToken(ctx, comp); return err }},
		{"GetAuthorizer", func() error { _, err := wrong.GetAuthorizer(ctx, comp, appID(0)); return err }},
		{"ListAuthorizers", func() error {
			_, err := wrong.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp})
			return err
		}},
		{"DueAuthorizers", func() error { _, err := wrong.DueAuthorizers(ctx, comp, t0.Add(2*time.Hour), 10); return err }},
		{"Reseal", func() error { _, err := wrong.Reseal(ctx, comp); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, sealed.ErrUnknownKey) {
				t.Fatalf("error %v, want ErrUnknownKey", err)
			}
			if wxtoken.ErrorCode(err) != wxtoken.EInternal || !strings.Contains(wxtoken.ErrorMessage(err), "cannot be opened") {
				t.Fatalf("error code %q message %q", wxtoken.ErrorCode(err), wxtoken.ErrorMessage(err))
			}
			noLeak(t, err, append(sec.all(), rawTicket.Value)...)
		})
	}
}

func TestSealedValueMovedToAnotherRecordDoesNotOpen(t *testing.T) {
	ctx := t.Context()
	raw := openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	s := sealed.Wrap(raw, keyring(t, newKey(t)))
	writeSecrets(t, s, "moved")
	// Someone with write access to the database copies account 0's sealed
	// refresh token onto account 1.
	victim, err := raw.GetAuthorizer(ctx, comp, appID(0))
	if err != nil {
		t.Fatal(err)
	}
	target, err := raw.GetAuthorizer(ctx, comp, appID(1))
	if err != nil {
		t.Fatal(err)
	}
	target.RefreshToken = victim.RefreshToken
	if err := raw.PutAuthorizer(ctx, target); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAuthorizer(ctx, comp, appID(1)); !errors.Is(err, sealed.ErrAuthentication) {
		t.Fatalf("moved refresh token: %v, want ErrAuthentication", err)
	}
	if _, err := s.GetAuthorizer(ctx, comp, appID(0)); err != nil {
		t.Fatalf("the original still opens: %v", err)
	}
}

// liveWriter is an inner store on which a live refresh of one authorizer
// lands just before Reseal's write of it, as another replica's would.
type liveWriter struct {
	wxtoken.Store
	live   *sealed.Store
	target string
	fired  bool
}

func (w *liveWriter) PutAuthorizer(ctx context.Context, a *wxtoken.Authorizer) error {
	if a.AppID == w.target && !w.fired {
		w.fired = true
		fresh, err := w.live.GetAuthorizer(ctx, a.ComponentAppID, a.AppID)
		if err != nil {
			return err
		}
		fresh.RefreshToken = "refreshtoken@@@live-refresh-wins"
		if err := w.live.PutAuthorizer(ctx, fresh); err != nil {
			return err
		}
	}
	return w.Store.PutAuthorizer(ctx, a)
}

func TestResealDoesNotClobberConcurrentWrites(t *testing.T) {
	ctx := t.Context()
	oldKey, newKeyBytes := newKey(t), newKey(t)
	raw := openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	writeSecrets(t, sealed.Wrap(raw, keyring(t, oldKey)), "clobber")
	rotating := keyring(t, newKeyBytes, oldKey)
	live := sealed.Wrap(raw, rotating)

	s := sealed.Wrap(&liveWriter{Store: raw, live: live, target: appID(1)}, rotating)
	n, err := s.Reseal(ctx, comp)
	if err != nil {
		t.Fatal(err)
	}
	// The live write resealed account 1 itself, so Reseal rewrote the
	// ticket, the token and accounts 0 and 2.
	if n != 4 {
		t.Fatalf("Reseal rewrote %d records, want 4", n)
	}
	got, err := sealed.Wrap(raw, keyring(t, newKeyBytes)).GetAuthorizer(ctx, comp, appID(1))
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshToken != "refreshtoken@@@live-refresh-wins" {
		t.Fatalf("Reseal overwrote a concurrent refresh: refresh token %s", wxtoken.Redact(got.RefreshToken))
	}
}

func TestResealLeavesComponentTokenBeingRefreshed(t *testing.T) {
	ctx := t.Context()
	oldKey, newKeyBytes := newKey(t), newKey(t)
	raw := openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db"))
	writeSecrets(t, sealed.Wrap(raw, keyring(t, oldKey)), "busy")
	clock := wxtoken.NewManualClock(t0)
	if _, err := raw.AcquireLease(ctx, wxtoken.ComponentTokenLease(comp), "engine", t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	s := sealed.Wrap(raw, keyring(t, newKeyBytes, oldKey), sealed.WithClock(clock))
	n, err := s.Reseal(ctx, comp)
	if wxtoken.ErrorCode(err) != wxtoken.EConflict {
		t.Fatalf("Reseal with the lease held: %v, want a conflict", err)
	}
	if n != 4 {
		t.Fatalf("Reseal rewrote %d records, want 4 (all but the component token)", n)
	}
	// Once the refresh's lease lapses on the clock, a second run finishes.
	clock.Advance(2 * time.Minute)
	if n, err := s.Reseal(ctx, comp); err != nil || n != 1 {
		t.Fatalf("second Reseal = %d, %v; want 1, nil", n, err)
	}
}

func TestPutAuthorizerDoesNotSealCallersStruct(t *testing.T) {
	// The caller keeps using its struct after a write: it must still hold the
	// plaintext, with the new version.
	s := sealed.Wrap(openSQLite(t, filepath.Join(t.TempDir(), "wxtoken.db")), keyring(t, newKey(t)))
	a := &wxtoken.Authorizer{ComponentAppID: comp, AppID: appID(1), State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@plain", AccessToken: wxtoken.Token{Value: "50_plain", ExpiresAt: t0}}
	if err := s.PutAuthorizer(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if a.RefreshToken != "refreshtoken@@@plain" || a.AccessToken.Value != "50_plain" || a.Version != 1 {
		t.Fatalf("caller's struct after PutAuthorizer: version %d, refresh %s", a.Version, wxtoken.Redact(a.RefreshToken))
	}
}
