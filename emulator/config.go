package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
)

// Config describes the simulated platform and the choices the emulator makes
// where WeChat's real behaviour is uncertain (see wechat-protocol.md). The zero
// value of every field is a sensible default; New fills and validates them,
// and Emulator.Config returns the result.
type Config struct {
	// The platform's credentials. Empty ones are generated from Seed, so a
	// test may leave them out and read them back with Emulator.Config.
	ComponentAppID, ComponentSecret, Token, EncodingAESKey string

	// PushURL is the platform's authorization event URL; "" means nothing is
	// pushed (tickets are then not minted either).
	PushURL        string
	TicketInterval time.Duration // between scheduled ticket pushes; default 10m

	// Authorizers is the number of seeded accounts. Their attributes are
	// derived from (Seed, index) on demand; nothing is stored for an account
	// until something about it changes.
	Authorizers int
	Seed        int64
	// PreAuthorized makes every seeded account already authorized, with a
	// deterministic initial refresh token that api_get_authorizer_list shows.
	// Off (the zero value) for New: a test starts with no authorization and
	// goes through the page, or turns it on to refresh seeded accounts
	// directly. The binary turns it on when --authorizers > 0.
	PreAuthorized bool

	Clock      wxtoken.Clock // default wxtoken.SystemClock{}
	HTTPClient *http.Client  // for pushes; default a client with a 5 s timeout (WeChat waits 5 s)
	Logger     *slog.Logger  // default discards

	// TicketRepeat is how many consecutive pushes carry the same ticket
	// before a new one is minted (default 3, i.e. 30 min at 10 min
	// intervals; WeChat is seen re-pushing for 20–60 min). A ticket is also
	// replaced once it is older than TicketRepeat×TicketInterval.
	TicketRepeat   int
	TicketLifetime time.Duration // default wxtoken.TicketLifetime (12 h); then 61005

	// TokenTTL is the lifetime of component and authorizer access tokens
	// (default 7200 s, the expires_in of every answer).
	TokenTTL time.Duration
	// TokenOverlap is how long the previous access token stays valid after a
	// new one is minted (default 300 s; negative: not at all). Tokens older
	// than the previous one answer 40001.
	TokenOverlap time.Duration
	// RefreshTokenRotation is the probability that api_authorizer_token
	// answers with a new refresh token (default 0: always the same), so that
	// clients are tested on storing what comes back. The previous refresh
	// token then stays valid for RefreshTokenOverlap (default 300 s;
	// negative: not at all).
	RefreshTokenRotation float64
	RefreshTokenOverlap  time.Duration

	PreAuthCodeTTL time.Duration // default 1800 s (the expires_in of api_create_preauthcode)
	AuthCodeTTL    time.Duration // default 600 s (the expires_in of the redirect); then 61010
	// AuthCodeExpiredTimeRelative makes AuthorizationCodeExpiredTime of the
	// pushes a number of seconds instead of the absolute unix time WeChat is
	// observed to send (the documentation says seconds; both are seen).
	AuthCodeExpiredTimeRelative bool
	// AuthCodeReusable lets an authorization code be exchanged again while it
	// lives (each exchange mints a new access token). By default the first
	// exchange uses it up and a second one answers 61009.
	AuthCodeReusable bool
	// ReauthorizeKeepsRefreshToken keeps the refresh token when an already
	// authorized account authorizes again through the page. By default
	// re-authorization invalidates it (61023) and the new code's exchange
	// hands out a new one.
	ReauthorizeKeepsRefreshToken bool
	// RejectAccessTokenParam accepts the component token only as
	// ?component_access_token= (the old documented name). By default
	// ?access_token= is accepted too, as the newer documentation says.
	RejectAccessTokenParam bool

	// PushRetries is how many times a push that was not answered "success" is
	// sent again, at once (default 0: WeChat documents no retries).
	PushRetries int

	// IPWhitelist holds the IPs and CIDR prefixes allowed to call the APIs
	// (61004 for any other caller). Empty: every caller is allowed.
	IPWhitelist []string
	// Quotas caps calls per API per day (Asia/Shanghai days, on Clock); over
	// the cap the answer is 45009 until the next day or a clear_quota/v2.
	// Keys are endpoint names as in SetFault. A nil map means
	// DefaultQuotas(); a value ≤ 0 means unlimited. Authorizer APIs count per
	// account, component APIs per platform.
	Quotas map[string]int
	// ClearQuotaPerMonth caps clear_quota/v2 per target per month (default
	// 10; then 48006).
	ClearQuotaPerMonth int
	// AuthorizationDomain, when set, is the "authorization start page
	// domain": the PC page then requires a Referer on that host or a
	// subdomain of it, like WeChat does.
	AuthorizationDomain string
	// Salt distinguishes values minted by this run from those of another run
	// with the same seed (0: random). Tests that compare runs fix it.
	Salt uint64
}

