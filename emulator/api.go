package emulator

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WeChat's errcodes used by the emulator.
const (
	errSystem             = -1
	errInvalidCredential  = 40001
	errInvalidOpenID      = 40003
	errInvalidMsgType     = 40008
	errInvalidAppID       = 40013
	errInvalidURL         = 40066
	errInvalidArgs        = 40097
	errInvalidSecret      = 40125
	errTokenMissing       = 41001
	errAppIDMissing       = 41002
	errSecretMissing      = 41004
	errOpenIDMissing      = 41009
	errExpiredToken       = 42001
	errRequirePost        = 43002
	errEmptyPostData      = 44002
	errEmptyContent       = 44004
	errContentTooLong     = 45002
	errDailyQuota         = 45009
	errMenuMissing        = 46003
	errDataFormat         = 47001
	errAPIUnauthorized    = 48001
	errClearQuotaLimit    = 48006
	errNotAuthorizedByBiz = 61003
	errIPNotWhitelisted   = 61004
	errTicketExpired      = 61005
	errTicketInvalid      = 61006
	errScopeUnauthorized  = 61007
	errCodeInvalid        = 61009
	errCodeExpired        = 61010
	errOptionName         = 61012
	errOptionValue        = 61013
	errNeedComponentToken = 61014
	errNeedBizToken       = 61015
	errRefreshTokenBad    = 61023
)

var errmsgs = map[int]string{
	errSystem:             "system error",
	errInvalidCredential:  "invalid credential, access_token is invalid or not latest",
	errInvalidOpenID:      "invalid openid",
	errInvalidMsgType:     "invalid message type",
	errInvalidAppID:       "invalid appid",
	errInvalidURL:         "invalid url",
	errInvalidArgs:        "invalid args",
	errInvalidSecret:      "invalid appsecret",
	errTokenMissing:       "access_token missing",
	errAppIDMissing:       "appid missing",
	errSecretMissing:      "appsecret missing",
	errOpenIDMissing:      "missing openid",
	errExpiredToken:       "access_token expired",
	errRequirePost:        "require POST method",
	errEmptyPostData:      "empty post data",
	errEmptyContent:       "empty content",
	errContentTooLong:     "content size out of limit",
	errDailyQuota:         "reach max api daily quota limit",
	errMenuMissing:        "menu no exist",
	errDataFormat:         "data format error",
	errAPIUnauthorized:    "api unauthorized",
	errClearQuotaLimit:    "forbid to clear quota because of reaching the limit",
	errNotAuthorizedByBiz: "component is not authorized by this account",
	errIPNotWhitelisted:   "access clientip is not registered",
	errTicketExpired:      "component ticket is expired",
	errTicketInvalid:      "component ticket is invalid",
	errScopeUnauthorized:  "api is unauthorized to component",
	errCodeInvalid:        "code is invalid",
	errCodeExpired:        "code is expired",
	errOptionName:         "invalid option name",
	errOptionValue:        "invalid option value",
	errNeedComponentToken: "must use component token for component api",
	errNeedBizToken:       "must use biz account token for not component api",
	errRefreshTokenBad:    "refresh_token is invalid",
}

// apiError is a WeChat error answer: HTTP 200 with errcode and errmsg.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return fmt.Sprintf("errcode %d: %s", e.code, e.msg) }

func wxErr(code int) *apiError { return &apiError{code: code, msg: errmsgs[code]} }

// tokenRule says which token an endpoint needs in its query string.
type tokenRule uint8

const (
	noToken tokenRule = iota
	componentToken
	authorizerToken
)

// endpoint is one WeChat API.
type endpoint struct {
	name   string // as in SetFault and the counters
	post   bool   // only POST; 43002 for other methods
	token  tokenRule
	handle func(c *call) (any, error)
}

// call is one API request in flight.
type call struct {
	r       *http.Request
	now     time.Time
	nowNano int64
	body    []byte
	// index is the account whose authorizer token authorized the call.
	index uint32
	// after runs once the answer is written and flushed (the push that
	// api_start_push_ticket asks for comes after its answer).
	after func()
}

