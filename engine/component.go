package engine

import (
	"context"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// componentStatus is what readiness reports about the component token: the
// last failure, classified so an operator knows what to fix.
type componentStatus struct {
	mu            sync.Mutex
	problem       string    // "" when the last attempt succeeded
	since         time.Time // when the problem started
	lastStartPush time.Time
	changed       chan struct{}
}

func (s *componentStatus) set(problem string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if problem == "" || s.problem == "" {
		s.since = now
	}
	s.problem = problem
}

func (s *componentStatus) get() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problem, s.since
}

// ComponentToken returns a valid component_access_token: from memory while one
// is valid, otherwise after the one refresh in flight.
func (e *Engine) ComponentToken(ctx context.Context) (wxtoken.Token, error) {
	if t := e.component.Load(); t != nil && t.Valid(e.handoutTime()) {
		return t.Token, nil
	}
	return e.refreshComponentShared(ctx, "")
}

// InvalidateComponentToken reports that WeChat rejected the component token;
// only a report about the current token triggers a refresh.
func (e *Engine) InvalidateComponentToken(ctx context.Context, rejected string) (wxtoken.Token, error) {
	if t := e.component.Load(); t != nil && t.Value != rejected && t.Valid(e.handoutTime()) {
		return t.Token, nil
	}
	return e.refreshComponentShared(ctx, rejected)
}

func (e *Engine) refreshComponentShared(ctx context.Context, rejected string) (wxtoken.Token, error) {
	ch := e.compFlight.DoChan(rejected, func() (any, error) {
		e.busy.Add(1)
		defer e.busy.Add(-1)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return e.refreshComponent(rctx, rejected)
	})
	select {
	case <-ctx.Done():
		return wxtoken.Token{}, wxtoken.Errorf(wxtoken.EUnavailable, "gave up waiting for the component token: %v", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return wxtoken.Token{}, r.Err
		}
		return r.Val.(wxtoken.Token), nil
	}
}

func (e *Engine) componentDue(t *wxtoken.ComponentToken) time.Time {
	// Jitter derived from the token's mint time, so every replica computes the
	// same due time for the same token and one of them wins the lease.
	j := time.Duration(t.ObtainedAt.UnixNano()%int64(e.margin/2+1)) % (e.margin/2 + 1)
	if j < 0 {
		j = -j
	}
	return t.ExpiresAt.Add(-e.margin - j)
}

func (e *Engine) refreshComponent(ctx context.Context, rejected string) (wxtoken.Token, error) {
	if err := acquireLocal(ctx, e.compRefreshing); err != nil {
		return wxtoken.Token{}, err
	}
	defer func() { <-e.compRefreshing }()
	release, err := e.lease(ctx, wxtoken.ComponentTokenLease(e.appID), func() bool {
		t := e.component.Load()
		return t != nil && t.Valid(e.handoutTime()) && t.Value != rejected &&
			(rejected != "" || e.clock.Now().Before(e.componentDue(t)))
	}, "")
	if err != nil {
		return wxtoken.Token{}, err
	}
	if release == nil {
		return e.component.Load().Token, nil
	}
	defer release()

	now := e.clock.Now()
	stored, err := e.store.GetComponentToken(ctx, e.appID)
	switch {
	case err == nil:
		e.setComponent(&stored)
		if stored.Valid(now.Add(MinRemaining)) && stored.Value != rejected && (rejected != "" || now.Before(e.componentDue(&stored))) {
			return stored.Token, nil // refreshed by another replica
		}
	case wxtoken.ErrorCode(err) != wxtoken.ENotFound:
		return wxtoken.Token{}, unavailable("read component token", err)
	}

	ticket, err := e.store.GetTicket(ctx, e.appID)
	if err != nil {
		if wxtoken.ErrorCode(err) != wxtoken.ENotFound {
			return wxtoken.Token{}, unavailable("read ticket", err)
		}
		e.compState.set("no component_verify_ticket has been received yet; asked WeChat to push one", now)
		e.startPush(ctx)
		return wxtoken.Token{}, wxtoken.Errorf(wxtoken.EUnavailable, "no component_verify_ticket has been received yet")
	}

	start := e.clock.Now()
	// As for authorizer tokens: record before asking that the current token
	// is only safe for RotationOverlap once its successor is minted.
	var previous *wxtoken.ComponentToken
	if cur := e.component.Load(); cur != nil && cur.Value != "" && intentExpiry(cur.Token, start).Before(cur.ExpiresAt) {
		previous = cur
		short := *cur
		short.ExpiresAt = intentExpiry(cur.Token, start)
		if err := e.putComponentToken(ctx, short); err != nil {
			return wxtoken.Token{}, err
		}
		e.setComponent(&short)
	}
	res, err := e.wx.ComponentToken(ctx, ticket.Value)
	e.observe(KindComponentToken, err, start)
	if err != nil && previous != nil && wechatAnswered(err) {
		if perr := e.putComponentToken(ctx, *previous); perr == nil {
			e.setComponent(previous)
		}
	}
	if err != nil {
		problem := e.classifyComponentError(err, ticket)
		e.compState.set(problem, start)
		e.log.Error("component token refresh failed", "problem", problem, "errcode", wxtoken.WeChatErrCode(err), "err", err)
		switch wxtoken.WeChatErrCode(err) {
		case errcodeTicketExpired, errcodeTicketInvalid:
			e.startPush(ctx)
		}
		return wxtoken.Token{}, err
	}
	ct := wxtoken.ComponentToken{
		ComponentAppID: e.appID,
		Token:          wxtoken.Token{Value: res.Value, ExpiresAt: start.Add(res.ExpiresIn)},
		ObtainedAt:     start,
	}
	// As for authorizers: if our lease lapsed and another replica refreshed
	// meanwhile, either token may be the one WeChat minted last, and ours is
	// only sure to be good until start+RotationOverlap.
	_, lerr := e.store.AcquireLease(ctx, wxtoken.ComponentTokenLease(e.appID), e.owner, e.clock.Now(), e.leaseTTL())
	raced := wxtoken.ErrorCode(lerr) == wxtoken.EConflict
	if now, err := e.store.GetComponentToken(ctx, e.appID); err == nil && now.ObtainedAt.After(stored.ObtainedAt) && (previous == nil || now.Value != previous.Value) {
		raced = true
	}
	if raced {
		ct.ExpiresAt = start.Add(RotationOverlap)
		e.log.Warn("another replica refreshed the component token concurrently (a lease lapsed); keeping ours short")
	}
	if err := e.putComponentToken(ctx, ct); err != nil {
		return wxtoken.Token{}, err
	}
	e.setComponent(&ct)
	e.compState.set("", start)
	e.log.Info("component token refreshed", "token", wxtoken.Redact(ct.Value), "expires_at", ct.ExpiresAt,
		"ticket_age", start.Sub(ticket.CreatedAt).Round(time.Second))
	e.appendEvent(ctx, "", wxtoken.EventComponentTokenRefresh, "expires_at="+ct.ExpiresAt.UTC().Format(time.RFC3339))
	return ct.Token, nil
}

