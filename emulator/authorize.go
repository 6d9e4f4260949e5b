package emulator

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Authorize is the merchant clicking "authorize" for appID on the page reached
// with preAuthCode. It uses the pre-auth code up, records the authorization
// (a re-authorization invalidates the previous refresh token unless
// ReauthorizeKeepsRefreshToken), pushes the authorized event — or
// updateauthorized when an authorized account changed its permission sets —
// synchronously, and returns redirectURI?auth_code=…&expires_in=….
//
// funcInfo nil grants the account's default permission sets. When the push
// fails the authorization still happened: the redirect is returned with an
// error wrapping ErrPushFailed.
func (e *Emulator) Authorize(ctx context.Context, preAuthCode, appID, redirectURI string, funcInfo []int) (string, error) {
	target, err := url.Parse(redirectURI)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return "", ErrRedirectURI
	}
	index, ok := e.indexOf(appID)
	if !ok {
		return "", ErrUnknownAccount
	}
	if funcInfo == nil {
		funcInfo = e.account(index).DefaultFuncInfo
	}
	if len(funcInfo) == 0 {
		return "", ErrNoFuncInfo
	}
	funcInfo = slices.Clone(funcInfo)
	_, preSerial, ok := e.codec.parse(kindPreAuthCode, preAuthCode)
	if !ok {
		return "", ErrPreAuthCodeInvalid
	}

	now := e.clock.Now()
	nowNano := now.UnixNano()
	e.codesMu.Lock()
	pre, ok := e.preAuth[preSerial]
	switch {
	case !ok || pre.used:
		e.codesMu.Unlock()
		return "", ErrPreAuthCodeInvalid
	case nowNano >= pre.expires:
		e.codesMu.Unlock()
		return "", ErrPreAuthCodeExpired
	}
	infoType := "authorized"
	var generation uint32
	_ = e.update(index, func(a *authz) error {
		if a.authorized && !sameSets(grantedSets(e.account(index).DefaultFuncInfo, a.funcInfo), funcInfo) {
			infoType = "updateauthorized"
		}
		keep := a.authorized && a.refresh.has && e.cfg.ReauthorizeKeepsRefreshToken
		if !a.authorized {
			a.access.invalidate() // tokens of an earlier authorization stay dead
		}
		a.generation++
		a.authorized = true
		a.authTime = now.Unix()
		a.funcInfo = funcInfo
		if !keep {
			a.refresh.drop() // the exchange of the new code mints the new one
			a.exchanged = false
		}
		generation = a.generation
		return nil
	})
	pre.used = true
	code := e.newAuthCode(index, generation, nowNano)
	e.codesMu.Unlock()
	e.counters.add("authorize", outcomeCode(0))

	q := target.Query()
	q.Set("auth_code", code)
	q.Set("expires_in", strconv.FormatInt(seconds(e.cfg.AuthCodeTTL), 10))
	target.RawQuery = q.Encode()
	redirect := target.String()
	return redirect, e.pushAuthorization(ctx, infoType, appID, code, preAuthCode, now)
}

