package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/wxtoken/wxtoken"
)

// Sentinels for the failures that are not WeChat's errcode answers. Every one
// of them arrives inside a *wxtoken.Error with Code wxtoken.EUnavailable; use
// errors.Is to tell them apart.
var (
	// ErrRequestFailed: the request did not complete (dial, TLS, timeout, a
	// connection cut while reading the answer, or the caller's context).
	ErrRequestFailed = errors.New("request failed")
	// ErrHTTPStatus: WeChat (or something in front of it) answered with an
	// HTTP status other than 2xx and no errcode.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrBadAnswer: the answer was too large, not JSON, or lacked a field the
	// endpoint always returns.
	ErrBadAnswer = errors.New("undecodable answer")
)

// WeChat errcodes that callers decide on. The full list is in
// wechat-protocol.md; these are the ones with a distinct reaction.
const (
	ErrCodeSystemBusy          = -1
	ErrCodeInvalidCredential   = 40001 // not the latest token, or a forged one
	ErrCodeInvalidAppID        = 40013
	ErrCodeInvalidAccessToken  = 40014
	ErrCodeInvalidAppSecret    = 40125
	ErrCodeAccessTokenMissing  = 41001
	ErrCodeAccessTokenExpired  = 42001
	ErrCodeQuotaReached        = 45009
	ErrCodeClearQuotaExhausted = 48006
	ErrCodeNotAuthorized       = 61003 // the account revoked the authorization
	ErrCodeIPNotWhitelisted    = 61004
	ErrCodeTicketExpired       = 61005
	ErrCodeTicketInvalid       = 61006
	ErrCodeAuthCodeInvalid     = 61009
	ErrCodeAuthCodeExpired     = 61010
	ErrCodeRefreshTokenInvalid = 61023
)

// IsTokenRejected reports whether WeChat refused the access token that was
// sent (invalid, superseded or expired): the token must be refreshed, and a
// retry with the same token is pointless.
func IsTokenRejected(err error) bool {
	if wxtoken.ErrorCode(err) != wxtoken.EWeChat {
		return false
	}
	switch wxtoken.WeChatErrCode(err) {
	case ErrCodeInvalidCredential, ErrCodeAccessTokenExpired, ErrCodeInvalidAccessToken:
		return true
	}
	return false
}

// IsRetryable reports whether the same call may succeed if repeated after a
// short back-off:
//   - transport failures (including a timeout), except the caller's own
//     cancellation: a canceled context means nobody waits for the answer;
//   - HTTP 5xx and 429: an overloaded or restarting front end;
//   - errcode -1, "system busy", which WeChat documents as "retry".
//
// Not retryable: every other errcode (45009, the daily quota, only clears the
// next day or through clear_quota, and retrying burns more of it), HTTP 4xx,
// and an undecodable 200 answer, which a retry usually reproduces.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ce *causeError
	if errors.As(err, &ce) {
		return ce.retryable
	}
	return wxtoken.ErrorCode(err) == wxtoken.EWeChat && wxtoken.WeChatErrCode(err) == ErrCodeSystemBusy
}

// causeError is the scrubbed stand-in for a transport or decoding failure.
// Its text has been cleaned of every secret of the call, and it deliberately
// does not Unwrap to the original error: the original (a *url.Error, or an
// error built from a redirect's Location) may print the URL with the token in
// its query. errors.Is still sees the sentinel and the original's chain, so
// context.Canceled and context.DeadlineExceeded stay detectable.
type causeError struct {
	kind      error
	text      string
	cause     error
	status    int
	retryable bool
	timeout   bool
}

func (e *causeError) Error() string { return e.text }

func (e *causeError) Is(target error) bool {
	return target == e.kind || (e.cause != nil && errors.Is(e.cause, target))
}

// Timeout lets net.Error-style checks see a timeout without reaching the
// original error.
func (e *causeError) Timeout() bool { return e.timeout }

// StatusCode is the HTTP status of the answer, or 0 when there was none.
func (e *causeError) StatusCode() int { return e.status }

func unavailable(endpoint string, ce *causeError) error {
	return &wxtoken.Error{
		Code:    wxtoken.EUnavailable,
		Message: "wechat: " + endpoint + ": " + ce.kind.Error(),
		Err:     ce,
	}
}

// requestFailed turns an error of http.Client.Do (or of reading the body)
// into an error whose text cannot hold the URL or any other secret.
func requestFailed(endpoint string, err error, s scrubber) error {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
	}
	text := "unknown cause"
	if inner != nil {
		text = s.scrub(inner.Error())
	}
	var ne net.Error
	timeout := errors.As(inner, &ne) && ne.Timeout()
	return unavailable(endpoint, &causeError{
		kind:      ErrRequestFailed,
		text:      text,
		cause:     inner,
		retryable: !errors.Is(inner, context.Canceled),
		timeout:   timeout || errors.Is(inner, context.DeadlineExceeded),
	})
}

func badAnswer(endpoint, why string) error {
	return unavailable(endpoint, &causeError{kind: ErrBadAnswer, text: why})
}

func wechatError(endpoint string, errcode int, errmsg string, s scrubber) error {
	msg := cleanText(s.scrub(errmsg), maxErrMsgRunes)
	if msg == "" {
		msg = "no errmsg"
	}
	return &wxtoken.Error{Code: wxtoken.EWeChat, ErrCode: errcode, Message: endpoint + ": " + msg}
}

func invalidArgument(endpoint, what string) error {
	return wxtoken.Errorf(wxtoken.EInvalid, "wechat: %s: %s", endpoint, what)
}

const (
	maxErrMsgRunes = 256
	redacted       = "[REDACTED]"
)

// scrubber removes secrets from text that came from outside (errmsg, error
// texts of the transport). It knows the exact values sent in the call, in
// every encoding they travelled in, and also blanks anything shaped like a
// WeChat credential, in case an answer echoes a value only in part.
type scrubber []string

func newScrubber(secrets ...string) scrubber {
	seen := make(map[string]bool)
	var s scrubber
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			s = append(s, v)
		}
	}
	for _, v := range secrets {
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		if b, err := json.Marshal(v); err == nil && len(b) >= 2 {
			add(string(b[1 : len(b)-1]))
		}
	}
	// Longest first, so that a secret containing another is removed whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}

// credentialShape matches the realistic shapes of WeChat's credentials:
// "ticket@@@…", "preauthcode@@@…", "refreshtoken@@@…", "queryauthcode@@@…"
// and access tokens like "50_dZ1C…".
var credentialShape = regexp.MustCompile(`[A-Za-z0-9_]*@@@[^\s"'<>,;&]*|\b[0-9]{1,4}_[A-Za-z0-9_\-]{20,}`)

func (s scrubber) scrub(text string) string {
	for _, v := range s {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return credentialShape.ReplaceAllString(text, redacted)
}

// cleanText makes outside text safe for one log line: valid UTF-8, no
// control characters, at most max runes.
func cleanText(text string, max int) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range text {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
