package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/wechat"
)

var epoch = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// harness is one platform on a virtual clock: the emulator as WeChat, an
// engine over a sealed SQLite store, and a minimal event URL between them.
// The event URL is written here rather than taken from package server so
// that the engine is tested on its own.
type harness struct {
	t      testing.TB
	ctx    context.Context
	clock  *wxtoken.ManualClock
	emu    *emulator.Emulator
	eng    *engine.Engine   // the first replica
	engs   []*engine.Engine // every replica, sharing the store
	store  wxtoken.Store
	logs   *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan struct{}
	// timers is how many timers the running loops hold while idle.
	timers int
}

type harnessOptions struct {
	authorizers   int
	preAuthorized bool
	rotation      float64
	// store replaces the SQLite file under the sealing wrapper.
	store    wxtoken.Store
	replicas int // engines sharing the store; default 1
	// clock replaces the ManualClock (benchmarks run on the wall clock;
	// settle and advance then do not apply).
	clock     wxtoken.Clock
	emuConfig func(*emulator.Config)
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock := wxtoken.NewManualClock(epoch)
	var lifecycleClock wxtoken.Clock = clock
	if o.clock != nil {
		lifecycleClock = o.clock
	}
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	h := &harness{t: t, ctx: ctx, clock: clock, logs: logs, cancel: cancel, done: make(chan struct{})}

	var engRef struct {
		sync.Mutex
		e []*engine.Engine
	}
	var crypter *msgcrypt.Crypter
	events := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		msg, _, _, err := crypter.OpenPush(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), body)
		if err != nil {
			http.Error(w, "bad push", http.StatusBadRequest)
			return
		}
		ev, err := wechat.ParseEvent(msg)
		if err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		engRef.Lock()
		e := engRef.e[int(time.Now().UnixNano()/1000)%len(engRef.e)] // any replica may receive a push
		engRef.Unlock()
		if err := e.HandlePush(r.Context(), ev); err != nil {
			http.Error(w, "not stored", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "success")
	}))
	t.Cleanup(events.Close)

	cfg := emulator.Config{
		PushURL:              events.URL,
		Authorizers:          o.authorizers,
		Seed:                 42,
		PreAuthorized:        o.preAuthorized,
		Clock:                lifecycleClock,
		RefreshTokenRotation: o.rotation,
		Salt:                 7,
	}
	if o.emuConfig != nil {
		o.emuConfig(&cfg)
	}
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	h.emu = emu
	ecfg := emu.Config()
	wxSrv := httptest.NewServer(emu)
	t.Cleanup(wxSrv.Close)

	crypter, err = msgcrypt.NewCrypter(ecfg.Token, ecfg.ComponentAppID, ecfg.EncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}

	inner := o.store
	if inner == nil {
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wxtoken.db"), sqlite.WithWatchBuffer(8192))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		inner = db
	}
	ring, err := sealed.KeyringFromKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	h.store = sealed.Wrap(inner, ring)

	wx, err := wechat.New(wechat.Config{BaseURL: wxSrv.URL, ComponentAppID: ecfg.ComponentAppID, ComponentSecret: ecfg.ComponentSecret, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if o.replicas == 0 {
		o.replicas = 1
	}
	for i := 0; i < o.replicas; i++ {
		eng, err := engine.New(engine.Config{
			ComponentAppID: ecfg.ComponentAppID,
			Store:          h.store,
			WeChat:         wx,
			Clock:          lifecycleClock,
			Logger:         logger.With("replica", i),
			RefreshMargin:  10 * time.Minute,
			// Longer than a test's clock step: a refresh that starts while
			// Advance is still moving the clock must not see its lease lapse
			// before the step ends (in production, time does not jump).
			LeaseTTL:    3 * time.Minute,
			Concurrency: 8,
			Owner:       fmt.Sprintf("replica-%d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		h.engs = append(h.engs, eng)
	}
	h.eng = h.engs[0]
	engRef.Lock()
	engRef.e = h.engs
	engRef.Unlock()

	var wg sync.WaitGroup
	for _, eng := range h.engs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = eng.Run(ctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = emu.Run(ctx) }()
	go func() { wg.Wait(); close(h.done) }()
	t.Cleanup(h.stop)
	// Idle, each engine waits on two timers (component token, scheduler) and
	// the emulator on one (the next push).
	h.timers = 2*len(h.engs) + 1
	if o.clock == nil {
		h.settle()
	}
	return h
}

func (h *harness) busy() int64 {
	var n int64
	for _, e := range h.engs {
		n += e.Busy()
	}
	return n
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// settle waits until every loop is idle on the virtual clock: all timers are
// armed again and nothing is in flight. It waits on goroutines, not on time.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	stable := 0
	for stable < 3 {
		if err := h.clock.WaitForTimers(ctx, h.timers); err != nil {
			h.t.Fatalf("loops did not settle: %d timers pending, %d busy", h.clock.Pending(), h.busy())
		}
		if h.busy() == 0 && h.clock.Pending() >= h.timers {
			stable++
		} else {
			stable = 0
		}
		time.Sleep(200 * time.Microsecond) // let woken goroutines run; not waiting for virtual time
	}
}

// advance moves virtual time forward in steps, settling after each.
func (h *harness) advance(total, step time.Duration, each func(now time.Time)) {
	h.t.Helper()
	for elapsed := time.Duration(0); elapsed < total; elapsed += step {
		h.clock.Advance(step)
		h.settle()
		if each != nil {
			each(h.clock.Now())
		}
	}
}

// authorize runs the merchant's side for appID: a pre-auth code from the
// engine, the click on the emulator's page (which pushes authorized), and,
// when viaRedirect, the redirect's code exchanged too.
func (h *harness) authorize(appID string, funcInfo []int, viaRedirect bool) *wxtoken.Authorizer {
	h.t.Helper()
	pre, err := h.eng.PreAuthCode(h.ctx)
	if err != nil {
		h.t.Fatalf("pre-auth code: %v", err)
	}
	redirect, err := h.emu.Authorize(h.ctx, pre.Value, appID, "http://127.0.0.1/authorize/callback", funcInfo)
	if err != nil {
		h.t.Fatalf("authorize %s: %v", appID, err)
	}
	h.settle()
	if viaRedirect {
		code := redirectCode(h.t, redirect)
		a, already, err := h.eng.Exchange(h.ctx, code)
		if err != nil {
			h.t.Fatalf("exchange via redirect: %v", err)
		}
		if !already {
			h.t.Errorf("%s: the push exchanged the code first, so the redirect must be a no-op", appID)
		}
		return a
	}
	a, err := h.store.GetAuthorizer(h.ctx, h.emu.Config().ComponentAppID, appID)
	if err != nil {
		h.t.Fatalf("authorizer %s not stored after the push: %v", appID, err)
	}
	return a
}

func redirectCode(t testing.TB, redirect string) string {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatalf("redirect is not a URL: %v", err)
	}
	code := u.Query().Get("auth_code")
	if code == "" {
		t.Fatalf("redirect without auth_code")
	}
	return code
}
