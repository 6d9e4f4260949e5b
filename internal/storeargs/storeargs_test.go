package storeargs

import (
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

func TestLease(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name, lease, owner string
		now                time.Time
		ttl                time.Duration
		wantMsg            string // "" when the arguments are fine
	}{
		{"fine", "authorizer/c/a", "replica-1", now, time.Minute, ""},
		{"no name", "", "replica-1", now, time.Minute, `postgres: lease without a name`},
		{"no owner", "l", "", now, time.Minute, `postgres: lease "l" without an owner`},
		{"zero ttl", "l", "o", now, 0, `postgres: lease "l" with a ttl of 0s`},
		{"negative ttl", "l", "o", now, -time.Second, `postgres: lease "l" with a ttl of -1s`},
		{"zero time", "l", "o", time.Time{}, time.Minute, `postgres: lease "l" acquired at the zero time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Lease("postgres", tt.lease, tt.owner, tt.now, tt.ttl)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Lease: %v", err)
				}
				return
			}
			if msg := message(err); wxtoken.ErrorCode(err) != wxtoken.EInvalid || msg != tt.wantMsg {
				t.Errorf("Lease = %v (code %q), want %q with code invalid", err, wxtoken.ErrorCode(err), tt.wantMsg)
			}
		})
	}
}

func TestPageLimit(t *testing.T) {
	tests := []struct {
		limit, want int
		invalid     bool
	}{
		{0, DefaultLimit, false},
		{1, 1, false},
		{500, 500, false},
		{-1, 0, true},
	}
	for _, tt := range tests {
		got, err := PageLimit("redis", tt.limit)
		if tt.invalid {
			if wxtoken.ErrorCode(err) != wxtoken.EInvalid || message(err) != "redis: negative limit -1" {
				t.Errorf("PageLimit(%d) = %v, want code invalid", tt.limit, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PageLimit(%d) = %d, %v; want %d", tt.limit, got, err, tt.want)
		}
	}
}

func message(err error) string {
	var e *wxtoken.Error
	if !errors.As(err, &e) {
		return ""
	}
	return e.Message
}

func TestAuthorizerFilter(t *testing.T) {
	tests := []struct {
		name    string
		f       wxtoken.AuthorizerFilter
		want    int
		wantMsg string // "" when the filter is fine
	}{
		{"defaults", wxtoken.AuthorizerFilter{ComponentAppID: "wxc"}, DefaultLimit, ""},
		{"state and limit", wxtoken.AuthorizerFilter{ComponentAppID: "wxc", State: wxtoken.StateRevoked, Limit: 7}, 7, ""},
		{"negative limit", wxtoken.AuthorizerFilter{Limit: -2}, 0, "redis: negative limit -2"},
		{"unknown state", wxtoken.AuthorizerFilter{State: "sleeping"}, 0, `redis: unknown authorizer state "sleeping"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AuthorizerFilter("redis", tt.f)
			if tt.wantMsg != "" {
				if msg := message(err); wxtoken.ErrorCode(err) != wxtoken.EInvalid || msg != tt.wantMsg {
					t.Errorf("AuthorizerFilter = %v, want %q with code invalid", err, tt.wantMsg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("AuthorizerFilter = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
