package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/wxtoken/wxtoken"
)

func (s *Store) AppendEvent(ctx context.Context, e *wxtoken.Event) error {
	switch {
	case e == nil:
		return wxtoken.Errorf(wxtoken.EInvalid, "nil event")
	case e.ComponentAppID == "" || e.Kind == "":
		return wxtoken.Errorf(wxtoken.EInvalid, "event without a component appid or kind")
	}
	if err := checkTimes("event", e.At); err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx,
		`INSERT INTO events (component_appid, authorizer_appid, kind, detail, at) VALUES (?, ?, ?, ?, ?)`,
		e.ComponentAppID, e.AuthorizerAppID, e.Kind, e.Detail, nanos(e.At))
	if err != nil {
		return dbError("append event", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return dbError("append event", err)
	}
	e.ID = id
	return nil
}

func (s *Store) ListEvents(ctx context.Context, f wxtoken.EventFilter) ([]*wxtoken.Event, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var q strings.Builder
	q.WriteString(`SELECT id, component_appid, authorizer_appid, kind, detail, at FROM events
		WHERE component_appid = ? AND id > ?`)
	args := []any{f.ComponentAppID, f.AfterID}
	if f.AuthorizerAppID != "" {
		q.WriteString(` AND authorizer_appid = ?`)
		args = append(args, f.AuthorizerAppID)
	}
	q.WriteString(` ORDER BY id LIMIT ?`)
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, dbError("list events", err)
	}
	defer rows.Close()
	out := []*wxtoken.Event{}
	for rows.Next() {
		var e wxtoken.Event
		var at sql.NullInt64
		if err := rows.Scan(&e.ID, &e.ComponentAppID, &e.AuthorizerAppID, &e.Kind, &e.Detail, &at); err != nil {
			return nil, dbError("list events", err)
		}
		e.At = fromNanos(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError("list events", err)
	}
	return out, nil
}
