package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
)

const emulatorSummary = `Run an emulator of WeChat's side of a third-party platform on this machine: the
component APIs (api.weixin.qq.com/cgi-bin/component/…), a few APIs called on an
account's behalf, the merchant's authorization page, and the authorization event
pushes (a component_verify_ticket every --ticket-interval, authorized,
updateauthorized and unauthorized events) to --push-url.

Every path of WeChat is served on the one origin, so point a platform at it with
--wechat-base-url (API) and at <url>/cgi-bin/componentloginpage (PC page) or
<url>/wxaopen/safe/bindcomponent (mobile page). The emulator is controlled and
observed through JSON under <url>/emulator/ (GET /emulator/config lists it all):
the clock, fault injection, pausing pushes, revoking or changing an
authorization, call counters, and token-validity oracles.

Credentials left out are generated from --seed and printed. To share the
emulator's virtual time with another process, give both the same --clock-origin
and --time-scale: each then reads origin + (now - origin) × scale.`

func runEmulator(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("emulator", emulatorSummary, env)
	fs.withConfig()
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve WeChat's side on (port 0: any free port; the URL is printed)")
	pushURL := fs.String("push-url", "", "the platform's authorization event URL to push to, e.g. http://127.0.0.1:8080/wechat/component/events (empty: no pushes)")
	appID := fs.String("component-appid", "", "the platform's appid, wx + 16 hex digits (default: generated from --seed and printed)")
	secret := fs.String("component-secret", "", "the platform's appsecret (default: generated and printed)")
	token := fs.String("token", "", "the message token that signs pushes (default: generated and printed)")
	aesKey := fs.String("aes-key", "", "the 43-character EncodingAESKey that seals pushes (default: generated and printed)")
	interval := fs.Duration("ticket-interval", 10*time.Minute, "virtual time between component_verify_ticket pushes (WeChat: 10m); the first push is at start")
	ticketRepeat := fs.Int("ticket-repeat", 3, "pushes that carry the same ticket before a new one is minted (WeChat re-pushes one for 20–60 min)")
	authorizers := fs.Int("authorizers", 10, "simulated accounts (official accounts and mini programs) on the authorization page; 1000000 starts in well under a second")
	preAuthorized := fs.Bool("pre-authorized", true, "every simulated account starts authorized with a seeded refresh token, listed by api_get_authorizer_list (import them with 'wxtoken authorizers sync')")
	seed := fs.Int64("seed", 1, "seed of the simulated accounts (appids, names, avatars), the initial refresh tokens and generated credentials")
	timeScale := fs.Float64("time-scale", 1, "virtual seconds per real second: 60 runs a 2-hour token lifetime in 2 minutes")
	clockOrigin := fs.String("clock-origin", "", "RFC 3339 wall-clock instant from which the virtual clock runs --time-scale times faster (default: now); give other processes the same to share the virtual time")
	manualClock := fs.Bool("manual-clock", false, "the virtual clock stands still (at --clock-origin or now) and moves only by POST /emulator/clock/advance")
	ipWhitelist := fs.String("ip-whitelist", "", "comma-separated IPs and CIDR prefixes allowed to call the APIs, others get 61004 (empty: anyone)")
	tokenTTL := fs.Duration("token-ttl", 7200*time.Second, "lifetime of component and authorizer access tokens (expires_in)")
	tokenOverlap := fs.Duration("token-overlap", 300*time.Second, "how long the previous access token stays valid after a refresh; negative: not at all")
	rotation := fs.Float64("refresh-token-rotation", 0, "probability that api_authorizer_token returns a new refresh token (the previous one lives --refresh-token-overlap more)")
	refreshOverlap := fs.Duration("refresh-token-overlap", 300*time.Second, "how long a rotated refresh token stays valid; negative: not at all")
	preAuthTTL := fs.Duration("pre-auth-code-ttl", 1800*time.Second, "lifetime of pre-auth codes (expires_in of api_create_preauthcode)")
	authCodeTTL := fs.Duration("auth-code-ttl", 600*time.Second, "lifetime of authorization codes (expires_in of the redirect); expired ones answer 61010")
	relativeExpiry := fs.Bool("auth-code-expired-time-relative", false, "push AuthorizationCodeExpiredTime as seconds, as documented, instead of the absolute unix time WeChat sends")
	reusable := fs.Bool("auth-code-reusable", false, "let an authorization code be exchanged more than once while it lives (default: the second exchange answers 61009)")
	keepRefresh := fs.Bool("reauthorize-keeps-refresh-token", false, "keep the refresh token when an authorized account authorizes again (default: it is invalidated)")
	rejectAccessToken := fs.Bool("reject-access-token-param", false, "accept the component token only as ?component_access_token=, not ?access_token=")
	pushRetries := fs.Int("push-retries", 0, "extra attempts for a push not answered \"success\" (WeChat documents none)")
	quotas := fs.String("quota", "api_component_token=10000", "daily call caps, endpoint=N comma-separated (45009 beyond; authorizer APIs count per account); empty: none")
	clearQuotas := fs.Int("clear-quota-per-month", 10, "clear_quota/v2 calls allowed per target per month (48006 beyond)")
	authDomain := fs.String("authorization-domain", "", "the platform's authorization start page domain: the PC page then requires a Referer on it")
	logFormat := fs.String("log-format", "text", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.parse(args); err != nil {
		return err
	}
	logger, err := newLogger(env, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	quotaMap, err := emulator.ParseQuotas(*quotas)
	if err != nil {
		return usageErrorf("--quota: %v", err)
	}
	if *timeScale <= 0 {
		return usageErrorf("--time-scale must be positive")
	}
	var clock wxtoken.Clock
	if *manualClock {
		if *timeScale != 1 {
			return usageErrorf("--manual-clock and --time-scale exclude each other")
		}
		at := time.Now()
		if *clockOrigin != "" {
			if at, err = time.Parse(time.RFC3339Nano, *clockOrigin); err != nil {
				return usageErrorf("--clock-origin: %v", err)
			}
		}
		clock = wxtoken.NewManualClock(at)
	} else if clock, err = newClock(*timeScale, *clockOrigin); err != nil {
		return err
	}

	given := map[string]bool{"component-appid": *appID != "", "component-secret": *secret != "", "token": *token != "", "aes-key": *aesKey != ""}
	emu, err := emulator.New(emulator.Config{
		ComponentAppID:               *appID,
		ComponentSecret:              *secret,
		Token:                        *token,
		EncodingAESKey:               *aesKey,
		PushURL:                      *pushURL,
		TicketInterval:               *interval,
		TicketRepeat:                 *ticketRepeat,
		Authorizers:                  *authorizers,
		PreAuthorized:                *preAuthorized,
		Seed:                         *seed,
		Clock:                        clock,
		Logger:                       logger,
		TokenTTL:                     *tokenTTL,
		TokenOverlap:                 *tokenOverlap,
		RefreshTokenRotation:         *rotation,
		RefreshTokenOverlap:          *refreshOverlap,
		PreAuthCodeTTL:               *preAuthTTL,
		AuthCodeTTL:                  *authCodeTTL,
		AuthCodeExpiredTimeRelative:  *relativeExpiry,
		AuthCodeReusable:             *reusable,
		ReauthorizeKeepsRefreshToken: *keepRefresh,
		RejectAccessTokenParam:       *rejectAccessToken,
		PushRetries:                  *pushRetries,
		IPWhitelist:                  splitList(*ipWhitelist),
		Quotas:                       quotaMap,
		ClearQuotaPerMonth:           *clearQuotas,
		AuthorizationDomain:          *authDomain,
	})
	if err != nil {
		return usageErrorf("%v", err)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s (choose another with --listen): %w", *listen, err)
	}
	base := "http://" + ln.Addr().String()
	cfg := emu.Config()
	fmt.Fprintf(env.stdout, "wxtoken emulator listening on %s\n", base)
	fmt.Fprintf(env.stdout, "  component appid  %s\n", cfg.ComponentAppID)
	// Generated credentials are printed whole: nobody else knows them, and
	// the platform under test needs them. Given ones are not repeated.
	for _, c := range []struct{ flag, value string }{{"component-secret", cfg.ComponentSecret}, {"token", cfg.Token}, {"aes-key", cfg.EncodingAESKey}} {
		if !given[c.flag] {
			fmt.Fprintf(env.stdout, "  --%-16s %s (generated)\n", c.flag, c.value)
		}
	}
	fmt.Fprintf(env.stdout, "  accounts         %d (pre-authorized: %v), seed %d\n", cfg.Authorizers, cfg.PreAuthorized, cfg.Seed)
	if cfg.PushURL != "" {
		fmt.Fprintf(env.stdout, "  pushes to        %s every %s (virtual)\n", cfg.PushURL, cfg.TicketInterval)
	} else {
		fmt.Fprintf(env.stdout, "  pushes           none (no --push-url)\n")
	}
	switch c := clock.(type) {
	case *wxtoken.ScaledClock:
		fmt.Fprintf(env.stdout, "  clock            --clock-origin %s --time-scale %g\n", c.Origin.Format(time.RFC3339Nano), c.Scale)
	case *wxtoken.ManualClock:
		fmt.Fprintf(env.stdout, "  clock            manual at %s (POST %s/emulator/clock/advance)\n", c.Now().Format(time.RFC3339), base)
	}
	fmt.Fprintf(env.stdout, "  control          %s/emulator/config\n", base)

	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		err := emu.Run(gctx)
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer cancel()
		if serr := srv.Shutdown(shutdownCtx); serr != nil {
			logger.Warn("emulator: shutdown", "err", serr)
		}
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	return g.Wait()
}
