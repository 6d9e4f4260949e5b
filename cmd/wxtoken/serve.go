package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/postgres"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
)

// serveConfig is every setting of `wxtoken serve`, filled from flags,
// environment and config file.
type serveConfig struct {
	listen, store                         string
	componentAppID, componentSecret       string
	token, aesKey, aesKeyPrevious         string
	wechatBaseURL                         string
	masterKey, masterKeyPrevious          string
	apiKeys                               string
	apiKeyScopes                          []server.APIKey
	eventMaxAge, refreshMargin            time.Duration
	leaseTTL, shutdownTimeout             time.Duration
	concurrency                           int
	publicURL, authPCBase, authMobileBase string
	proxyPrefixes                         string
	logFormat, logLevel                   string
	timeScale                             float64
	clockOrigin                           string
	owner                                 string
	postgresSchema, redisPrefix           string
}

func (c *serveConfig) register(fs *flagSet) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address of the HTTP server")
	fs.StringVar(&c.store, "store", "sqlite://wxtoken.db", "store URL: sqlite://relative.db, sqlite:///absolute.db, postgres://user@host:5432/db?sslmode=disable, redis://host:6379/0")
	fs.StringVar(&c.componentAppID, "component-appid", "", "the platform's AppID (required)")
	fs.StringVar(&c.componentSecret, "component-secret", "", "the platform's AppSecret (required)")
	fs.StringVar(&c.token, "token", "", "the message verification Token of the platform (required)")
	fs.StringVar(&c.aesKey, "aes-key", "", "the 43-character EncodingAESKey (required)")
	fs.StringVar(&c.aesKeyPrevious, "aes-key-previous", "", "the previous EncodingAESKey, accepted during a rotation")
	fs.StringVar(&c.wechatBaseURL, "wechat-base-url", "https://api.weixin.qq.com", "where WeChat's API is (the emulator's URL in tests)")
	fs.StringVar(&c.masterKey, "master-key", "", "base64 of 32 bytes; seals secrets at rest (required)")
	fs.StringVar(&c.masterKeyPrevious, "master-key-previous", "", "the previous master key during a rotation: values sealed under it still open and are resealed")
	fs.StringVar(&c.apiKeys, "api-keys", "", "comma-separated bearer keys with full access to /v1 (none: the API is closed); scoped keys go in the config file under \"api_key_scopes\"")
	fs.DurationVar(&c.eventMaxAge, "event-max-age", 10*time.Minute, "reject pushes older than this (replay guard); 0 disables")
	fs.DurationVar(&c.refreshMargin, "refresh-margin", 10*time.Minute, "refresh a token this long before it expires (plus jitter of up to half of it)")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", time.Minute, "how long a refresh lease lasts; a crashed replica's lease lapses after it")
	fs.IntVar(&c.concurrency, "concurrency", 8, "scheduled authorizer refreshes in flight at most")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "on SIGTERM, how long to let in-flight requests and refreshes finish")
	fs.StringVar(&c.publicURL, "public-url", "", "external base URL of this server, for the authorization redirect_uri (default: from the request)")
	fs.StringVar(&c.authPCBase, "auth-pc-base", "https://mp.weixin.qq.com", "host of WeChat's PC authorization page")
	fs.StringVar(&c.authMobileBase, "auth-mobile-base", "https://open.weixin.qq.com", "host of WeChat's mobile authorization page")
	fs.StringVar(&c.proxyPrefixes, "proxy-prefixes", "cgi-bin/,wxa/,datacube/,card/,merchant/,channels/", "path prefixes the egress proxy forwards; anything else is refused")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Float64Var(&c.timeScale, "time-scale", 1, "testing: run the lifecycle clock this many times faster than real time (with --clock-origin, to share the emulator's virtual time)")
	fs.StringVar(&c.clockOrigin, "clock-origin", "", "testing: RFC 3339 wall-clock instant from which the clock runs --time-scale times faster; give the emulator the same to share its virtual time (default: now)")
	fs.StringVar(&c.postgresSchema, "postgres-schema", postgres.DefaultSchema, "PostgreSQL schema of the tables (created if missing)")
	fs.StringVar(&c.redisPrefix, "redis-prefix", redis.DefaultPrefix, "prefix of every Redis key and channel; each platform's keys also carry its component appid")
	fs.StringVar(&c.owner, "owner", "", "name of this replica in leases (default host-pid-random)")
}

func (c *serveConfig) validate() error {
	if err := required(
		"component-appid", c.componentAppID,
		"component-secret", c.componentSecret,
		"token", c.token,
		"aes-key", c.aesKey,
	); err != nil {
		return err
	}
	if c.masterKey == "" {
		return usageErrorf("missing required setting --master-key (%s): secrets are sealed at rest with it; generate one with: head -c 32 /dev/urandom | base64", envName("master-key"))
	}
	switch c.logFormat {
	case "json", "text":
	default:
		return usageErrorf("--log-format must be json or text")
	}
	if c.timeScale <= 0 {
		return usageErrorf("--time-scale must be positive")
	}
	return nil
}

