package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Lifetimes used when an answer omits expires_in or gives nonsense (zero or
// negative). Tokens: WeChat's documented 7200 s. Pre-auth codes: the shorter
// of the two documented readings (600 vs 1800 s), so that a link is never
// handed out after its code died.
const (
	DefaultTokenLifetime       = 7200 * time.Second
	DefaultPreAuthCodeLifetime = 600 * time.Second
	// MaxLifetime caps expires_in: a wild value would otherwise postpone a
	// refresh for ever, while refreshing too early costs only one call.
	MaxLifetime = 24 * time.Hour
)

func lifetime(seconds flexInt, fallback time.Duration) time.Duration {
	if seconds <= 0 {
		return fallback
	}
	if seconds >= flexInt(MaxLifetime/time.Second) {
		return MaxLifetime
	}
	return time.Duration(seconds) * time.Second
}

var errNotInteger = errors.New("not an integer")

// flexInt is an integer that WeChat sends as a JSON number, and in places as a
// string of digits ("expires_in":"7200"); "" and null read as 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	v, err := parseFlexInt(b)
	if err != nil {
		return err
	}
	*n = flexInt(v)
	return nil
}

func parseFlexInt(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return 0, nil
	}
	text := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &text); err != nil {
			return 0, errNotInteger
		}
		text = strings.TrimSpace(text)
		if text == "" {
			return 0, nil
		}
	}
	if v, err := strconv.ParseInt(text, 10, 64); err == nil {
		return v, nil
	}
	// 7200.0 or 7.2e3: an integer written as a float is still an integer.
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errNotInteger
	}
	return int64(f), nil
}

// flexString is text that WeChat may send as a string or as a bare number or
// boolean (option_value is "1" in some answers and 1 in others).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{' || b[0] == '[':
		return errors.New("not a string")
	default:
		*s = flexString(b)
	}
	return nil
}

// answerHeader is the part every WeChat answer may carry.
type answerHeader struct {
	ErrCode flexInt    `json:"errcode"`
	ErrMsg  flexString `json:"errmsg"`
}

func isObject(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && body[0] == '{'
}

// checkAnswer turns the HTTP status and body of an answer into nil (success:
// errcode absent or 0) or a typed error. Errcodes become EWeChat; a 5xx, any
// other status without an errcode, and a body that is not a JSON object
// become EUnavailable.
func checkAnswer(endpoint string, status int, body []byte, s scrubber) error {
	if status >= 500 || status == http.StatusTooManyRequests {
		return unavailable(endpoint, &causeError{kind: ErrHTTPStatus, text: "HTTP " + strconv.Itoa(status), status: status, retryable: true})
	}
	var h answerHeader
	var decodeErr error
	if !isObject(body) {
		decodeErr = errors.New("not a JSON object")
	} else if err := json.Unmarshal(body, &h); err != nil {
		decodeErr = err
	}
	if status < 200 || status > 299 {
		if decodeErr == nil && h.ErrCode != 0 {
			return wechatError(endpoint, int(h.ErrCode), string(h.ErrMsg), s)
		}
		return unavailable(endpoint, &causeError{kind: ErrHTTPStatus, text: "HTTP " + strconv.Itoa(status), status: status})
	}
	if decodeErr != nil {
		return badAnswer(endpoint, cleanText(s.scrub(decodeErr.Error()), maxErrMsgRunes))
	}
	if h.ErrCode != 0 {
		return wechatError(endpoint, int(h.ErrCode), string(h.ErrMsg), s)
	}
	return nil
}

// decodeInto unmarshals a successful answer; its errors name no value.
func decodeInto(endpoint string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badAnswer(endpoint, "field "+te.Field+" has the wrong type")
		}
		return badAnswer(endpoint, "malformed JSON")
	}
	return nil
}

func decodeComponentToken(body []byte) (Token, error) {
	const ep = "api_component_token"
	var a struct {
		Token     string  `json:"component_access_token"`
		ExpiresIn flexInt `json:"expires_in"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return Token{}, err
	}
	if a.Token == "" {
		return Token{}, badAnswer(ep, "no component_access_token")
	}
	return Token{Value: a.Token, ExpiresIn: lifetime(a.ExpiresIn, DefaultTokenLifetime)}, nil
}

func decodePreAuthCode(body []byte) (PreAuthCode, error) {
	const ep = "api_create_preauthcode"
	var a struct {
		Code      string  `json:"pre_auth_code"`
		ExpiresIn flexInt `json:"expires_in"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return PreAuthCode{}, err
	}
	if a.Code == "" {
		return PreAuthCode{}, badAnswer(ep, "no pre_auth_code")
	}
	return PreAuthCode{Value: a.Code, ExpiresIn: lifetime(a.ExpiresIn, DefaultPreAuthCodeLifetime)}, nil
}

type funcInfoEntry struct {
	Category *struct {
		ID flexInt `json:"id"`
	} `json:"funcscope_category"`
}

