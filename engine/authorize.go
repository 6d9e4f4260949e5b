package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// Push InfoTypes.
const (
	InfoTicket       = "component_verify_ticket"
	InfoAuthorized   = "authorized"
	InfoUpdateAuth   = "updateauthorized"
	InfoUnauthorized = "unauthorized"
	InfoFastRegister = "notify_third_fasteregister"
)

// HandlePush applies one decrypted push to the authorization event URL. It
// returns once the push's effect is durably stored; an error means the push
// must not be acknowledged.
func (e *Engine) HandlePush(ctx context.Context, ev *wechat.Event) error {
	if ev.AppID != e.appID {
		return wxtoken.Errorf(wxtoken.EInvalid, "push for another platform")
	}
	switch ev.InfoType {
	case InfoTicket:
		return e.HandleTicket(ctx, ev.ComponentVerifyTicket, ev.CreateTime)
	case InfoAuthorized, InfoUpdateAuth:
		_, err := e.exchange(ctx, ev.AuthorizationCode, ev.AuthorizerAppID, ev.CreateTime, ev.InfoType)
		return err
	case InfoUnauthorized:
		return e.revoke(ctx, ev.AuthorizerAppID, ev.CreateTime, "the merchant revoked the authorization")
	case InfoFastRegister:
		if ev.FastRegister == nil || ev.FastRegister.AuthCode == "" {
			e.log.Info("fast registration push without an auth code", "status", fastRegisterStatus(ev))
			e.appendEvent(ctx, "", wxtoken.EventUnknownPush, InfoFastRegister+" status="+fastRegisterStatus(ev))
			return nil
		}
		_, err := e.exchange(ctx, ev.FastRegister.AuthCode, ev.FastRegister.AppID, ev.CreateTime, InfoFastRegister)
		return err
	default:
		e.log.Info("push of an unknown InfoType acknowledged", "info_type", ev.InfoType)
		e.appendEvent(ctx, "", wxtoken.EventUnknownPush, "info_type="+ev.InfoType)
		return nil
	}
}

func fastRegisterStatus(ev *wechat.Event) string {
	if ev.FastRegister == nil {
		return "?"
	}
	return fmt.Sprint(ev.FastRegister.Status)
}

// Exchange swaps an authorization code (from the redirect) for the
// authorizer's tokens and stores them. A code that was exchanged already, by
// the push or by an earlier redirect, is not exchanged again: the stored
// authorizer is returned with already set.
func (e *Engine) Exchange(ctx context.Context, code string) (a *wxtoken.Authorizer, already bool, err error) {
	r, err := e.exchange(ctx, code, "", time.Time{}, InfoAuthorized)
	if err != nil {
		return nil, false, err
	}
	return r.authorizer, r.already, nil
}

type exchangeResult struct {
	authorizer *wxtoken.Authorizer
	already    bool
}

// exchangedCode remembers which account a code was exchanged for, as long as
// the code could still be delivered a second time.
type exchangedCode struct {
	appID string
	at    time.Time
}

// codeMemory outlasts any authorization code (600 s per the redirect, about
// an hour per the pushes' expiry field).
const codeMemory = 2 * time.Hour

// rememberCode records digest and forgets codes too old to come again, so
// the map holds recent authorizations only, not every one since start.
func (e *Engine) rememberCode(digest, appID string) {
	now := e.clock.Now()
	e.exchanged.Store(digest, exchangedCode{appID: appID, at: now})
	e.exchanged.Range(func(k, v any) bool {
		if now.Sub(v.(exchangedCode).at) > codeMemory {
			e.exchanged.Delete(k)
		}
		return true
	})
}

