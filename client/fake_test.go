package client_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// fakeAPI is wxtoken's token API as the server specifies it (routes, bearer
// auth, status codes, error JSON, refresh-only-if-current invalidation), over
// an in-memory table of tokens on a clock the test controls. WeChat's side
// (fakeWeChat) checks tokens against the same table, the way WeChat accepts
// only the tokens it minted last.
type fakeAPI struct {
	key   string
	clock wxtoken.Clock
	life  time.Duration

	mu     sync.Mutex
	tokens map[string]wxtoken.Token // appid -> current token
	serial int
	// failure, when set for an appid, is answered instead of its token.
	failure map[string]fakeFailure

	// gate, when set, holds token and invalidate requests until closed, so
	// that a test can pile concurrent callers onto one request.
	gate chan struct{}

	tokenRequests      atomic.Int64
	invalidateRequests atomic.Int64
	componentRequests  atomic.Int64
}

type fakeFailure struct {
	status  int
	code    string
	message string
	errcode int
}

const testKey = "test-api-key-0123456789abcdef"

func newFakeAPI(clock wxtoken.Clock, appIDs ...string) *fakeAPI {
	f := &fakeAPI{
		key:     testKey,
		clock:   clock,
		life:    2 * time.Hour,
		tokens:  map[string]wxtoken.Token{},
		failure: map[string]fakeFailure{},
	}
	for _, id := range appIDs {
		f.rotate(id)
	}
	return f
}

// rotate mints a new token for appID, as a refresh at WeChat does.
func (f *fakeAPI) rotate(appID string) wxtoken.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.serial++
	t := wxtoken.Token{
		Value:     fmt.Sprintf("90_%s_token%04d_Zx9vQk", appID, f.serial),
		ExpiresAt: f.clock.Now().Add(f.life).UTC().Truncate(time.Second),
	}
	f.tokens[appID] = t
	return t
}

func (f *fakeAPI) current(appID string) (wxtoken.Token, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[appID]
	return t, ok
}

func (f *fakeAPI) setFailure(appID string, ff fakeFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failure[appID] = ff
}

func (f *fakeAPI) start(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/authorizers/{appid}/token", f.auth(f.handleToken))
	mux.HandleFunc("POST /v1/authorizers/{appid}/token/invalidate", f.auth(f.handleInvalidate))
	mux.HandleFunc("GET /v1/component/token", f.auth(f.handleComponent))
	mux.HandleFunc("GET /v1/authorizers/{appid}", f.auth(f.handleAuthorizer))
	mux.HandleFunc("GET /v1/authorizers", f.auth(f.handleList))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fakeFailure{http.StatusNotFound, "not_found", "no such route", 0})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, ff fakeFailure) {
	detail := map[string]any{"code": ff.code, "message": ff.message}
	if ff.errcode != 0 {
		detail["errcode"] = ff.errcode
	}
	writeJSON(w, ff.status, map[string]any{"error": detail})
}

func (f *fakeAPI) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.key {
			writeError(w, fakeFailure{http.StatusUnauthorized, "unauthorized", "missing or unknown API key", 0})
			return
		}
		next(w, r)
	}
}

// hold makes token and invalidate requests wait until the returned function
// is called.
func (f *fakeAPI) hold() (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	return func() { close(gate) }
}

func (f *fakeAPI) wait(r *http.Request) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}
}

func (f *fakeAPI) lookup(w http.ResponseWriter, appID string) (wxtoken.Token, bool) {
	f.mu.Lock()
	ff, failing := f.failure[appID]
	t, ok := f.tokens[appID]
	f.mu.Unlock()
	switch {
	case failing:
		writeError(w, ff)
		return wxtoken.Token{}, false
	case !ok:
		writeError(w, fakeFailure{http.StatusNotFound, "not_found", "no authorizer " + appID, 0})
		return wxtoken.Token{}, false
	}
	return t, true
}

func tokenAnswer(appID string, t wxtoken.Token) map[string]string {
	return map[string]string{
		"authorizer_appid":        appID,
		"authorizer_access_token": t.Value,
		"expires_at":              t.ExpiresAt.Format(time.RFC3339),
	}
}

func (f *fakeAPI) handleToken(w http.ResponseWriter, r *http.Request) {
	f.tokenRequests.Add(1)
	f.wait(r)
	appID := r.PathValue("appid")
	if t, ok := f.lookup(w, appID); ok {
		writeJSON(w, http.StatusOK, tokenAnswer(appID, t))
	}
}

