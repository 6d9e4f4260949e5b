package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// WeChat errcodes the lifecycle decides on.
const (
	errcodeRevoked             = 61003
	errcodeIPNotWhitelisted    = 61004
	errcodeTicketExpired       = 61005
	errcodeTicketInvalid       = 61006
	errcodeCodeInvalid         = 61009
	errcodeCodeExpired         = 61010
	errcodeRefreshTokenInvalid = 61023
	errcodeInvalidSecret       = 40125
	errcodeInvalidAppID        = 40013
)

// RotationOverlap is how long WeChat keeps honouring an access token after it
// minted its successor (WeChat staff: 5 minutes). A lease must be shorter, so
// that a replica taking over from a crashed one refreshes in time.
const RotationOverlap = 5 * time.Minute

// intentExpiry is how long the current token t stays safe to hand out once a
// refresh starting at start asks WeChat for its successor. WeChat keeps only
// the newest token and the one before it: a token that is still its newest
// lives RotationOverlap past the new mint. A token already cut short by an
// earlier attempt whose outcome is unknown (a lost answer, a lapsed lease)
// may be the one before the newest, and the coming mint ends it at once.
func intentExpiry(t wxtoken.Token, start time.Time) time.Time {
	limit := start.Add(RotationOverlap)
	if t.ExpiresAt.After(limit) {
		return limit
	}
	return start
}

// wechatAnswered reports whether err is WeChat's own refusal (an errcode other
// than -1, "system busy"), after which nothing was minted; a transport
// failure or a timeout leaves that unknown.
func wechatAnswered(err error) bool {
	code := wxtoken.WeChatErrCode(err)
	return code != 0 && code != -1
}

// MinRemaining is the least lifetime a token must have left to be handed out:
// a token that dies while the caller is still using it is as bad as an
// invalid one. Refreshes happen RefreshMargin before expiry, so only a token
// kept short after a failed or raced refresh ever gets this close.
const MinRemaining = time.Minute

// handoutTime is the moment a token handed out now must still be valid at.
func (e *Engine) handoutTime() time.Time { return e.clock.Now().Add(MinRemaining) }

// refreshTimeout bounds one refresh, independent of the caller that started
// it: a refresh shared by many readers must not die with the first reader.
const refreshTimeout = 30 * time.Second

// CachedAuthorizerToken is the hot path: the cached token of appID if it is
// valid now. It never does I/O and never allocates.
func (e *Engine) CachedAuthorizerToken(appID string) (wxtoken.Token, bool) {
	ent := e.lookup(appID)
	if ent == nil {
		return wxtoken.Token{}, false
	}
	s := ent.snap.Load()
	if s == nil || s.state != wxtoken.StateAuthorized || !s.token.Valid(e.handoutTime()) {
		return wxtoken.Token{}, false
	}
	return s.token, true
}

// AuthorizerToken returns a valid access token of appID: from memory while one
// is valid, otherwise after the one refresh in flight for it (started here if
// none is). Errors: ENotFound, ERevoked, ENeedsReauthorization, EUnavailable,
// EWeChat.
func (e *Engine) AuthorizerToken(ctx context.Context, appID string) (wxtoken.Token, error) {
	if t, ok := e.CachedAuthorizerToken(appID); ok {
		return t, nil
	}
	return e.refreshShared(ctx, appID, "")
}

// Invalidate reports that WeChat rejected token for appID. Only a report
// naming the current token triggers a refresh, and concurrent reports of the
// same token share one. It returns the token to use from now on.
func (e *Engine) Invalidate(ctx context.Context, appID, rejected string) (wxtoken.Token, error) {
	if rejected == "" {
		return wxtoken.Token{}, wxtoken.Errorf(wxtoken.EInvalid, "the rejected token is required")
	}
	if t, ok := e.CachedAuthorizerToken(appID); ok && t.Value != rejected {
		return t, nil // a stale report: the token was replaced already
	}
	return e.refreshShared(ctx, appID, rejected)
}