type authorizationInfo struct {
	AppID        string          `json:"authorizer_appid"`
	AccessToken  string          `json:"authorizer_access_token"`
	ExpiresIn    flexInt         `json:"expires_in"`
	RefreshToken string          `json:"authorizer_refresh_token"`
	FuncInfo     []funcInfoEntry `json:"func_info"`
}

func (i *authorizationInfo) authorization() Authorization {
	a := Authorization{
		AuthorizerAppID: i.AppID,
		AccessToken:     i.AccessToken,
		RefreshToken:    i.RefreshToken,
	}
	if a.AccessToken != "" {
		a.ExpiresIn = lifetime(i.ExpiresIn, DefaultTokenLifetime)
	}
	for _, f := range i.FuncInfo {
		if f.Category != nil && f.Category.ID > 0 && f.Category.ID <= math.MaxInt32 {
			a.FuncInfo = append(a.FuncInfo, int(f.Category.ID))
		}
	}
	slices.Sort(a.FuncInfo)
	a.FuncInfo = slices.Compact(a.FuncInfo)
	return a
}

// decodeAuthorization reads api_query_auth's answer. The tokens may be
// absent (the account granted no API permission set); the appid may not.
func decodeAuthorization(body []byte) (Authorization, error) {
	const ep = "api_query_auth"
	var a struct {
		Info *authorizationInfo `json:"authorization_info"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return Authorization{}, err
	}
	if a.Info == nil {
		return Authorization{}, badAnswer(ep, "no authorization_info")
	}
	if a.Info.AppID == "" {
		return Authorization{}, badAnswer(ep, "no authorizer_appid")
	}
	return a.Info.authorization(), nil
}

// decodeAuthorizerToken reads api_authorizer_token's answer. A missing
// authorizer_refresh_token is left empty here; the client fills in the one
// that was sent.
func decodeAuthorizerToken(body []byte) (AuthorizerToken, error) {
	const ep = "api_authorizer_token"
	var a struct {
		AccessToken  string  `json:"authorizer_access_token"`
		ExpiresIn    flexInt `json:"expires_in"`
		RefreshToken string  `json:"authorizer_refresh_token"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return AuthorizerToken{}, err
	}
	if a.AccessToken == "" {
		return AuthorizerToken{}, badAnswer(ep, "no authorizer_access_token")
	}
	return AuthorizerToken{
		AccessToken:  a.AccessToken,
		RefreshToken: a.RefreshToken,
		ExpiresIn:    lifetime(a.ExpiresIn, DefaultTokenLifetime),
	}, nil
}

type idHolder struct {
	ID flexInt `json:"id"`
}

type authorizerInfoAnswer struct {
	Info *struct {
		NickName        string   `json:"nick_name"`
		HeadImg         string   `json:"head_img"`
		ServiceTypeInfo idHolder `json:"service_type_info"`
		VerifyTypeInfo  idHolder `json:"verify_type_info"`
		UserName        string   `json:"user_name"`
		Alias           string   `json:"alias"`
		QRCodeURL       string   `json:"qrcode_url"`
		PrincipalName   string   `json:"principal_name"`
		Signature       string   `json:"signature"`
		AccountStatus   flexInt  `json:"account_status"`
		MiniProgramInfo *struct {
			Categories []struct {
				First  string `json:"first"`
				Second string `json:"second"`
			} `json:"categories"`
			VisitStatus flexInt `json:"visit_status"`
		} `json:"MiniProgramInfo"`
	} `json:"authorizer_info"`
	Authorization *authorizationInfo `json:"authorization_info"`
}

func clampInt(v flexInt) int {
	return int(max(math.MinInt32, min(math.MaxInt32, int64(v))))
}

// decodeAuthorizerInfo reads api_get_authorizer_info's answer. The
// authorization carries the refresh token and func_info but no access token.
func decodeAuthorizerInfo(body []byte) (wxtoken.AccountInfo, Authorization, error) {
	const ep = "api_get_authorizer_info"
	var a authorizerInfoAnswer
	if err := decodeInto(ep, body, &a); err != nil {
		return wxtoken.AccountInfo{}, Authorization{}, err
	}
	if a.Info == nil {
		return wxtoken.AccountInfo{}, Authorization{}, badAnswer(ep, "no authorizer_info")
	}
	i := a.Info
	info := wxtoken.AccountInfo{
		NickName:      i.NickName,
		HeadImg:       i.HeadImg,
		ServiceType:   clampInt(i.ServiceTypeInfo.ID),
		VerifyType:    clampInt(i.VerifyTypeInfo.ID),
		UserName:      i.UserName,
		Alias:         i.Alias,
		QRCodeURL:     i.QRCodeURL,
		PrincipalName: i.PrincipalName,
		Signature:     i.Signature,
		AccountStatus: clampInt(i.AccountStatus),
	}
	if mp := i.MiniProgramInfo; mp != nil {
		info.MiniProgram = &wxtoken.MiniProgram{VisitStatus: clampInt(mp.VisitStatus)}
		for _, c := range mp.Categories {
			info.MiniProgram.Categories = append(info.MiniProgram.Categories, wxtoken.MiniProgramCategory{First: c.First, Second: c.Second})
		}
	}
	var auth Authorization
	if a.Authorization != nil {
		auth = a.Authorization.authorization()
		// This endpoint returns no access token; an expires_in here means
		// nothing.
		auth.AccessToken, auth.ExpiresIn = "", 0
	}
	return info, auth, nil
}