func (e *Engine) putComponentToken(ctx context.Context, ct wxtoken.ComponentToken) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if attempt > 0 {
			if werr := storeRetryWait(ctx, attempt); werr != nil {
				break
			}
		}
		if err = e.store.PutComponentToken(ctx, ct); err == nil {
			return nil
		}
		e.log.Error("store write of the component token failed; retrying", "attempt", attempt+1, "err", err)
	}
	return unavailable("write component token", err)
}

// classifyComponentError turns WeChat's answer into the sentence an operator
// needs.
func (e *Engine) classifyComponentError(err error, ticket wxtoken.Ticket) string {
	switch wxtoken.WeChatErrCode(err) {
	case errcodeTicketExpired:
		return "WeChat says the component_verify_ticket expired (61005); waiting for a new push"
	case errcodeTicketInvalid:
		return "WeChat says the component_verify_ticket is invalid (61006); waiting for a new push"
	case errcodeIPNotWhitelisted:
		return "this server's IP is not in the platform's IP whitelist (61004)"
	case errcodeInvalidSecret:
		return "the component secret is wrong (40125)"
	case errcodeInvalidAppID:
		return "the component appid is wrong (40013)"
	}
	if wxtoken.ErrorCode(err) == wxtoken.EUnavailable {
		return "WeChat could not be reached: " + wxtoken.ErrorMessage(err)
	}
	return "WeChat refused the component token: " + wxtoken.ErrorMessage(err)
}

// startPush asks WeChat to push a ticket now, at most once a minute.
func (e *Engine) startPush(ctx context.Context) {
	now := e.clock.Now()
	e.compState.mu.Lock()
	if !e.compState.lastStartPush.IsZero() && now.Sub(e.compState.lastStartPush) < time.Minute {
		e.compState.mu.Unlock()
		return
	}
	e.compState.lastStartPush = now
	e.compState.mu.Unlock()
	if err := e.wx.StartPushTicket(ctx); err != nil {
		e.log.Warn("api_start_push_ticket failed", "err", err)
		return
	}
	e.log.Info("asked WeChat to push a component_verify_ticket")
}

