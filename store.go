package wxtoken

import (
	"context"
	"time"
)

// Store keeps every credential and account of one or more platforms. The
// embedded default is SQLite; PostgreSQL and Redis serve several replicas.
// Every implementation passes the storetest conformance suite.
//
// Stores keep values as given: sealing secrets at rest is done by a wrapper
// (package sealed) so that it is the same for every store. Time is always
// passed in by the caller, never read by the store, so that a lifecycle on a
// virtual clock sees leases expire on that clock.
//
// Errors: a missing record is ErrNotFound (code ENotFound); a lost
// compare-and-set or a lease held by another owner is code EConflict.
type Store interface {
	// GetTicket returns the latest ticket of a platform.
	GetTicket(ctx context.Context, componentAppID string) (Ticket, error)
	// PutTicket stores t unless a ticket with a later CreatedAt is already
	// stored; it reports whether t was stored.
	PutTicket(ctx context.Context, t Ticket) (bool, error)

	GetComponentToken(ctx context.Context, componentAppID string) (ComponentToken, error)
	PutComponentToken(ctx context.Context, t ComponentToken) error

	GetAuthorizer(ctx context.Context, componentAppID, appID string) (*Authorizer, error)
	// PutAuthorizer writes a in one atomic step, if the stored version equals
	// a.Version (0: the authorizer must not exist yet). On success it sets
	// a.Version to the new version; otherwise it returns an EConflict error
	// and changes nothing.
	PutAuthorizer(ctx context.Context, a *Authorizer) error
	// ListAuthorizers pages through the authorizers of a platform in AppID
	// order.
	ListAuthorizers(ctx context.Context, f AuthorizerFilter) ([]*Authorizer, error)
	// DueAuthorizers returns up to limit authorizers in state authorized whose
	// access token expires before the given time (or who have none), the
	// soonest first. It is the scheduler's due-time index.
	DueAuthorizers(ctx context.Context, componentAppID string, before time.Time, limit int) ([]*Authorizer, error)

	// AcquireLease takes or renews the lease called name for owner until
	// now+ttl. It succeeds when the lease is free, expired at now, or already
	// held by owner; otherwise it returns an EConflict error.
	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up if owner still holds it; releasing a
	// lease one no longer holds is not an error.
	ReleaseLease(ctx context.Context, name, owner string) error

	// AppendEvent adds e to the audit log and sets e.ID.
	AppendEvent(ctx context.Context, e *Event) error
	// ListEvents returns events in ID order.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)

	// Watch delivers a Change for every write of a ticket, component token or
	// authorizer, by this process or (for shared stores) any other, until ctx
	// is done. Delivery is best effort: a slow reader may miss changes and
	// should reload what it caches when it sees Change.Kind == ChangeResync.
	Watch(ctx context.Context) (<-chan Change, error)

	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// AuthorizerFilter selects a page of authorizers.
type AuthorizerFilter struct {
	ComponentAppID string
	// State, when set, keeps only authorizers in that state.
	State AuthorizerState
	// After is the AppID the previous page ended with ("" for the first).
	After string
	// Limit caps the page; 0 means 100.
	Limit int
}

// Lease is a named lock with an owner and an expiry, so that at most one
// replica refreshes a credential at a time and a crashed holder's lease lapses.
type Lease struct {
	Name      string
	Owner     string
	ExpiresAt time.Time
}

// Lease names, shared by every replica.
func ComponentTokenLease(componentAppID string) string {
	return "component_token/" + componentAppID
}

func AuthorizerLease(componentAppID, appID string) string {
	return "authorizer/" + componentAppID + "/" + appID
}

// Event is one line of the audit log: what happened to which credential, and
// when. It never carries a secret.
type Event struct {
	ID              int64     `json:"id"`
	ComponentAppID  string    `json:"component_appid"`
	AuthorizerAppID string    `json:"authorizer_appid,omitempty"`
	Kind            string    `json:"kind"`
	Detail          string    `json:"detail,omitempty"`
	At              time.Time `json:"at"`
}

// Kinds of audit events.
const (
	EventTicketReceived        = "ticket_received"
	EventComponentTokenRefresh = "component_token_refreshed"
	EventAuthorized            = "authorized"
	EventUpdateAuthorized      = "updateauthorized"
	EventUnauthorized          = "unauthorized"
	EventAuthorizerRefresh     = "authorizer_token_refreshed"
	EventRefreshTokenRotated   = "refresh_token_rotated"
	EventRefreshTokenRecovered = "refresh_token_recovered"
	EventNeedsReauthorization  = "needs_reauthorization"
	EventRevoked               = "revoked"
	EventUnknownPush           = "unknown_push"
)

// EventFilter selects events.
type EventFilter struct {
	ComponentAppID  string
	AuthorizerAppID string // optional
	AfterID         int64
	Limit           int // 0 means 100
}

// ChangeKind names what a Change is about.
type ChangeKind string

const (
	ChangeTicket         ChangeKind = "ticket"
	ChangeComponentToken ChangeKind = "component_token"
	ChangeAuthorizer     ChangeKind = "authorizer"
	// ChangeResync says changes may have been missed: reload everything.
	ChangeResync ChangeKind = "resync"
)

// Change tells a watcher which record was written. It carries no value: the
// watcher reads the record from the store, so secrets never travel in
// notifications.
type Change struct {
	Kind           ChangeKind
	ComponentAppID string
	AppID          string // for ChangeAuthorizer
	Version        int64  // for ChangeAuthorizer: the version written
}
