package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Times are unix nanoseconds. That covers 1678 to 2262; a time outside is
// refused rather than silently wrapped.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is the column value of t: NULL for the zero time.
func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// checkTimes refuses times the column cannot hold. The minimum itself is
// excluded: it marks "no token" in the due index.
func checkTimes(what string, ts ...time.Time) error {
	for _, t := range ts {
		if !t.IsZero() && (!t.After(minTime) || t.After(maxTime)) {
			return wxtoken.Errorf(wxtoken.EInvalid, "%s: time %s is outside 1678–2262", what, t.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (s *Store) GetTicket(ctx context.Context, componentAppID string) (wxtoken.Ticket, error) {
	t := wxtoken.Ticket{ComponentAppID: componentAppID}
	var created, received sql.NullInt64
	err := s.read.QueryRowContext(ctx,
		`SELECT value, created_at, received_at FROM tickets WHERE component_appid = ?`, componentAppID,
	).Scan(&t.Value, &created, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return wxtoken.Ticket{}, notFound("no ticket for component %s", componentAppID)
	}
	if err != nil {
		return wxtoken.Ticket{}, dbError("get ticket", err)
	}
	t.CreatedAt, t.ReceivedAt = fromNanos(created), fromNanos(received)
	return t, nil
}

// PutTicket keeps the ticket with the latest CreatedAt; one with the same
// CreatedAt is a re-push and replaces the stored one.
func (s *Store) PutTicket(ctx context.Context, t wxtoken.Ticket) (bool, error) {
	switch {
	case t.ComponentAppID == "":
		return false, wxtoken.Errorf(wxtoken.EInvalid, "ticket without a component appid")
	case t.Value == "":
		return false, wxtoken.Errorf(wxtoken.EInvalid, "empty ticket for component %s", t.ComponentAppID)
	case t.CreatedAt.IsZero():
		return false, wxtoken.Errorf(wxtoken.EInvalid, "ticket for component %s without CreatedAt", t.ComponentAppID)
	}
	if err := checkTimes("ticket", t.CreatedAt, t.ReceivedAt); err != nil {
		return false, err
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO tickets (component_appid, value, created_at, received_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (component_appid) DO UPDATE SET
			value = excluded.value, created_at = excluded.created_at, received_at = excluded.received_at
		WHERE tickets.created_at IS NULL OR tickets.created_at <= excluded.created_at`,
		t.ComponentAppID, t.Value, nanos(t.CreatedAt), nanos(t.ReceivedAt))
	if err != nil {
		return false, dbError("put ticket", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError("put ticket", err)
	}
	if n == 0 {
		return false, nil
	}
	s.hub.publish(wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: t.ComponentAppID})
	return true, nil
}

func (s *Store) GetComponentToken(ctx context.Context, componentAppID string) (wxtoken.ComponentToken, error) {
	t := wxtoken.ComponentToken{ComponentAppID: componentAppID}
	var expires, obtained sql.NullInt64
	err := s.read.QueryRowContext(ctx,
		`SELECT access_token, expires_at, obtained_at FROM component_tokens WHERE component_appid = ?`, componentAppID,
	).Scan(&t.Value, &expires, &obtained)
	if errors.Is(err, sql.ErrNoRows) {
		return wxtoken.ComponentToken{}, notFound("no component token for component %s", componentAppID)
	}
	if err != nil {
		return wxtoken.ComponentToken{}, dbError("get component token", err)
	}
	t.ExpiresAt, t.ObtainedAt = fromNanos(expires), fromNanos(obtained)
	return t, nil
}

func (s *Store) PutComponentToken(ctx context.Context, t wxtoken.ComponentToken) error {
	if t.ComponentAppID == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "component token without a component appid")
	}
	if err := checkTimes("component token", t.ExpiresAt, t.ObtainedAt); err != nil {
		return err
	}
	_, err := s.write.ExecContext(ctx, `
		INSERT INTO component_tokens (component_appid, access_token, expires_at, obtained_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (component_appid) DO UPDATE SET
			access_token = excluded.access_token, expires_at = excluded.expires_at, obtained_at = excluded.obtained_at`,
		t.ComponentAppID, t.Value, nanos(t.ExpiresAt), nanos(t.ObtainedAt))
	if err != nil {
		return dbError("put component token", err)
	}
	s.hub.publish(wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: t.ComponentAppID})
	return nil
}
