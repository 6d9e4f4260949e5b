// Package server is the HTTP face of wxtoken: the authorization event URL that
// WeChat pushes to, the authorization pages merchants click through, the
// token API and egress proxy for the platform's other services, and the
// operator endpoints (/metrics, /healthz, /readyz, /openapi.json).
//
// It holds no credential state of its own: every token comes from the
// engine, and every push goes to the engine once it has been verified,
// decrypted and checked here.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/wechat"
)

// Defaults of Config.
const (
	DefaultMaxEventBody      = 64 << 10
	DefaultProxyRetryBodyCap = 1 << 20
	// DefaultProxyMaxBody is the largest request body the proxy forwards.
	// WeChat's largest uploads (video material) are capped at 20 MB
	// (official accounts) and 50 MB (channels); 64 MiB leaves room for the
	// multipart framing without making the proxy a general file pipe.
	DefaultProxyMaxBody = 64 << 20
)

// DefaultProxyPrefixes are the WeChat API families the proxy forwards to.
// Component endpoints (cgi-bin/component/) are deliberately reachable only
// through the engine: they take the component token, which the proxy never
// hands out.
var DefaultProxyPrefixes = []string{"cgi-bin/", "wxa/", "datacube/", "card/", "merchant/", "channels/"}

// Config configures a Server. Engine, Crypter and ComponentAppID are
// required.
type Config struct {
	Engine         *engine.Engine
	Crypter        *msgcrypt.Crypter // current + previous EncodingAESKey
	ComponentAppID string
	Clock          wxtoken.Clock // default wxtoken.SystemClock{}
	Logger         *slog.Logger  // default slog.Default()

	// EventMaxAge rejects pushes whose timestamp is older (or further in
	// the future) than this: a replay guard. 0 disables the check.
	EventMaxAge time.Duration
	// MaxEventBody caps push bodies (default 64 KiB); larger ones get 413.
	MaxEventBody int64

	// APIKeys are the bearer keys of the /v1 API; none means the API
	// answers 401 to everyone.
	APIKeys []APIKey

	// WeChatBaseURL is the upstream of the proxy (default
	// wechat.DefaultBaseURL).
	WeChatBaseURL string
	// AuthPCBase and AuthMobileBase are the hosts of the authorization
	// pages: WeChat's by default, the emulator's in the demo.
	AuthPCBase, AuthMobileBase string
	// PublicURL is the external base URL (scheme://host[/prefix]) used to
	// build the redirect_uri of authorization links. "" derives it from
	// each request's Host, with https only when the request came over TLS:
	// behind a TLS-terminating proxy, set it.
	PublicURL string

	// ProxyPrefixes are the API path prefixes the proxy forwards (default
	// DefaultProxyPrefixes); anything else is refused.
	ProxyPrefixes []string
	// ProxyRetryBodyCap: request bodies up to this size are kept so that a
	// call WeChat answered with a rejected token (40001/42001/40014) can be
	// sent once more with a fresh token (default 1 MiB).
	ProxyRetryBodyCap int64
	// ProxyMaxBody: larger request bodies get 413 (default 64 MiB).
	ProxyMaxBody int64

	// Registry receives the metrics; nil creates one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// HTTPClient sends the proxy's calls. The default follows no
	// redirects and has no overall timeout (media downloads stream for as
	// long as they take), only connection and header timeouts.
	HTTPClient *http.Client
}

// APIKey is one bearer key of the /v1 API.
type APIKey struct {
	// Name identifies the key in logs; it is not secret.
	Name string
	// Key is the secret, at least 16 characters. New keeps only its
	// SHA-256.
	Key string
	// Scopes: read:component, read:authorizer:<appid or path.Match glob>,
	// invalidate, proxy, proxy:<appid or glob>, admin (everything).
	Scopes []string
}

