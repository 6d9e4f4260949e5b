package sealed

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Store is a wxtoken.Store that seals secret fields on the way in and opens
// them on the way out. Everything else passes through to the inner store.
type Store struct {
	inner wxtoken.Store
	keys  *Keyring
	clock wxtoken.Clock
	owner string
}

var _ wxtoken.Store = (*Store)(nil)

// Option configures Wrap.
type Option func(*Store)

// WithClock sets the clock Reseal reads to take the component token lease.
// The default is the system clock.
func WithClock(c wxtoken.Clock) Option { return func(s *Store) { s.clock = c } }

// WithLeaseOwner names this process in the leases Reseal takes. The default
// is "sealed-reseal".
func WithLeaseOwner(owner string) Option { return func(s *Store) { s.owner = owner } }

// Wrap returns a Store sealing the secrets of inner with k.
func Wrap(inner wxtoken.Store, k *Keyring, opts ...Option) *Store {
	s := &Store{inner: inner, keys: k, clock: wxtoken.SystemClock{}, owner: "sealed-reseal"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Inner returns the wrapped store, whose secret fields are sealed.
func (s *Store) Inner() wxtoken.Store { return s.inner }

// Associated data: the record and field a value belongs to.
func ticketAD(component string) string { return "ticket/" + component }

func componentTokenAD(component string) string { return "component_token/" + component }

func authorizerAD(component, appID, field string) string {
	return "authorizer/" + component + "/" + appID + "/" + field
}

// openError wraps a failure to open a stored value. The code is internal: a
// value that does not open is a wrong key or a damaged store, not a request
// the caller can fix.
func openError(what string, err error) error {
	return &wxtoken.Error{Code: wxtoken.EInternal, Message: "stored " + what + " cannot be opened", Err: err}
}

func (s *Store) GetTicket(ctx context.Context, componentAppID string) (wxtoken.Ticket, error) {
	t, err := s.inner.GetTicket(ctx, componentAppID)
	if err != nil {
		return wxtoken.Ticket{}, err
	}
	if t.Value, err = s.keys.Open(t.Value, ticketAD(t.ComponentAppID)); err != nil {
		return wxtoken.Ticket{}, openError("ticket of "+t.ComponentAppID, err)
	}
	return t, nil
}

func (s *Store) PutTicket(ctx context.Context, t wxtoken.Ticket) (bool, error) {
	var err error
	if t.Value, err = s.keys.Seal(t.Value, ticketAD(t.ComponentAppID)); err != nil {
		return false, err
	}
	return s.inner.PutTicket(ctx, t)
}

func (s *Store) GetComponentToken(ctx context.Context, componentAppID string) (wxtoken.ComponentToken, error) {
	t, err := s.inner.GetComponentToken(ctx, componentAppID)
	if err != nil {
		return wxtoken.ComponentToken{}, err
	}
	if t.Value, err = s.keys.Open(t.Value, componentTokenAD(t.ComponentAppID)); err != nil {
		return wxtoken.ComponentToken{}, openError("component token of "+t.ComponentAppID, err)
	}
	return t, nil
}

func (s *Store) PutComponentToken(ctx context.Context, t wxtoken.ComponentToken) error {
	var err error
	if t.Value, err = s.keys.Seal(t.Value, componentTokenAD(t.ComponentAppID)); err != nil {
		return err
	}
	return s.inner.PutComponentToken(ctx, t)
}

// openAuthorizer opens a's secrets in place.
func (s *Store) openAuthorizer(a *wxtoken.Authorizer) error {
	var err error
	if a.RefreshToken, err = s.keys.Open(a.RefreshToken, authorizerAD(a.ComponentAppID, a.AppID, "refresh_token")); err != nil {
		return openError("refresh token of "+a.AppID, err)
	}
	if a.AccessToken.Value, err = s.keys.Open(a.AccessToken.Value, authorizerAD(a.ComponentAppID, a.AppID, "access_token")); err != nil {
		return openError("access token of "+a.AppID, err)
	}
	return nil
}

// sealAuthorizer returns a copy of a with its secrets sealed.
func (s *Store) sealAuthorizer(a *wxtoken.Authorizer) (*wxtoken.Authorizer, error) {
	c := a.Clone()
	var err error
	if c.RefreshToken, err = s.keys.Seal(a.RefreshToken, authorizerAD(a.ComponentAppID, a.AppID, "refresh_token")); err != nil {
		return nil, err
	}
	if c.AccessToken.Value, err = s.keys.Seal(a.AccessToken.Value, authorizerAD(a.ComponentAppID, a.AppID, "access_token")); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) GetAuthorizer(ctx context.Context, componentAppID, appID string) (*wxtoken.Authorizer, error) {
	a, err := s.inner.GetAuthorizer(ctx, componentAppID, appID)
	if err != nil {
		return nil, err
	}
	if err := s.openAuthorizer(a); err != nil {
		return nil, err
	}
	return a, nil
}

// PutAuthorizer writes a sealed copy and hands the new version back to a, so
// that the caller's next compare-and-set starts from it.
func (s *Store) PutAuthorizer(ctx context.Context, a *wxtoken.Authorizer) error {
	if a == nil {
		return wxtoken.Errorf(wxtoken.EInvalid, "nil authorizer")
	}
	c, err := s.sealAuthorizer(a)
	if err != nil {
		return err
	}
	if err := s.inner.PutAuthorizer(ctx, c); err != nil {
		return err
	}
	a.Version = c.Version
	return nil
}

func (s *Store) openAll(as []*wxtoken.Authorizer, err error) ([]*wxtoken.Authorizer, error) {
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if err := s.openAuthorizer(a); err != nil {
			return nil, err
		}
	}
	return as, nil
}

func (s *Store) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	return s.openAll(s.inner.ListAuthorizers(ctx, f))
}

