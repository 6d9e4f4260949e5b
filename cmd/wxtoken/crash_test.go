package main

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/sqlite"
)

// TestCrashMidRefresh kills `wxtoken serve` with SIGKILL again and again while
// refreshes are in flight (WeChat's answers are slowed down so that some
// always are), restarts it on the same SQLite file, and checks that nothing
// was lost: every account is still authorized with a refresh token WeChat
// accepts, and no reader was ever handed a token WeChat considered invalid.
func TestCrashMidRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary for ~20 s")
	}
	dbPath := filepath.Join(t.TempDir(), "wxtoken.db")
	c := newCluster(t, clusterOptions{
		store:       "sqlite://" + dbPath,
		authorizers: 200,
		scale:       60,
		tokenTTL:    20 * time.Minute,
		margin:      4 * time.Minute,
		leaseTTL:    2 * time.Minute,
		rotation:    0.5, // half the refreshes hand out a new refresh token: losing one would show
	})
	c.start(0)
	c.waitReady(0)
	c.sync()
	c.kill(0)
	// Slow answers keep refreshes in flight when the kill comes.
	c.emu.SetFault("api_authorizer_token", emulator.Fault{Delay: 80 * time.Millisecond, Probability: 1})

	ids := c.appIDs()
	rd := newReader(c, ids)
	ctx, cancel := context.WithCancel(context.Background())
	readers := rd.run(ctx, 4)

	// Kill for longer than a token lifetime (20 virtual minutes = 20 s), so
	// that every account's refresh is exposed to the kills at least once.
	kills := 0
	for start := time.Now(); time.Since(start) < 24*time.Second; kills++ {
		c.start(0)
		time.Sleep(time.Second + time.Duration(rand.IntN(2000))*time.Millisecond) // real process time, not virtual time
		c.kill(0)
	}
	c.start(0)
	// Let the last run catch up with whatever the kills left due (a token
	// lifetime of virtual time at most).
	deadline := time.Now().Add(40 * time.Second)
	for {
		if allFresh(t, c, dbPath, ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the service did not bring every account back to a valid token after the kills")
		}
		time.Sleep(250 * time.Millisecond) // polling the child's progress
	}
	cancel()
	readers.Wait()
	c.stop(0)

	counters := c.emu.Counters()
	t.Logf("kills: %d; tokens served and checked: %d (failed requests during kills: %d); refreshes: %d; 61023 answers (rotations cut by a kill, recovered from the list): %d",
		kills, rd.served.Load(), rd.failed.Load(), counters.Count("api_authorizer_token", 0), counters.Count("api_authorizer_token", 61023))
	if n := rd.invalid.Load(); n > 0 {
		t.Errorf("%d tokens handed out that WeChat considered invalid: %v", n, rd.examples)
	}
	if n := counters.Count("api_authorizer_token", 0); n < 2*int64(len(ids)) {
		t.Errorf("only %d refreshes: the kills did not span a token lifetime", n)
	}
	if rd.served.Load() == 0 {
		t.Error("readers were never served a token")
	}
}

// allFresh opens the store the way the service does and checks, against the
// emulator, every account's refresh token and access token.
func allFresh(t *testing.T, c *cluster, dbPath string, ids []string) bool {
	t.Helper()
	ctx := context.Background()
	inner, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	key, err := sealed.ParseMasterKey(c.creds.masterKey)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := sealed.KeyringFromKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	store := sealed.Wrap(inner, ring)
	fresh := true
	for _, id := range ids {
		a, err := store.GetAuthorizer(ctx, c.creds.appID, id)
		if err != nil {
			t.Fatalf("%s missing from the store: %v", id, err)
		}
		if a.State != wxtoken.StateAuthorized {
			t.Fatalf("%s is %s after the crashes (last error %q): its refresh token was lost", id, a.State, a.LastError)
		}
		if !c.emu.RefreshTokenValid(id, a.RefreshToken) {
			fresh = false // may still be recovered from the list on its next refresh
			continue
		}
		if !c.emu.AuthorizerTokenValid(id, a.AccessToken.Value) {
			fresh = false
		}
	}
	return fresh
}
