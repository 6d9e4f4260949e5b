// Package wxtoken holds the domain of wxtoken, the credential service of a
// WeChat Open Platform third-party platform: the credentials it keeps alive
// (tickets, component and authorizer tokens, refresh tokens), the accounts it
// acts for, and the interfaces its parts talk through.
//
// The root package imports nothing of the project. Every other package
// (msgcrypt, wechat, engine, the stores, server, emulator) depends on it, so
// the types here are the vocabulary the whole code base shares.
package wxtoken

import (
	"errors"
	"fmt"
)

// Error codes. They are few on purpose: each maps onto one HTTP status and one
// decision a caller makes (retry, re-authorize, fix the request, give up).
const (
	EConflict             = "conflict"              // a compare-and-set lost, or a lease is held elsewhere
	EInternal             = "internal"              // a bug or an unexpected failure
	EInvalid              = "invalid"               // the input is malformed
	ENotFound             = "not_found"             // no such credential or account
	EUnauthorized         = "unauthorized"          // no or unknown API key
	EForbidden            = "forbidden"             // the key is known but outside its scope
	EUnavailable          = "unavailable"           // a dependency (store, WeChat) failed; retry later
	ENeedsReauthorization = "needs_reauthorization" // the account must authorize the platform again
	ERevoked              = "revoked"               // the account revoked the authorization
	EWeChat               = "wechat_error"          // WeChat answered with an errcode
	ETooLarge             = "too_large"             // a request body over the cap
)

// Error is the one error type of the domain. Code is stable and decided on by
// callers; Message is for people and must never contain a secret.
type Error struct {
	Code    string
	Message string
	// ErrCode is WeChat's errcode when WeChat's answer caused the error, else 0.
	ErrCode int
	// Err is the underlying cause, kept for errors.Is/As; its text is not shown
	// to API callers.
	Err error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.ErrCode != 0 {
		msg = fmt.Sprintf("%s (errcode %d)", msg, e.ErrCode)
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, &Error{Code: ENotFound}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic text for other errors, whose text may carry details that are
// not for API callers.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// WeChatErrCode returns WeChat's errcode carried by err, or 0.
func WeChatErrCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return 0
}

// Sentinel errors to compare with errors.Is.
var (
	ErrNotFound = &Error{Code: ENotFound}
	ErrConflict = &Error{Code: EConflict}
)

// Redact shows at most the last 4 characters of a secret, so that log lines can
// tell two values apart without revealing either.
func Redact(secret string) string {
	if len(secret) <= 8 {
		return "****"
	}
	return "…" + secret[len(secret)-4:]
}
