package server

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/wechat"
)

//go:embed templates/*.html
var templateFiles embed.FS

var pages = template.Must(template.ParseFS(templateFiles, "templates/*.html"))

// authTypes are the auth_type values WeChat's authorization page knows.
var authTypes = []struct {
	Value int
	Label string
}{
	{3, "Official accounts and mini programs"},
	{1, "Official accounts only"},
	{2, "Mini programs only"},
	{4, "Mini-program promoters (推客)"},
	{5, "Channels (视频号)"},
	{6, "All account types"},
	{8, "Sales assistants (带货助手)"},
}

func validAuthType(n int) bool {
	for _, t := range authTypes {
		if t.Value == n {
			return true
		}
	}
	return false
}

type authTypeOption struct {
	Value    int
	Label    string
	Selected bool
}

// startParams are the choices of the authorization page.
type startParams struct {
	authType int
	bizAppID string
	mobile   bool
}

// parseStartParams reads auth_type, biz_appid and mobile from a query string
// or a form body.
func parseStartParams(v url.Values) (startParams, error) {
	var p startParams
	if at := v.Get("auth_type"); at != "" {
		n, err := strconv.Atoi(at)
		if err != nil || !validAuthType(n) {
			return startParams{}, wxtoken.Errorf(wxtoken.EInvalid, "The account type is not one WeChat knows.")
		}
		p.authType = n
	}
	if b := strings.TrimSpace(v.Get("biz_appid")); b != "" {
		if !wxtoken.ValidAppID(b) {
			return startParams{}, wxtoken.Errorf(wxtoken.EInvalid, "The account to authorize must be given as its appid, which starts with \"wx\".")
		}
		p.bizAppID = b
	}
	switch v.Get("mobile") {
	case "", "0", "false":
	case "1", "true":
		p.mobile = true
	default:
		return startParams{}, wxtoken.Errorf(wxtoken.EInvalid, "mobile must be 0 or 1.")
	}
	return p, nil
}

// basePath is the path prefix of PublicURL ("" at the root), for the
// links between the pages.
func (s *Server) basePath() string { return s.pathPrefix }

// redirectURI is where WeChat sends the merchant back. WeChat only accepts
// one under the platform's configured "authorization callback domain", so a
// forged Host header produces a link WeChat refuses rather than a leak.
func (s *Server) redirectURI(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL + "/authorize/callback"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/authorize/callback"
}

func (s *Server) handleAuthorizePage(w http.ResponseWriter, r *http.Request) {
	p, err := parseStartParams(r.URL.Query())
	if err != nil {
		p = startParams{}
	}
	selected := p.authType
	if selected == 0 {
		selected = 3
	}
	opts := make([]authTypeOption, len(authTypes))
	for i, t := range authTypes {
		opts[i] = authTypeOption{Value: t.Value, Label: t.Label, Selected: t.Value == selected}
	}
	s.renderPage(w, r, http.StatusOK, "authorize.html", map[string]any{
		"Title":     "Authorize the platform",
		"Platform":  "the platform " + s.componentAppID,
		"StartPath": s.basePath() + "/authorize/start",
		"AuthTypes": opts,
		"BizAppID":  p.bizAppID,
	})
}

// handleAuthorizeStart creates a fresh pre-auth code for each click (a code
// is single-use) and sends the browser on to WeChat's page. The redirect
// keeps this page as the Referer, which WeChat's PC page checks against the
// platform's "authorization start page domain".
func (s *Server) handleAuthorizeStart(w http.ResponseWriter, r *http.Request) {
	var values url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, wxtoken.Errorf(wxtoken.EInvalid, "The form could not be read."))
			return
		}
		values = r.PostForm
	} else {
		values = r.URL.Query()
	}
	p, err := parseStartParams(values)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	code, err := s.eng.PreAuthCode(r.Context())
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "pre-auth code not created", slog.Any("err", err))
		s.errorPage(w, r, err)
		return
	}
	opts := wechat.AuthLinkOptions{AuthType: p.authType, BizAppID: p.bizAppID}
	var link string
	if p.mobile {
		link = wechat.MobileAuthURL(s.authMobileBase, s.componentAppID, code.Value, s.redirectURI(r), opts)
	} else {
		link = wechat.PCAuthURL(s.authPCBase, s.componentAppID, code.Value, s.redirectURI(r), opts)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, link, http.StatusFound)
}

// handleAuthorizeCallback is the redirect_uri: it exchanges the code and
// shows whom it authorized. A code exchanged already (by the authorized push,
// or a reload of this page) shows the same account as "already done".
func (s *Server) handleAuthorizeCallback(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.errorPage(w, r, wxtoken.Errorf(wxtoken.EInvalid, "The link WeChat sent you back with is malformed."))
		return
	}
	code := q.Get("auth_code")
	if code == "" || len(code) > 512 || !printableASCII(code) {
		s.errorPage(w, r, wxtoken.Errorf(wxtoken.EInvalid, "The link WeChat sent you back with has no valid authorization code."))
		return
	}
	a, already, err := s.eng.Exchange(r.Context(), code)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "authorization code not exchanged", slog.String("auth_code", wxtoken.Redact(code)), slog.Any("err", err))
		s.errorPage(w, r, err)
		return
	}
	// WeChat's authorized push usually arrives before the merchant's browser
	// does, so "already" is the common case and reads as plain success.
	s.renderPage(w, r, http.StatusOK, "result.html", map[string]any{
		"Title":         "Authorization complete",
		"Already":       already,
		"NickName":      a.Info.NickName,
		"AppID":         a.AppID,
		"FuncInfo":      a.FuncInfo,
		"AuthorizePath": s.basePath() + "/authorize",
	})
}

// errorPage shows a failure as one sentence for the merchant. The sentence
// is chosen by the error's code, so that nothing of the code, token or
// WeChat's raw answer reaches the page.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	var msg string
	switch wxtoken.ErrorCode(err) {
	case wxtoken.EInvalid:
		msg = wxtoken.ErrorMessage(err)
		if strings.HasPrefix(msg, "the authorization code") || wxtoken.WeChatErrCode(err) != 0 {
			msg = "The authorization code is invalid, has expired or was already used. Please start the authorization again."
		}
	case wxtoken.EUnavailable:
		msg = "The service cannot reach WeChat right now. Please try again in a few minutes."
	case wxtoken.EWeChat:
		msg = "WeChat refused the request (errcode " + strconv.Itoa(wxtoken.WeChatErrCode(err)) + "). Please try again; if it persists, contact the platform's operator."
	case wxtoken.ERevoked, wxtoken.ENeedsReauthorization:
		msg = "This account's authorization is no longer valid. Please authorize again."
	default:
		msg = "Something went wrong on our side. Please try again; if it persists, contact the platform's operator."
	}
	s.renderPage(w, r, statusOf(err), "error.html", map[string]any{
		"Title":         "Authorization failed",
		"Message":       msg,
		"AuthorizePath": s.basePath() + "/authorize",
	})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "page not rendered", slog.String("page", name), slog.Any("err", err))
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self' https: http:; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
