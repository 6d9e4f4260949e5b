package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
)

// Token kinds, as logged and counted.
const (
	kindComponent  = "component_token"
	kindAuthorizer = "authorizer_token"
)

// Paging of GET /v1/authorizers.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// maxInvalidateBody caps the body of an invalidation report: one token.
const maxInvalidateBody = 4 << 10

// authed authenticates the request's API key, answering 401 itself when
// there is none.
func (s *Server) authed(w http.ResponseWriter, r *http.Request) (*apiKey, bool) {
	k, err := s.keys.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
		s.fail(w, r, err)
		return nil, false
	}
	return k, true
}

// appIDParam reads and checks the {appid} of the path.
func appIDParam(r *http.Request) (string, error) {
	appID := r.PathValue("appid")
	if !wxtoken.ValidAppID(appID) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the path does not name a valid appid")
	}
	return appID, nil
}

// authorizerRequest authenticates a request about the account named in its
// path and checks that the key may do action to it; on failure it has
// answered and returns ok false.
func (s *Server) authorizerRequest(w http.ResponseWriter, r *http.Request, allowed func(k *apiKey, appID string) bool, action string) (k *apiKey, appID string, ok bool) {
	if k, ok = s.authed(w, r); !ok {
		return nil, "", false
	}
	appID, err := appIDParam(r)
	if err != nil {
		s.fail(w, r, err)
		return nil, "", false
	}
	if !allowed(k, appID) {
		s.fail(w, r, forbidden(action))
		return nil, "", false
	}
	return k, appID, true
}

// logHandout records who was given which account's token: every token that
// leaves the service is accounted for. Never the token itself.
func (s *Server) logHandout(r *http.Request, k *apiKey, kind, appID, source string) {
	s.metrics.handout(kind, source)
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "token handed out",
		slog.String("api_key", k.name), slog.String("kind", kind),
		slog.String("authorizer_appid", appID), slog.String("source", source))
}

func (s *Server) handleComponentToken(w http.ResponseWriter, r *http.Request) {
	k, ok := s.authed(w, r)
	if !ok {
		return
	}
	if !k.canReadComponent() {
		s.fail(w, r, forbidden("read the component token"))
		return
	}
	source := "cache"
	var tok wxtoken.Token
	if ct, ok := s.eng.CachedComponentToken(); ok {
		tok = ct.Token
	} else {
		source = "wait"
		var err error
		if tok, err = s.eng.ComponentToken(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.logHandout(r, k, kindComponent, "", source)
	writeTokenJSON(w, "component_access_token", "", tok)
}

// handleAuthorizerToken is the hot path: a valid token in memory is answered
// with no store or WeChat call and no encoding/json.
func (s *Server) handleAuthorizerToken(w http.ResponseWriter, r *http.Request) {
	k, ok := s.authed(w, r)
	if !ok {
		return
	}
	// A cached token proves the appid is a known one, so the appid's syntax
	// is only checked on a miss.
	appID := r.PathValue("appid")
	source := "cache"
	tok, ok := s.eng.CachedAuthorizerToken(appID)
	if !ok && !wxtoken.ValidAppID(appID) {
		s.fail(w, r, wxtoken.Errorf(wxtoken.EInvalid, "the path does not name a valid appid"))
		return
	}
	if !k.canReadAuthorizer(appID) {
		s.fail(w, r, forbidden("read the tokens of this authorizer"))
		return
	}
	if !ok {
		source = "wait"
		var err error
		// The engine answers an unknown appid with not_found from one store
		// read, and a revoked account with its state, before any refresh.
		if tok, err = s.eng.AuthorizerToken(r.Context(), appID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.logHandout(r, k, kindAuthorizer, appID, source)
	writeTokenJSON(w, "authorizer_access_token", appID, tok)
}

// invalidateRequest is the body of POST …/token/invalidate.
type invalidateRequest struct {
	AuthorizerAccessToken string `json:"authorizer_access_token"`
}

// parseInvalidateBody reads exactly one JSON object with the rejected token.
func parseInvalidateBody(body []byte) (string, error) {
	if len(body) > maxInvalidateBody {
		return "", &wxtoken.Error{Code: wxtoken.ETooLarge, Message: "the body is larger than " + strconv.Itoa(maxInvalidateBody) + " bytes"}
	}
	shape := wxtoken.Errorf(wxtoken.EInvalid, "the body must be {\"authorizer_access_token\": \"<the rejected token>\"}")
	// A map, not the struct: encoding/json matches struct fields without
	// regard to case, and a key spelled otherwise is not the documented one.
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || len(fields) != 1 {
		return "", shape
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "the body must hold one JSON object and nothing after it")
	}
	var req invalidateRequest
	raw, ok := fields["authorizer_access_token"]
	if !ok || json.Unmarshal(raw, &req.AuthorizerAccessToken) != nil {
		return "", shape
	}
	if req.AuthorizerAccessToken == "" {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "authorizer_access_token is required")
	}
	if len(req.AuthorizerAccessToken) > 512 || !printableASCII(req.AuthorizerAccessToken) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "authorizer_access_token is not a token")
	}
	return req.AuthorizerAccessToken, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// handleInvalidate takes a caller's report that WeChat rejected a token and
// answers the token to use from now on: a new one if the reported token was
// the current one, otherwise the current one. Since it hands out a token, it
// needs read access to the account as well as the invalidate scope.
func (s *Server) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	k, appID, ok := s.authorizerRequest(w, r, func(k *apiKey, appID string) bool {
		return k.canInvalidate() && k.canReadAuthorizer(appID)
	}, "invalidate the tokens of this authorizer")
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvalidateBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, r, &wxtoken.Error{Code: wxtoken.ETooLarge, Message: "the body is larger than " + strconv.Itoa(maxInvalidateBody) + " bytes"})
			return
		}
		s.fail(w, r, wxtoken.Errorf(wxtoken.EInvalid, "the body could not be read"))
		return
	}
	rejected, err := parseInvalidateBody(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.eng.Authorizer(r.Context(), appID); err != nil {
		s.fail(w, r, err)
		return
	}
	tok, err := s.eng.Invalidate(r.Context(), appID, rejected)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "token reported rejected", slog.String("api_key", k.name),
		slog.String("authorizer_appid", appID), slog.String("rejected", wxtoken.Redact(rejected)),
		slog.Bool("replaced", tok.Value != rejected))
	s.logHandout(r, k, kindAuthorizer, appID, "invalidate")
	writeTokenJSON(w, "authorizer_access_token", appID, tok)
}

