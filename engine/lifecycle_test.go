package engine_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/engine"
)

// TestFortyEightHours runs the whole lifecycle for 48 virtual hours with 100
// authorizers: tickets every 10 minutes, a 13-hour ticket outage in the
// middle, one revocation, one permission update, one 61023 recovered through
// the authorizer list and one not. It checks, from the emulator's side, that
// every token was refreshed once per lifetime, that no caller was handed a
// token WeChat considered invalid, and that no refresh token was lost.
func TestFortyEightHours(t *testing.T) {
	if testing.Short() {
		t.Skip("48 virtual hours take a few seconds")
	}
	const n = 100
	h := newHarness(t, harnessOptions{authorizers: n, rotation: 0.2})
	comp := h.emu.Config().ComponentAppID

	accounts := h.emu.Accounts(0, n)
	if len(accounts) != n {
		t.Fatalf("emulator seeded %d accounts, want %d", len(accounts), n)
	}
	appIDs := make([]string, n)
	for i, a := range accounts {
		appIDs[i] = a.AppID
		h.authorize(a.AppID, []int{1, 15}, i%2 == 0)
	}

	revoked, updated, recovered, lost := appIDs[0], appIDs[1], appIDs[2], appIDs[3]
	handedOut := 0
	check := func(now time.Time) {
		for _, id := range appIDs {
			tok, err := h.eng.AuthorizerToken(h.ctx, id)
			if err != nil {
				continue // revoked, needs re-authorization, or no component token during the outage
			}
			handedOut++
			if !h.emu.AuthorizerTokenValid(id, tok.Value) {
				t.Fatalf("%s: at %s the engine handed out a token WeChat considers invalid", id, now.Sub(epoch))
			}
		}
		if ct, err := h.eng.ComponentToken(h.ctx); err == nil && !h.emu.ComponentTokenValid(ct.Value) {
			t.Fatalf("at %s the engine handed out a component token WeChat considers invalid", now.Sub(epoch))
		}
	}

	step := time.Minute
	h.advance(5*time.Hour, step, check)
	if err := h.emu.Revoke(h.ctx, revoked); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Hour, step, check)
	if err := h.emu.UpdateAuthorization(h.ctx, updated, []int{1, 15, 18}); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Hour, step, check)
	if err := h.emu.RotateRefreshToken(recovered); err != nil {
		t.Fatal(err)
	}
	if err := h.emu.DropRefreshToken(lost); err != nil {
		t.Fatal(err)
	}
	h.advance(5*time.Hour, step, check) // to hour 12

	h.emu.PausePushes()
	outageStart := h.clock.Now()
	h.advance(12*time.Hour+30*time.Minute, step, check)
	// The last ticket is now older than 12 h. Whether a scheduled renewal
	// falls into the remaining half hour depends on jitter, so a caller's
	// rejection report forces one: WeChat must refuse the stale ticket, the
	// engine must keep serving its still-valid token and say what is wrong.
	cur, err := h.eng.ComponentToken(h.ctx)
	if err != nil {
		t.Fatalf("component token before the forced renewal: %v", err)
	}
	if _, err := h.eng.InvalidateComponentToken(h.ctx, cur.Value); wxtoken.WeChatErrCode(err) != 61005 {
		t.Fatalf("renewal with a ticket older than 12 h: got %v, want WeChat's 61005", err)
	}
	if !healthMentions(h.eng.Health(h.ctx), "61005") {
		t.Errorf("readiness does not report the expired ticket: %+v", h.eng.Health(h.ctx))
	}
	h.advance(30*time.Minute, step, check)
	h.emu.ResumePushes()
	outageEnd := h.clock.Now()
	h.advance(23*time.Hour, step, check) // to hour 48

	// The state changes took effect.
	mustState := func(appID string, want wxtoken.AuthorizerState) *wxtoken.Authorizer {
		t.Helper()
		a, err := h.store.GetAuthorizer(h.ctx, comp, appID)
		if err != nil {
			t.Fatal(err)
		}
		if a.State != want {
			t.Errorf("%s: state %s, want %s (last error %q)", appID, a.State, want, a.LastError)
		}
		return a
	}
	if a := mustState(revoked, wxtoken.StateRevoked); a.RefreshToken != "" || a.AccessToken.Value != "" {
		t.Errorf("revoked authorizer kept its tokens")
	}
	if a := mustState(updated, wxtoken.StateAuthorized); len(a.FuncInfo) != 3 {
		t.Errorf("permission update not applied: func_info %v", a.FuncInfo)
	}
	mustState(recovered, wxtoken.StateAuthorized)
	mustState(lost, wxtoken.StateNeedsReauthorization)

	// No refresh token was lost: every authorized account's stored refresh
	// token is one WeChat still accepts.
	for _, id := range appIDs {
		a, err := h.store.GetAuthorizer(h.ctx, comp, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.State == wxtoken.StateAuthorized && !h.emu.RefreshTokenValid(id, a.RefreshToken) {
			t.Errorf("%s: the stored refresh token is no longer valid at WeChat: lost", id)
		}
		if a.State == wxtoken.StateAuthorized && !h.emu.AuthorizerTokenValid(id, a.AccessToken.Value) {
			t.Errorf("%s: the stored access token is invalid at the end", id)
		}
	}

	// Once per lifetime: consecutive refreshes of an account are at least a
	// token lifetime minus the refresh margin and its jitter apart, except
	// around the ticket outage, when a refresh may fail and be retried.
	events := allEvents(t, h, comp)
	refreshes := map[string][]time.Time{}
	for _, ev := range events {
		if ev.Kind == wxtoken.EventAuthorizerRefresh {
			refreshes[ev.AuthorizerAppID] = append(refreshes[ev.AuthorizerAppID], ev.At)
		}
	}
	minGap := 2*time.Hour - 10*time.Minute - 5*time.Minute - step
	total := 0
	for _, id := range appIDs {
		times := refreshes[id]
		total += len(times)
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		for i := 1; i < len(times); i++ {
			gap := times[i].Sub(times[i-1])
			if gap < minGap && id != recovered {
				t.Errorf("%s refreshed twice within %s (at %s and %s)", id, gap, times[i-1].Sub(epoch), times[i].Sub(epoch))
			}
		}
		if id != revoked && id != lost && len(times) < 20 {
			t.Errorf("%s refreshed only %d times in 48 h", id, len(times))
		}
	}

	// The emulator saw exactly the refreshes the engine recorded: none hidden.
	c := h.emu.Counters()
	okCalls := c.Count("api_authorizer_token", 0)
	if okCalls != int64(total) {
		t.Errorf("emulator counted %d successful api_authorizer_token calls, engine recorded %d refreshes", okCalls, total)
	}
	if got := c.Count("api_authorizer_token", 61023); got != 2 {
		t.Errorf("61023 answers: %d, want 2 (one recovered, one not)", got)
	}

	// During the outage the component token was renewed with the last ticket.
	renewed := 0
	for _, ev := range events {
		if ev.Kind == wxtoken.EventComponentTokenRefresh && ev.At.After(outageStart) && ev.At.Before(outageEnd) {
			renewed++
		}
	}
	if renewed < 5 {
		t.Errorf("component token renewed %d times during the 13 h outage; want it kept alive with the last ticket", renewed)
	}
	if p := h.eng.Health(h.ctx); len(p) != 0 {
		t.Errorf("not ready at the end: %+v", p)
	}
	t.Logf("tokens handed out and checked: %d; authorizer refreshes: %d; component refreshes during outage: %d; 61005 answers: %d",
		handedOut, total, renewed, c.Count("api_component_token", 61005))

	// No secret reached the logs.
	assertNoSecrets(t, h)
}

