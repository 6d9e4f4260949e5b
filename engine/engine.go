// Package engine is the credential lifecycle of wxtoken: it takes tickets and
// authorization pushes in, keeps the component token and every authorizer's
// tokens fresh, and hands valid tokens out from memory.
//
// Every replica of the service runs one Engine over a shared Store. Refreshes
// are serialised across replicas by leases in the Store, and each replica's
// in-memory cache follows the Store's change notifications, so a token
// refreshed anywhere is served everywhere.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

// Config configures an Engine. Store, WeChat and ComponentAppID are required.
type Config struct {
	ComponentAppID string
	Store          wxtoken.Store
	WeChat         *wechat.Client
	Clock          wxtoken.Clock // default wxtoken.SystemClock{}
	Logger         *slog.Logger  // default slog.Default()

	// RefreshMargin: tokens are refreshed this long before they expire, plus a
	// random jitter of up to half of it so that replicas and accounts
	// authorized together do not refresh in lockstep. Default 10m.
	RefreshMargin time.Duration
	// LeaseTTL bounds how long a crashed replica's lease blocks a refresh.
	// Default 1m.
	LeaseTTL time.Duration
	// Concurrency caps scheduled authorizer refreshes in flight. Default 8.
	Concurrency int
	// Owner names this replica in leases. Default: host-pid-random.
	Owner string
	// Observer receives refresh outcomes for metrics. Optional.
	Observer Observer
	// RetryBase and RetryMax bound the exponential backoff after failures.
	// Defaults 5s and 5m.
	RetryBase, RetryMax time.Duration
}

// Observer is told what the engine does, for metrics. Implementations must be
// fast and must not block.
type Observer interface {
	// Refreshed reports one refresh call to WeChat: kind is
	// "component_token" or "authorizer_token"; errcode is 0 on success, -2 for
	// a transport failure.
	Refreshed(kind string, errcode int, d time.Duration)
}

// Credential kinds, as reported to the Observer.
const (
	KindComponentToken  = "component_token"
	KindAuthorizerToken = "authorizer_token"
)

// Engine runs the lifecycle. Create it with New, start it with Run.
type Engine struct {
	cfg    Config
	store  wxtoken.Store
	wx     *wechat.Client
	clock  wxtoken.Clock
	log    *slog.Logger
	appID  string
	owner  string
	margin time.Duration

	// The component token, served from memory.
	component  atomic.Pointer[wxtoken.ComponentToken]
	compKick   chan struct{} // wakes the component loop (new ticket, invalidation)
	compFlight singleflight.Group
	compState  componentStatus
	// compRefreshing serialises this process's component token refreshes.
	compRefreshing chan struct{}

	// Authorizers, served from memory.
	// cache maps appid to *entry. A sync.Map because it is read on every
	// token request from every core and written rarely: its reads take no
	// lock, where an RWMutex's reader count bounces between cores.
	cache sync.Map

	flight singleflight.Group // authorizer refreshes, keyed by appid
	sched  *scheduler
	busy   atomic.Int64 // refreshes and exchanges in flight, for tests and shutdown
	loaded atomic.Bool

	exchanged  sync.Map // auth code digest -> exchangedCode, so a second delivery is a no-op
	codeFlight singleflight.Group
}

// entry is one authorizer in the cache. Readers load the snapshot without
// locks; writers replace it and wake waiters.
type entry struct {
	snap    atomic.Pointer[snapshot]
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every update
	// refreshing serialises this process's refreshes of the account: the
	// store lease excludes other replicas, but this replica's owner name
	// would let its own scheduled refresh and an invalidation both in.
	refreshing chan struct{}
}

func newEntry() *entry {
	return &entry{changed: make(chan struct{}), refreshing: make(chan struct{}, 1)}
}

// snapshot is what the hot path needs of an authorizer.
type snapshot struct {
	state   wxtoken.AuthorizerState
	token   wxtoken.Token
	version int64
}

// New checks cfg and returns an Engine that is not yet running.
func New(cfg Config) (*Engine, error) {
	if cfg.ComponentAppID == "" || cfg.Store == nil || cfg.WeChat == nil {
		return nil, errors.New("engine: ComponentAppID, Store and WeChat are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = wxtoken.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = 10 * time.Minute
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = time.Minute
	}
	if cfg.RefreshMargin <= MinRemaining {
		return nil, fmt.Errorf("engine: the refresh margin must be longer than %s", MinRemaining)
	}
	if cfg.LeaseTTL >= RotationOverlap-MinRemaining {
		// A replica that takes over from a crashed one must refresh before the
		// token the crashed one was replacing stops being safe to hand out.
		return nil, fmt.Errorf("engine: the lease TTL must be shorter than %s", RotationOverlap-MinRemaining)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 5 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	e := &Engine{
		cfg:            cfg,
		store:          cfg.Store,
		wx:             cfg.WeChat,
		clock:          cfg.Clock,
		log:            cfg.Logger.With("component_appid", cfg.ComponentAppID),
		appID:          cfg.ComponentAppID,
		owner:          cfg.Owner,
		margin:         cfg.RefreshMargin,
		compKick:       make(chan struct{}, 1),
		compRefreshing: make(chan struct{}, 1),
	}
	e.sched = newScheduler(cfg.Clock)
	return e, nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Owner is the name this replica holds leases under.
func (e *Engine) Owner() string { return e.owner }

// Run loads the cache from the store and runs the lifecycle until ctx is done.
// It returns nil after a clean shutdown.
func (e *Engine) Run(ctx context.Context) error {
	changes, err := e.store.Watch(ctx)
	if err != nil {
		return fmt.Errorf("engine: watch store: %w", err)
	}
	if err := e.loadAll(ctx); err != nil {
		return fmt.Errorf("engine: load authorizers: %w", err)
	}
	if t, err := e.store.GetComponentToken(ctx, e.appID); err == nil {
		e.setComponent(&t)
	} else if wxtoken.ErrorCode(err) != wxtoken.ENotFound {
		return fmt.Errorf("engine: load component token: %w", err)
	}
	e.loaded.Store(true)

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); e.watch(ctx, changes) }()
	go func() { defer wg.Done(); e.componentLoop(ctx) }()
	go func() { defer wg.Done(); e.schedulerLoop(ctx) }()
	wg.Wait()
	return nil
}

// Busy reports how many refreshes and exchanges are in flight.
func (e *Engine) Busy() int64 { return e.busy.Load() }

func (e *Engine) loadAll(ctx context.Context) error {
	after := ""
	for {
		page, err := e.store.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: e.appID, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range page {
			e.remember(a)
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].AppID
	}
}

// watch follows the store's change notifications, so that a token refreshed
// by another replica is served here within moments.
func (e *Engine) watch(ctx context.Context, changes <-chan wxtoken.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				return
			}
			if c.Kind == wxtoken.ChangeResync {
				// A full reload covers whatever else is queued: drain it first,
				// so that a burst of writes costs one reload, not one each.
				drain(changes)
			}
			e.applyChange(ctx, c)
		}
	}
}

