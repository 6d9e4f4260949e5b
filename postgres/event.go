package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxtoken/wxtoken"
)

// AppendEvent adds e to the audit log and sets e.ID.
func (s *Store) AppendEvent(ctx context.Context, e *wxtoken.Event) error {
	switch {
	case e == nil:
		return invalidf("nil event")
	case e.ComponentAppID == "":
		return invalidf("event without a component appid")
	case e.Kind == "":
		return invalidf("event of component %q without a kind", e.ComponentAppID)
	}
	if err := checkTime("event time", e.At); err != nil {
		return err
	}
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO events (component_appid, authorizer_appid, kind, detail, at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		e.ComponentAppID, e.AuthorizerAppID, e.Kind, e.Detail, nanos(e.At)).Scan(&id)
	if err != nil {
		return wrapErr("append event", err)
	}
	e.ID = id
	return nil
}

// ListEvents returns the events of a platform (and optionally one authorizer)
// after f.AfterID, in ID order.
func (s *Store) ListEvents(ctx context.Context, f wxtoken.EventFilter) ([]*wxtoken.Event, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, component_appid, authorizer_appid, kind, detail, at FROM events
		WHERE component_appid = $1 AND ($2 = '' OR authorizer_appid = $2) AND id > $3
		ORDER BY id LIMIT $4`,
		f.ComponentAppID, f.AuthorizerAppID, f.AfterID, limit)
	if err != nil {
		return nil, wrapErr("list events", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*wxtoken.Event, error) {
		var (
			e  wxtoken.Event
			at pgtype.Int8
		)
		if err := row.Scan(&e.ID, &e.ComponentAppID, &e.AuthorizerAppID, &e.Kind, &e.Detail, &at); err != nil {
			return nil, err
		}
		e.At = fromNanos(at)
		return &e, nil
	})
	return events, wrapErr("list events", err)
}
