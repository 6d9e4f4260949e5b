package redis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
	"github.com/wxtoken/wxtoken/internal/storeargs"
)

func validateAuthorizer(a *wxtoken.Authorizer) error {
	switch {
	case a == nil:
		return invalidf("nil authorizer")
	case !a.State.Valid():
		return invalidf("authorizer %q has unknown state %q", a.AppID, a.State)
	case a.Version < 0:
		return invalidf("authorizer %q has negative version %d", a.AppID, a.Version)
	}
	return checkIDs(a.ComponentAppID, a.AppID)
}

// authorizerFields are the hash fields of a, as field/value pairs; the version
// is the script's to write.
func authorizerFields(a *wxtoken.Authorizer) ([]any, error) {
	info, err := json.Marshal(a.Info)
	if err != nil {
		return nil, invalidf("account info of authorizer %q: %v", a.AppID, err)
	}
	funcInfo := ""
	if len(a.FuncInfo) > 0 {
		b, _ := json.Marshal(a.FuncInfo)
		funcInfo = string(b)
	}
	return []any{
		"component_appid", a.ComponentAppID,
		"appid", a.AppID,
		"state", string(a.State),
		"refresh_token", a.RefreshToken,
		"access_token", a.AccessToken.Value,
		"access_token_expires_at", formatTime(a.AccessToken.ExpiresAt),
		"func_info", funcInfo,
		"account_info", string(info),
		"authorized_at", formatTime(a.AuthorizedAt),
		"last_refresh_at", formatTime(a.LastRefreshAt),
		"last_error", a.LastError,
		"updated_at", formatTime(a.UpdatedAt),
		"last_event_at", formatTime(a.LastEventAt),
		"auth_code_digest", a.AuthCodeDigest,
	}, nil
}

func decodeAuthorizer(h map[string]string) (*wxtoken.Authorizer, error) {
	a := &wxtoken.Authorizer{
		ComponentAppID: h["component_appid"],
		AppID:          h["appid"],
		State:          wxtoken.AuthorizerState(h["state"]),
		RefreshToken:   h["refresh_token"],
		AccessToken:    wxtoken.Token{Value: h["access_token"]},
		LastError:      h["last_error"],
		AuthCodeDigest: h["auth_code_digest"],
	}
	var err error
	if a.Version, err = strconv.ParseInt(h["version"], 10, 64); err != nil {
		return nil, err
	}
	if f := h["func_info"]; f != "" {
		if err := json.Unmarshal([]byte(f), &a.FuncInfo); err != nil {
			return nil, err
		}
	}
	if err := json.Unmarshal([]byte(h["account_info"]), &a.Info); err != nil {
		return nil, err
	}
	for field, dst := range map[string]*time.Time{
		"access_token_expires_at": &a.AccessToken.ExpiresAt,
		"authorized_at":           &a.AuthorizedAt,
		"last_refresh_at":         &a.LastRefreshAt,
		"updated_at":              &a.UpdatedAt,
		"last_event_at":           &a.LastEventAt,
	} {
		if *dst, err = parseTime(h[field]); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// hasToken is false for an account the scheduler must give a token first.
func hasToken(a *wxtoken.Authorizer) bool {
	return a.AccessToken.Value != "" && !a.AccessToken.ExpiresAt.IsZero()
}

// dueScore is a's score in the due-time index: the expiry of its access token
// in milliseconds, 0 without a token, "" when it is not in the index.
func dueScore(a *wxtoken.Authorizer) string {
	switch {
	case a.State != wxtoken.StateAuthorized:
		return ""
	case !hasToken(a):
		return "0"
	}
	return strconv.FormatInt(a.AccessToken.ExpiresAt.UnixMilli(), 10)
}

// GetAuthorizer returns one authorizer of a platform.
func (s *Store) GetAuthorizer(ctx context.Context, componentAppID, appID string) (*wxtoken.Authorizer, error) {
	if err := checkIDs(componentAppID, appID); err != nil {
		return nil, err
	}
	h, err := s.rdb.HGetAll(ctx, s.authorizerKey(componentAppID, appID)).Result()
	if err != nil {
		return nil, wrapErr("get authorizer", err)
	}
	if len(h) == 0 {
		return nil, notFoundf("no authorizer %q of component %q", appID, componentAppID)
	}
	a, err := decodeAuthorizer(h)
	if err != nil {
		return nil, corrupt("authorizer "+appID+" of component "+componentAppID, err)
	}
	return a, nil
}

// PutAuthorizer writes a if the stored version is a.Version (0: if there is
// none), with its index entries and notification, in one script.
func (s *Store) PutAuthorizer(ctx context.Context, a *wxtoken.Authorizer) error {
	if err := validateAuthorizer(a); err != nil {
		return err
	}
	fields, err := authorizerFields(a)
	if err != nil {
		return err
	}
	next := a.Version + 1
	args := append([]any{
		a.Version, a.AppID, dueScore(a), s.channel(),
		changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: a.ComponentAppID, AppID: a.AppID, Version: next}),
	}, fields...)
	keys := []string{s.authorizerKey(a.ComponentAppID, a.AppID), s.authorizerIndexKey(a.ComponentAppID), s.dueIndexKey(a.ComponentAppID)}
	v, err := putAuthorizerScript.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return wrapErr("put authorizer", err)
	}
	switch {
	case v < 0 && a.Version == 0:
		return conflictf("authorizer %q of component %q exists already", a.AppID, a.ComponentAppID)
	case v < 0:
		return conflictf("authorizer %q of component %q is not at version %d", a.AppID, a.ComponentAppID, a.Version)
	case v != next:
		return wrapErr("put authorizer", errors.New("the script wrote an unexpected version"))
	}
	a.Version = next
	return nil
}