func (s *Store) DueAuthorizers(ctx context.Context, componentAppID string, before time.Time, limit int) ([]*wxtoken.Authorizer, error) {
	return s.openAll(s.inner.DueAuthorizers(ctx, componentAppID, before, limit))
}

func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (wxtoken.Lease, error) {
	return s.inner.AcquireLease(ctx, name, owner, now, ttl)
}

func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.inner.ReleaseLease(ctx, name, owner)
}

func (s *Store) AppendEvent(ctx context.Context, e *wxtoken.Event) error {
	return s.inner.AppendEvent(ctx, e)
}

func (s *Store) ListEvents(ctx context.Context, f wxtoken.EventFilter) ([]*wxtoken.Event, error) {
	return s.inner.ListEvents(ctx, f)
}

func (s *Store) Watch(ctx context.Context) (<-chan wxtoken.Change, error) { return s.inner.Watch(ctx) }

func (s *Store) Ping(ctx context.Context) error { return s.inner.Ping(ctx) }

func (s *Store) Close() error { return s.inner.Close() }

// resealLeaseTTL bounds how long Reseal keeps the component token lease.
const resealLeaseTTL = 30 * time.Second

// resealAttempts bounds the retries of one authorizer whose compare-and-set
// keeps losing to live refreshes.
const resealAttempts = 5

// Reseal rewrites every secret of a platform that is not sealed under the
// primary key, and returns the number of records it rewrote. It is safe
// beside running replicas: authorizers are rewritten with a compare-and-set
// (a lost one is read again and retried), the ticket with its own CreatedAt
// (a newer ticket wins), and the component token under the component token
// lease. If that lease is held — a refresh is under way — the token is left
// and Reseal returns an EConflict error after doing the rest: run it again.
func (s *Store) Reseal(ctx context.Context, componentAppID string) (int, error) {
	n := 0
	done, err := s.resealTicket(ctx, componentAppID)
	if err != nil {
		return n, err
	}
	n += done

	var busy error
	done, err = s.resealComponentToken(ctx, componentAppID)
	if wxtoken.ErrorCode(err) == wxtoken.EConflict {
		busy = err
	} else if err != nil {
		return n, err
	}
	n += done

	after := ""
	for {
		page, err := s.inner.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: componentAppID, After: after})
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			rewritten, err := s.resealAuthorizer(ctx, a)
			if err != nil {
				return n, err
			}
			if rewritten {
				n++
			}
		}
		after = page[len(page)-1].AppID
	}
	return n, busy
}