// Server serves wxtoken's HTTP routes. Create it with New.
type Server struct {
	eng            *engine.Engine
	crypter        *msgcrypt.Crypter
	componentAppID string
	clock          wxtoken.Clock
	log            *slog.Logger

	eventMaxAge  time.Duration
	maxEventBody int64

	keys *keyring

	upstream       *url.URL
	authPCBase     string
	authMobileBase string
	publicURL      string
	pathPrefix     string

	proxyPrefixes     []string
	proxyRetryBodyCap int64
	proxyMaxBody      int64
	httpClient        *http.Client

	metrics *metrics
	routes  []route
	handler http.Handler
}

// New checks cfg and builds the server's routes and metrics.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil || cfg.Crypter == nil || cfg.ComponentAppID == "" {
		return nil, errors.New("server: Engine, Crypter and ComponentAppID are required")
	}
	if cfg.Crypter.AppID() != cfg.ComponentAppID {
		return nil, errors.New("server: the Crypter is for another appid than ComponentAppID")
	}
	if cfg.Clock == nil {
		cfg.Clock = wxtoken.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.EventMaxAge < 0 {
		return nil, errors.New("server: EventMaxAge must not be negative")
	}
	if cfg.MaxEventBody <= 0 {
		cfg.MaxEventBody = DefaultMaxEventBody
	}
	if cfg.ProxyRetryBodyCap <= 0 {
		cfg.ProxyRetryBodyCap = DefaultProxyRetryBodyCap
	}
	if cfg.ProxyMaxBody <= 0 {
		cfg.ProxyMaxBody = DefaultProxyMaxBody
	}
	if cfg.WeChatBaseURL == "" {
		cfg.WeChatBaseURL = wechat.DefaultBaseURL
	}
	upstream, err := url.Parse(strings.TrimRight(cfg.WeChatBaseURL, "/"))
	if err != nil || (upstream.Scheme != "http" && upstream.Scheme != "https") || upstream.Host == "" ||
		upstream.RawQuery != "" || upstream.Fragment != "" || upstream.User != nil {
		return nil, errors.New("server: WeChatBaseURL must be an absolute http(s) URL without user, query or fragment")
	}
	pathPrefix := ""
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("server: PublicURL must be an absolute http(s) URL without query or fragment")
		}
		cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
		pathPrefix = strings.TrimRight(u.Path, "/")
	}
	prefixes, err := checkPrefixes(cfg.ProxyPrefixes)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(cfg.APIKeys)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultProxyClient()
	}
	s := &Server{
		eng:               cfg.Engine,
		crypter:           cfg.Crypter,
		componentAppID:    cfg.ComponentAppID,
		clock:             cfg.Clock,
		log:               cfg.Logger,
		eventMaxAge:       cfg.EventMaxAge,
		maxEventBody:      cfg.MaxEventBody,
		keys:              keys,
		upstream:          upstream,
		authPCBase:        cfg.AuthPCBase,
		authMobileBase:    cfg.AuthMobileBase,
		publicURL:         cfg.PublicURL,
		pathPrefix:        pathPrefix,
		proxyPrefixes:     prefixes,
		proxyRetryBodyCap: cfg.ProxyRetryBodyCap,
		proxyMaxBody:      cfg.ProxyMaxBody,
		httpClient:        cfg.HTTPClient,
	}
	if s.metrics, err = newMetrics(cfg.Registry, cfg.Engine, cfg.Clock); err != nil {
		return nil, err
	}
	s.routes = s.routeTable()
	s.handler = s.buildHandler()
	return s, nil
}

