package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/wechat"
)

// Every label below takes values from a small fixed set: route patterns
// (never raw paths), status codes, InfoTypes (known ones and "other"),
// errcodes (the ones the service reacts to and "other"). No appid, key name
// or value of any kind is a label.
type metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	refreshes      *prometheus.CounterVec
	refreshSeconds *prometheus.HistogramVec
	pushes         *prometheus.CounterVec
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	proxyUpstream  *prometheus.HistogramVec
	handouts       *prometheus.CounterVec

	// Resolved children for the per-request path, so that a request costs
	// map lookups rather than label hashing.
	mu          sync.RWMutex
	reqCounters map[routeStatus]prometheus.Counter
	reqHists    map[string]prometheus.Observer
	handoutCtrs map[[2]string]prometheus.Counter
}

type routeStatus struct {
	route  string
	status int
}

func newMetrics(reg *prometheus.Registry, eng *engine.Engine, clock wxtoken.Clock) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &metrics{
		reg: reg,
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxtoken_refreshes_total",
			Help: "Refresh calls to WeChat by credential kind and errcode (0 success, -2 transport failure, other: an errcode outside the known set).",
		}, []string{"kind", "errcode"}),
		refreshSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxtoken_refresh_duration_seconds",
			Help:    "Duration of refresh calls to WeChat.",
			Buckets: latency,
		}, []string{"kind"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxtoken_pushes_total",
			Help: "Pushes to the authorization event URL by InfoType and outcome.",
		}, []string{"info_type", "outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxtoken_http_requests_total",
			Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxtoken_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (for the proxy, until the answer is streamed).",
			Buckets: latency,
		}, []string{"route"}),
		proxyUpstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxtoken_proxy_upstream_duration_seconds",
			Help:    "Time from sending a proxied call to WeChat until its answer's headers arrived, by outcome.",
			Buckets: latency,
		}, []string{"outcome"}),
		handouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxtoken_tokens_handed_out_total",
			Help: "Tokens handed out by the API and the proxy, by kind and source (cache: from memory; wait: after a refresh).",
		}, []string{"kind", "source"}),
		reqCounters: map[routeStatus]prometheus.Counter{},
		reqHists:    map[string]prometheus.Observer{},
		handoutCtrs: map[[2]string]prometheus.Counter{},
	}
	for _, c := range []prometheus.Collector{m.refreshes, m.refreshSeconds, m.pushes, m.requests,
		m.requestSeconds, m.proxyUpstream, m.handouts, &engineCollector{eng: eng, clock: clock}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

// Refreshed implements engine.Observer.
func (m *metrics) Refreshed(kind string, errcode int, d time.Duration) {
	switch kind {
	case engine.KindComponentToken, engine.KindAuthorizerToken:
	default:
		kind = "other"
	}
	m.refreshes.WithLabelValues(kind, boundedErrCode(errcode)).Inc()
	m.refreshSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// boundedErrCode keeps the errcode label to the codes the service reacts to.
func boundedErrCode(code int) string {
	switch code {
	case 0, -1, -2,
		wechat.ErrCodeInvalidCredential, wechat.ErrCodeAccessTokenExpired, wechat.ErrCodeInvalidAccessToken,
		wechat.ErrCodeInvalidAppID, wechat.ErrCodeInvalidAppSecret, wechat.ErrCodeQuotaReached,
		wechat.ErrCodeNotAuthorized, wechat.ErrCodeIPNotWhitelisted, wechat.ErrCodeTicketExpired,
		wechat.ErrCodeTicketInvalid, wechat.ErrCodeAuthCodeInvalid, wechat.ErrCodeAuthCodeExpired,
		wechat.ErrCodeRefreshTokenInvalid:
		return strconv.Itoa(code)
	}
	return "other"
}

func (m *metrics) push(infoType, outcome string) {
	m.pushes.WithLabelValues(infoType, outcome).Inc()
}

func (m *metrics) handout(kind, source string) {
	key := [2]string{kind, source}
	m.mu.RLock()
	c, ok := m.handoutCtrs[key]
	m.mu.RUnlock()
	if !ok {
		c = m.handouts.WithLabelValues(kind, source)
		m.mu.Lock()
		m.handoutCtrs[key] = c
		m.mu.Unlock()
	}
	c.Inc()
}

func (m *metrics) request(route string, status int, d time.Duration) {
	key := routeStatus{route, status}
	m.mu.RLock()
	c, ok := m.reqCounters[key]
	h, hok := m.reqHists[route]
	m.mu.RUnlock()
	if !ok || !hok {
		c = m.requests.WithLabelValues(route, strconv.Itoa(status))
		h = m.requestSeconds.WithLabelValues(route)
		m.mu.Lock()
		m.reqCounters[key] = c
		m.reqHists[route] = h
		m.mu.Unlock()
	}
	c.Inc()
	h.Observe(d.Seconds())
}

// engineCollector reads the engine's state at scrape time: what it reports
// is always current and costs nothing between scrapes.
type engineCollector struct {
	eng   *engine.Engine
	clock wxtoken.Clock
}

var (
	descComponentExpiry = prometheus.NewDesc("wxtoken_component_token_expiry_seconds",
		"Seconds until the cached component_access_token expires (0 when there is none).", nil, nil)
	descTicketAge = prometheus.NewDesc("wxtoken_ticket_age_seconds",
		"Age of the latest component_verify_ticket (absent when none was received).", nil, nil)
	descAuthorizers = prometheus.NewDesc("wxtoken_authorizers",
		"Authorizers in this replica's cache, by state.", []string{"state"}, nil)
	descAuthorizerExpiry = prometheus.NewDesc("wxtoken_authorizer_token_expiry_seconds",
		"Distribution of the time until authorized accounts' cached access tokens expire (0 for none or expired).", nil, nil)
	descAuthorizerMinExpiry = prometheus.NewDesc("wxtoken_authorizer_token_min_expiry_seconds",
		"The shortest time until an authorized account's cached access token expires (0 for none or expired).", nil, nil)
)

// expiryBuckets cover a 2 h token's life, with detail near the refresh margin.
var expiryBuckets = []float64{0, 60, 300, 600, 900, 1800, 3600, 5400, 7200}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descComponentExpiry
	ch <- descTicketAge
	ch <- descAuthorizers
	ch <- descAuthorizerExpiry
	ch <- descAuthorizerMinExpiry
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clock.Now()
	left := 0.0
	if t, ok := c.eng.CachedComponentToken(); ok {
		left = t.ExpiresAt.Sub(now).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descComponentExpiry, prometheus.GaugeValue, left)

	// A scrape has no context of its own; bound the store read.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if age, ok := c.eng.TicketAge(ctx); ok {
		ch <- prometheus.MustNewConstMetric(descTicketAge, prometheus.GaugeValue, age.Seconds())
	}

	states := map[wxtoken.AuthorizerState]float64{
		wxtoken.StateAuthorized: 0, wxtoken.StateNeedsReauthorization: 0, wxtoken.StateRevoked: 0,
	}
	buckets := make(map[float64]uint64, len(expiryBuckets))
	var count uint64
	var sum float64
	minLeft := math.Inf(1)
	c.eng.CachedTokenExpiries(func(state wxtoken.AuthorizerState, expiresAt time.Time) {
		states[state]++
		if state != wxtoken.StateAuthorized {
			return
		}
		left := max(expiresAt.Sub(now).Seconds(), 0)
		count++
		sum += left
		minLeft = min(minLeft, left)
		for _, b := range expiryBuckets {
			if left <= b {
				buckets[b]++
			}
		}
	})
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(descAuthorizers, prometheus.GaugeValue, n, string(st))
	}
	ch <- prometheus.MustNewConstHistogram(descAuthorizerExpiry, count, sum, buckets)
	if count > 0 {
		ch <- prometheus.MustNewConstMetric(descAuthorizerMinExpiry, prometheus.GaugeValue, minLeft)
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps streamed proxy answers flowing through the wrapper.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// instrument counts every request by the pattern ServeMux matched (set on
// the request by ServeMux), so that a label is a route and never a path.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.status = w, 0
		defer func() {
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.metrics.request(route, status, time.Since(start))
			sw.ResponseWriter = nil
			statusWriters.Put(sw)
		}()
		next.ServeHTTP(sw, r)
	})
}