func healthMentions(problems []engine.Problem, s string) bool {
	for _, p := range problems {
		if strings.Contains(p.Message, s) {
			return true
		}
	}
	return false
}

func allEvents(t *testing.T, h *harness, comp string) []*wxtoken.Event {
	t.Helper()
	var out []*wxtoken.Event
	var after int64
	for {
		page, err := h.store.ListEvents(h.ctx, wxtoken.EventFilter{ComponentAppID: comp, AfterID: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// assertNoSecrets greps the captured logs for every secret the run handled.
func assertNoSecrets(t *testing.T, h *harness) {
	t.Helper()
	logs := h.logs.String()
	if len(logs) == 0 {
		t.Fatal("no logs captured")
	}
	cfg := h.emu.Config()
	secrets := []string{cfg.ComponentSecret, cfg.EncodingAESKey}
	comp := cfg.ComponentAppID
	if tk, err := h.store.GetTicket(h.ctx, comp); err == nil {
		secrets = append(secrets, tk.Value)
	}
	if ct, err := h.store.GetComponentToken(h.ctx, comp); err == nil {
		secrets = append(secrets, ct.Value)
	}
	as, err := h.store.ListAuthorizers(h.ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		secrets = append(secrets, a.RefreshToken, a.AccessToken.Value)
	}
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			t.Errorf("a secret (…%s) appears in the logs", s[len(s)-4:])
		}
	}
}
