package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
)

// Times are stored as unix nanoseconds (see migrations/0001_init.sql), and
// UnixNano is defined from 1678 to 2262 only.
var (
	minTime = time.Unix(0, -1<<63+1)
	maxTime = time.Unix(0, 1<<63-1)
)

func checkTime(field string, t time.Time) error {
	if t.IsZero() || (!t.Before(minTime) && !t.After(maxTime)) {
		return nil
	}
	return invalidf("%s %s is outside the years 1678 to 2262", field, t.Format(time.RFC3339))
}

// nanos is the column value of t: NULL for the zero time.
func nanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n pgtype.Int8) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// GetTicket returns the latest ticket of a platform.
func (s *Store) GetTicket(ctx context.Context, componentAppID string) (wxtoken.Ticket, error) {
	t := wxtoken.Ticket{ComponentAppID: componentAppID}
	var created, received pgtype.Int8
	err := s.pool.QueryRow(ctx,
		`SELECT value, created_at, received_at FROM tickets WHERE component_appid = $1`,
		componentAppID).Scan(&t.Value, &created, &received)
	if errors.Is(err, pgx.ErrNoRows) {
		return wxtoken.Ticket{}, notFoundf("no ticket for component %q", componentAppID)
	}
	if err != nil {
		return wxtoken.Ticket{}, wrapErr("get ticket", err)
	}
	t.CreatedAt, t.ReceivedAt = fromNanos(created), fromNanos(received)
	return t, nil
}

// PutTicket stores t unless a ticket with a later CreatedAt is stored.
func (s *Store) PutTicket(ctx context.Context, t wxtoken.Ticket) (bool, error) {
	switch {
	case t.ComponentAppID == "":
		return false, invalidf("ticket without a component appid")
	case t.Value == "":
		return false, invalidf("empty ticket for component %q", t.ComponentAppID)
	}
	if err := errors.Join(checkTime("ticket created_at", t.CreatedAt), checkTime("ticket received_at", t.ReceivedAt)); err != nil {
		return false, err
	}
	// The zero time is the earliest CreatedAt: NULL compares as the minimum.
	rows, err := s.pool.Query(ctx, `
		WITH stored AS (
			INSERT INTO tickets AS t (component_appid, value, created_at, received_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (component_appid) DO UPDATE
			SET value = excluded.value, created_at = excluded.created_at, received_at = excluded.received_at
			WHERE coalesce(t.created_at, -9223372036854775808) <= coalesce(excluded.created_at, -9223372036854775808)
			RETURNING 1)
		SELECT pg_notify($5, $6)::text FROM stored`,
		t.ComponentAppID, t.Value, nanos(t.CreatedAt), nanos(t.ReceivedAt),
		s.channel, changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: t.ComponentAppID}))
	if err != nil {
		return false, wrapErr("put ticket", err)
	}
	n, err := countRows(rows)
	if err != nil {
		return false, wrapErr("put ticket", err)
	}
	return n > 0, nil
}

// GetComponentToken returns the stored component_access_token of a platform.
func (s *Store) GetComponentToken(ctx context.Context, componentAppID string) (wxtoken.ComponentToken, error) {
	t := wxtoken.ComponentToken{ComponentAppID: componentAppID}
	var expires, obtained pgtype.Int8
	err := s.pool.QueryRow(ctx,
		`SELECT access_token, expires_at, obtained_at FROM component_tokens WHERE component_appid = $1`,
		componentAppID).Scan(&t.Value, &expires, &obtained)
	if errors.Is(err, pgx.ErrNoRows) {
		return wxtoken.ComponentToken{}, notFoundf("no component token for component %q", componentAppID)
	}
	if err != nil {
		return wxtoken.ComponentToken{}, wrapErr("get component token", err)
	}
	t.ExpiresAt, t.ObtainedAt = fromNanos(expires), fromNanos(obtained)
	return t, nil
}

// PutComponentToken replaces the component token of a platform.
func (s *Store) PutComponentToken(ctx context.Context, t wxtoken.ComponentToken) error {
	if t.ComponentAppID == "" {
		return invalidf("component token without a component appid")
	}
	if err := errors.Join(checkTime("component token expires_at", t.ExpiresAt), checkTime("component token obtained_at", t.ObtainedAt)); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `
		WITH stored AS (
			INSERT INTO component_tokens (component_appid, access_token, expires_at, obtained_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (component_appid) DO UPDATE
			SET access_token = excluded.access_token, expires_at = excluded.expires_at, obtained_at = excluded.obtained_at
			RETURNING 1)
		SELECT pg_notify($5, $6)::text FROM stored`,
		t.ComponentAppID, t.Value, nanos(t.ExpiresAt), nanos(t.ObtainedAt),
		s.channel, changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: t.ComponentAppID}))
	if err != nil {
		return wrapErr("put component token", err)
	}
	_, err = countRows(rows)
	return wrapErr("put component token", err)
}

// countRows reads a result to its end, so that errors raised late (at commit,
// say) are seen, and counts its rows.
func countRows(rows pgx.Rows) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