// sameSets reports whether two lists of permission sets grant the same.
func sameSets(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// pushAuthorization pushes an authorized or updateauthorized event.
func (e *Emulator) pushAuthorization(ctx context.Context, infoType, appID, code, preAuthCode string, now time.Time) error {
	if e.cfg.PushURL == "" {
		return nil
	}
	expired := strconv.FormatInt(now.Add(e.cfg.AuthCodeTTL).Unix(), 10)
	if e.cfg.AuthCodeExpiredTimeRelative {
		expired = strconv.FormatInt(seconds(e.cfg.AuthCodeTTL), 10)
	}
	payload := eventXML(
		field{"AppId", e.cfg.ComponentAppID, false},
		field{"CreateTime", strconv.FormatInt(now.Unix(), 10), true},
		field{"InfoType", infoType, false},
		field{"AuthorizerAppid", appID, false},
		field{"AuthorizationCode", code, false},
		field{"AuthorizationCodeExpiredTime", expired, true},
		field{"PreAuthCode", preAuthCode, false},
	)
	return e.push(ctx, PushRecord{InfoType: infoType, AuthorizerAppID: appID}, payload)
}

// Revoke is the merchant revoking the authorization in WeChat: the refresh
// token answers 61023 and the account's tokens 61003 from now on, and the
// unauthorized event is pushed. The state changes even when the push fails
// (the error then wraps ErrPushFailed).
func (e *Emulator) Revoke(ctx context.Context, appID string) error {
	index, ok := e.indexOf(appID)
	if !ok {
		return ErrUnknownAccount
	}
	err := e.update(index, func(a *authz) error {
		if !a.authorized {
			return ErrNotAuthorized
		}
		a.authorized, a.exchanged = false, false
		a.refresh.drop()
		a.access.invalidate()
		a.funcInfo = nil
		return nil
	})
	if err != nil {
		return err
	}
	if e.cfg.PushURL == "" {
		return nil
	}
	now := e.clock.Now()
	payload := eventXML(
		field{"AppId", e.cfg.ComponentAppID, false},
		field{"CreateTime", strconv.FormatInt(now.Unix(), 10), true},
		field{"InfoType", "unauthorized", false},
		field{"AuthorizerAppid", appID, false},
	)
	return e.push(ctx, PushRecord{InfoType: "unauthorized", AuthorizerAppID: appID}, payload)
}

// UpdateAuthorization is the merchant changing the permission sets granted
// (in WeChat, without going through the platform's page): the account keeps
// its refresh token, and updateauthorized is pushed with a new authorization
// code. As WeChat only pushes when the sets changed, granting the same sets
// again does nothing.
func (e *Emulator) UpdateAuthorization(ctx context.Context, appID string, funcInfo []int) error {
	index, ok := e.indexOf(appID)
	if !ok {
		return ErrUnknownAccount
	}
	if len(funcInfo) == 0 {
		return ErrNoFuncInfo
	}
	funcInfo = slices.Clone(funcInfo)
	now := e.clock.Now()
	nowNano := now.UnixNano()
	changed := false
	var generation uint32
	e.codesMu.Lock()
	err := e.update(index, func(a *authz) error {
		if !a.authorized {
			return ErrNotAuthorized
		}
		changed = !sameSets(grantedSets(e.account(index).DefaultFuncInfo, a.funcInfo), funcInfo)
		a.funcInfo = funcInfo
		generation = a.generation
		return nil
	})
	if err != nil || !changed {
		e.codesMu.Unlock()
		return err
	}
	code := e.newAuthCode(index, generation, nowNano)
	// The event carries a PreAuthCode; this one was never handed to anyone.
	pre, p := e.newPreAuthCodeLocked(nowNano)
	p.used = true
	e.codesMu.Unlock()
	return e.pushAuthorization(ctx, "updateauthorized", appID, code, pre, now)
}

// RotateRefreshToken is WeChat minting a new refresh token for appID without
// telling the platform (as on a re-authorization whose push was lost): the
// old one answers 61023 at once, and api_get_authorizer_list shows the new
// one.
func (e *Emulator) RotateRefreshToken(appID string) error {
	index, ok := e.indexOf(appID)
	if !ok {
		return ErrUnknownAccount
	}
	return e.update(index, func(a *authz) error {
		if !a.authorized {
			return ErrNotAuthorized
		}
		a.refresh.replace()
		a.exchanged = true
		return nil
	})
}

// DropRefreshToken makes the authorization lose its refresh token: 61023 for
// the old one, and api_get_authorizer_list shows refresh_token "". Exchanging
// a new authorization code (UpdateAuthorization pushes one) mints a new one.
func (e *Emulator) DropRefreshToken(appID string) error {
	index, ok := e.indexOf(appID)
	if !ok {
		return ErrUnknownAccount
	}
	return e.update(index, func(a *authz) error {
		if !a.authorized {
			return ErrNotAuthorized
		}
		a.refresh.drop()
		return nil
	})
}