// DefaultQuotas are the daily caps used when Config.Quotas is nil. WeChat
// publishes none; 10000 a day for api_component_token is what one platform
// observed.
func DefaultQuotas() map[string]int {
	return map[string]int{"api_component_token": 10000}
}

// maxAuthorizers bounds --authorizers so that indices fit in 32 bits.
const maxAuthorizers = 1 << 31

func (c *Config) setDefaults() error {
	if c.Authorizers < 0 || c.Authorizers > maxAuthorizers {
		return fmt.Errorf("emulator: Authorizers must be between 0 and %d", maxAuthorizers)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TicketInterval, 10*time.Minute)
	def(&c.TicketLifetime, wxtoken.TicketLifetime)
	def(&c.TokenTTL, 7200*time.Second)
	def(&c.TokenOverlap, 300*time.Second)
	def(&c.RefreshTokenOverlap, 300*time.Second)
	def(&c.PreAuthCodeTTL, 1800*time.Second)
	def(&c.AuthCodeTTL, 600*time.Second)
	for name, d := range map[string]time.Duration{
		"TicketInterval": c.TicketInterval, "TicketLifetime": c.TicketLifetime, "TokenTTL": c.TokenTTL,
		"PreAuthCodeTTL": c.PreAuthCodeTTL, "AuthCodeTTL": c.AuthCodeTTL,
	} {
		if d < time.Second {
			return fmt.Errorf("emulator: %s must be at least 1s", name)
		}
	}
	if c.TicketRepeat == 0 {
		c.TicketRepeat = 3
	}
	if c.TicketRepeat < 0 {
		return errors.New("emulator: TicketRepeat must be positive")
	}
	if c.RefreshTokenRotation < 0 || c.RefreshTokenRotation > 1 {
		return errors.New("emulator: RefreshTokenRotation must be between 0 and 1")
	}
	if c.PushRetries < 0 {
		return errors.New("emulator: PushRetries must not be negative")
	}
	if c.ClearQuotaPerMonth == 0 {
		c.ClearQuotaPerMonth = 10
	}
	if c.Quotas == nil {
		c.Quotas = DefaultQuotas()
	}
	if c.Clock == nil {
		c.Clock = wxtoken.SystemClock{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}

	// Generated credentials come from the seed, so two emulators (or an
	// emulator and a test) given the same seed agree on them.
	gen := newCodec(c.Seed, 0).accountStream(^uint32(0), 99)
	if c.ComponentAppID == "" {
		c.ComponentAppID = "wx" + gen.hex(16)
	} else if !wxtoken.ValidAppID(c.ComponentAppID) {
		return errors.New("emulator: ComponentAppID is not an appid (wx and 16 hex digits)")
	}
	if c.ComponentSecret == "" {
		c.ComponentSecret = gen.hex(32)
	}
	if c.Token == "" {
		c.Token = gen.alnum(32)
	}
	if c.EncodingAESKey == "" {
		c.EncodingAESKey = gen.alnum(43)
	}
	if _, err := msgcrypt.DecodeKey(c.EncodingAESKey); err != nil {
		return fmt.Errorf("emulator: EncodingAESKey: %w", err)
	}
	if c.PushURL != "" && !strings.HasPrefix(c.PushURL, "http://") && !strings.HasPrefix(c.PushURL, "https://") {
		return errors.New("emulator: PushURL must be an http or https URL")
	}
	return nil
}

// parseWhitelist turns IPs and CIDR prefixes into prefixes.
func parseWhitelist(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("emulator: IPWhitelist: %w", err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("emulator: IPWhitelist: %w", err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ParseQuotas reads daily caps written "endpoint=N,endpoint=N" (the
// --quota flag). "" or "none" means no caps at all.
func ParseQuotas(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "none" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if !ok || name == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want endpoint=N with N ≥ 0", part)
		}
		out[name] = n
	}
	return out, nil
}
