package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/storeargs"
)

// AcquireLease takes the lease when it is free, expired at now, or already
// owner's, in one conditional upsert: of replicas racing for it, exactly one
// row update wins.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (wxtoken.Lease, error) {
	if err := storeargs.Lease("postgres", name, owner, now, ttl); err != nil {
		return wxtoken.Lease{}, err
	}
	expires := now.Add(ttl)
	if err := errors.Join(checkTime("lease time", now), checkTime("lease expiry", expires)); err != nil {
		return wxtoken.Lease{}, err
	}
	var got int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO leases AS l (name, owner, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE l.owner = excluded.owner OR l.expires_at <= $4
		RETURNING expires_at`,
		name, owner, expires.UnixNano(), now.UnixNano()).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return wxtoken.Lease{}, conflictf("lease %q is held by another owner", name)
	}
	if err != nil {
		return wxtoken.Lease{}, wrapErr("acquire lease", err)
	}
	return wxtoken.Lease{Name: name, Owner: owner, ExpiresAt: time.Unix(0, got).UTC()}, nil
}

// ReleaseLease gives the lease up if owner still holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if name == "" {
		return invalidf("lease without a name")
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
	return wrapErr("release lease", err)
}
