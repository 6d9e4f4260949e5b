package redis

import (
	"context"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// AppendEvent adds e to the audit log and sets e.ID.
func (s *Store) AppendEvent(ctx context.Context, e *wxtoken.Event) error {
	switch {
	case e == nil:
		return invalidf("nil event")
	case e.Kind == "":
		return invalidf("event of component %q without a kind", e.ComponentAppID)
	}
	if err := checkComponentID(e.ComponentAppID); err != nil {
		return err
	}
	keys := []string{s.eventSeqKey(), s.componentEventsKey(e.ComponentAppID)}
	if e.AuthorizerAppID != "" {
		if err := checkIDs(e.ComponentAppID, e.AuthorizerAppID); err != nil {
			return err
		}
		keys = append(keys, s.authorizerEventsKey(e.ComponentAppID, e.AuthorizerAppID))
	}
	id, err := appendEventScript.Run(ctx, s.rdb, keys,
		"authorizer_appid", e.AuthorizerAppID, "kind", e.Kind, "detail", e.Detail, "at", formatTime(e.At)).Int64()
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
	if err := checkComponentID(f.ComponentAppID); err != nil {
		return nil, err
	}
	key := s.componentEventsKey(f.ComponentAppID)
	if f.AuthorizerAppID != "" {
		if err := checkIDs(f.ComponentAppID, f.AuthorizerAppID); err != nil {
			return nil, err
		}
		key = s.authorizerEventsKey(f.ComponentAppID, f.AuthorizerAppID)
	}
	start := strconv.FormatInt(max(f.AfterID, 0)+1, 10) + "-0"
	msgs, err := s.rdb.XRangeN(ctx, key, start, "+", int64(limit)).Result()
	if err != nil {
		return nil, wrapErr("list events", err)
	}
	events := make([]*wxtoken.Event, 0, len(msgs))
	for _, m := range msgs {
		e, err := decodeEvent(f.ComponentAppID, m)
		if err != nil {
			return nil, corrupt("event "+m.ID+" of component "+f.ComponentAppID, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func decodeEvent(componentAppID string, m goredis.XMessage) (*wxtoken.Event, error) {
	seq, _, _ := strings.Cut(m.ID, "-")
	id, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		return nil, err
	}
	field := func(name string) string { v, _ := m.Values[name].(string); return v }
	at, err := parseTime(field("at"))
	if err != nil {
		return nil, err
	}
	return &wxtoken.Event{
		ID:              id,
		ComponentAppID:  componentAppID,
		AuthorizerAppID: field("authorizer_appid"),
		Kind:            field("kind"),
		Detail:          field("detail"),
		At:              at,
	}, nil
}