// refreshShared runs at most one refresh per (appID, rejected token) in this
// process and lets every caller wait for it with its own deadline.
func (e *Engine) refreshShared(ctx context.Context, appID, rejected string) (wxtoken.Token, error) {
	state, err := e.knownState(ctx, appID)
	if err != nil {
		return wxtoken.Token{}, err
	}
	if err := stateError(appID, state); err != nil {
		return wxtoken.Token{}, err
	}
	ch := e.flight.DoChan(appID+"\x00"+rejected, func() (any, error) {
		e.busy.Add(1)
		defer e.busy.Add(-1)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return e.refresh(rctx, appID, rejected)
	})
	select {
	case <-ctx.Done():
		return wxtoken.Token{}, wxtoken.Errorf(wxtoken.EUnavailable, "gave up waiting for the refresh of %s: %v", appID, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return wxtoken.Token{}, r.Err
		}
		return r.Val.(wxtoken.Token), nil
	}
}

// knownState is appID's state from the cache or, for an account this replica
// has not cached, from one store read: an unknown appid is ENotFound before
// any lease is taken for it.
func (e *Engine) knownState(ctx context.Context, appID string) (wxtoken.AuthorizerState, error) {
	if ent := e.lookup(appID); ent != nil {
		if s := ent.snap.Load(); s != nil {
			return s.state, nil
		}
	}
	a, err := e.Authorizer(ctx, appID)
	if err != nil {
		return "", err
	}
	e.remember(a)
	return a.State, nil
}

func stateError(appID string, s wxtoken.AuthorizerState) error {
	switch s {
	case wxtoken.StateRevoked:
		return wxtoken.Errorf(wxtoken.ERevoked, "authorizer %s revoked the authorization", appID)
	case wxtoken.StateNeedsReauthorization:
		return wxtoken.Errorf(wxtoken.ENeedsReauthorization, "authorizer %s must authorize the platform again", appID)
	}
	return nil
}

// refreshScheduled is the scheduler's refresh: it runs only if the token is
// still due when the lease is ours, so replicas racing for the same account
// refresh it once.
func (e *Engine) refreshScheduled(ctx context.Context, appID string) {
	_, err, _ := e.flight.Do(appID+"\x00", func() (any, error) {
		rctx, cancel := context.WithTimeout(ctx, refreshTimeout)
		defer cancel()
		return e.refresh(rctx, appID, "")
	})
	if err == nil {
		e.sched.ensure(appID, e.clock.Now().Add(e.margin))
		return
	}
	switch wxtoken.ErrorCode(err) {
	case wxtoken.ERevoked, wxtoken.ENeedsReauthorization, wxtoken.ENotFound:
		e.sched.remove(appID)
		return
	}
	if ctx.Err() != nil {
		return
	}
	n := e.sched.retry(appID, e.backoff)
	e.log.Warn("authorizer token refresh failed; will retry", "authorizer_appid", appID, "attempt", n, "err", err)
}

// refresh obtains a new access token for appID under the store's lease, and
// stores it (with the refresh token WeChat returned) before handing it out.
// With rejected == "" it refreshes only a token that is due; otherwise only
// if the stored token is still the rejected one.
func (e *Engine) refresh(ctx context.Context, appID, rejected string) (wxtoken.Token, error) {
	ent := e.entryFor(appID)
	if err := acquireLocal(ctx, ent.refreshing); err != nil {
		return wxtoken.Token{}, err
	}
	defer func() { <-ent.refreshing }()
	release, err := e.lease(ctx, wxtoken.AuthorizerLease(e.appID, appID), func() bool {
		t, ok := e.CachedAuthorizerToken(appID)
		return ok && t.Value != rejected && (rejected != "" || e.clock.Now().Before(t.ExpiresAt.Add(-e.margin)))
	}, appID)
	if err != nil {
		return wxtoken.Token{}, err
	}
	if release == nil { // another replica refreshed it while we waited
		if t, ok := e.CachedAuthorizerToken(appID); ok {
			return t, nil
		}
		return wxtoken.Token{}, wxtoken.Errorf(wxtoken.EUnavailable, "authorizer %s: refresh by another replica left no valid token", appID)
	}
	defer release()

	a, err := e.store.GetAuthorizer(ctx, e.appID, appID)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
			e.forgetEmpty(appID)
			return wxtoken.Token{}, wxtoken.Errorf(wxtoken.ENotFound, "authorizer %s is not known", appID)
		}
		return wxtoken.Token{}, unavailable("read authorizer", err)
	}
	e.remember(a)
	if err := stateError(appID, a.State); err != nil {
		return wxtoken.Token{}, err
	}
	now := e.clock.Now()
	if a.AccessToken.Valid(now.Add(MinRemaining)) {
		if rejected == "" && now.Before(a.AccessToken.ExpiresAt.Add(-e.margin)) {
			return a.AccessToken, nil // refreshed elsewhere; not due yet
		}
		if rejected != "" && a.AccessToken.Value != rejected {
			return a.AccessToken, nil // the rejected token was replaced already
		}
	}
	if a.RefreshToken == "" {
		return wxtoken.Token{}, e.needsReauthorization(ctx, appID, "no refresh token is stored")
	}
	return e.callRefresh(ctx, a, true)
}

