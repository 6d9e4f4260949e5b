package engine

import (
	"time"

	"github.com/wxtoken/wxtoken"
)

// CachedTokenExpiries calls fn with the state and access-token expiry (zero
// when there is no token) of every authorizer in this replica's cache, for
// metrics. It does no I/O and hands out no token; fn must be quick.
func (e *Engine) CachedTokenExpiries(fn func(state wxtoken.AuthorizerState, expiresAt time.Time)) {
	e.cache.Range(func(_, v any) bool {
		s := v.(*entry).snap.Load()
		if s == nil {
			return true // created by a waiter, never loaded: not an authorizer yet
		}
		var at time.Time
		if s.token.Value != "" {
			at = s.token.ExpiresAt
		}
		fn(s.state, at)
		return true
	})
}

// SetObserver sets the Observer after New, for an observer that is built
// from the engine itself (the HTTP server's metrics). Call it before Run:
// the observer is read without synchronisation while the engine runs.
func (e *Engine) SetObserver(o Observer) { e.cfg.Observer = o }