func (e *Emulator) apiRoutes() map[string]*endpoint {
	eps := []*endpoint{
		{"api_component_token", true, noToken, e.apiComponentToken},
		{"api_start_push_ticket", true, noToken, e.apiStartPushTicket},
		{"api_create_preauthcode", true, componentToken, e.apiCreatePreAuthCode},
		{"api_query_auth", true, componentToken, e.apiQueryAuth},
		{"api_authorizer_token", true, componentToken, e.apiAuthorizerToken},
		{"api_get_authorizer_info", true, componentToken, e.apiGetAuthorizerInfo},
		{"api_get_authorizer_list", true, componentToken, e.apiGetAuthorizerList},
		{"api_get_authorizer_option", true, componentToken, e.apiGetAuthorizerOption},
		{"api_set_authorizer_option", true, componentToken, e.apiSetAuthorizerOption},
	}
	routes := map[string]*endpoint{}
	for _, ep := range eps {
		routes["/cgi-bin/component/"+ep.name] = ep
	}
	clearQuota := &endpoint{"clear_quota/v2", true, noToken, e.apiClearQuota}
	routes["/cgi-bin/clear_quota/v2"] = clearQuota
	routes["/cgi-bin/component/clear_quota/v2"] = clearQuota
	for _, ep := range []*endpoint{
		{"message/custom/send", true, authorizerToken, e.apiCustomSend},
		{"user/info", false, authorizerToken, e.apiUserInfo},
		{"menu/get", false, authorizerToken, e.apiMenuGet},
		{"account/getaccountbasicinfo", false, authorizerToken, e.apiAccountBasicInfo},
	} {
		routes["/cgi-bin/"+ep.name] = ep
	}
	return routes
}

// Endpoints lists the endpoint names that SetFault and Counters use.
func (e *Emulator) Endpoints() []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range e.routes {
		if !seen[ep.name] {
			seen[ep.name] = true
			out = append(out, ep.name)
		}
	}
	sort.Strings(out)
	return out
}

// maxBody caps request bodies; WeChat's component APIs take a few hundred
// bytes.
const maxBody = 64 << 10

func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request, ep *endpoint) {
	f, faulty := e.faults.take(ep.name)
	if faulty && f.Delay > 0 {
		if sleep(r.Context(), f.Delay) != nil {
			return
		}
	}
	if faulty && f.acts() && !f.AfterHandling {
		e.writeFault(w, ep.name, f)
		return
	}
	now := e.clock.Now()
	c := &call{r: r, now: now, nowNano: now.UnixNano()}
	res, err := e.handleAPI(c, ep)
	if faulty && f.acts() {
		// AfterHandling: WeChat did the work (a token was minted, a push
		// is due) but the answer is lost on the way.
		if c.after != nil {
			defer c.after()
		}
		e.writeFault(w, ep.name, f)
		return
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			e.log.Error("emulator: internal error", "endpoint", ep.name, "err", err)
			ae = wxErr(errSystem)
		}
		e.counters.add(ep.name, outcomeCode(ae.code))
		e.writeError(w, ae)
	} else {
		e.counters.add(ep.name, outcomeCode(0))
		writeJSON(w, res)
	}
	if c.after != nil {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		c.after()
	}
}

func (e *Emulator) handleAPI(c *call, ep *endpoint) (any, error) {
	if len(e.whitelist) > 0 {
		if ip, ok := e.callerAllowed(c.r); !ok {
			return nil, &apiError{code: errIPNotWhitelisted, msg: errmsgs[errIPNotWhitelisted] + " requestIP: " + ip}
		}
	}
	if ep.post && c.r.Method != http.MethodPost {
		return nil, wxErr(errRequirePost)
	}
	quotaIndex := int64(-1)
	switch ep.token {
	case componentToken:
		if err := e.checkComponentToken(c); err != nil {
			return nil, err
		}
	case authorizerToken:
		if err := e.checkAuthorizerToken(c); err != nil {
			return nil, err
		}
		quotaIndex = int64(c.index)
	}
	if limit := e.cfg.Quotas[ep.name]; limit > 0 && !e.quotas.take(ep.name, quotaIndex, limit, c.now) {
		return nil, wxErr(errDailyQuota)
	}
	if c.r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(nil, c.r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &apiError{code: errDataFormat, msg: errmsgs[errDataFormat] + ": body over 64 KiB"}
			}
			return nil, wxErr(errDataFormat)
		}
		c.body = body
	}
	return ep.handle(c)
}