// authorizerView is what the API shows of an authorizer: never the refresh
// token, never the access token, only its expiry.
type authorizerView struct {
	AppID          string          `json:"authorizer_appid"`
	State          string          `json:"state"`
	FuncInfo       []int           `json:"func_info"`
	AccountInfo    accountInfoView `json:"account_info"`
	TokenExpiresAt *string         `json:"token_expires_at"`
	AuthorizedAt   *string         `json:"authorized_at"`
	LastRefreshAt  *string         `json:"last_refresh_at"`
	LastError      string          `json:"last_error,omitempty"`
	UpdatedAt      *string         `json:"updated_at"`
}

type accountInfoView struct {
	NickName      string               `json:"nick_name,omitempty"`
	HeadImg       string               `json:"head_img,omitempty"`
	ServiceType   int                  `json:"service_type"`
	VerifyType    int                  `json:"verify_type"`
	UserName      string               `json:"user_name,omitempty"`
	Alias         string               `json:"alias,omitempty"`
	QRCodeURL     string               `json:"qrcode_url,omitempty"`
	PrincipalName string               `json:"principal_name,omitempty"`
	Signature     string               `json:"signature,omitempty"`
	AccountStatus int                  `json:"account_status,omitempty"`
	MiniProgram   *wxtoken.MiniProgram `json:"mini_program,omitempty"`
	FetchedAt     *string              `json:"fetched_at"`
}

