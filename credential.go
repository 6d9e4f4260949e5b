package wxtoken

import (
	"context"
	"time"
)

// Token is an access token with its expiry, the way golang.org/x/oauth2 treats
// one: a value that is good until a moment, and nothing more. It serves for
// the component_access_token and for each authorizer_access_token.
type Token struct {
	Value     string    `json:"-"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Valid reports whether the token exists and is still good at now.
func (t Token) Valid(now time.Time) bool {
	return t.Value != "" && now.Before(t.ExpiresAt)
}

// TokenSource hands out a valid token, refreshing behind the caller's back when
// it must. Readers never wait on a refresh while a valid token exists.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// Ticket is the component_verify_ticket WeChat pushes every 10 minutes. It is
// the one ingredient of the component token that only WeChat can give, so it is
// stored the moment it arrives and kept until a newer one replaces it.
type Ticket struct {
	ComponentAppID string
	Value          string
	// CreatedAt is the push's CreateTime: it orders tickets, so a late delivery
	// of an old push cannot replace a newer ticket.
	CreatedAt time.Time
	// ReceivedAt is when this service stored it (by its clock).
	ReceivedAt time.Time
}

// TicketLifetime is how long WeChat honours a ticket after pushing it.
const TicketLifetime = 12 * time.Hour

// ComponentToken is the stored component_access_token of one platform.
type ComponentToken struct {
	ComponentAppID string
	Token
	// ObtainedAt is when it was minted, by this service's clock.
	ObtainedAt time.Time
}