func runServe(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("serve", "Run the credential service: the authorization event URL, the authorization pages, the token API and the egress proxy.", env)
	fs.withConfig()
	var cfg serveConfig
	cfg.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if _, err := fs.configValue("api_key_scopes", &cfg.apiKeyScopes); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	logger, err := newLogger(env, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	return serve(ctx, cfg, ln, logger, nil)
}

// serve runs the service on ln until ctx is done. ready, if not nil, is
// called with the server's base URL once it accepts requests.
func serve(ctx context.Context, cfg serveConfig, ln net.Listener, logger *slog.Logger, ready func(baseURL string)) error {
	clock, err := newClock(cfg.timeScale, cfg.clockOrigin)
	if err != nil {
		ln.Close()
		return err
	}
	crypter, err := msgcrypt.NewCrypter(cfg.token, cfg.componentAppID, cfg.aesKey, previousKeyOption(cfg.aesKeyPrevious)...)
	if err != nil {
		ln.Close()
		return usageErrorf("--aes-key/--aes-key-previous: %v", err)
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer store.Close()

	wx, err := wechat.New(wechat.Config{
		BaseURL:         cfg.wechatBaseURL,
		ComponentAppID:  cfg.componentAppID,
		ComponentSecret: cfg.componentSecret,
		Logger:          logger,
	})
	if err != nil {
		ln.Close()
		return usageErrorf("%v", err)
	}

	keys := cfg.apiKeyScopes
	for i, k := range splitList(cfg.apiKeys) {
		keys = append(keys, server.APIKey{Name: fmt.Sprintf("api-key-%d-%s", i+1, keyFingerprint(k)), Key: k, Scopes: []string{"admin"}})
	}
	eng, err := engine.New(engine.Config{
		ComponentAppID: cfg.componentAppID,
		Store:          store,
		WeChat:         wx,
		Clock:          clock,
		Logger:         logger,
		RefreshMargin:  cfg.refreshMargin,
		LeaseTTL:       cfg.leaseTTL,
		Concurrency:    cfg.concurrency,
		Owner:          cfg.owner,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := server.New(server.Config{
		Engine:         eng,
		Crypter:        crypter,
		ComponentAppID: cfg.componentAppID,
		Clock:          clock,
		Logger:         logger,
		EventMaxAge:    cfg.eventMaxAge,
		APIKeys:        keys,
		WeChatBaseURL:  cfg.wechatBaseURL,
		AuthPCBase:     cfg.authPCBase,
		AuthMobileBase: cfg.authMobileBase,
		PublicURL:      cfg.publicURL,
		ProxyPrefixes:  splitList(cfg.proxyPrefixes),
	})
	if err != nil {
		ln.Close()
		return usageErrorf("%v", err)
	}
	// The engine reports refreshes to the server's metrics.
	eng.SetObserver(srv.Observer())

	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(engineCtx) }()

	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- httpSrv.Serve(ln) }()
	baseURL := "http://" + ln.Addr().String()
	logger.Info("wxtoken serving", "url", baseURL, "store", storeKind(cfg.store), "component_appid", cfg.componentAppID, "owner", eng.Owner())
	if ready != nil {
		ready(baseURL)
	}

	select {
	case err := <-serveDone:
		stopEngine()
		<-engineDone
		return fmt.Errorf("http server: %w", err)
	case err := <-engineDone:
		_ = httpSrv.Close()
		if err != nil {
			return err
		}
		return errors.New("engine stopped unexpectedly")
	case <-ctx.Done():
	}

	// Graceful shutdown: stop accepting, let in-flight requests finish, then
	// stop the engine (which waits for refreshes in flight and releases
	// their leases), then close the store (deferred above).
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	stopEngine()
	select {
	case <-engineDone:
	case <-shutdownCtx.Done():
		logger.Warn("engine did not stop in time")
	}
	logger.Info("stopped")
	return nil
}

func previousKeyOption(k string) []msgcrypt.Option {
	if k == "" {
		return nil
	}
	return []msgcrypt.Option{msgcrypt.WithPreviousKey(k)}
}

func newClock(scale float64, origin string) (wxtoken.Clock, error) {
	if scale == 1 && origin == "" {
		return wxtoken.SystemClock{}, nil
	}
	var t time.Time
	if origin != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, origin); err != nil {
			return nil, usageErrorf("--clock-origin: %v", err)
		}
	}
	return wxtoken.NewScaledClock(t, scale), nil
}

func newLogger(env *environment, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// keyFingerprint names an API key in logs without revealing it.
func keyFingerprint(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:3])
}

func storeKind(u string) string {
	if i := strings.Index(u, "://"); i > 0 {
		return u[:i]
	}
	return "?"
}
