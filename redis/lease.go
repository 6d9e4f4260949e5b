package redis

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/storeargs"
)

// AcquireLease takes the lease when it is free, expired at now, or already
// owner's. Expiry is judged on the caller's clock, which may be virtual, so
// the key gets no Redis TTL: a released lease is deleted, and a lease name is
// per credential, so lapsed ones do not pile up.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (wxtoken.Lease, error) {
	if err := storeargs.Lease("redis", name, owner, now, ttl); err != nil {
		return wxtoken.Lease{}, err
	}
	expires := now.Add(ttl)
	res, err := acquireLeaseScript.Run(ctx, s.rdb, []string{s.leaseKey(name)},
		owner, formatTime(now), formatTime(expires)).Slice()
	if err != nil {
		return wxtoken.Lease{}, wrapErr("acquire lease", err)
	}
	if len(res) == 0 || res[0] != int64(1) {
		return wxtoken.Lease{}, conflictf("lease %q is held by another owner", name)
	}
	return wxtoken.Lease{Name: name, Owner: owner, ExpiresAt: expires}, nil
}

// ReleaseLease gives the lease up if owner still holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" {
		return invalidf("lease without a name")
	}
	return wrapErr("release lease", releaseLeaseScript.Run(ctx, s.rdb, []string{s.leaseKey(name)}, owner).Err())
}
