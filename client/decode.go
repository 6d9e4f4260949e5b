package client

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/wxtoken/wxtoken"
)

// The decoders below read answers of a server that this process does not
// control, so none of them trusts a field: a token without a value or an
// expiry, or an answer about another account, is an error. Their messages are
// fixed texts, never parts of the answer, so that a token cannot leak into an
// error string through a decoding failure.

type authorizerTokenAnswer struct {
	AppID       string `json:"authorizer_appid"`
	AccessToken string `json:"authorizer_access_token"`
	ExpiresAt   string `json:"expires_at"`
}

type componentTokenAnswer struct {
	AccessToken string `json:"component_access_token"`
	ExpiresAt   string `json:"expires_at"`
}

type errorAnswer struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		ErrCode int    `json:"errcode"`
	} `json:"error"`
}

// decodeAuthorizerToken reads the answer of GET .../token and of POST
// .../token/invalidate for appID.
func decodeAuthorizerToken(status int, body []byte, appID string) (wxtoken.Token, error) {
	var a authorizerTokenAnswer
	if err := decodeJSON(status, body, &a); err != nil {
		return wxtoken.Token{}, err
	}
	if a.AppID != appID {
		return wxtoken.Token{}, malformed(status, "the answer names another authorizer")
	}
	return makeToken(status, a.AccessToken, a.ExpiresAt, "authorizer_access_token")
}

// decodeComponentToken reads the answer of GET /v1/component/token.
func decodeComponentToken(status int, body []byte) (wxtoken.Token, error) {
	var a componentTokenAnswer
	if err := decodeJSON(status, body, &a); err != nil {
		return wxtoken.Token{}, err
	}
	return makeToken(status, a.AccessToken, a.ExpiresAt, "component_access_token")
}

func makeToken(status int, value, expiresAt, field string) (wxtoken.Token, error) {
	if value == "" {
		return wxtoken.Token{}, malformed(status, "the answer has no "+field)
	}
	exp, err := time.Parse(time.RFC3339Nano, expiresAt)
	if err != nil || exp.IsZero() {
		return wxtoken.Token{}, malformed(status, "expires_at is not an RFC 3339 time")
	}
	return wxtoken.Token{Value: value, ExpiresAt: exp}, nil
}

// decodeJSON decodes a 2xx answer into v.
func decodeJSON(status int, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed(status, "the answer is not the expected JSON")
	}
	return nil
}

func malformed(status int, msg string) *Error {
	return &Error{Status: status, Code: wxtoken.EInternal, Message: "malformed answer from the wxtoken server: " + msg}
}

// maxMessage caps a server's error message, which is shown to people and
// logged by callers.
const maxMessage = 512

// decodeError turns a non-2xx answer into an *Error. A body that is not the
// API's error JSON (a proxy's HTML page, say) still gives a code, from the
// status; its text is not copied, since nothing is known about it.
func decodeError(status int, body []byte) *Error {
	e := &Error{Status: status, Code: codeForStatus(status)}
	var a errorAnswer
	if json.Unmarshal(body, &a) == nil && a.Error != nil {
		if a.Error.Code != "" {
			e.Code = truncate(a.Error.Code, 64)
		}
		e.Message = truncate(a.Error.Message, maxMessage)
		e.ErrCode = a.Error.ErrCode
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// codeForStatus is the code of an answer that carries none, by the server's
// own mapping of codes onto statuses. A 502 without the API's JSON comes from
// a gateway in between, not from WeChat, hence unavailable.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return wxtoken.EInvalid
	case http.StatusUnauthorized:
		return wxtoken.EUnauthorized
	case http.StatusForbidden:
		return wxtoken.EForbidden
	case http.StatusNotFound:
		return wxtoken.ENotFound
	case http.StatusConflict:
		return wxtoken.EConflict
	case http.StatusGone:
		return wxtoken.ERevoked
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return wxtoken.ETooLarge
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return wxtoken.EUnavailable
	}
	return wxtoken.EInternal
}

// truncate cuts s to at most n bytes without splitting a character and
// removes invalid UTF-8.
func truncate(s string, n int) string {
	s = string(bytes.ToValidUTF8([]byte(s), []byte("\uFFFD")))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
