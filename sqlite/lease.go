package sqlite

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken"
)

// AcquireLease is one upsert whose update applies only when the lease is
// already the owner's or has expired at now; no affected row means another
// owner holds it.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (wxtoken.Lease, error) {
	switch {
	case name == "" || owner == "":
		return wxtoken.Lease{}, wxtoken.Errorf(wxtoken.EInvalid, "lease without a name or owner")
	case ttl <= 0:
		return wxtoken.Lease{}, wxtoken.Errorf(wxtoken.EInvalid, "lease %s: ttl must be positive", name)
	case now.IsZero():
		return wxtoken.Lease{}, wxtoken.Errorf(wxtoken.EInvalid, "lease %s: no current time", name)
	}
	expires := now.Add(ttl)
	if err := checkTimes("lease "+name, now, expires); err != nil {
		return wxtoken.Lease{}, err
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.owner = excluded.owner OR leases.expires_at <= ?`,
		name, owner, expires.UnixNano(), now.UnixNano())
	if err != nil {
		return wxtoken.Lease{}, dbError("acquire lease", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wxtoken.Lease{}, dbError("acquire lease", err)
	}
	if n == 0 {
		return wxtoken.Lease{}, wxtoken.Errorf(wxtoken.EConflict, "lease %s is held by another owner", name)
	}
	return wxtoken.Lease{Name: name, Owner: owner, ExpiresAt: time.Unix(0, expires.UnixNano()).UTC()}, nil
}

func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner); err != nil {
		return dbError("release lease", err)
	}
	return nil
}
