package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/wxtoken/wxtoken"
)

// codeMethodNotAllowed is the one error code of the HTTP layer that the
// domain does not have: a request the route exists for, with another method.
const codeMethodNotAllowed = "method_not_allowed"

// errorStatus maps every stable error code onto its HTTP status. It is the
// table docs/api.md reproduces; change both together.
//
//	code                   status  meaning
//	invalid                400     the request is malformed (bad appid, parameter, body, path)
//	unauthorized           401     no Authorization: Bearer key, or an unknown one
//	forbidden              403     the key is valid but its scopes do not cover the request
//	not_found              404     no such authorizer, or no such route
//	method_not_allowed     405     the route exists, the method does not (Allow lists the ones that do)
//	conflict               409     a concurrent write won; retry
//	needs_reauthorization  409     WeChat rejected the refresh token: the merchant must authorize again
//	revoked                410     the merchant revoked the authorization
//	too_large              413     the request body is over the cap
//	internal               500     a bug; the message says no more
//	wechat_error           502     WeChat answered with an errcode (in "errcode")
//	unavailable            503     the store or WeChat cannot be reached, or no valid token yet; retry later
var errorStatus = map[string]int{
	wxtoken.EInvalid:              http.StatusBadRequest,
	wxtoken.EUnauthorized:         http.StatusUnauthorized,
	wxtoken.EForbidden:            http.StatusForbidden,
	wxtoken.ENotFound:             http.StatusNotFound,
	codeMethodNotAllowed:          http.StatusMethodNotAllowed,
	wxtoken.EConflict:             http.StatusConflict,
	wxtoken.ENeedsReauthorization: http.StatusConflict,
	wxtoken.ERevoked:              http.StatusGone,
	wxtoken.ETooLarge:             http.StatusRequestEntityTooLarge,
	wxtoken.EInternal:             http.StatusInternalServerError,
	wxtoken.EWeChat:               http.StatusBadGateway,
	wxtoken.EUnavailable:          http.StatusServiceUnavailable,
}

// statusOf is the HTTP status of err's code.
func statusOf(err error) int {
	if st, ok := errorStatus[wxtoken.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	ErrCode int    `json:"errcode,omitempty"`
}

// fail answers err in the shape of the route: JSON under /v1, plain text
// elsewhere (WeChat's push and the operator endpoints). The message is the
// domain error's, which by contract holds no secret; anything that is not a
// *wxtoken.Error is answered as "internal error" and logged here.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	code := wxtoken.ErrorCode(err)
	msg := wxtoken.ErrorMessage(err)
	var we *wxtoken.Error
	if !errors.As(err, &we) || code == wxtoken.EInternal {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("route", r.Pattern),
			slog.String("method", r.Method), slog.Any("err", err))
	}
	if !isAPI(r) {
		writeText(w, status, msg)
		return
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, ErrCode: wxtoken.WeChatErrCode(err)}})
}

// Header values shared by every response. net/http only reads them, so one
// slice serves every request without an allocation.
var (
	headerJSON    = []string{"application/json"}
	headerText    = []string{"text/plain; charset=utf-8"}
	headerNoStore = []string{"no-store"}
	headerNoSniff = []string{"nosniff"}
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; a failure is a bug.
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["Cache-Control"] = headerNoStore
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h["Content-Type"] = headerText
	h["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