func checkPrefixes(given []string) ([]string, error) {
	if len(given) == 0 {
		return append([]string(nil), DefaultProxyPrefixes...), nil
	}
	out := make([]string, 0, len(given))
	for _, p := range given {
		// A prefix is one or more plain path segments ending in a slash,
		// so that "cgi-bin/" cannot be matched by "cgi-bin-evil/…".
		if p == "" || !strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") || !cleanRelativePath(p[:len(p)-1]) {
			return nil, fmt.Errorf("server: proxy prefix %q must be path segments ending in a slash, like \"cgi-bin/\"", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// Handler returns the root handler of every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Observer returns the metrics hook of the engine's refreshes. The engine
// exists before the server, so hand it over with Engine.SetObserver before
// Engine.Run.
func (s *Server) Observer() engine.Observer { return s.metrics }

// route is one entry of the route table, which is also what the OpenAPI
// document is checked against.
type route struct {
	method  string // "" = every method
	pattern string // a net/http.ServeMux path pattern
	handler http.HandlerFunc
}

// anyMethods are the methods a method-less route is documented with.
var anyMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (s *Server) routeTable() []route {
	return []route{
		{http.MethodPost, "/wechat/component/events", s.handleEvent},

		{http.MethodGet, "/authorize", s.handleAuthorizePage},
		{http.MethodGet, "/authorize/start", s.handleAuthorizeStart},
		{http.MethodPost, "/authorize/start", s.handleAuthorizeStart},
		{http.MethodGet, "/authorize/callback", s.handleAuthorizeCallback},

		{http.MethodGet, "/v1/component/token", s.handleComponentToken},
		{http.MethodGet, "/v1/authorizers", s.handleListAuthorizers},
		{http.MethodGet, "/v1/authorizers/{appid}", s.handleGetAuthorizer},
		{http.MethodGet, "/v1/authorizers/{appid}/token", s.handleAuthorizerToken},
		{http.MethodPost, "/v1/authorizers/{appid}/token/invalidate", s.handleInvalidate},
		{"", "/v1/proxy/{appid}/{path...}", s.handleProxy},

		{http.MethodGet, "/metrics", s.handleMetrics},
		{http.MethodGet, "/healthz", s.handleHealthz},
		{http.MethodGet, "/readyz", s.handleReadyz},
		{http.MethodGet, "/openapi.json", s.handleOpenAPI},
	}
}

func (s *Server) buildHandler() http.Handler {
	mux := http.NewServeMux()
	methods := map[string][]string{}
	var order []string
	for _, rt := range s.routes {
		if rt.method == "" {
			mux.HandleFunc(rt.pattern, rt.handler)
			continue
		}
		mux.HandleFunc(rt.method+" "+rt.pattern, rt.handler)
		if _, ok := methods[rt.pattern]; !ok {
			order = append(order, rt.pattern)
		}
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	// A method-less twin of each pattern answers other methods, so that a
	// 405 comes in the route's own error shape (JSON under /v1, plain text
	// elsewhere) instead of ServeMux's.
	for _, p := range order {
		allow := strings.Join(methods[p], ", ")
		if hasMethod(methods[p], http.MethodGet) {
			allow += ", HEAD"
		}
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.fail(w, r, &wxtoken.Error{Code: codeMethodNotAllowed, Message: r.Method + " is not allowed here; use " + allow})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, wxtoken.Errorf(wxtoken.ENotFound, "no such route"))
	})
	return s.instrument(s.rejectUncleanPaths(mux))
}

func hasMethod(ms []string, m string) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// rejectUncleanPaths answers 400 to a /v1 path with dot segments or empty
// segments. ServeMux would redirect it to the cleaned path, which for the
// proxy means a client's "cgi-bin/../x" silently becomes another endpoint.
func (s *Server) rejectUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") && !cleanRelativePath(strings.TrimSuffix(r.URL.Path[1:], "/")) {
			s.fail(w, r, wxtoken.Errorf(wxtoken.EInvalid, "the path has empty, '.' or '..' segments"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanRelativePath reports whether p is one or more non-empty segments,
// none of them "." or "..", without a leading slash or a backslash.
func cleanRelativePath(p string) bool {
	if p == "" || strings.ContainsRune(p, '\\') {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// isAPI tells whether r is answered in the API's JSON error shape.
func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1"
}
