package engine_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// TestInvalidate checks compare-and-refresh: only a report naming the current
// token refreshes, and a thousand concurrent reports refresh once.
func TestInvalidate(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 3, preAuthorized: true})
	res, err := h.eng.Sync(h.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 3 {
		t.Fatalf("sync imported %d accounts, want 3: %+v", res.Imported, res)
	}
	h.settle()
	appID := h.emu.Accounts(0, 1)[0].AppID
	first, err := h.eng.AuthorizerToken(h.ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	refreshes := func() int64 { return h.emu.Counters().Refreshes[appID] }
	base := refreshes()

	tests := []struct {
		name          string
		reports       int
		rejected      func() string
		wantRefreshes int64
	}{
		{"a thousand concurrent reports of the current token refresh once", 1000, func() string { return first.Value }, 1},
		{"a report of a token already replaced refreshes nothing", 50, func() string { return first.Value }, 0},
		{"a report of an unknown token refreshes nothing", 10, func() string { return "not-a-token-we-handed-out" }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := refreshes()
			cur, _ := h.eng.AuthorizerToken(h.ctx, appID)
			rejected := tc.rejected()
			var wg sync.WaitGroup
			results := make([]wxtoken.Token, tc.reports)
			errs := make([]error, tc.reports)
			for i := 0; i < tc.reports; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					results[i], errs[i] = h.eng.Invalidate(h.ctx, appID, rejected)
				}(i)
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("report %d: %v", i, err)
				}
				if !h.emu.AuthorizerTokenValid(appID, results[i].Value) {
					t.Fatalf("report %d answered a token WeChat considers invalid", i)
				}
			}
			if got := refreshes() - before; got != tc.wantRefreshes {
				t.Errorf("refreshes: %d, want %d", got, tc.wantRefreshes)
			}
			now, _ := h.eng.AuthorizerToken(h.ctx, appID)
			if tc.wantRefreshes == 0 && now.Value != cur.Value {
				t.Errorf("the token changed without a refresh")
			}
		})
	}
	if _, err := h.eng.Invalidate(h.ctx, appID, ""); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("empty report: %v, want an invalid error", err)
	}
	if total := refreshes() - base; total != 1 {
		t.Errorf("total refreshes %d, want 1", total)
	}
}

// TestPushOrdering checks that a push older than the last one applied to an
// account is ignored, and that an unknown InfoType is acknowledged.
func TestPushOrdering(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 2})
	appID := h.emu.Accounts(0, 1)[0].AppID
	h.authorize(appID, []int{1}, false)
	comp := h.emu.Config().ComponentAppID
	a, err := h.store.GetAuthorizer(h.ctx, comp, appID)
	if err != nil {
		t.Fatal(err)
	}
	stale := a.LastEventAt.Add(-time.Minute)
	if err := h.eng.HandlePush(h.ctx, pushEvent(comp, "unauthorized", appID, stale)); err != nil {
		t.Fatal(err)
	}
	a2, err := h.store.GetAuthorizer(h.ctx, comp, appID)
	if err != nil {
		t.Fatal(err)
	}
	if a2.State != wxtoken.StateAuthorized {
		t.Errorf("an unauthorized push older than the authorization revoked the account")
	}
	if err := h.eng.HandlePush(h.ctx, pushEvent(comp, "something_new", "", h.clock.Now())); err != nil {
		t.Errorf("unknown InfoType: %v, want it acknowledged", err)
	}
	if err := h.eng.HandlePush(h.ctx, pushEvent(comp, "unauthorized", appID, h.clock.Now())); err != nil {
		t.Fatal(err)
	}
	a3, _ := h.store.GetAuthorizer(h.ctx, comp, appID)
	if a3.State != wxtoken.StateRevoked || a3.RefreshToken != "" {
		t.Errorf("a current unauthorized push: state %s, refresh token kept %v", a3.State, a3.RefreshToken != "")
	}
	if _, err := h.eng.AuthorizerToken(h.ctx, appID); wxtoken.ErrorCode(err) != wxtoken.ERevoked {
		t.Errorf("token of a revoked account: %v, want revoked", err)
	}
	if err := h.eng.HandlePush(h.ctx, pushEvent("wx0000000000000000", "unauthorized", appID, h.clock.Now())); wxtoken.ErrorCode(err) != wxtoken.EInvalid {
		t.Errorf("push for another platform: %v, want invalid", err)
	}
}

func pushEvent(comp, infoType, appID string, at time.Time) *wechat.Event {
	return &wechat.Event{AppID: comp, InfoType: infoType, AuthorizerAppID: appID, CreateTime: at.Truncate(time.Second)}
}

// TestReplicasShareTheWork runs three engines on one store, as three replicas
// would: every due token is refreshed by exactly one of them, and every
// replica serves the new token.
func TestReplicasShareTheWork(t *testing.T) {
	const n = 30
	h := newHarness(t, harnessOptions{authorizers: n, preAuthorized: true, replicas: 3})
	if _, err := h.eng.Sync(h.ctx, false); err != nil {
		t.Fatal(err)
	}
	h.settle()
	ids := make([]string, 0, n)
	for _, a := range h.emu.Accounts(0, n) {
		ids = append(ids, a.AppID)
	}
	h.advance(12*time.Hour, 2*time.Minute, func(now time.Time) {
		for _, id := range ids {
			for i, e := range h.engs {
				tok, err := e.AuthorizerToken(h.ctx, id)
				if err != nil {
					t.Fatalf("replica %d, %s: %v", i, id, err)
				}
				if !h.emu.AuthorizerTokenValid(id, tok.Value) {
					t.Fatalf("replica %d handed out an invalid token of %s", i, id)
				}
			}
		}
	})
	// First refresh at import, then one per lifetime: 12 h / (2 h − 10..15 min)
	// gives 6 or 7 more.
	counts := h.emu.Counters().Refreshes
	recorded := map[string]int{}
	byOwner := map[string]int{}
	history := map[string][]string{}
	for _, ev := range allEvents(t, h, h.emu.Config().ComponentAppID) {
		if ev.Kind == wxtoken.EventAuthorizerRefresh {
			recorded[ev.AuthorizerAppID]++
			history[ev.AuthorizerAppID] = append(history[ev.AuthorizerAppID], ev.At.Sub(epoch).String()+" "+ev.Detail)
			owner, _, _ := strings.Cut(strings.TrimPrefix(ev.Detail, "by="), " ")
			byOwner[owner]++
		}
	}
	for i := range h.engs {
		if byOwner[fmt.Sprintf("replica-%d", i)] == 0 {
			t.Errorf("replica %d refreshed nothing: the work is not shared (%v)", i, byOwner)
		}
	}
	t.Logf("refreshes by replica: %v", byOwner)
	for _, id := range ids {
		if c := counts[id]; c < 7 || c > 8 {
			t.Errorf("%s refreshed %d times in 12 h by 3 replicas, want 7 or 8 (once per lifetime): %q", id, c, history[id])
		}
		if int64(recorded[id]) != counts[id] {
			t.Errorf("%s: WeChat saw %d refreshes, the store recorded %d", id, counts[id], recorded[id])
		}
	}
}
