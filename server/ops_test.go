package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHealthAndReadiness(t *testing.T) {
	// An engine that has not started: nothing loaded, no ticket, no token.
	idle := newHarness(t, harnessOptions{authorizers: 1, noEngineRun: true})
	rec := idle.do("GET", "/healthz", "", nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body.String())
	}
	rec = idle.do("GET", "/readyz", "", nil)
	var r struct {
		Ready    bool `json:"ready"`
		Problems []struct {
			Check   string `json:"check"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 503 || r.Ready {
		t.Fatalf("readyz without a ticket: %d %s", rec.Code, rec.Body.String())
	}
	checks := map[string]bool{}
	for _, p := range r.Problems {
		checks[p.Check] = p.Message != ""
	}
	if !checks["engine"] || !checks["ticket"] || !checks["component_token"] {
		t.Errorf("problems %s", rec.Body.String())
	}

	h := newHarness(t, harnessOptions{authorizers: 1})
	h.ready()
	rec = h.do("GET", "/readyz", "", nil)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"ready":true}` {
		t.Errorf("readyz when ready: %d %s", rec.Code, rec.Body.String())
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 2})
	h.ready()
	a0 := h.authorize(0)
	h.do("GET", "/v1/authorizers/"+a0+"/token", keyAdmin, nil)
	h.do("GET", "/v1/authorizers/"+a0+"/token", "", nil)
	h.do("GET", "/v1/authorizers/wx0000000000000000/token", keyAdmin, nil)
	h.do("POST", "/wechat/component/events?msg_signature=x&timestamp=1&nonce=n", "", strings.NewReader("<xml/>"))
	h.do("GET", "/no/such/"+a0, "", nil)

	rec := h.do("GET", "/metrics", "", nil)
	if rec.Code != 200 {
		t.Fatalf("metrics: %d", rec.Code)
	}
	m := rec.Body.String()
	for _, want := range []string{
		`wxtoken_http_requests_total{code="200",route="GET /v1/authorizers/{appid}/token"} 1`,
		`wxtoken_http_requests_total{code="401",route="GET /v1/authorizers/{appid}/token"} 1`,
		`wxtoken_http_requests_total{code="404",route="GET /v1/authorizers/{appid}/token"} 1`,
		`wxtoken_http_requests_total{code="404",route="unmatched"} 1`,
		`wxtoken_http_request_duration_seconds_bucket{route="GET /v1/authorizers/{appid}/token",le=`,
		`wxtoken_pushes_total{info_type="component_verify_ticket",outcome="ok"}`,
		`wxtoken_pushes_total{info_type="authorized",outcome="ok"} 1`,
		`wxtoken_pushes_total{info_type="undecrypted",outcome="stale"} 1`,
		`wxtoken_refreshes_total{errcode="0",kind="component_token"} 1`,
		`wxtoken_refresh_duration_seconds_count{kind="component_token"} 1`,
		`wxtoken_component_token_expiry_seconds 7200`,
		`wxtoken_ticket_age_seconds 0`,
		`wxtoken_authorizers{state="authorized"} 1`,
		`wxtoken_authorizer_token_expiry_seconds_bucket{le="7200"} 1`,
		`wxtoken_authorizer_token_min_expiry_seconds 7200`,
		`wxtoken_tokens_handed_out_total{kind="authorizer_token",source="cache"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	h.clock.Advance(10 * time.Minute)
	m = h.do("GET", "/metrics", "", nil).Body.String()
	if !strings.Contains(m, "wxtoken_ticket_age_seconds 600") || !strings.Contains(m, "wxtoken_component_token_expiry_seconds 6600") {
		t.Errorf("gauges do not follow the clock")
	}
	for _, leak := range append(h.secrets(), a0, h.appID, keyAdmin) {
		if strings.Contains(m, leak) {
			t.Errorf("metrics show %q", leak)
		}
	}
	if strings.Contains(m, `="admin"`) {
		t.Errorf("a key name is a label")
	}
}

func TestOtherRoutes(t *testing.T) {
	h := newHarness(t, harnessOptions{authorizers: 1, noEngineRun: true})
	rec := h.do("GET", "/openapi.json", "", nil)
	onDisk, _ := os.ReadFile("openapi.json")
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), onDisk) || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("openapi.json: %d", rec.Code)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		json         bool
	}{
		{"GET", "/nothing", 404, false},
		{"POST", "/healthz", 405, false},
		{"DELETE", "/authorize", 405, false},
		{"PUT", "/v1/authorizers", 405, true},
		{"GET", "/v1/authorizers/wx1234567890abcdef/token/invalidate", 405, true},
		{"GET", "/v1", 404, true},
	} {
		rec := h.do(tc.method, tc.path, keyAdmin, nil)
		isJSON := rec.Header().Get("Content-Type") == "application/json"
		if rec.Code != tc.status || isJSON != tc.json {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if tc.status == 405 && rec.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
	// HEAD is GET without a body.
	if rec := h.do(http.MethodHead, "/healthz", "", nil); rec.Code != 200 {
		t.Errorf("HEAD /healthz: %d", rec.Code)
	}
}
