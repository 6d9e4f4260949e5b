package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
	"github.com/wxtoken/wxtoken/internal/storeargs"
)

const authorizerColumns = `component_appid, appid, state, refresh_token, access_token,
	access_token_expires_at, func_info, account_info, authorized_at, last_refresh_at,
	last_error, updated_at, last_event_at, auth_code_digest, version`

func scanAuthorizer(row pgx.Row) (*wxtoken.Authorizer, error) {
	var (
		a                                             wxtoken.Authorizer
		expires, authorized, refreshed, updated, last pgtype.Int8
		funcInfo                                      []int
		info                                          []byte
	)
	err := row.Scan(&a.ComponentAppID, &a.AppID, &a.State, &a.RefreshToken, &a.AccessToken.Value,
		&expires, &funcInfo, &info, &authorized, &refreshed,
		&a.LastError, &updated, &last, &a.AuthCodeDigest, &a.Version)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(info, &a.Info); err != nil {
		return nil, err
	}
	if len(funcInfo) > 0 {
		a.FuncInfo = funcInfo
	}
	a.AccessToken.ExpiresAt = fromNanos(expires)
	a.AuthorizedAt = fromNanos(authorized)
	a.LastRefreshAt = fromNanos(refreshed)
	a.UpdatedAt = fromNanos(updated)
	a.LastEventAt = fromNanos(last)
	return &a, nil
}

func collectAuthorizers(rows pgx.Rows) ([]*wxtoken.Authorizer, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*wxtoken.Authorizer, error) {
		return scanAuthorizer(row)
	})
}

// GetAuthorizer returns one authorizer of a platform.
func (s *Store) GetAuthorizer(ctx context.Context, componentAppID, appID string) (*wxtoken.Authorizer, error) {
	a, err := scanAuthorizer(s.pool.QueryRow(ctx,
		`SELECT `+authorizerColumns+` FROM authorizers WHERE component_appid = $1 AND appid = $2`,
		componentAppID, appID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFoundf("no authorizer %q of component %q", appID, componentAppID)
	}
	if err != nil {
		return nil, wrapErr("get authorizer", err)
	}
	return a, nil
}

func validateAuthorizer(a *wxtoken.Authorizer) error {
	switch {
	case a == nil:
		return invalidf("nil authorizer")
	case a.ComponentAppID == "":
		return invalidf("authorizer without a component appid")
	case a.AppID == "":
		return invalidf("authorizer of component %q without an appid", a.ComponentAppID)
	case !a.State.Valid():
		return invalidf("authorizer %q has unknown state %q", a.AppID, a.State)
	case a.Version < 0:
		return invalidf("authorizer %q has negative version %d", a.AppID, a.Version)
	}
	return errors.Join(
		checkTime("access token expires_at", a.AccessToken.ExpiresAt),
		checkTime("authorized_at", a.AuthorizedAt),
		checkTime("last_refresh_at", a.LastRefreshAt),
		checkTime("updated_at", a.UpdatedAt),
		checkTime("last_event_at", a.LastEventAt),
	)
}

// PutAuthorizer writes a if the stored version is a.Version (0: if there is
// none), in one statement that also notifies watchers.
func (s *Store) PutAuthorizer(ctx context.Context, a *wxtoken.Authorizer) error {
	if err := validateAuthorizer(a); err != nil {
		return err
	}
	info, err := json.Marshal(a.Info)
	if err != nil {
		return invalidf("account info of authorizer %q: %v", a.AppID, err)
	}
	var funcInfo any // NULL for none, so that nil and empty read back alike
	if len(a.FuncInfo) > 0 {
		funcInfo = a.FuncInfo
	}
	next := a.Version + 1
	args := []any{
		a.ComponentAppID, a.AppID, string(a.State), a.RefreshToken, a.AccessToken.Value,
		nanos(a.AccessToken.ExpiresAt), funcInfo, info, nanos(a.AuthorizedAt), nanos(a.LastRefreshAt),
		a.LastError, nanos(a.UpdatedAt), nanos(a.LastEventAt), a.AuthCodeDigest, next,
		s.channel, changefeed.Encode(wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: a.ComponentAppID, AppID: a.AppID, Version: next}),
		a.Version,
	}
	var write string
	if a.Version == 0 {
		write = `INSERT INTO authorizers (` + authorizerColumns + `)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (component_appid, appid) DO NOTHING
			RETURNING 1`
		args = args[:len(args)-1]
	} else {
		write = `UPDATE authorizers SET state = $3, refresh_token = $4, access_token = $5,
				access_token_expires_at = $6, func_info = $7, account_info = $8, authorized_at = $9,
				last_refresh_at = $10, last_error = $11, updated_at = $12, last_event_at = $13,
				auth_code_digest = $14, version = $15
			WHERE component_appid = $1 AND appid = $2 AND version = $18
			RETURNING 1`
	}
	rows, err := s.pool.Query(ctx, `WITH written AS (`+write+`) SELECT pg_notify($16, $17)::text FROM written`, args...)
	if err != nil {
		return wrapErr("put authorizer", err)
	}
	n, err := countRows(rows)
	if err != nil {
		return wrapErr("put authorizer", err)
	}
	if n == 0 {
		if a.Version == 0 {
			return conflictf("authorizer %q of component %q exists already", a.AppID, a.ComponentAppID)
		}
		return conflictf("authorizer %q of component %q is not at version %d", a.AppID, a.ComponentAppID, a.Version)
	}
	a.Version = next
	return nil
}

// ListAuthorizers pages through the authorizers of a platform in AppID order.
func (s *Store) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	limit, err := storeargs.AuthorizerFilter("postgres", f)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+authorizerColumns+` FROM authorizers
		WHERE component_appid = $1 AND appid > $2 AND ($3 = '' OR state = $3)
		ORDER BY appid LIMIT $4`,
		f.ComponentAppID, f.After, string(f.State), limit)
	if err != nil {
		return nil, wrapErr("list authorizers", err)
	}
	as, err := collectAuthorizers(rows)
	return as, wrapErr("list authorizers", err)
}

// DueAuthorizers returns authorized accounts whose token expires before the
// given time, or who have none, soonest first.
func (s *Store) DueAuthorizers(ctx context.Context, componentAppID string, before time.Time, limit int) ([]*wxtoken.Authorizer, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	// Accounts without a token sort as the minimum and are always due.
	bound := int64(math.MinInt64 + 1)
	switch {
	case before.After(maxTime):
		bound = math.MaxInt64
	case !before.IsZero() && !before.Before(minTime):
		bound = before.UnixNano()
	}
	rows, err := s.pool.Query(ctx, `SELECT `+authorizerColumns+` FROM authorizers
		WHERE component_appid = $1 AND state = $2 AND due_at < $3
		ORDER BY due_at, appid LIMIT $4`,
		componentAppID, string(wxtoken.StateAuthorized), bound, limit)
	if err != nil {
		return nil, wrapErr("due authorizers", err)
	}
	as, err := collectAuthorizers(rows)
	return as, wrapErr("due authorizers", err)
}

func pageLimit(limit int) (int, error) { return storeargs.PageLimit("postgres", limit) }
