package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
)

// formatTime writes t as "seconds.nanoseconds" (see luaTimeLess), "" for the
// zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	secs, nanos, ok := strings.Cut(s, ".")
	sec, err1 := strconv.ParseInt(secs, 10, 64)
	nsec, err2 := strconv.ParseInt(nanos, 10, 64)
	if !ok || err1 != nil || err2 != nil || len(nanos) != 9 {
		return time.Time{}, fmt.Errorf("stored time %q is not seconds.nanoseconds", s)
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// GetTicket returns the latest ticket of a platform.
func (s *Store) GetTicket(ctx context.Context, componentAppID string) (wxtoken.Ticket, error) {
	if err := checkComponentID(componentAppID); err != nil {
		return wxtoken.Ticket{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.ticketKey(componentAppID)).Result()
	if err != nil {
		return wxtoken.Ticket{}, wrapErr("get ticket", err)
	}
	if len(h) == 0 {
		return wxtoken.Ticket{}, notFoundf("no ticket for component %q", componentAppID)
	}
	t := wxtoken.Ticket{ComponentAppID: componentAppID, Value: h["value"]}
	var errC, errR error
	t.CreatedAt, errC = parseTime(h["created_at"])
	t.ReceivedAt, errR = parseTime(h["received_at"])
	if err := firstErr(errC, errR); err != nil {
		return wxtoken.Ticket{}, corrupt("ticket of component "+componentAppID, err)
	}
	return t, nil
}

// PutTicket stores t unless a ticket with a later CreatedAt is stored.
func (s *Store) PutTicket(ctx context.Context, t wxtoken.Ticket) (bool, error) {
	if err := checkComponentID(t.ComponentAppID); err != nil {
		return false, err
	}
	if t.Value == "" {
		return false, invalidf("empty ticket for component %q", t.ComponentAppID)
	}
	stored, err := putTicketScript.Run(ctx, s.rdb, []string{s.ticketKey(t.ComponentAppID)},
		t.Value, formatTime(t.CreatedAt), formatTime(t.ReceivedAt),
		s.channel(), changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: t.ComponentAppID})).Int()
	if err != nil {
		return false, wrapErr("put ticket", err)
	}
	return stored == 1, nil
}

// GetComponentToken returns the stored component_access_token of a platform.
func (s *Store) GetComponentToken(ctx context.Context, componentAppID string) (wxtoken.ComponentToken, error) {
	if err := checkComponentID(componentAppID); err != nil {
		return wxtoken.ComponentToken{}, err
	}
	h, err := s.rdb.HGetAll(ctx, s.componentTokenKey(componentAppID)).Result()
	if err != nil {
		return wxtoken.ComponentToken{}, wrapErr("get component token", err)
	}
	if len(h) == 0 {
		return wxtoken.ComponentToken{}, notFoundf("no component token for component %q", componentAppID)
	}
	t := wxtoken.ComponentToken{ComponentAppID: componentAppID, Token: wxtoken.Token{Value: h["value"]}}
	var errE, errO error
	t.ExpiresAt, errE = parseTime(h["expires_at"])
	t.ObtainedAt, errO = parseTime(h["obtained_at"])
	if err := firstErr(errE, errO); err != nil {
		return wxtoken.ComponentToken{}, corrupt("component token of component "+componentAppID, err)
	}
	return t, nil
}

// PutComponentToken replaces the component token of a platform.
func (s *Store) PutComponentToken(ctx context.Context, t wxtoken.ComponentToken) error {
	if err := checkComponentID(t.ComponentAppID); err != nil {
		return err
	}
	err := putComponentTokenScript.Run(ctx, s.rdb, []string{s.componentTokenKey(t.ComponentAppID)},
		t.Value, formatTime(t.ExpiresAt), formatTime(t.ObtainedAt),
		s.channel(), changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: t.ComponentAppID})).Err()
	return wrapErr("put component token", err)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// corrupt reports a record this package cannot read back: written by
// something else, or damaged.
func corrupt(what string, err error) error {
	return &wxtoken.Error{Code: wxtoken.EInternal, Message: "redis: stored " + what + " cannot be read", Err: err}
}
