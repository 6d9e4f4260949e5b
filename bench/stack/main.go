// Command stack runs what the token API benchmark measures: WeChat's
// emulator with N pre-authorized accounts, and the wxtoken service in front
// of it (engine, sealed SQLite store, server, net/http server configured as
// `wxtoken serve` configures it), wired in one process like `wxtoken demo`.
// It imports the N accounts through the authorizer list, waits until the
// service serves a token for every one of them, then writes the service's
// URL and API key to -ready-file and serves until interrupted.
//
//	go run ./bench/stack -authorizers 10000 -ready-file /tmp/stack.env
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/wxtoken/wxtoken/emulator"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/sqlite"
	"github.com/wxtoken/wxtoken/wechat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench/stack:", err)
		os.Exit(1)
	}
}

type config struct {
	listen      string
	authorizers int
	dir         string
	readyFile   string
	appIDsOut   string
	logLevel    string
	logFile     string
	concurrency int
	fillTimeout time.Duration
	cpuProfile  string
}

// ready is told the service's URL and key once every token is served.
type readyFunc func(url, key string)

func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready readyFunc) error {
	var cfg config
	fs := flag.NewFlagSet("bench/stack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "address of the wxtoken service")
	fs.IntVar(&cfg.authorizers, "authorizers", 10000, "pre-authorized accounts to import and keep tokens for")
	fs.StringVar(&cfg.dir, "dir", "", "where to keep the SQLite file (default: a temporary directory, removed on exit)")
	fs.StringVar(&cfg.readyFile, "ready-file", "", "write WXTOKEN_URL=… and WXTOKEN_BENCH_KEY=… here once ready (shell syntax)")
	fs.StringVar(&cfg.appIDsOut, "appids-out", "", "write the accounts' appids here, one per line, once ready")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "the service's log level, as `wxtoken serve --log-level`")
	fs.StringVar(&cfg.logFile, "log-file", "", "where the service's JSON log goes (default: stderr)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "authorizer refreshes in flight (the engine's Concurrency)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the service from ready to exit here (go tool pprof)")
	fs.DurationVar(&cfg.fillTimeout, "fill-timeout", 10*time.Minute, "give up if the tokens are not all served by then")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || cfg.authorizers < 1 {
		return fmt.Errorf("usage: bench/stack [flags]; -authorizers must be positive")
	}

	var logOut io.Writer = stderr
	if cfg.logFile != "" {
		f, err := os.Create(cfg.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: lvl}))

	dir := cfg.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "wxtoken-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}

	serverLn, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	defer serverLn.Close()
	emuLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer emuLn.Close()
	serverURL := "http://" + serverLn.Addr().String()
	emuURL := "http://" + emuLn.Addr().String()

	emu, err := emulator.New(emulator.Config{
		PushURL:       serverURL + "/wechat/component/events",
		Authorizers:   cfg.authorizers,
		PreAuthorized: true,
		// Daily quotas would stop the import of a large number of accounts.
		Quotas: map[string]int{},
	})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	ecfg := emu.Config()

	inner, err := sqlite.OpenURL(ctx, "sqlite://"+filepath.Join(dir, "wxtoken.db"))
	if err != nil {
		return err
	}
	masterKey := make([]byte, 32)
	rand.Read(masterKey)
	ring, err := sealed.KeyringFromKeys(masterKey)
	if err != nil {
		inner.Close()
		return err
	}
	store := sealed.Wrap(inner, ring)
	defer store.Close()

	wx, err := wechat.New(wechat.Config{BaseURL: emuURL, ComponentAppID: ecfg.ComponentAppID, ComponentSecret: ecfg.ComponentSecret, Logger: logger})
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Config{
		ComponentAppID: ecfg.ComponentAppID,
		Store:          store,
		WeChat:         wx,
		Logger:         logger,
		RefreshMargin:  10 * time.Minute,
		LeaseTTL:       time.Minute,
		Concurrency:    cfg.concurrency,
	})
	if err != nil {
		return err
	}
	crypter, err := msgcrypt.NewCrypter(ecfg.Token, ecfg.ComponentAppID, ecfg.EncodingAESKey)
	if err != nil {
		return err
	}
	keyBytes := make([]byte, 16)
	rand.Read(keyBytes)
	apiKey := "bench-" + hex.EncodeToString(keyBytes)
	srv, err := server.New(server.Config{
		Engine:         eng,
		Crypter:        crypter,
		ComponentAppID: ecfg.ComponentAppID,
		Logger:         logger,
		EventMaxAge:    10 * time.Minute,
		APIKeys:        []server.APIKey{{Name: "bench", Key: apiKey, Scopes: []string{"admin"}}},
		WeChatBaseURL:  emuURL,
		AuthPCBase:     emuURL,
		AuthMobileBase: emuURL,
	})
	if err != nil {
		return err
	}
	eng.SetObserver(srv.Observer())

	// The engine outlives the HTTP server, as in `wxtoken serve`: requests in
	// flight at shutdown may be waiting on a refresh.
	lifeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(lifeCtx) }()
	defer func() { cancel(); <-engineDone }()

	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go emuSrv.Serve(emuLn)
	defer emuSrv.Close()
	// The same settings as `wxtoken serve`.
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- httpSrv.Serve(serverLn) }()
	defer httpSrv.Close()

	// The emulator pushes a ticket at once and every 10 minutes.
	go emu.Run(lifeCtx)

	start := time.Now()
	fillCtx, fillCancel := context.WithTimeout(ctx, cfg.fillTimeout)
	defer fillCancel()
	if err := poll(fillCtx, func() bool { _, ok := eng.CachedComponentToken(); return ok }); err != nil {
		return fmt.Errorf("no component token: %w", err)
	}
	res, err := eng.Sync(fillCtx, false)
	if err != nil {
		return fmt.Errorf("importing the accounts: %w", err)
	}
	fmt.Fprintf(stderr, "bench/stack: imported %d accounts in %v; waiting for their tokens\n", res.Imported, time.Since(start).Round(time.Millisecond))
	served := 0
	lastReport := time.Now()
	err = poll(fillCtx, func() bool {
		served = 0
		for i := range cfg.authorizers {
			if _, ok := eng.CachedAuthorizerToken(emu.AppID(i)); ok {
				served++
			}
		}
		if time.Since(lastReport) > 5*time.Second {
			fmt.Fprintf(stderr, "bench/stack: %d of %d tokens served\n", served, cfg.authorizers)
			lastReport = time.Now()
		}
		return served == cfg.authorizers
	})
	if err != nil {
		return fmt.Errorf("%d of %d tokens served: %w", served, cfg.authorizers, err)
	}
	fmt.Fprintf(stderr, "bench/stack: %d tokens served after %v\n", served, time.Since(start).Round(time.Millisecond))

	if cfg.readyFile != "" {
		env := fmt.Sprintf("WXTOKEN_URL=%s\nWXTOKEN_BENCH_KEY=%s\n", serverURL, apiKey)
		if err := os.WriteFile(cfg.readyFile, []byte(env), 0o600); err != nil {
			return err
		}
	}
	if cfg.appIDsOut != "" {
		var b strings.Builder
		for i := range cfg.authorizers {
			b.WriteString(emu.AppID(i))
			b.WriteByte('\n')
		}
		if err := os.WriteFile(cfg.appIDsOut, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "ready %s\n", serverURL)
	if ready != nil {
		ready(serverURL, apiKey)
	}

	select {
	case <-ctx.Done():
	case err := <-serveDone:
		return fmt.Errorf("http server: %w", err)
	case err := <-engineDone:
		engineDone <- err // for the deferred wait
		return fmt.Errorf("engine stopped: %w", err)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	return httpSrv.Shutdown(shutdownCtx)
}

// poll checks cond every 50 ms until it holds or ctx is done.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