func (e *Engine) applyChange(ctx context.Context, c wxtoken.Change) {
	if c.ComponentAppID != "" && c.ComponentAppID != e.appID {
		return
	}
	switch c.Kind {
	case wxtoken.ChangeAuthorizer:
		if ent := e.lookup(c.AppID); ent != nil {
			if s := ent.snap.Load(); s != nil && s.version >= c.Version && c.Version != 0 {
				return // our own write, already cached
			}
		}
		a, err := e.store.GetAuthorizer(ctx, e.appID, c.AppID)
		if err != nil {
			if wxtoken.ErrorCode(err) != wxtoken.ENotFound {
				e.log.Warn("reload authorizer after change", "authorizer_appid", c.AppID, "err", err)
			}
			return
		}
		e.remember(a)
	case wxtoken.ChangeComponentToken:
		t, err := e.store.GetComponentToken(ctx, e.appID)
		if err != nil {
			return
		}
		e.setComponent(&t)
	case wxtoken.ChangeTicket:
		e.kickComponent()
	case wxtoken.ChangeResync:
		if err := e.loadAll(ctx); err != nil {
			e.log.Warn("resync authorizers", "err", err)
		}
		if t, err := e.store.GetComponentToken(ctx, e.appID); err == nil {
			e.setComponent(&t)
		}
		e.kickComponent()
	}
}

func (e *Engine) lookup(appID string) *entry {
	if v, ok := e.cache.Load(appID); ok {
		return v.(*entry)
	}
	return nil
}

// remember puts a stored authorizer into the cache (unless the cache already
// holds a newer version) and schedules its next refresh.
func (e *Engine) remember(a *wxtoken.Authorizer) {
	ent := e.entryFor(a.AppID)

	ent.mu.Lock()
	if cur := ent.snap.Load(); cur != nil && cur.version > a.Version {
		ent.mu.Unlock()
		return
	}
	ent.snap.Store(&snapshot{state: a.State, token: a.AccessToken, version: a.Version})
	close(ent.changed)
	ent.changed = make(chan struct{})
	ent.mu.Unlock()

	if a.State == wxtoken.StateAuthorized {
		e.sched.schedule(a.AppID, e.dueAt(a.AccessToken))
	} else {
		e.sched.remove(a.AppID)
	}
}

// dueAt is when a token should be refreshed: RefreshMargin plus jitter before
// it expires; at once if there is none.
func (e *Engine) dueAt(t wxtoken.Token) time.Time {
	if t.Value == "" || t.ExpiresAt.IsZero() {
		return e.clock.Now()
	}
	return t.ExpiresAt.Add(-e.margin - jitter(e.margin/2))
}

// leaseTTLFor is the lease duration for one refresh: long enough for a slow
// WeChat answer, short enough that a crashed holder blocks others briefly.
func (e *Engine) leaseTTL() time.Duration { return e.cfg.LeaseTTL }

func (e *Engine) backoff(attempt int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	if d > e.cfg.RetryMax {
		d = e.cfg.RetryMax
	}
	return d/2 + jitter(d/2)
}

func (e *Engine) observe(kind string, err error, start time.Time) {
	if e.cfg.Observer == nil {
		return
	}
	code := 0
	if err != nil {
		code = wxtoken.WeChatErrCode(err)
		if code == 0 {
			code = -2
		}
	}
	e.cfg.Observer.Refreshed(kind, code, e.clock.Now().Sub(start))
}

// appendEvent writes an audit event; a failure is logged, never fatal, since
// the audit log must not stop the credentials it describes.
func (e *Engine) appendEvent(ctx context.Context, appID, kind, detail string) {
	ev := &wxtoken.Event{ComponentAppID: e.appID, AuthorizerAppID: appID, Kind: kind, Detail: detail, At: e.clock.Now()}
	if err := e.store.AppendEvent(ctx, ev); err != nil {
		e.log.Warn("append audit event", "kind", kind, "authorizer_appid", appID, "err", err)
	}
}

// acquireLocal takes a one-slot semaphore, or gives up when ctx is done.
func acquireLocal(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return wxtoken.Errorf(wxtoken.EUnavailable, "gave up waiting for a refresh in progress: %v", ctx.Err())
	}
}

// drain discards the changes already queued on ch.
func drain(ch <-chan wxtoken.Change) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}
