package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wxtoken/wxtoken/emulator"
)

func runDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("demo", "Run WeChat's emulator and the service together on loopback, with a throw-away SQLite file and generated credentials, and print the URL to open.", env)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the service (the emulator takes a free port beside it)")
	authorizers := fs.Int("authorizers", 5, "simulated accounts the emulator offers on its authorization page")
	dir := fs.String("dir", "", "where to keep the SQLite file (default: a temporary directory, removed on exit)")
	logFormat := fs.String("log-format", "text", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.parse(args); err != nil {
		return err
	}
	logger, err := newLogger(env, *logFormat, *logLevel)
	if err != nil {
		return err
	}

	dataDir := *dir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "wxtoken-demo-"); err != nil {
			return fmt.Errorf("temporary directory: %w", err)
		}
		defer os.RemoveAll(dataDir)
	}

	serverLn, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another with --listen): %w", *listen, err)
	}
	emuLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		serverLn.Close()
		return fmt.Errorf("listen for the emulator: %w", err)
	}
	serverURL := "http://" + serverLn.Addr().String()
	emuURL := "http://" + emuLn.Addr().String()

	creds := demoCredentials()
	emu, err := emulator.New(emulator.Config{
		ComponentAppID:  creds.appID,
		ComponentSecret: creds.secret,
		Token:           creds.token,
		EncodingAESKey:  creds.aesKey,
		PushURL:         serverURL + "/wechat/component/events",
		Authorizers:     *authorizers,
		Logger:          logger.With("side", "wechat-emulator"),
	})
	if err != nil {
		serverLn.Close()
		emuLn.Close()
		return fmt.Errorf("emulator: %w", err)
	}

	cfg := serveConfig{
		store:           "sqlite://" + filepath.Join(dataDir, "wxtoken.db"),
		componentAppID:  creds.appID,
		componentSecret: creds.secret,
		token:           creds.token,
		aesKey:          creds.aesKey,
		wechatBaseURL:   emuURL,
		masterKey:       creds.masterKey,
		apiKeys:         creds.apiKey,
		eventMaxAge:     10 * time.Minute,
		refreshMargin:   10 * time.Minute,
		leaseTTL:        time.Minute,
		concurrency:     8,
		shutdownTimeout: 5 * time.Second,
		authPCBase:      emuURL,
		authMobileBase:  emuURL,
		proxyPrefixes:   "cgi-bin/,wxa/,datacube/,card/,merchant/,channels/",
		timeScale:       1,
	}
	if cfg.store[len("sqlite://")] != '/' {
		return errors.New("demo: the data directory must be absolute")
	}

	g, gctx := errgroup.WithContext(ctx)
	emuSrv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := emuSrv.Serve(emuLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("emulator http: %w", err)
		}
		return nil
	})
	started := make(chan struct{})
	g.Go(func() error {
		return serve(gctx, cfg, serverLn, logger.With("side", "wxtoken"), func(string) { close(started) })
	})
	g.Go(func() error {
		select {
		case <-started:
		case <-gctx.Done():
			return nil
		}
		// WeChat pushes a ticket every 10 minutes; the emulator's loop starts
		// with one so the demo is ready at once.
		// Run returns only when its context ends, or on a failure.
		if err := emu.Run(gctx); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("emulator push loop: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-started:
		case <-gctx.Done():
			return nil
		}
		fmt.Fprintf(env.stdout, `
wxtoken demo is running.

  Open this page and authorize an account:  %s/authorize
  (WeChat's side is emulated at %s)

  Then read its token through the API:
    curl -H 'Authorization: Bearer %s' %s/v1/authorizers
    curl -H 'Authorization: Bearer %s' %s/v1/authorizers/<appid>/token

  Readiness: %s/readyz   Metrics: %s/metrics
  Press Ctrl-C to stop; the demo's data is thrown away.

`, serverURL, emuURL, creds.apiKey, serverURL, creds.apiKey, serverURL, serverURL, serverURL)
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return emuSrv.Shutdown(shutdownCtx)
	})
	return g.Wait()
}

type credentials struct {
	appID, secret, token, aesKey, masterKey, apiKey string
}

// demoCredentials makes a fresh platform identity for a demo run.
func demoCredentials() credentials {
	return credentials{
		appID:     "wx" + randomHex(8),
		secret:    randomHex(16),
		token:     "demo" + randomHex(6),
		aesKey:    randomAlnum(43),
		masterKey: base64.StdEncoding.EncodeToString(randomBytes(32)),
		apiKey:    "demo-" + randomHex(12),
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no randomness: nothing sensible to do
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomAlnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(n)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