// callerAllowed checks the caller's address (the TCP peer, never a header a
// client could forge) against the whitelist.
func (e *Emulator) callerAllowed(r *http.Request) (string, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host, false
	}
	addr = addr.Unmap()
	for _, p := range e.whitelist {
		if p.Contains(addr) {
			return host, true
		}
	}
	return host, false
}

// queryToken returns the first non-empty value of the query parameters
// names, the way url.Values.Get would, without parsing the whole query.
func (e *Emulator) queryToken(c *call, names ...string) string {
	for _, n := range names {
		if v := queryParam(c.r.URL.RawQuery, n); v != "" {
			return v
		}
	}
	return ""
}

func queryParam(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != name {
			if !strings.ContainsAny(k, "%+") {
				continue
			}
			if uk, err := url.QueryUnescape(k); err != nil || uk != name {
				continue
			}
		}
		if !strings.ContainsAny(v, "%+") {
			return v
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			return uv
		}
		return ""
	}
	return ""
}

func (e *Emulator) checkComponentToken(c *call) error {
	names := []string{"component_access_token", "access_token"}
	if e.cfg.RejectAccessTokenParam {
		names = names[:1]
	}
	tok := e.queryToken(c, names...)
	if tok == "" {
		return wxErr(errTokenMissing)
	}
	_, serial, ok := e.codec.parse(kindComponentToken, tok)
	if !ok {
		if _, _, isBiz := e.codec.parse(kindAuthorizerToken, tok); isBiz {
			return wxErr(errNeedComponentToken)
		}
		return wxErr(errInvalidCredential)
	}
	e.compMu.Lock()
	code := e.comp.check(serial, c.nowNano)
	e.compMu.Unlock()
	if code != 0 {
		return wxErr(code)
	}
	return nil
}

func (e *Emulator) checkAuthorizerToken(c *call) error {
	tok := e.queryToken(c, "access_token")
	if tok == "" {
		return wxErr(errTokenMissing)
	}
	index, serial, ok := e.codec.parse(kindAuthorizerToken, tok)
	if !ok {
		if _, _, isComp := e.codec.parse(kindComponentToken, tok); isComp {
			return wxErr(errNeedBizToken)
		}
		return wxErr(errInvalidCredential)
	}
	code := 0
	e.view(index, func(a *authz) {
		if !a.authorized {
			code = errNotAuthorizedByBiz
			return
		}
		code = a.access.check(serial, c.nowNano)
	})
	if code != 0 {
		return wxErr(code)
	}
	c.index = index
	return nil
}

// decodeBody reads a JSON object: 44002 when there is none, 47001 when it is
// not JSON or a field has the wrong type.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return wxErr(errEmptyPostData)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return wxErr(errDataFormat)
	}
	return nil
}

// rid makes the " rid: xxxxxxxx-xxxxxxxx-xxxxxxxx" suffix of WeChat's errmsg.
func (e *Emulator) rid() string {
	var raw [12]byte
	now := uint32(e.clock.Now().Unix())
	seq := e.ridSeq.Add(1)
	x := uint32(mix64(uint64(seq) ^ e.codec.salt))
	raw[0], raw[1], raw[2], raw[3] = byte(now>>24), byte(now>>16), byte(now>>8), byte(now)
	raw[4], raw[5], raw[6], raw[7] = byte(x>>24), byte(x>>16), byte(x>>8), byte(x)
	raw[8], raw[9], raw[10], raw[11] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
	h := hex.EncodeToString(raw[:])
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}

type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func (e *Emulator) errorBody(ae *apiError) errorBody {
	return errorBody{ErrCode: ae.code, ErrMsg: ae.msg + " rid: " + e.rid()}
}

func (e *Emulator) writeError(w http.ResponseWriter, ae *apiError) {
	writeJSON(w, e.errorBody(ae))
}

// okBody is the answer of calls that return nothing but success.
var okBody = errorBody{ErrCode: 0, ErrMsg: "ok"}

func writeJSON(w http.ResponseWriter, v any) {
	writeJSONStatus(w, http.StatusOK, v)
}

// jsonAppender is an answer that writes its own JSON, for the hot path.
type jsonAppender interface{ appendJSON([]byte) []byte }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if a, ok := v.(jsonAppender); ok {
		b = a.appendJSON(make([]byte, 0, 512))
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errcode":-1,"errmsg":"system error"}`)
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json; encoding=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}
