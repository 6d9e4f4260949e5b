// Package storeargs checks the arguments of wxtoken.Store methods the same
// way in the stores that share it (postgres, redis), so that bad input gets
// the same EInvalid error, with the store's name in front, whatever the
// backend.
package storeargs

import (
	"time"

	"github.com/wxtoken/wxtoken"
)

// DefaultLimit is the page size of a list whose filter asks for 0.
const DefaultLimit = 100

// Lease checks the arguments of AcquireLease.
func Lease(store, name, owner string, now time.Time, ttl time.Duration) error {
	switch {
	case name == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "%s: lease without a name", store)
	case owner == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "%s: lease %q without an owner", store, name)
	case ttl <= 0:
		return wxtoken.Errorf(wxtoken.EInvalid, "%s: lease %q with a ttl of %v", store, name, ttl)
	case now.IsZero():
		return wxtoken.Errorf(wxtoken.EInvalid, "%s: lease %q acquired at the zero time", store, name)
	}
	return nil
}

// PageLimit returns the page size a filter's limit asks for.
func PageLimit(store string, limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, wxtoken.Errorf(wxtoken.EInvalid, "%s: negative limit %d", store, limit)
	case limit == 0:
		return DefaultLimit, nil
	}
	return limit, nil
}

// AuthorizerFilter checks the filter of ListAuthorizers and returns the page
// size it asks for.
func AuthorizerFilter(store string, f wxtoken.AuthorizerFilter) (int, error) {
	limit, err := PageLimit(store, f.Limit)
	if err != nil {
		return 0, err
	}
	if f.State != "" && !f.State.Valid() {
		return 0, wxtoken.Errorf(wxtoken.EInvalid, "%s: unknown authorizer state %q", store, f.State)
	}
	return limit, nil
}