// callRefresh calls api_authorizer_token with a's refresh token and persists
// the answer. recover allows one recovery of a rejected refresh token through
// the authorizer list.
func (e *Engine) callRefresh(ctx context.Context, a *wxtoken.Authorizer, recover bool) (wxtoken.Token, error) {
	start := e.clock.Now()
	// Once WeChat mints a new token, the current one lives RotationOverlap
	// more. Record that before asking: if this process dies before it stores
	// the answer, the store already says when the current token stops being
	// safe to hand out, and the next replica refreshes it in time.
	previous := a.AccessToken
	intent := intentExpiry(previous, start)
	shortened := previous.Value != "" && intent.Before(previous.ExpiresAt)
	if shortened {
		if _, err := e.update(ctx, a.AppID, false, func(cur *wxtoken.Authorizer) error {
			if cur.AccessToken.Value != previous.Value {
				return errNoChange
			}
			cur.AccessToken.ExpiresAt = intent
			return nil
		}); err != nil {
			return wxtoken.Token{}, err
		}
	}
	res, err := withComponentTokenT(e, ctx, func(componentToken string) (wechat.AuthorizerToken, error) {
		return e.wx.AuthorizerToken(ctx, componentToken, a.AppID, a.RefreshToken)
	})
	e.observe(KindAuthorizerToken, err, start)
	if err != nil && shortened && wechatAnswered(err) {
		// WeChat refused, so it minted nothing: the current token keeps its
		// full lifetime.
		_, _ = e.update(ctx, a.AppID, false, func(cur *wxtoken.Authorizer) error {
			if cur.AccessToken.Value != previous.Value || !cur.AccessToken.ExpiresAt.Equal(intent) {
				return errNoChange
			}
			cur.AccessToken.ExpiresAt = previous.ExpiresAt
			return nil
		})
	}
	if err != nil {
		switch wxtoken.WeChatErrCode(err) {
		case errcodeRefreshTokenInvalid:
			if recover {
				return e.recoverRefreshToken(ctx, a)
			}
			return wxtoken.Token{}, e.needsReauthorization(ctx, a.AppID, "WeChat rejected the refresh token (61023) and the authorizer list had no other")
		case errcodeRevoked:
			if rerr := e.revoke(ctx, a.AppID, time.Time{}, "WeChat says the authorization was revoked (61003)"); rerr != nil {
				return wxtoken.Token{}, rerr
			}
			return wxtoken.Token{}, stateError(a.AppID, wxtoken.StateRevoked)
		}
		e.noteError(ctx, a.AppID, err)
		return wxtoken.Token{}, err
	}

	tok := wxtoken.Token{Value: res.AccessToken, ExpiresAt: start.Add(res.ExpiresIn)}
	// A lease that lapsed during a slow call lets another replica refresh
	// too, and WeChat honours only the later of the two tokens (the earlier
	// one for RotationOverlap more). Renewing the lease tells us whether
	// someone took it over.
	_, lerr := e.store.AcquireLease(ctx, wxtoken.AuthorizerLease(e.appID, a.AppID), e.owner, e.clock.Now(), e.leaseTTL())
	leaseLost := wxtoken.ErrorCode(lerr) == wxtoken.EConflict
	rotated, raced := false, false
	stored, err := e.update(ctx, a.AppID, false, func(cur *wxtoken.Authorizer) error {
		if cur.State != wxtoken.StateAuthorized {
			return stateError(cur.AppID, cur.State)
		}
		rotated, raced = false, leaseLost || cur.AccessToken.Value != previous.Value
		if raced {
			// Which token WeChat minted last is unknown, but ours is good at
			// least until start+RotationOverlap whatever the order. Store it
			// with that expiry: a concurrent writer then sees a changed token
			// and does the same, and the scheduler refreshes again, under a
			// lease, before the short expiry.
			cur.AccessToken = wxtoken.Token{Value: tok.Value, ExpiresAt: start.Add(RotationOverlap)}
			return nil
		}
		cur.AccessToken = tok
		if res.RefreshToken != "" && res.RefreshToken != cur.RefreshToken {
			cur.RefreshToken = res.RefreshToken
			rotated = true
		}
		cur.LastRefreshAt = e.clock.Now()
		cur.LastError = ""
		return nil
	})
	if err != nil {
		e.log.Error("refreshed authorizer token could not be stored; the previous refresh token stays in use",
			"authorizer_appid", a.AppID, "err", err)
		return wxtoken.Token{}, err
	}
	if raced {
		e.log.Warn("another replica refreshed the same token concurrently (a lease lapsed); both tokens are kept short and refreshed again",
			"authorizer_appid", a.AppID)
		e.appendEvent(ctx, a.AppID, wxtoken.EventAuthorizerRefresh, fmt.Sprintf("by=%s raced lease_lost=%v expires_at=%s", e.owner, leaseLost, stored.AccessToken.ExpiresAt.UTC().Format(time.RFC3339)))
		return stored.AccessToken, nil
	}
	e.log.Info("authorizer token refreshed", "authorizer_appid", a.AppID, "token", wxtoken.Redact(tok.Value),
		"expires_at", tok.ExpiresAt, "refresh_token_rotated", rotated)
	e.appendEvent(ctx, a.AppID, wxtoken.EventAuthorizerRefresh, "by="+e.owner+" expires_at="+tok.ExpiresAt.UTC().Format(time.RFC3339))
	if rotated {
		e.appendEvent(ctx, a.AppID, wxtoken.EventRefreshTokenRotated, "")
	}
	return stored.AccessToken, nil
}

