package wechat_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/wechat"
)

// eventSink is a platform's authorization event URL reduced to what this
// package owns: it opens each push with msgcrypt and parses the payload with
// ParseEvent, answering "success" only when both succeed.
type eventSink struct {
	t       *testing.T
	crypter *msgcrypt.Crypter
	mu      sync.Mutex
	events  []*wechat.Event
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	body, _ := io.ReadAll(r.Body)
	msg, _, _, err := s.crypter.OpenPush(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
	if err != nil {
		s.t.Errorf("push does not open: %v", err)
		http.Error(w, "bad envelope", http.StatusBadRequest)
		return
	}
	ev, err := wechat.ParseEvent(msg)
	if err != nil {
		s.t.Errorf("ParseEvent of the emulator's push: %v", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	io.WriteString(w, "success")
}

func (s *eventSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

func (s *eventSink) last(t *testing.T) *wechat.Event {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		t.Fatal("no push received")
	}
	return s.events[len(s.events)-1]
}

func (s *eventSink) lastOf(t *testing.T, infoType string) *wechat.Event {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].InfoType == infoType {
			return s.events[i]
		}
	}
	t.Fatalf("no %s push received", infoType)
	return nil
}

// waitForPushes polls (in real time) for a push the emulator sends after
// answering, from its own goroutine.
func (s *eventSink) waitForPushes(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d pushes received, want %d", s.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIntegrationEmulator runs the whole flow of the client and the push
// parser against the emulator (package emulator), once for each reading of
// AuthorizationCodeExpiredTime.
func TestIntegrationEmulator(t *testing.T) {
	for _, relative := range []bool{false, true} {
		name := "absolute code expiry"
		if relative {
			name = "relative code expiry"
		}
		t.Run(name, func(t *testing.T) { runEmulatorFlow(t, relative) })
	}
}

func runEmulatorFlow(t *testing.T, relativeExpiry bool) {
	ctx := t.Context()
	clock := wxtoken.NewManualClock(time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC))
	sink := &eventSink{t: t}
	pushSrv := httptest.NewServer(sink)
	defer pushSrv.Close()
	emu, err := emulator.New(emulator.Config{
		PushURL: pushSrv.URL, Authorizers: 3, Seed: 11, Salt: 5, Clock: clock,
		AuthCodeExpiredTimeRelative: relativeExpiry,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := emu.Config()
	if sink.crypter, err = msgcrypt.NewCrypter(cfg.Token, cfg.ComponentAppID, cfg.EncodingAESKey); err != nil {
		t.Fatal(err)
	}
	wx := httptest.NewServer(emu)
	defer wx.Close()
	c, err := wechat.New(wechat.Config{BaseURL: wx.URL, ComponentAppID: cfg.ComponentAppID, ComponentSecret: cfg.ComponentSecret})
	if err != nil {
		t.Fatal(err)
	}

	// 1. A ticket push, and the component token it buys.
	if err := emu.PushTicket(ctx); err != nil {
		t.Fatal(err)
	}
	ev := sink.last(t)
	if ev.InfoType != wechat.InfoTypeVerifyTicket || ev.AppID != cfg.ComponentAppID ||
		ev.ComponentVerifyTicket != emu.Ticket() || !ev.CreateTime.Equal(clock.Now()) {
		t.Fatalf("ticket push: %+v", ev)
	}
	tok, err := c.ComponentToken(ctx, ev.ComponentVerifyTicket)
	if err != nil {
		t.Fatal(err)
	}
	if !emu.ComponentTokenValid(tok.Value) || tok.ExpiresIn != 2*time.Hour {
		t.Fatalf("component token %v not valid at the emulator", tok)
	}

	// api_start_push_ticket: the push comes after the answer.
	before := sink.count()
	if err := c.StartPushTicket(ctx); err != nil {
		t.Fatal(err)
	}
	sink.waitForPushes(t, before+1)

	// 2. Authorization: pre-auth code, the merchant's click, the push and
	// the redirect carrying the same code.
	pre, err := c.CreatePreAuthCode(ctx, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	if link := wechat.PCAuthURL(wx.URL, cfg.ComponentAppID, pre.Value, "https://platform.example/cb", wechat.AuthLinkOptions{AuthType: 3}); link == "" {
		t.Fatal("no link")
	}
	appID := emu.AppID(0)
	redirect, err := emu.Authorize(ctx, pre.Value, appID, "https://platform.example/cb", nil)
	if err != nil {
		t.Fatal(err)
	}
	ru, _ := url.Parse(redirect)
	ev = sink.last(t)
	if ev.InfoType != wechat.InfoTypeAuthorized || ev.AuthorizerAppID != appID || ev.PreAuthCode != pre.Value ||
		ev.AuthorizationCode != ru.Query().Get("auth_code") {
		t.Fatalf("authorized push %v does not match redirect", ev)
	}
	if want := ev.CreateTime.Add(cfg.AuthCodeTTL); !ev.AuthorizationCodeExpiresAt.Equal(want) {
		t.Errorf("code expires at %v, want %v", ev.AuthorizationCodeExpiresAt, want)
	}

	// 3. The exchange, once.
	auth, err := c.QueryAuth(ctx, tok.Value, ev.AuthorizationCode)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := emu.Account(appID)
	if err != nil {
		t.Fatal(err)
	}
	if auth.AuthorizerAppID != appID || !emu.AuthorizerTokenValid(appID, auth.AccessToken) ||
		!emu.RefreshTokenValid(appID, auth.RefreshToken) || !slices.Equal(auth.FuncInfo, sortedCopy(acct.FuncInfo)) {
		t.Fatalf("authorization %v does not match the emulator's account %+v", auth, acct)
	}
	if _, err := c.QueryAuth(ctx, tok.Value, ev.AuthorizationCode); wxtoken.WeChatErrCode(err) != wechat.ErrCodeAuthCodeInvalid {
		t.Errorf("second exchange: %v, want errcode 61009", err)
	}

	// 4. A refresh, the profile, the list, the options.
	at, err := c.AuthorizerToken(ctx, tok.Value, appID, auth.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !emu.AuthorizerTokenValid(appID, at.AccessToken) || !emu.RefreshTokenValid(appID, at.RefreshToken) {
		t.Fatalf("refreshed %v not valid", at)
	}
	info, infoAuth, err := c.AuthorizerInfo(ctx, tok.Value, appID)
	if err != nil {
		t.Fatal(err)
	}
	if info.NickName != acct.NickName || info.UserName != acct.UserName || info.ServiceType != acct.ServiceType ||
		info.VerifyType != acct.VerifyType || infoAuth.RefreshToken != at.RefreshToken || infoAuth.AuthorizerAppID != appID {
		t.Errorf("authorizer info %+v / %v does not match %+v", info, infoAuth, acct)
	}
	list, err := c.AuthorizerList(ctx, tok.Value, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	idx := slices.IndexFunc(list.Items, func(l wechat.ListedAuthorizer) bool { return l.AppID == appID })
	if list.TotalCount < 1 || idx < 0 || list.Items[idx].RefreshToken != at.RefreshToken || list.Items[idx].AuthTime.IsZero() {
		t.Errorf("list %v lacks %s with its refresh token", list, appID)
	}
	if err := c.SetAuthorizerOption(ctx, tok.Value, appID, "voice_recognize", "1"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.AuthorizerOption(ctx, tok.Value, appID, "voice_recognize"); err != nil || v != "1" {
		t.Errorf("option voice_recognize = %q, %v; want 1", v, err)
	}
	if err := c.ClearQuota(ctx, ""); err != nil {
		t.Errorf("clear quota: %v", err)
	}

	// 5. Faults: what the lifecycle retries and what it does not.
	faults := []struct {
		fault     emulator.Fault
		code      string
		retryable bool
	}{
		{emulator.Fault{HTTPStatus: 502, Count: 1}, wxtoken.EUnavailable, true},
		{emulator.Fault{Drop: true, Count: 1}, wxtoken.EUnavailable, true},
		{emulator.Fault{ErrCode: -1, Count: 1}, wxtoken.EWeChat, true},
		{emulator.Fault{ErrCode: 45009, Count: 1}, wxtoken.EWeChat, false},
	}
	for _, f := range faults {
		emu.SetFault("api_authorizer_token", f.fault)
		_, err := c.AuthorizerToken(ctx, tok.Value, appID, at.RefreshToken)
		if wxtoken.ErrorCode(err) != f.code || wechat.IsRetryable(err) != f.retryable {
			t.Errorf("fault %+v: %v (retryable %v)", f.fault, err, wechat.IsRetryable(err))
		}
	}

	// 6. Time passes: the component token dies, and the client says so.
	clock.Advance(3 * time.Hour)
	if _, err := c.CreatePreAuthCode(ctx, tok.Value); !wechat.IsTokenRejected(err) {
		t.Errorf("expired component token: %v, want a rejected token", err)
	}

	// 7. The merchant revokes.
	if err := emu.Revoke(ctx, appID); err != nil {
		t.Fatal(err)
	}
	ev = sink.last(t)
	if ev.InfoType != wechat.InfoTypeUnauthorized || ev.AuthorizerAppID != appID {
		t.Errorf("unauthorized push: %v", ev)
	}
	ticket := sink.lastOf(t, wechat.InfoTypeVerifyTicket)
	tok2, err := c.ComponentToken(ctx, ticket.ComponentVerifyTicket)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthorizerToken(ctx, tok2.Value, appID, at.RefreshToken)
	if wxtoken.ErrorCode(err) != wxtoken.EWeChat || wxtoken.WeChatErrCode(err) != wechat.ErrCodeRefreshTokenInvalid ||
		wechat.IsRetryable(err) || wechat.IsTokenRejected(err) {
		t.Errorf("refresh after revocation: %v, want errcode 61023, neither retryable nor a rejected token", err)
	}
}

func sortedCopy(ids []int) []int {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