func codeDigest(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

func (e *Engine) exchange(ctx context.Context, code, appID string, eventTime time.Time, kind string) (exchangeResult, error) {
	if code == "" {
		return exchangeResult{}, wxtoken.Errorf(wxtoken.EInvalid, "authorization code missing")
	}
	digest := codeDigest(code)
	ch := e.codeFlight.DoChan(digest, func() (any, error) {
		e.busy.Add(1)
		defer e.busy.Add(-1)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return e.exchangeOnce(rctx, code, digest, appID, eventTime, kind)
	})
	select {
	case <-ctx.Done():
		return exchangeResult{}, wxtoken.Errorf(wxtoken.EUnavailable, "gave up waiting for the code exchange: %v", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return exchangeResult{}, r.Err
		}
		res := r.Val.(exchangeResult)
		if r.Shared {
			res.already = true
		}
		return res, nil
	}
}

func (e *Engine) exchangeOnce(ctx context.Context, code, digest, appID string, eventTime time.Time, kind string) (exchangeResult, error) {
	if known, ok := e.exchanged.Load(digest); ok && appID == "" {
		appID = known.(exchangedCode).appID
	}
	if appID != "" {
		a, err := e.store.GetAuthorizer(ctx, e.appID, appID)
		if err == nil {
			if a.AuthCodeDigest == digest {
				return exchangeResult{authorizer: a, already: true}, nil
			}
			if !eventTime.IsZero() && eventTime.Before(a.LastEventAt) {
				e.log.Info("push older than the last one applied; ignored", "authorizer_appid", appID, "info_type", kind)
				return exchangeResult{authorizer: a, already: true}, nil
			}
		} else if wxtoken.ErrorCode(err) != wxtoken.ENotFound {
			return exchangeResult{}, unavailable("read authorizer", err)
		}
	}

	start := e.clock.Now()
	auth, err := withComponentTokenT(e, ctx, func(componentToken string) (wechat.Authorization, error) {
		return e.wx.QueryAuth(ctx, componentToken, code)
	})
	if err != nil {
		switch wxtoken.WeChatErrCode(err) {
		case errcodeCodeInvalid, errcodeCodeExpired:
			if appID != "" {
				// The redirect and the push raced across replicas and the
				// other one won: the stored authorizer already has this code.
				if a, gerr := e.store.GetAuthorizer(ctx, e.appID, appID); gerr == nil && a.AuthCodeDigest == digest {
					return exchangeResult{authorizer: a, already: true}, nil
				}
			}
			return exchangeResult{}, &wxtoken.Error{Code: wxtoken.EInvalid, ErrCode: wxtoken.WeChatErrCode(err),
				Message: "the authorization code is invalid, expired or already used", Err: err}
		}
		return exchangeResult{}, err
	}
	if appID != "" && auth.AuthorizerAppID != appID {
		e.log.Warn("authorization code belongs to another account than the push said", "push_appid", appID, "code_appid", auth.AuthorizerAppID)
	}
	tok := wxtoken.Token{Value: auth.AccessToken, ExpiresAt: start.Add(auth.ExpiresIn)}
	already := false
	stored, err := e.update(ctx, auth.AuthorizerAppID, true, func(cur *wxtoken.Authorizer) error {
		// The same code exchanged again (by another replica) still stores the
		// answer: WeChat may have minted new tokens, and the newest is the
		// one that stays valid.
		already = cur.AuthCodeDigest == digest
		if !eventTime.IsZero() && eventTime.Before(cur.LastEventAt) {
			return errNoChange
		}
		if cur.State != wxtoken.StateAuthorized || cur.Version == 0 {
			cur.AuthorizedAt = e.clock.Now()
		}
		cur.State = wxtoken.StateAuthorized
		if auth.RefreshToken != "" {
			cur.RefreshToken = auth.RefreshToken
			cur.AccessToken = tok
			cur.LastRefreshAt = e.clock.Now()
		}
		cur.FuncInfo = auth.FuncInfo
		if eventTime.After(cur.LastEventAt) {
			cur.LastEventAt = eventTime
		}
		cur.AuthCodeDigest = digest
		cur.LastError = ""
		return nil
	})
	if err != nil {
		e.log.Error("exchanged authorization could not be stored", "authorizer_appid", auth.AuthorizerAppID, "err", err)
		return exchangeResult{}, err
	}
	e.rememberCode(digest, auth.AuthorizerAppID)
	if already {
		return exchangeResult{authorizer: stored, already: true}, nil
	}
	e.log.Info("authorization stored", "authorizer_appid", auth.AuthorizerAppID, "via", kind,
		"func_info", auth.FuncInfo, "token", wxtoken.Redact(tok.Value))
	evKind := wxtoken.EventAuthorized
	if kind == InfoUpdateAuth {
		evKind = wxtoken.EventUpdateAuthorized
	}
	e.appendEvent(ctx, auth.AuthorizerAppID, evKind, "func_info="+joinInts(auth.FuncInfo))

	if info, err := e.fetchInfo(ctx, auth.AuthorizerAppID); err == nil {
		stored = info
	} else {
		e.log.Warn("account info not fetched", "authorizer_appid", auth.AuthorizerAppID, "err", err)
	}
	return exchangeResult{authorizer: stored}, nil
}

// fetchInfo stores what api_get_authorizer_info says about an account.
func (e *Engine) fetchInfo(ctx context.Context, appID string) (*wxtoken.Authorizer, error) {
	info, _, err := withComponentTokenInfo(e, ctx, appID)
	if err != nil {
		return nil, err
	}
	info.FetchedAt = e.clock.Now()
	return e.update(ctx, appID, false, func(cur *wxtoken.Authorizer) error {
		cur.Info = info
		return nil
	})
}

func withComponentTokenInfo(e *Engine, ctx context.Context, appID string) (wxtoken.AccountInfo, wechat.Authorization, error) {
	type pair struct {
		info wxtoken.AccountInfo
		auth wechat.Authorization
	}
	p, err := withComponentTokenT(e, ctx, func(componentToken string) (pair, error) {
		info, auth, err := e.wx.AuthorizerInfo(ctx, componentToken, appID)
		return pair{info, auth}, err
	})
	return p.info, p.auth, err
}

// revoke marks appID revoked and erases its tokens. A push older than the
// last one applied to the account is ignored (eventTime zero: not a push).
func (e *Engine) revoke(ctx context.Context, appID string, eventTime time.Time, why string) error {
	if appID == "" {
		return wxtoken.Errorf(wxtoken.EInvalid, "authorizer appid missing")
	}
	ignored := false
	_, err := e.update(ctx, appID, true, func(cur *wxtoken.Authorizer) error {
		if !eventTime.IsZero() && eventTime.Before(cur.LastEventAt) {
			ignored = true
			return errNoChange
		}
		cur.State = wxtoken.StateRevoked
		cur.RefreshToken = ""
		cur.AccessToken = wxtoken.Token{}
		cur.LastError = why
		if eventTime.After(cur.LastEventAt) {
			cur.LastEventAt = eventTime
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ignored {
		e.log.Info("unauthorized push older than the last one applied; ignored", "authorizer_appid", appID)
		return nil
	}
	e.log.Warn("authorization revoked", "authorizer_appid", appID, "reason", why)
	e.appendEvent(ctx, appID, wxtoken.EventRevoked, why)
	return nil
}

// PreAuthCode creates a pre-auth code for an authorization link.
func (e *Engine) PreAuthCode(ctx context.Context) (wechat.PreAuthCode, error) {
	return withComponentTokenT(e, ctx, func(componentToken string) (wechat.PreAuthCode, error) {
		return e.wx.CreatePreAuthCode(ctx, componentToken)
	})
}

// SyncResult counts what Sync did.
type SyncResult struct {
	Listed      int `json:"listed"`
	Imported    int `json:"imported"`  // new accounts
	Recovered   int `json:"recovered"` // refresh token differed from WeChat's
	Unchanged   int `json:"unchanged"`
	NeedsCode   int `json:"needs_code"` // listed without a refresh token
	InfoFetched int `json:"info_fetched"`
	Failed      int `json:"failed"`
}

// Sync imports every authorization from api_get_authorizer_list (500 a page)
// and recovers refresh tokens the store lost or never had; with fetchInfo it
// also refreshes account info.
func (e *Engine) Sync(ctx context.Context, fetchInfo bool) (SyncResult, error) {
	var res SyncResult
	var mu sync.Mutex
	for offset := 0; ; {
		page, err := e.withComponentTokenList(ctx, offset)
		if err != nil {
			return res, err
		}
		sem := make(chan struct{}, e.cfg.Concurrency)
		var wg sync.WaitGroup
		for _, it := range page.Items {
			res.Listed++
			outcome, err := e.syncOne(ctx, it)
			if err != nil {
				res.Failed++
				e.log.Warn("sync authorizer", "authorizer_appid", it.AppID, "err", err)
				continue
			}
			switch outcome {
			case "imported":
				res.Imported++
			case "recovered":
				res.Recovered++
			case "needs_code":
				res.NeedsCode++
			default:
				res.Unchanged++
			}
			if fetchInfo {
				wg.Add(1)
				sem <- struct{}{}
				go func(appID string) {
					defer func() { <-sem; wg.Done() }()
					if _, err := e.fetchInfo(ctx, appID); err == nil {
						mu.Lock()
						res.InfoFetched++
						mu.Unlock()
					}
				}(it.AppID)
			}
		}
		wg.Wait()
		offset += len(page.Items)
		if len(page.Items) == 0 || offset >= page.TotalCount {
			return res, nil
		}
	}
}

func (e *Engine) syncOne(ctx context.Context, it wechat.ListedAuthorizer) (string, error) {
	outcome := "unchanged"
	_, err := e.update(ctx, it.AppID, true, func(cur *wxtoken.Authorizer) error {
		isNew := cur.Version == 0
		switch {
		case it.RefreshToken == "":
			if !isNew {
				return errNoChange // keep what we have; the code must be exchanged
			}
			cur.State = wxtoken.StateNeedsReauthorization
			cur.LastError = "WeChat lists this authorization without a refresh token: its code was never exchanged"
			outcome = "needs_code"
		case isNew:
			cur.State = wxtoken.StateAuthorized
			cur.RefreshToken = it.RefreshToken
			cur.AuthorizedAt = it.AuthTime
			outcome = "imported"
		case cur.RefreshToken != it.RefreshToken || cur.State == wxtoken.StateNeedsReauthorization:
			if cur.State == wxtoken.StateRevoked && !it.AuthTime.After(cur.LastEventAt) {
				return errNoChange
			}
			cur.State = wxtoken.StateAuthorized
			cur.RefreshToken = it.RefreshToken
			cur.AccessToken = wxtoken.Token{} // minted from another refresh token: refresh it
			cur.LastError = ""
			outcome = "recovered"
		default:
			return errNoChange
		}
		return nil
	})
	if err == nil && outcome == "recovered" {
		e.appendEvent(ctx, it.AppID, wxtoken.EventRefreshTokenRecovered, "authorizer list sync")
	}
	return outcome, err
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}