// recoverRefreshToken looks a's authorization up in WeChat's authorizer list:
// a store that lost the latest refresh token (restored from a backup, or a
// rotation whose write never landed) gets it back from there.
func (e *Engine) recoverRefreshToken(ctx context.Context, a *wxtoken.Authorizer) (wxtoken.Token, error) {
	listed, err := e.findListed(ctx, a.AppID)
	if err != nil {
		return wxtoken.Token{}, err
	}
	if listed.RefreshToken == "" || listed.RefreshToken == a.RefreshToken {
		return wxtoken.Token{}, e.needsReauthorization(ctx, a.AppID, "WeChat rejected the refresh token (61023) and the authorizer list had no other")
	}
	updated, err := e.update(ctx, a.AppID, false, func(cur *wxtoken.Authorizer) error {
		cur.RefreshToken = listed.RefreshToken
		return nil
	})
	if err != nil {
		return wxtoken.Token{}, err
	}
	e.log.Warn("refresh token recovered from the authorizer list", "authorizer_appid", a.AppID)
	e.appendEvent(ctx, a.AppID, wxtoken.EventRefreshTokenRecovered, "")
	return e.callRefresh(ctx, updated, false)
}

// findListed pages through api_get_authorizer_list for appID.
func (e *Engine) findListed(ctx context.Context, appID string) (wechat.ListedAuthorizer, error) {
	for offset := 0; ; {
		page, err := e.withComponentTokenList(ctx, offset)
		if err != nil {
			return wechat.ListedAuthorizer{}, err
		}
		for _, it := range page.Items {
			if it.AppID == appID {
				return it, nil
			}
		}
		offset += len(page.Items)
		if len(page.Items) == 0 || offset >= page.TotalCount {
			return wechat.ListedAuthorizer{}, nil
		}
	}
}