func (f *fakeAPI) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	f.invalidateRequests.Add(1)
	f.wait(r)
	appID := r.PathValue("appid")
	var body struct {
		Rejected string `json:"authorizer_access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Rejected == "" {
		writeError(w, fakeFailure{http.StatusBadRequest, "invalid", "the body must be {\"authorizer_access_token\": rejected}", 0})
		return
	}
	t, ok := f.lookup(w, appID)
	if !ok {
		return
	}
	if t.Value == body.Rejected {
		t = f.rotate(appID)
	}
	writeJSON(w, http.StatusOK, tokenAnswer(appID, t))
}

func (f *fakeAPI) handleComponent(w http.ResponseWriter, r *http.Request) {
	f.componentRequests.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{
		"component_access_token": "90_component_token_Hn3k",
		"expires_at":             f.clock.Now().Add(f.life).UTC().Format(time.RFC3339),
	})
}

func (f *fakeAPI) info(appID string, t wxtoken.Token) map[string]any {
	return map[string]any{
		"authorizer_appid": appID,
		"state":            "authorized",
		"func_info":        []int{1, 15},
		"account_info":     map[string]any{"nick_name": "Shop " + appID, "service_type": 2, "verify_type": 0, "fetched_at": nil},
		"token_expires_at": t.ExpiresAt.Format(time.RFC3339),
		"authorized_at":    "2029-12-31T00:00:00Z",
		"last_refresh_at":  nil,
		"updated_at":       "2029-12-31T00:00:00Z",
	}
}

func (f *fakeAPI) handleAuthorizer(w http.ResponseWriter, r *http.Request) {
	appID := r.PathValue("appid")
	if t, ok := f.lookup(w, appID); ok {
		writeJSON(w, http.StatusOK, f.info(appID, t))
	}
}

func (f *fakeAPI) handleList(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ids := make([]string, 0, len(f.tokens))
	for id := range f.tokens {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	slices.Sort(ids)
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		if _, err := fmt.Sscanf(l, "%d", &limit); err != nil || limit <= 0 {
			writeError(w, fakeFailure{http.StatusBadRequest, "invalid", "limit must be a positive integer", 0})
			return
		}
	}
	cursor := r.URL.Query().Get("cursor")
	page := []map[string]any{}
	next := ""
	for _, id := range ids {
		if id <= cursor {
			continue
		}
		t, _ := f.current(id)
		page = append(page, f.info(id, t))
		if len(page) == limit {
			// Like the server: a full page says there may be more.
			next = id
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"authorizers": page, "next_cursor": next})
}

// fakeWeChat answers WeChat API calls: errcode 40001 unless access_token is
// the current token of the appid in the api's table. It records what it got.
type fakeWeChat struct {
	api   *fakeAPI
	appID string

	mu       sync.Mutex
	calls    []wechatCall
	alwaysNo bool // reject every token, as when WeChat itself is confused
	// rejectCode is the errcode of a rejection (default 40001).
	rejectCode int
	// rejectNext rejects that many calls whatever their token, as WeChat does
	// after a token was renewed by someone who did not tell the service.
	rejectNext int
}

type wechatCall struct {
	query string
	token string
	body  string
}

func (f *fakeWeChat) start(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return srv
}

func (f *fakeWeChat) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		token := r.URL.Query().Get("access_token")
		f.mu.Lock()
		f.calls = append(f.calls, wechatCall{query: r.URL.RawQuery, token: token, body: string(body)})
		alwaysNo, rejectCode := f.alwaysNo || f.rejectNext > 0, f.rejectCode
		if f.rejectNext > 0 {
			f.rejectNext--
		}
		f.mu.Unlock()
		if rejectCode == 0 {
			rejectCode = 40001
		}
		cur, _ := f.api.current(f.appID)
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		switch {
		case token == "":
			fmt.Fprint(w, `{"errcode":41001,"errmsg":"access_token missing rid: 1"}`)
		case alwaysNo || token != cur.Value:
			fmt.Fprintf(w, `{"errcode":%d,"errmsg":"invalid credential, access_token is invalid or not latest rid: 2"}`, rejectCode)
		case strings.HasPrefix(r.URL.Path, "/cgi-bin/material/get_material"):
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(jpegLike)
		case strings.HasPrefix(r.URL.Path, "/cgi-bin/user/get"):
			fmt.Fprintf(w, `{"total":2,"count":2,"data":{"openid":["%s"]},"next_openid":""}`, strings.Repeat("o", 6000))
		default:
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	})
}

var jpegLike = append([]byte{0xff, 0xd8, 0xff, 0xe0}, []byte(`{"errcode":40001}`)...)

func (f *fakeWeChat) recorded() []wechatCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wechatCall(nil), f.calls...)
}
