package emulator

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
)

// Errors of the Go API. The HTTP APIs answer WeChat's errcodes instead.
var (
	ErrUnknownAccount     = errors.New("emulator: no such seeded account")
	ErrNotAuthorized      = errors.New("emulator: the account has not authorized the platform")
	ErrPreAuthCodeInvalid = errors.New("emulator: pre-auth code is unknown or already used")
	ErrPreAuthCodeExpired = errors.New("emulator: pre-auth code expired")
	ErrRedirectURI        = errors.New("emulator: redirect_uri must be an absolute http or https URL")
	ErrNoFuncInfo         = errors.New("emulator: at least one permission set must be granted")
	// ErrPushFailed: the state changed, but the push was not answered
	// "success" (see Pushes for why).
	ErrPushFailed     = errors.New("emulator: push was not answered success")
	ErrNoPushURL      = errors.New("emulator: no push URL configured")
	ErrClockNotManual = errors.New("emulator: the clock cannot be advanced (not a manual clock)")
)

// Emulator is WeChat's side of the third-party platform: the component APIs,
// the merchant's authorization page, a few APIs called on an account's
// behalf, the authorization event pushes, and a control surface under
// /emulator/. It is safe for concurrent use.
type Emulator struct {
	cfg       Config
	clock     wxtoken.Clock
	log       *slog.Logger
	codec     *codec
	crypter   *msgcrypt.Crypter
	started   time.Time
	whitelist []netip.Prefix
	routes    map[string]*endpoint
	control   *http.ServeMux

	shards     [shardCount]shard
	exceptions exceptionSet

	compMu sync.Mutex
	comp   tokenChain

	tickets ticketState

	// codesMu guards the pre-auth and authorization codes. Lock order:
	// codesMu, then a shard, then exceptions.
	codesMu      sync.Mutex
	preAuth      map[uint32]*preAuthCode
	preAuthNext  uint32
	preAuthPrune int
	authCodes    map[uint32]*authCode
	authCodeNext uint32
	authPrune    int

	paused   atomic.Bool
	pushes   pushLog
	faults   faultSet
	counters callCounters
	quotas   quotaState
	messages messageLog
	ridSeq   atomic.Uint32
}

type preAuthCode struct {
	expires int64
	used    bool
}

type authCode struct {
	index      uint32
	generation uint32
	expires    int64
	used       bool
}

// New returns an emulator for cfg. Nothing runs until Run is called (for the
// scheduled ticket pushes) or the handler is served.
func New(cfg Config) (*Emulator, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	wl, err := parseWhitelist(cfg.IPWhitelist)
	if err != nil {
		return nil, err
	}
	crypter, err := msgcrypt.NewCrypter(cfg.Token, cfg.ComponentAppID, cfg.EncodingAESKey)
	if err != nil {
		return nil, err
	}
	cfg.Quotas = maps.Clone(cfg.Quotas)
	cfg.IPWhitelist = append([]string(nil), cfg.IPWhitelist...)
	salt := cfg.Salt
	for salt == 0 {
		salt = rand.Uint64()
	}
	e := &Emulator{
		cfg:       cfg,
		clock:     cfg.Clock,
		log:       cfg.Logger,
		codec:     newCodec(cfg.Seed, salt),
		crypter:   crypter,
		started:   cfg.Clock.Now(),
		whitelist: wl,
		preAuth:   map[uint32]*preAuthCode{},
		authCodes: map[uint32]*authCode{},
	}
	for i := range e.shards {
		e.shards[i].m = map[uint32]*authz{}
	}
	e.exceptions.m = map[uint32]struct{}{}
	e.quotas.used = map[quotaKey]int{}
	e.quotas.clears = map[int64]int{}
	e.routes = e.apiRoutes()
	e.counters.init(append(e.Endpoints(), "page", "authorize"))
	e.control = e.controlMux()
	return e, nil
}

// Config returns the effective configuration, with defaults and generated
// credentials filled in.
func (e *Emulator) Config() Config {
	c := e.cfg
	c.Quotas = maps.Clone(c.Quotas)
	c.IPWhitelist = append([]string(nil), c.IPWhitelist...)
	return c
}

// Now is the emulator's virtual time.
func (e *Emulator) Now() time.Time { return e.clock.Now() }

// advancer is what a clock needs for /emulator/clock/advance.
type advancer interface{ Advance(time.Duration) }

// AdvanceClock moves a manual clock forward (ErrClockNotManual otherwise).
func (e *Emulator) AdvanceClock(d time.Duration) error {
	a, ok := e.clock.(advancer)
	if !ok {
		return ErrClockNotManual
	}
	if d < 0 {
		return errors.New("emulator: the clock only moves forward")
	}
	a.Advance(d)
	return nil
}

