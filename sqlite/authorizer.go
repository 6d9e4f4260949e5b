package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

const authorizerColumns = `component_appid, appid, state, refresh_token, access_token, access_token_expires_at,
	func_info, account_info, authorized_at, last_refresh_at, last_error, updated_at, last_event_at,
	auth_code_digest, version`

// defaultLimit is what a limit of 0 means, for every listing.
const defaultLimit = 100

type rowScanner interface{ Scan(dest ...any) error }

func scanAuthorizer(r rowScanner) (*wxtoken.Authorizer, error) {
	var (
		a                                                    wxtoken.Authorizer
		expires, authorized, lastRefresh, updated, lastEvent sql.NullInt64
		funcInfo, accountInfo                                string
		state                                                string
	)
	if err := r.Scan(&a.ComponentAppID, &a.AppID, &state, &a.RefreshToken, &a.AccessToken.Value, &expires,
		&funcInfo, &accountInfo, &authorized, &lastRefresh, &a.LastError, &updated, &lastEvent,
		&a.AuthCodeDigest, &a.Version); err != nil {
		return nil, err
	}
	a.State = wxtoken.AuthorizerState(state)
	a.AccessToken.ExpiresAt = fromNanos(expires)
	a.AuthorizedAt = fromNanos(authorized)
	a.LastRefreshAt = fromNanos(lastRefresh)
	a.UpdatedAt = fromNanos(updated)
	a.LastEventAt = fromNanos(lastEvent)
	if err := json.Unmarshal([]byte(funcInfo), &a.FuncInfo); err != nil {
		return nil, fmt.Errorf("func_info of %s: %w", a.AppID, err)
	}
	if err := json.Unmarshal([]byte(accountInfo), &a.Info); err != nil {
		return nil, fmt.Errorf("account_info of %s: %w", a.AppID, err)
	}
	return &a, nil
}

func (s *Store) GetAuthorizer(ctx context.Context, componentAppID, appID string) (*wxtoken.Authorizer, error) {
	row := s.read.QueryRowContext(ctx,
		`SELECT `+authorizerColumns+` FROM authorizers WHERE component_appid = ? AND appid = ?`, componentAppID, appID)
	a, err := scanAuthorizer(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("authorizer %s not found", appID)
	}
	if err != nil {
		return nil, dbError("get authorizer", err)
	}
	return a, nil
}

// authorizerValues checks a and returns its column values after the key, in
// authorizerColumns order, without version.
func authorizerValues(a *wxtoken.Authorizer) ([]any, error) {
	switch {
	case a == nil:
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "nil authorizer")
	case a.ComponentAppID == "" || a.AppID == "":
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "authorizer without a component appid or appid")
	case !a.State.Valid():
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "authorizer %s: unknown state %q", a.AppID, a.State)
	case a.Version < 0:
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "authorizer %s: negative version", a.AppID)
	}
	if err := checkTimes("authorizer "+a.AppID, a.AccessToken.ExpiresAt, a.AuthorizedAt, a.LastRefreshAt, a.UpdatedAt, a.LastEventAt); err != nil {
		return nil, err
	}
	funcInfo := a.FuncInfo
	if funcInfo == nil {
		funcInfo = []int{}
	}
	fi, err := json.Marshal(funcInfo)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode func_info: %w", err)
	}
	info, err := json.Marshal(a.Info)
	if err != nil {
		return nil, fmt.Errorf("sqlite: encode account_info: %w", err)
	}
	return []any{
		string(a.State), a.RefreshToken, a.AccessToken.Value, nanos(a.AccessToken.ExpiresAt),
		string(fi), string(info), nanos(a.AuthorizedAt), nanos(a.LastRefreshAt), a.LastError,
		nanos(a.UpdatedAt), nanos(a.LastEventAt), a.AuthCodeDigest,
	}, nil
}

// PutAuthorizer is one conditional statement: an INSERT that does nothing when
// the row exists (Version 0), or an UPDATE that matches only the expected
// version. Either affects no row when another writer got there first.
func (s *Store) PutAuthorizer(ctx context.Context, a *wxtoken.Authorizer) error {
	vals, err := authorizerValues(a)
	if err != nil {
		return err
	}
	next := a.Version + 1
	var res sql.Result
	if a.Version == 0 {
		args := append([]any{a.ComponentAppID, a.AppID}, vals...)
		args = append(args, next)
		res, err = s.write.ExecContext(ctx, `INSERT INTO authorizers (`+authorizerColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (component_appid, appid) DO NOTHING`, args...)
	} else {
		args := append(vals, next, a.ComponentAppID, a.AppID, a.Version)
		res, err = s.write.ExecContext(ctx, `UPDATE authorizers SET
			state = ?, refresh_token = ?, access_token = ?, access_token_expires_at = ?,
			func_info = ?, account_info = ?, authorized_at = ?, last_refresh_at = ?, last_error = ?,
			updated_at = ?, last_event_at = ?, auth_code_digest = ?, version = ?
			WHERE component_appid = ? AND appid = ? AND version = ?`, args...)
	}
	if err != nil {
		return dbError("put authorizer", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbError("put authorizer", err)
	}
	if n == 0 {
		if a.Version == 0 {
			return wxtoken.Errorf(wxtoken.EConflict, "authorizer %s already exists", a.AppID)
		}
		return wxtoken.Errorf(wxtoken.EConflict, "authorizer %s is no longer at version %d", a.AppID, a.Version)
	}
	a.Version = next
	s.hub.publish(wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: a.ComponentAppID, AppID: a.AppID, Version: next})
	return nil
}

func (s *Store) ListAuthorizers(ctx context.Context, f wxtoken.AuthorizerFilter) ([]*wxtoken.Authorizer, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, err
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + authorizerColumns + ` FROM authorizers WHERE component_appid = ? AND appid > ?`)
	args := []any{f.ComponentAppID, f.After}
	if f.State != "" {
		q.WriteString(` AND state = ?`)
		args = append(args, string(f.State))
	}
	q.WriteString(` ORDER BY appid LIMIT ?`)
	args = append(args, limit)
	return s.queryAuthorizers(ctx, "list authorizers", q.String(), args...)
}

// DueAuthorizers reads the due index: due_at is the token's expiry, or the
// smallest integer when there is no token.
func (s *Store) DueAuthorizers(ctx context.Context, componentAppID string, before time.Time, limit int) ([]*wxtoken.Authorizer, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := checkTimes("due authorizers", before); err != nil {
		return nil, err
	}
	return s.queryAuthorizers(ctx, "due authorizers", `SELECT `+authorizerColumns+` FROM authorizers
		WHERE component_appid = ? AND state = ? AND due_at < ?
		ORDER BY due_at, appid LIMIT ?`,
		componentAppID, string(wxtoken.StateAuthorized), nanos(before), limit)
}

func (s *Store) queryAuthorizers(ctx context.Context, op, query string, args ...any) ([]*wxtoken.Authorizer, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(op, err)
	}
	defer rows.Close()
	out := []*wxtoken.Authorizer{}
	for rows.Next() {
		a, err := scanAuthorizer(rows)
		if err != nil {
			return nil, dbError(op, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(op, err)
	}
	return out, nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, wxtoken.Errorf(wxtoken.EInvalid, "negative limit")
	case n == 0:
		return defaultLimit, nil
	}
	return n, nil
}
