package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxtoken/wxtoken"
)

// TokenSource returns the token source of the authorizer appID: it hands out
// the cached token until shortly before it expires (see WithEarlyExpiry), and
// concurrent callers that find no usable token share one request to the
// server. The client keeps one source per appid, so every TokenSource and
// Transport of the same appid shares its cache.
func (c *Client) TokenSource(appID string) wxtoken.TokenSource {
	return c.source(appID)
}

func (c *Client) source(appID string) *tokenSource {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sources[appID]
	if !ok {
		s = &tokenSource{c: c, appID: appID}
		c.sources[appID] = s
	}
	return s
}

type tokenSource struct {
	c     *Client
	appID string

	// cur is read without a lock: the hot path of every call through the
	// client. Writers hold mu.
	cur atomic.Pointer[wxtoken.Token]
	mu  sync.Mutex
	// lastRejected is the last token reported as rejected, so that a fetch
	// that raced with the report cannot put it back in the cache, and further
	// reports of it are answered from the cache.
	lastRejected string
	// pauseUntil (unix nanoseconds on the client's clock) stops refetching
	// for a moment after a fetch that failed for a passing reason, or that
	// brought no fresher token (the server refreshes later than the client's
	// early expiry would like), while the cached token is still valid.
	// Without it, every call would make a request in such a window.
	pauseUntil atomic.Int64

	flight singleflight.Group
}

// refetchPause is how long a still-valid token is served without asking the
// server again after a fetch that could not do better.
const refetchPause = 5 * time.Second

func (s *tokenSource) cached() wxtoken.Token {
	if t := s.cur.Load(); t != nil {
		return *t
	}
	return wxtoken.Token{}
}

func (s *tokenSource) lastRejectedToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRejected
}

func (s *tokenSource) fresh(t wxtoken.Token, now time.Time) bool {
	return t.Value != "" && now.Before(t.ExpiresAt.Add(-s.c.early))
}

// Token returns a token of the authorizer that is good for at least the early
// expiry margin, fetching one if the cache has none.
func (s *tokenSource) Token(ctx context.Context) (wxtoken.Token, error) {
	if err := checkAppID(s.appID); err != nil {
		return wxtoken.Token{}, err
	}
	now := s.c.clock.Now()
	tok := s.cached()
	if s.fresh(tok, now) || (tok.Valid(now) && now.UnixNano() < s.pauseUntil.Load()) {
		return tok, nil
	}
	ch := s.flight.DoChan("fetch", func() (any, error) {
		// A fetch that finished between our cache read and this flight has
		// already brought a fresh token: do not fetch a second time.
		if cur := s.cached(); cur != tok && s.fresh(cur, s.c.clock.Now()) {
			return cur, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		t, err := s.c.AuthorizerToken(fctx, s.appID)
		now := s.c.clock.Now()
		if err != nil {
			if temporary(err) {
				s.pauseUntil.Store(now.Add(refetchPause).UnixNano())
			}
			return nil, err
		}
		t = s.keep(t)
		if s.fresh(t, now) {
			s.pauseUntil.Store(0)
		} else {
			s.pauseUntil.Store(now.Add(refetchPause).UnixNano())
		}
		return t, nil
	})
	select {
	case <-ctx.Done():
		return wxtoken.Token{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			// The server or the network failing for a moment should not fail
			// a caller while the token it would get is still valid.
			if temporary(r.Err) && tok.Valid(s.c.clock.Now()) {
				return tok, nil
			}
			return wxtoken.Token{}, r.Err
		}
		return r.Val.(wxtoken.Token), nil
	}
}

// keep caches a fetched token unless the cache already holds a newer one or
// it is the token just reported as rejected (a fetch that started before the
// report), and returns the token callers should use.
func (s *tokenSource) keep(t wxtoken.Token) wxtoken.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cached()
	if t.Value == s.lastRejected && cur.Value != "" {
		return cur
	}
	if cur.Value != "" && t.ExpiresAt.Before(cur.ExpiresAt) {
		return cur
	}
	s.cur.Store(&t)
	return t
}

// invalidate reports rejected to the server once per rejected value: callers
// reporting it at the same time share the request, and callers reporting it
// after the answer arrived get the cached replacement.
func (s *tokenSource) invalidate(ctx context.Context, rejected string) (wxtoken.Token, error) {
	tok, last := s.cached(), s.lastRejectedToken()
	if last == rejected && tok.Value != rejected && s.fresh(tok, s.c.clock.Now()) {
		return tok, nil
	}
	ch := s.flight.DoChan("invalidate\x00"+rejected, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		t, err := s.c.invalidate(fctx, s.appID, rejected)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.cur.Store(&t)
		s.pauseUntil.Store(0)
		if t.Value != rejected {
			s.lastRejected = rejected
		}
		return t, nil
	})
	select {
	case <-ctx.Done():
		return wxtoken.Token{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return wxtoken.Token{}, r.Err
		}
		return r.Val.(wxtoken.Token), nil
	}
}