// stale reports whether a stored value needs resealing.
func (s *Store) stale(sealed string) (bool, error) {
	id, err := KeyIDOf(sealed)
	if err != nil {
		return false, err
	}
	return id != "" && id != s.keys.primaryID, nil
}

// reseal opens a stored value and seals it under the primary key.
func (s *Store) reseal(sealed, ad string) (string, error) {
	plain, err := s.keys.Open(sealed, ad)
	if err != nil {
		return "", err
	}
	return s.keys.Seal(plain, ad)
}

func (s *Store) resealTicket(ctx context.Context, component string) (int, error) {
	t, err := s.inner.GetTicket(ctx, component)
	if errors.Is(err, wxtoken.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if old, err := s.stale(t.Value); err != nil || !old {
		return 0, wrapOpen("ticket of "+component, err)
	}
	if t.Value, err = s.reseal(t.Value, ticketAD(component)); err != nil {
		return 0, openError("ticket of "+component, err)
	}
	// Same CreatedAt: stored unless a newer ticket arrived meanwhile, which
	// is sealed under the primary key already.
	stored, err := s.inner.PutTicket(ctx, t)
	if err != nil || !stored {
		return 0, err
	}
	return 1, nil
}

func (s *Store) resealComponentToken(ctx context.Context, component string) (int, error) {
	t, err := s.inner.GetComponentToken(ctx, component)
	if errors.Is(err, wxtoken.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if old, err := s.stale(t.Value); err != nil || !old {
		return 0, wrapOpen("component token of "+component, err)
	}
	// The token has no version to compare: hold the lease the engine refreshes
	// under, and read again under it, so that a fresh token is not replaced
	// by the one read before.
	lease := wxtoken.ComponentTokenLease(component)
	if _, err := s.inner.AcquireLease(ctx, lease, s.owner, s.clock.Now(), resealLeaseTTL); err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.EConflict {
			return 0, wxtoken.Errorf(wxtoken.EConflict, "component token of %s is being refreshed; run reseal again", component)
		}
		return 0, err
	}
	defer s.inner.ReleaseLease(context.WithoutCancel(ctx), lease, s.owner)
	if t, err = s.inner.GetComponentToken(ctx, component); err != nil {
		return 0, err
	}
	if old, err := s.stale(t.Value); err != nil || !old {
		return 0, wrapOpen("component token of "+component, err)
	}
	if t.Value, err = s.reseal(t.Value, componentTokenAD(component)); err != nil {
		return 0, openError("component token of "+component, err)
	}
	if err := s.inner.PutComponentToken(ctx, t); err != nil {
		return 0, err
	}
	return 1, nil
}

func (s *Store) resealAuthorizer(ctx context.Context, a *wxtoken.Authorizer) (bool, error) {
	for range resealAttempts {
		oldRefresh, err := s.stale(a.RefreshToken)
		if err != nil {
			return false, openError("refresh token of "+a.AppID, err)
		}
		oldAccess, err := s.stale(a.AccessToken.Value)
		if err != nil {
			return false, openError("access token of "+a.AppID, err)
		}
		if !oldRefresh && !oldAccess {
			return false, nil
		}
		c := a.Clone()
		if c.RefreshToken, err = s.reseal(a.RefreshToken, authorizerAD(a.ComponentAppID, a.AppID, "refresh_token")); err != nil {
			return false, openError("refresh token of "+a.AppID, err)
		}
		if c.AccessToken.Value, err = s.reseal(a.AccessToken.Value, authorizerAD(a.ComponentAppID, a.AppID, "access_token")); err != nil {
			return false, openError("access token of "+a.AppID, err)
		}
		err = s.inner.PutAuthorizer(ctx, c)
		if err == nil {
			return true, nil
		}
		if wxtoken.ErrorCode(err) != wxtoken.EConflict {
			return false, err
		}
		// A live write got in between: start again from what it wrote.
		if a, err = s.inner.GetAuthorizer(ctx, a.ComponentAppID, a.AppID); err != nil {
			return false, err
		}
	}
	return false, wxtoken.Errorf(wxtoken.EConflict, "authorizer %s kept changing during reseal; run reseal again", a.AppID)
}

func wrapOpen(what string, err error) error {
	if err == nil {
		return nil
	}
	return openError(what, err)
}