// rfc3339 formats t in UTC to the second; the zero time is null.
func rfc3339(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func viewAuthorizer(a *wxtoken.Authorizer) authorizerView {
	funcInfo := a.FuncInfo
	if funcInfo == nil {
		funcInfo = []int{}
	}
	v := authorizerView{
		AppID:         a.AppID,
		State:         string(a.State),
		FuncInfo:      funcInfo,
		AuthorizedAt:  rfc3339(a.AuthorizedAt),
		LastRefreshAt: rfc3339(a.LastRefreshAt),
		LastError:     a.LastError,
		UpdatedAt:     rfc3339(a.UpdatedAt),
		AccountInfo: accountInfoView{
			NickName:      a.Info.NickName,
			HeadImg:       a.Info.HeadImg,
			ServiceType:   a.Info.ServiceType,
			VerifyType:    a.Info.VerifyType,
			UserName:      a.Info.UserName,
			Alias:         a.Info.Alias,
			QRCodeURL:     a.Info.QRCodeURL,
			PrincipalName: a.Info.PrincipalName,
			Signature:     a.Info.Signature,
			AccountStatus: a.Info.AccountStatus,
			MiniProgram:   a.Info.MiniProgram,
			FetchedAt:     rfc3339(a.Info.FetchedAt),
		},
	}
	if a.AccessToken.Value != "" {
		v.TokenExpiresAt = rfc3339(a.AccessToken.ExpiresAt)
	}
	return v
}

func (s *Server) handleGetAuthorizer(w http.ResponseWriter, r *http.Request) {
	_, appID, ok := s.authorizerRequest(w, r, (*apiKey).canReadAuthorizer, "read this authorizer")
	if !ok {
		return
	}
	a, err := s.eng.Authorizer(r.Context(), appID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAuthorizer(a))
}

type listAnswer struct {
	Authorizers []authorizerView `json:"authorizers"`
	// NextCursor is "" on the last page.
	NextCursor string `json:"next_cursor"`
}

// listQuery is the parsed query of GET /v1/authorizers.
type listQuery struct {
	cursor string
	limit  int
	state  wxtoken.AuthorizerState
}

func parseListQuery(rawQuery string) (listQuery, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return listQuery{}, wxtoken.Errorf(wxtoken.EInvalid, "malformed query string")
	}
	lq := listQuery{limit: defaultPageLimit, cursor: q.Get("cursor"), state: wxtoken.AuthorizerState(q.Get("state"))}
	if lq.cursor != "" && !wxtoken.ValidAppID(lq.cursor) {
		return listQuery{}, wxtoken.Errorf(wxtoken.EInvalid, "cursor must be the next_cursor of a previous page")
	}
	if lq.state != "" && !lq.state.Valid() {
		return listQuery{}, wxtoken.Errorf(wxtoken.EInvalid, "state must be authorized, needs_reauthorization or revoked")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageLimit {
			return listQuery{}, wxtoken.Errorf(wxtoken.EInvalid, "limit must be a whole number from 1 to %d", maxPageLimit)
		}
		lq.limit = n
	}
	return lq, nil
}

// handleListAuthorizers pages through the authorizers the key may read. A
// key limited to some appids sees only those, so a page may hold fewer than
// limit items while next_cursor still says there is more to look at.
func (s *Server) handleListAuthorizers(w http.ResponseWriter, r *http.Request) {
	k, ok := s.authed(w, r)
	if !ok {
		return
	}
	if !k.canList() {
		s.fail(w, r, forbidden("read authorizers"))
		return
	}
	lq, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.eng.ListAuthorizers(r.Context(), wxtoken.AuthorizerFilter{State: lq.state, After: lq.cursor, Limit: lq.limit})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans := listAnswer{Authorizers: make([]authorizerView, 0, len(page))}
	for _, a := range page {
		if k.canReadAuthorizer(a.AppID) {
			ans.Authorizers = append(ans.Authorizers, viewAuthorizer(a))
		}
	}
	if len(page) == lq.limit {
		ans.NextCursor = page[len(page)-1].AppID
	}
	writeJSON(w, http.StatusOK, ans)
}

var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeTokenJSON writes {"authorizer_appid"?, "<field>", "expires_at"} by
// hand: this is the answer of the hot path.
func writeTokenJSON(w http.ResponseWriter, field, appID string, tok wxtoken.Token) {
	bp := tokenBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, '{')
	if appID != "" {
		b = append(b, `"authorizer_appid":`...)
		b = appendJSONString(b, appID)
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, field...)
	b = append(b, `":`...)
	b = appendJSONString(b, tok.Value)
	b = append(b, `,"expires_at":"`...)
	b = tok.ExpiresAt.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, "\"}\n"...)
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	tokenBufs.Put(bp)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Tokens and appids are plain
// ASCII, but nothing from outside is written unescaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else if r == '\u2028' || r == '\u2029' {
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}