func (e *Engine) withComponentTokenList(ctx context.Context, offset int) (wechat.AuthorizerList, error) {
	return withComponentTokenT(e, ctx, func(componentToken string) (wechat.AuthorizerList, error) {
		return e.wx.AuthorizerList(ctx, componentToken, offset, 500)
	})
}

func (e *Engine) needsReauthorization(ctx context.Context, appID, why string) error {
	_, err := e.update(ctx, appID, false, func(cur *wxtoken.Authorizer) error {
		if cur.State == wxtoken.StateRevoked {
			return nil
		}
		cur.State = wxtoken.StateNeedsReauthorization
		cur.AccessToken = wxtoken.Token{}
		cur.LastError = why
		return nil
	})
	if err != nil {
		return err
	}
	e.log.Error("authorizer needs to authorize the platform again", "authorizer_appid", appID, "reason", why)
	e.appendEvent(ctx, appID, wxtoken.EventNeedsReauthorization, why)
	return wxtoken.Errorf(wxtoken.ENeedsReauthorization, "authorizer %s must authorize the platform again: %s", appID, why)
}

// noteError records a failed refresh on the authorizer, for the API's
// "last error". Best effort: the failure itself is what the caller sees.
func (e *Engine) noteError(ctx context.Context, appID string, cause error) {
	msg := wxtoken.ErrorMessage(cause)
	_, _ = e.update(ctx, appID, false, func(cur *wxtoken.Authorizer) error {
		cur.LastError = msg
		return nil
	})
}

var errNoChange = errors.New("no change")

// update applies mutate to the stored authorizer and writes it with
// compare-and-set, re-reading and re-applying on a conflict. Store failures
// are retried for a while: the values being written (a refresh token above
// all) exist nowhere else. create allows mutate to start from a new record.
func (e *Engine) update(ctx context.Context, appID string, create bool, mutate func(*wxtoken.Authorizer) error) (*wxtoken.Authorizer, error) {
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			if err := storeRetryWait(ctx, attempt); err != nil {
				break
			}
		}
		cur, err := e.store.GetAuthorizer(ctx, e.appID, appID)
		switch {
		case err == nil:
		case wxtoken.ErrorCode(err) == wxtoken.ENotFound && create:
			cur = &wxtoken.Authorizer{ComponentAppID: e.appID, AppID: appID, State: wxtoken.StateAuthorized}
		case wxtoken.ErrorCode(err) == wxtoken.ENotFound:
			return nil, wxtoken.Errorf(wxtoken.ENotFound, "authorizer %s is not known", appID)
		default:
			lastErr = err
			e.log.Error("store read failed; retrying", "authorizer_appid", appID, "attempt", attempt+1, "err", err)
			continue
		}
		if err := mutate(cur); err != nil {
			if errors.Is(err, errNoChange) {
				return cur, nil
			}
			return nil, err
		}
		cur.UpdatedAt = e.clock.Now()
		err = e.store.PutAuthorizer(ctx, cur)
		if err == nil {
			e.remember(cur)
			return cur, nil
		}
		lastErr = err
		if wxtoken.ErrorCode(err) == wxtoken.EConflict {
			continue // someone wrote in between: re-read and re-apply
		}
		e.log.Error("store write failed; retrying", "authorizer_appid", appID, "attempt", attempt+1, "err", err)
	}
	return nil, unavailable("write authorizer "+appID, lastErr)
}