// loadAuthorizers reads the authorizers named in appIDs in one round trip,
// skipping any that vanished since the index was read.
func (s *Store) loadAuthorizers(ctx context.Context, componentAppID string, appIDs []string) ([]*wxtoken.Authorizer, error) {
	cmds := make([]*goredis.MapStringStringCmd, len(appIDs))
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range appIDs {
			cmds[i] = p.HGetAll(ctx, s.authorizerKey(componentAppID, id))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	as := make([]*wxtoken.Authorizer, 0, len(appIDs))
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue
		}
		a, err := decodeAuthorizer(cmd.Val())
		if err != nil {
			return nil, corrupt("authorizer "+appIDs[i]+" of component "+componentAppID, err)
		}
		as = append(as, a)
	}
	return as, nil
}

// ListAuthorizers pages through the authorizers of a platform in AppID order,
// reading the AppID index in batches until the page is full.
func (s *Store) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	limit, err := storeargs.AuthorizerFilter("redis", f)
	if err != nil {
		return nil, err
	}
	if err := checkComponentID(f.ComponentAppID); err != nil {
		return nil, err
	}
	batch := limit
	if f.State != "" {
		// Some of each batch is filtered out; read more at a time.
		batch = max(limit, storeargs.DefaultLimit)
	}
	from := "-"
	if f.After != "" {
		from = "(" + f.After
	}
	out := []*wxtoken.Authorizer{}
	for len(out) < limit {
		ids, err := s.rdb.ZRangeByLex(ctx, s.authorizerIndexKey(f.ComponentAppID), &goredis.ZRangeBy{
			Min: from, Max: "+", Count: int64(batch),
		}).Result()
		if err != nil {
			return nil, wrapErr("list authorizers", err)
		}
		if len(ids) == 0 {
			break
		}
		as, err := s.loadAuthorizers(ctx, f.ComponentAppID, ids)
		if err != nil {
			return nil, wrapErr("list authorizers", err)
		}
		for _, a := range as {
			if (f.State == "" || a.State == f.State) && len(out) < limit {
				out = append(out, a)
			}
		}
		if len(ids) < batch {
			break
		}
		from = "(" + ids[len(ids)-1]
	}
	return out, nil
}

// DueAuthorizers returns authorized accounts whose token expires before the
// given time, or who have none, soonest first.
//
// The index scores are milliseconds; the candidates in the millisecond of
// "before" are checked against the exact expiry, and the page is sorted by it.
func (s *Store) DueAuthorizers(ctx context.Context, componentAppID string, before time.Time, limit int) ([]*wxtoken.Authorizer, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := checkComponentID(componentAppID); err != nil {
		return nil, err
	}
	maxScore := "0" // accounts without a token are always due
	if ms := before.UnixMilli(); !before.IsZero() && ms > 0 {
		maxScore = strconv.FormatInt(ms, 10)
	}
	due := func(a *wxtoken.Authorizer) bool {
		return a.State == wxtoken.StateAuthorized && (!hasToken(a) || a.AccessToken.ExpiresAt.Before(before))
	}
	out := []*wxtoken.Authorizer{}
	for offset := int64(0); len(out) < limit; {
		want := limit - len(out)
		ids, err := s.rdb.ZRangeByScore(ctx, s.dueIndexKey(componentAppID), &goredis.ZRangeBy{
			Min: "-inf", Max: maxScore, Offset: offset, Count: int64(want),
		}).Result()
		if err != nil {
			return nil, wrapErr("due authorizers", err)
		}
		offset += int64(len(ids))
		as, err := s.loadAuthorizers(ctx, componentAppID, ids)
		if err != nil {
			return nil, wrapErr("due authorizers", err)
		}
		for _, a := range as {
			if due(a) {
				out = append(out, a)
			}
		}
		if len(ids) < want {
			break
		}
	}
	slices.SortStableFunc(out, compareDue)
	return out, nil
}

// compareDue orders the scheduler's work: accounts without a token first,
// then by expiry, then by AppID.
func compareDue(x, y *wxtoken.Authorizer) int {
	hx, hy := hasToken(x), hasToken(y)
	switch {
	case hx != hy && !hx:
		return -1
	case hx != hy:
		return 1
	case hx:
		if c := x.AccessToken.ExpiresAt.Compare(y.AccessToken.ExpiresAt); c != 0 {
			return c
		}
	}
	return cmp.Compare(x.AppID, y.AppID)
}

func pageLimit(limit int) (int, error) { return storeargs.PageLimit("redis", limit) }