// setComponent caches t unless a token minted later is cached, and wakes
// waiters. A token with the same mint time replaces the cached one: that is
// the same token with its expiry cut short before its successor is asked for.
func (e *Engine) setComponent(t *wxtoken.ComponentToken) {
	for {
		cur := e.component.Load()
		if cur != nil && cur.ObtainedAt.After(t.ObtainedAt) {
			return
		}
		if e.component.CompareAndSwap(cur, t) {
			break
		}
	}
	e.compState.mu.Lock()
	if e.compState.changed != nil {
		close(e.compState.changed)
		e.compState.changed = nil
	}
	e.compState.mu.Unlock()
	e.kickComponent()
}

func (e *Engine) componentChanged() <-chan struct{} {
	e.compState.mu.Lock()
	defer e.compState.mu.Unlock()
	if e.compState.changed == nil {
		e.compState.changed = make(chan struct{})
	}
	return e.compState.changed
}

func (e *Engine) kickComponent() {
	select {
	case e.compKick <- struct{}{}:
	default:
	}
}

// componentLoop keeps the component token fresh: it refreshes it when due,
// retries failures with capped exponential backoff, and tries again at once
// when a new ticket arrives.
func (e *Engine) componentLoop(ctx context.Context) {
	failures := 0
	for {
		now := e.clock.Now()
		var wait time.Duration
		t := e.component.Load()
		if t == nil || !now.Before(e.componentDue(t)) {
			if _, err := e.refreshComponentShared(ctx, ""); err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				wait = e.backoff(failures)
			} else {
				failures = 0
				continue
			}
		} else {
			wait = e.componentDue(t).Sub(now)
		}
		timer := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		case <-e.compKick:
			timer.Stop()
			if failures > 0 {
				failures = 0 // a new ticket or token: try again now
			}
		}
	}
}

// HandleTicket stores a pushed component_verify_ticket. It returns once the
// ticket is durably stored, so that the push may be acknowledged.
func (e *Engine) HandleTicket(ctx context.Context, value string, createdAt time.Time) error {
	t := wxtoken.Ticket{ComponentAppID: e.appID, Value: value, CreatedAt: createdAt, ReceivedAt: e.clock.Now()}
	prev, _ := e.store.GetTicket(ctx, e.appID)
	stored, err := e.store.PutTicket(ctx, t)
	if err != nil {
		return unavailable("store ticket", err)
	}
	if stored && prev.Value != value {
		e.log.Info("component_verify_ticket received", "ticket", wxtoken.Redact(value), "created_at", createdAt)
		e.appendEvent(ctx, "", wxtoken.EventTicketReceived, "")
	}
	if cur := e.component.Load(); cur == nil || !cur.Valid(e.handoutTime()) {
		e.kickComponent()
	} else if p, _ := e.compState.get(); p != "" {
		e.kickComponent()
	}
	return nil
}

// Problem is one reason the service is not ready.
type Problem struct {
	Check   string `json:"check"`
	Message string `json:"message"`
}

// Health reports what stops this replica from serving correctly: an
// unreachable store, no recent ticket, no valid component token. An empty
// answer means ready.
func (e *Engine) Health(ctx context.Context) []Problem {
	var out []Problem
	if !e.loaded.Load() {
		out = append(out, Problem{"engine", "still loading authorizers from the store"})
	}
	if err := e.store.Ping(ctx); err != nil {
		out = append(out, Problem{"store", "store unreachable: " + wxtoken.ErrorMessage(err)})
	}
	now := e.clock.Now()
	t, err := e.store.GetTicket(ctx, e.appID)
	switch {
	case err == nil && now.Sub(t.CreatedAt) > wxtoken.TicketLifetime:
		out = append(out, Problem{"ticket", "the latest component_verify_ticket is older than 12h; is WeChat pushing to the event URL?"})
	case err != nil && wxtoken.ErrorCode(err) == wxtoken.ENotFound:
		out = append(out, Problem{"ticket", "no component_verify_ticket received yet"})
	}
	if ct := e.component.Load(); ct == nil || !ct.Valid(now.Add(MinRemaining)) {
		msg := "no valid component_access_token"
		if p, _ := e.compState.get(); p != "" {
			msg += ": " + p
		}
		out = append(out, Problem{"component_token", msg})
	} else if p, since := e.compState.get(); p != "" {
		out = append(out, Problem{"component_token", p + " (since " + since.UTC().Format(time.RFC3339) + ")"})
	}
	return out
}

// TicketAge is the age of the latest ticket, for metrics; ok is false when
// there is none.
func (e *Engine) TicketAge(ctx context.Context) (time.Duration, bool) {
	t, err := e.store.GetTicket(ctx, e.appID)
	if err != nil {
		return 0, false
	}
	return e.clock.Now().Sub(t.CreatedAt), true
}

// CachedComponentToken returns the cached component token if valid.
func (e *Engine) CachedComponentToken() (wxtoken.ComponentToken, bool) {
	t := e.component.Load()
	if t == nil || !t.Valid(e.handoutTime()) {
		return wxtoken.ComponentToken{}, false
	}
	return *t, true
}