// storeRetryWait waits before retrying a store operation. It uses the wall
// clock on purpose: a store comes back in real time, whatever the lifecycle's
// clock says.
func storeRetryWait(ctx context.Context, attempt int) error {
	d := time.Duration(attempt) * 50 * time.Millisecond
	if d > time.Second {
		d = time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func unavailable(what string, err error) error {
	if err == nil {
		return wxtoken.Errorf(wxtoken.EUnavailable, "%s failed", what)
	}
	var we *wxtoken.Error
	if errors.As(err, &we) && we.Code != wxtoken.EInternal && we.Code != wxtoken.EConflict {
		return err
	}
	return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: what + " failed", Err: err}
}

// lease takes the named store lease for this replica. While another replica
// holds it, it waits (until ctx is done) for that replica's result to show in
// the cache; done reports whether the result makes our refresh unnecessary,
// in which case lease returns a nil release func.
func (e *Engine) lease(ctx context.Context, name string, done func() bool, appID string) (release func(), err error) {
	for {
		_, err := e.store.AcquireLease(ctx, name, e.owner, e.clock.Now(), e.leaseTTL())
		if err == nil {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				if err := e.store.ReleaseLease(rctx, name, e.owner); err != nil {
					e.log.Warn("release lease", "lease", name, "err", err)
				}
			}, nil
		}
		if wxtoken.ErrorCode(err) != wxtoken.EConflict {
			return nil, unavailable("acquire lease", err)
		}
		// Another replica is refreshing. Its write reaches our cache through
		// the store's notifications; re-check the store now and then in case a
		// notification was lost, and take over if its lease lapses.
		var changed <-chan struct{}
		if appID != "" {
			changed = e.entryChanged(appID)
		} else {
			changed = e.componentChanged()
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, wxtoken.Errorf(wxtoken.EUnavailable, "waited too long for another replica's refresh")
		case <-changed:
		case <-t.C:
			if appID != "" {
				if a, err := e.store.GetAuthorizer(ctx, e.appID, appID); err == nil {
					e.remember(a)
				}
			} else if ct, err := e.store.GetComponentToken(ctx, e.appID); err == nil {
				e.setComponent(&ct)
			}
		}
		t.Stop()
		if done() {
			return nil, nil
		}
	}
}

// entryFor returns appID's cache entry, creating an empty one if needed.
func (e *Engine) entryFor(appID string) *entry {
	if ent := e.lookup(appID); ent != nil {
		return ent
	}
	v, _ := e.cache.LoadOrStore(appID, newEntry())
	return v.(*entry)
}

// forgetEmpty drops appID's cache entry if nothing was ever loaded into it,
// so that asking for unknown appids cannot grow the cache.
func (e *Engine) forgetEmpty(appID string) {
	if ent := e.lookup(appID); ent != nil && ent.snap.Load() == nil {
		e.cache.CompareAndDelete(appID, ent)
	}
}

func (e *Engine) entryChanged(appID string) <-chan struct{} {
	ent := e.entryFor(appID)
	ent.mu.Lock()
	defer ent.mu.Unlock()
	return ent.changed
}

// Authorizer returns the stored record of appID. Secrets are included: the
// caller decides what to show.
func (e *Engine) Authorizer(ctx context.Context, appID string) (*wxtoken.Authorizer, error) {
	a, err := e.store.GetAuthorizer(ctx, e.appID, appID)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ENotFound {
			return nil, wxtoken.Errorf(wxtoken.ENotFound, "authorizer %s is not known", appID)
		}
		return nil, unavailable("read authorizer", err)
	}
	return a, nil
}

// ListAuthorizers pages through the platform's authorizers.
func (e *Engine) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	f.ComponentAppID = e.appID
	as, err := e.store.ListAuthorizers(ctx, f)
	if err != nil {
		return nil, unavailable("list authorizers", err)
	}
	return as, nil
}

// withComponentToken runs call with the current component token and, if
// WeChat rejects that token, once more with a fresh one.
func withComponentTokenT[T any](e *Engine, ctx context.Context, call func(componentToken string) (T, error)) (T, error) {
	var zero T
	ct, err := e.ComponentToken(ctx)
	if err != nil {
		return zero, err
	}
	res, err := call(ct.Value)
	if err != nil && wechat.IsTokenRejected(err) {
		e.log.Warn("WeChat rejected the component token; refreshing it", "errcode", wxtoken.WeChatErrCode(err))
		if ct, err = e.InvalidateComponentToken(ctx, ct.Value); err != nil {
			return zero, err
		}
		res, err = call(ct.Value)
	}
	return res, err
}