// ServeHTTP serves WeChat's APIs (api.weixin.qq.com), the authorization pages
// (mp.weixin.qq.com, open.weixin.qq.com) and the control surface /emulator/,
// all on one origin.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if ep, ok := e.routes[p]; ok {
		e.serveAPI(w, r, ep)
		return
	}
	switch {
	case p == "/cgi-bin/componentloginpage":
		e.servePage(w, r, true)
	case p == "/wxaopen/safe/bindcomponent", p == "/safe/bindcomponent":
		e.servePage(w, r, false)
	case p == "/emulator" || strings.HasPrefix(p, "/emulator/"):
		e.control.ServeHTTP(w, r)
	case p == "/":
		e.serveIndex(w, r)
	case strings.HasPrefix(p, "/cgi-bin/"), strings.HasPrefix(p, "/wxa/"), strings.HasPrefix(p, "/sns/"):
		// WeChat answers an unknown API path with an errcode, not a 404 page.
		e.writeError(w, &apiError{code: errInvalidURL, msg: errmsgs[errInvalidURL]})
	default:
		http.NotFound(w, r)
	}
}

func (e *Emulator) nowNano() int64 { return e.clock.Now().UnixNano() }

// indexOf returns the account index of a seeded appid.
func (e *Emulator) indexOf(appID string) (uint32, bool) {
	return e.codec.accountIndex(appID, e.cfg.Authorizers)
}

// AppID returns the appid of seeded account index.
func (e *Emulator) AppID(index int) string { return e.codec.appID(uint32(index)) }

// Accounts returns the seeded accounts [offset, offset+limit) in index order,
// with their current authorization.
func (e *Emulator) Accounts(offset, limit int) []Account {
	offset = max(offset, 0)
	end := min(e.cfg.Authorizers, offset+max(limit, 0))
	if offset >= end {
		return []Account{}
	}
	out := make([]Account, 0, end-offset)
	for i := offset; i < end; i++ {
		out = append(out, e.accountWithState(uint32(i)))
	}
	return out
}

// Account returns one seeded account by appid.
func (e *Emulator) Account(appID string) (Account, error) {
	index, ok := e.indexOf(appID)
	if !ok {
		return Account{}, ErrUnknownAccount
	}
	return e.accountWithState(index), nil
}

func (e *Emulator) accountWithState(index uint32) Account {
	a := e.account(index)
	e.view(index, func(s *authz) {
		a.Authorized = s.authorized
		a.CodeExchanged = s.exchanged
		a.Refreshes = s.refreshes
		if s.authorized {
			a.FuncInfo = grantedSets(a.DefaultFuncInfo, s.funcInfo)
			a.AuthTime = e.authTime(index, s)
			if s.refresh.has {
				a.RefreshToken = e.codec.mint(kindRefreshToken, index, s.refresh.cur)
			}
		}
	})
	return a
}

// grantedSets returns a copy of the granted sets: own when set, else def.
func grantedSets(def, own []int) []int {
	if own != nil {
		return append([]int(nil), own...)
	}
	return append([]int(nil), def...)
}

func (e *Emulator) authTime(index uint32, s *authz) time.Time {
	if s.authTime == 0 {
		return e.seededAuthTime(index)
	}
	return time.Unix(s.authTime, 0)
}

// ComponentTokenValid reports whether WeChat would accept token as the
// component_access_token right now.
func (e *Emulator) ComponentTokenValid(token string) bool {
	_, serial, ok := e.codec.parse(kindComponentToken, token)
	if !ok {
		return false
	}
	now := e.nowNano()
	e.compMu.Lock()
	defer e.compMu.Unlock()
	return e.comp.check(serial, now) == 0
}

// AuthorizerTokenValid reports whether WeChat would accept token as appID's
// authorizer_access_token right now.
func (e *Emulator) AuthorizerTokenValid(appID, token string) bool {
	index, ok := e.indexOf(appID)
	if !ok {
		return false
	}
	ti, serial, ok := e.codec.parse(kindAuthorizerToken, token)
	if !ok || ti != index {
		return false
	}
	now := e.nowNano()
	valid := false
	e.view(index, func(a *authz) { valid = a.authorized && a.access.check(serial, now) == 0 })
	return valid
}

// RefreshTokenValid reports whether api_authorizer_token would accept
// refreshToken for appID right now.
func (e *Emulator) RefreshTokenValid(appID, refreshToken string) bool {
	index, ok := e.indexOf(appID)
	if !ok {
		return false
	}
	ti, serial, ok := e.codec.parse(kindRefreshToken, refreshToken)
	if !ok || ti != index {
		return false
	}
	now := e.nowNano()
	valid := false
	e.view(index, func(a *authz) { valid = a.authorized && a.refresh.valid(serial, now) })
	return valid
}

// PausePushes stops the scheduled ticket pushes (as when WeChat's pushes stop
// reaching a platform). api_start_push_ticket and PushTicket still push.
func (e *Emulator) PausePushes() { e.paused.Store(true) }

// ResumePushes lets the scheduled pushes go on at their next tick.
func (e *Emulator) ResumePushes() { e.paused.Store(false) }

// PushesPaused reports whether scheduled pushes are paused.
func (e *Emulator) PushesPaused() bool { return e.paused.Load() }

// sleep waits d of wall time: an injected delay is latency seen by a client,
// whose own timeouts run on the wall clock, whatever the virtual clock does.
func sleep(ctx context.Context, d time.Duration) error {
	return wxtoken.Sleep(ctx, wxtoken.SystemClock{}, d)
}