// decodeAuthorizerList reads api_get_authorizer_list's answer. Entries
// without an appid cannot be matched to anything and are dropped; skipped
// counts them so the caller can say so.
func decodeAuthorizerList(body []byte) (list AuthorizerList, skipped int, err error) {
	const ep = "api_get_authorizer_list"
	var a struct {
		TotalCount *flexInt `json:"total_count"`
		List       []struct {
			AppID        string  `json:"authorizer_appid"`
			RefreshToken string  `json:"refresh_token"`
			AuthTime     flexInt `json:"auth_time"`
		} `json:"list"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return AuthorizerList{}, 0, err
	}
	if a.TotalCount == nil {
		return AuthorizerList{}, 0, badAnswer(ep, "no total_count")
	}
	if *a.TotalCount < 0 || *a.TotalCount > math.MaxInt32 {
		return AuthorizerList{}, 0, badAnswer(ep, "total_count out of range")
	}
	list.TotalCount = int(*a.TotalCount)
	for _, e := range a.List {
		if e.AppID == "" {
			skipped++
			continue
		}
		item := ListedAuthorizer{AppID: e.AppID, RefreshToken: e.RefreshToken}
		if e.AuthTime > 0 && e.AuthTime <= maxUnixSeconds {
			item.AuthTime = time.Unix(int64(e.AuthTime), 0).UTC()
		}
		list.Items = append(list.Items, item)
	}
	return list, skipped, nil
}

// maxUnixSeconds is the end of year 9999: later values are garbage, not
// times.
const maxUnixSeconds = 253402300799

func decodeAuthorizerOption(body []byte) (string, error) {
	const ep = "api_get_authorizer_option"
	var a struct {
		Value *flexString `json:"option_value"`
	}
	if err := decodeInto(ep, body, &a); err != nil {
		return "", err
	}
	if a.Value == nil {
		return "", badAnswer(ep, "no option_value")
	}
	return string(*a.Value), nil
}

// ErrCodeOf returns the errcode of a WeChat JSON answer without decoding the
// rest of it, for the proxy, which forwards answers it does not understand
// but must notice a rejected token. ok is false when body is not a JSON
// object or its errcode is not an integer; a JSON object without errcode is
// WeChat's success, (0, true). Only the first top-level "errcode" counts, and
// the values before it are skipped, not validated: the proxy forwards the
// answer as it is anyway.
func ErrCodeOf(body []byte) (errcode int, ok bool) {
	if code, ok, decided := errCodeFastPath(body); decided {
		return code, ok
	}
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return 0, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return 0, true
	}
	for {
		keyEnd, ok := skipString(body, i)
		if !ok {
			return 0, false
		}
		key := body[i:keyEnd]
		i = skipSpace(body, keyEnd)
		if i >= len(body) || body[i] != ':' {
			return 0, false
		}
		i = skipSpace(body, i+1)
		valueEnd, ok := skipValue(body, i)
		if !ok {
			return 0, false
		}
		value := body[i:valueEnd]
		i = skipSpace(body, valueEnd)
		if i >= len(body) || (body[i] != ',' && body[i] != '}') {
			return 0, false
		}
		if isErrCodeKey(key) {
			if value[0] != '"' && !json.Valid(value) {
				return 0, false // 01, 1.2.3: not a JSON number
			}
			v, err := parseFlexInt(value)
			if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
				return 0, false
			}
			return int(v), true
		}
		if body[i] == '}' {
			return 0, true
		}
		i = skipSpace(body, i+1)
	}
}

func isErrCodeKey(quoted []byte) bool {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted) == `"errcode"`
	}
	var key string
	return json.Unmarshal(quoted, &key) == nil && key == "errcode"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the JSON value starting at b[i]. Nested
// values are skipped by bracket depth, outside strings; their contents are not
// checked.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	return i, i > start
}

// errCodeFastPath reads the shape every WeChat error answer has,
// {"errcode":40001,…}, without a decoder. decided is false for anything
// else, which then goes the slow way.
func errCodeFastPath(body []byte) (code int, ok, decided bool) {
	rest := bytes.TrimLeft(body, " \t\r\n")
	const prefix = `{"errcode":`
	if !bytes.HasPrefix(rest, []byte(prefix)) {
		return 0, false, false
	}
	rest = bytes.TrimLeft(rest[len(prefix):], " \t\r\n")
	end := 0
	if end < len(rest) && rest[end] == '-' {
		end++
	}
	digits := end
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' && end-digits < 10 {
		end++
	}
	if end == digits || (rest[digits] == '0' && end-digits > 1) {
		return 0, false, false
	}
	after := bytes.TrimLeft(rest[end:], " \t\r\n")
	if len(after) == 0 || (after[0] != ',' && after[0] != '}') {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false, false
	}
	return int(v), true, true
}
