package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// The checks in this file are for stores that several processes share
// through a server (postgres, redis): they take two stores open on the same
// data, as two replicas are, which Run's newStore (a fresh store each call)
// cannot give.

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

// WatchAcrossInstances checks that a write on a is announced on b's Watch,
// exactly once and in order, and that writes which change nothing (an older
// ticket, a lost compare-and-set) are not announced. a and b are two stores
// open on the same, empty data.
func WatchAcrossInstances(t *testing.T, a, b wxtoken.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := b.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	comp, appID := componentID(t), authorizerID(1)
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

	auth := &wxtoken.Authorizer{ComponentAppID: comp, AppID: appID, State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@one", AccessToken: wxtoken.Token{Value: "50_access", ExpiresAt: now.Add(2 * time.Hour)}}
	stale := auth.Clone()
	steps := []struct {
		name  string
		write func() error
		want  *wxtoken.Change // nil: the write must not be announced
	}{
		{"ticket", func() error {
			_, err := a.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@1", CreatedAt: now, ReceivedAt: now})
			return err
		}, &wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: comp}},
		{"older ticket is not stored", func() error {
			stored, err := a.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@0", CreatedAt: now.Add(-time.Minute), ReceivedAt: now})
			if stored {
				t.Error("an older ticket replaced a newer one")
			}
			return err
		}, nil},
		{"component token", func() error {
			return a.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: comp, Token: wxtoken.Token{Value: "ctoken", ExpiresAt: now.Add(2 * time.Hour)}, ObtainedAt: now})
		}, &wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: comp}},
		{"new authorizer", func() error { return a.PutAuthorizer(ctx, auth) },
			&wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: comp, AppID: appID, Version: 1}},
		{"lost compare-and-set", func() error {
			if err := a.PutAuthorizer(ctx, stale); wxtoken.ErrorCode(err) != wxtoken.EConflict {
				t.Errorf("stale write: %v, want a conflict", err)
			}
			return nil
		}, nil},
		{"refresh from the other instance", func() error {
			got, err := b.GetAuthorizer(ctx, comp, appID)
			if err != nil {
				return err
			}
			got.AccessToken = wxtoken.Token{Value: "50_access2", ExpiresAt: now.Add(4 * time.Hour)}
			return b.PutAuthorizer(ctx, got)
		}, &wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: comp, AppID: appID, Version: 2}},
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

// WatchSurvivesOutage checks what a store does while its server is out of
// reach and after it is back: reads fail with EUnavailable, and the watch
// delivers ChangeResync (standing for the writes it missed), then changes
// again. cut reaches the server through something down and up break and
// restore (a proxy); direct is open on the same data and stays connected.
func WatchSurvivesOutage(t *testing.T, cut, direct wxtoken.Store, down, up func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := cut.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	comp := componentID(t)

	down()
	if _, err := cut.GetTicket(ctx, comp); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("GetTicket with the server gone: %v, want code unavailable", err)
	}
	if err := cut.Ping(ctx); wxtoken.ErrorCode(err) != wxtoken.EUnavailable {
		t.Errorf("Ping with the server gone: %v, want code unavailable", err)
	}
	// A change made while the watcher is cut off is lost to it; the resync
	// after reconnecting stands for it.
	if _, err := direct.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@missed", CreatedAt: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
	up()

	if got := nextChange(t, changes); got.Kind != wxtoken.ChangeResync {
		t.Fatalf("first change after reconnecting: %+v, want a resync", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := cut.GetTicket(ctx, comp)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing after the server came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := direct.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: comp, Token: wxtoken.Token{Value: "ctoken"}}); err != nil {
		t.Fatal(err)
	}
	want := wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: comp}
	if got := nextChange(t, changes); got != want {
		t.Errorf("change after reconnecting: %+v, want %+v", got, want)
	}
}
