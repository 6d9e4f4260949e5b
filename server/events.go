package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/wechat"
)

// Outcomes of a push, as counted in metrics.
const (
	pushOK          = "ok"
	pushBadRequest  = "bad_request" // missing or malformed parameters, envelope or payload
	pushBadSig      = "bad_signature"
	pushForeign     = "foreign_appid"
	pushStale       = "stale"
	pushTooLarge    = "too_large"
	pushRejected    = "rejected"    // the engine refused it (an invalid code, say)
	pushFailed      = "failed"      // the engine could not store it; WeChat will push again
	infoTypeUnknown = "undecrypted" // the push was refused before its InfoType was known
)

// pushQuery is what the push's query string must carry.
type pushQuery struct {
	msgSignature string
	timestamp    string
	nonce        string
	unix         int64
}

// parsePushQuery reads msg_signature, timestamp and nonce. The plain
// "signature" WeChat also sends covers only token, timestamp and nonce, not
// the body, so it is not checked.
func parsePushQuery(rawQuery string) (pushQuery, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return pushQuery{}, errors.New("malformed query string")
	}
	p := pushQuery{msgSignature: q.Get("msg_signature"), timestamp: q.Get("timestamp"), nonce: q.Get("nonce")}
	switch {
	case p.msgSignature == "":
		return pushQuery{}, errors.New("missing msg_signature")
	case p.timestamp == "":
		return pushQuery{}, errors.New("missing timestamp")
	case p.nonce == "":
		return pushQuery{}, errors.New("missing nonce")
	}
	if et := q.Get("encrypt_type"); et != "" && et != "aes" {
		return pushQuery{}, errors.New("encrypt_type must be aes")
	}
	p.unix, err = strconv.ParseInt(p.timestamp, 10, 64)
	if err != nil || p.unix <= 0 || p.unix > 1<<40 {
		return pushQuery{}, errors.New("timestamp is not a unix time")
	}
	return p, nil
}

// handleEvent is the authorization event URL. It answers "success" only
// once the engine has durably applied the push; everything it refuses gets a
// 4xx with a short reason and reaches neither the engine nor the store.
func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, outcome, reason string) {
		s.metrics.push(infoTypeUnknown, outcome)
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "push refused", slog.String("reason", reason),
			slog.Int("status", status), slog.String("remote_addr", r.RemoteAddr))
		writeText(w, status, reason)
	}

	q, err := parsePushQuery(r.URL.RawQuery)
	if err != nil {
		refuse(http.StatusBadRequest, pushBadRequest, err.Error())
		return
	}
	if s.eventMaxAge > 0 {
		age := s.clock.Now().Sub(time.Unix(q.unix, 0))
		if age > s.eventMaxAge || -age > s.eventMaxAge {
			refuse(http.StatusBadRequest, pushStale, "timestamp is too old or in the future")
			return
		}
	}
	if r.ContentLength > s.maxEventBody {
		refuse(http.StatusRequestEntityTooLarge, pushTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxEventBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			refuse(http.StatusRequestEntityTooLarge, pushTooLarge, "body too large")
			return
		}
		refuse(http.StatusBadRequest, pushBadRequest, "body could not be read")
		return
	}

	plain, _, usedPrevious, err := s.crypter.OpenPush(q.msgSignature, q.timestamp, q.nonce, body)
	if err != nil {
		status, outcome, reason := classifyOpenError(err)
		refuse(status, outcome, reason)
		return
	}
	ev, err := wechat.ParseEvent(plain)
	if err != nil {
		if wxtoken.ErrorCode(err) == wxtoken.ETooLarge {
			refuse(http.StatusRequestEntityTooLarge, pushTooLarge, "payload too large")
			return
		}
		refuse(http.StatusBadRequest, pushBadRequest, "malformed payload: "+wxtoken.ErrorMessage(err))
		return
	}
	if ev.AppID != s.componentAppID {
		refuse(http.StatusForbidden, pushForeign, "push for another AppId")
		return
	}
	if usedPrevious {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "push sealed with the previous EncodingAESKey",
			slog.String("info_type", ev.InfoType))
	}

	infoType := boundedInfoType(ev.InfoType)
	if err := s.eng.HandlePush(r.Context(), ev); err != nil {
		outcome := pushFailed
		status := http.StatusServiceUnavailable
		if wxtoken.ErrorCode(err) == wxtoken.EInvalid {
			outcome, status = pushRejected, http.StatusBadRequest
		}
		s.metrics.push(infoType, outcome)
		s.log.LogAttrs(r.Context(), slog.LevelError, "push not applied", slog.Any("event", ev), slog.Any("err", err))
		writeText(w, status, "push not applied: "+wxtoken.ErrorMessage(err))
		return
	}
	s.metrics.push(infoType, pushOK)
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "push applied", slog.Any("event", ev))
	w.Header()["Content-Type"] = headerText
	_, _ = io.WriteString(w, "success")
}

// classifyOpenError names what was wrong with a push envelope, without
// saying more than an attacker already knows.
func classifyOpenError(err error) (status int, outcome, reason string) {
	switch {
	case errors.Is(err, msgcrypt.ErrSignature):
		return http.StatusForbidden, pushBadSig, "signature mismatch"
	case errors.Is(err, msgcrypt.ErrAppID):
		return http.StatusForbidden, pushForeign, "push for another AppId"
	case errors.Is(err, msgcrypt.ErrXML):
		return http.StatusBadRequest, pushBadRequest, "malformed XML envelope"
	case errors.Is(err, msgcrypt.ErrBase64):
		return http.StatusBadRequest, pushBadRequest, "Encrypt is not base64"
	case errors.Is(err, msgcrypt.ErrCiphertext), errors.Is(err, msgcrypt.ErrPadding), errors.Is(err, msgcrypt.ErrLength):
		return http.StatusBadRequest, pushBadRequest, "Encrypt does not decrypt with the configured keys"
	}
	return http.StatusBadRequest, pushBadRequest, "push could not be opened"
}

// boundedInfoType keeps the metric label to a known set.
func boundedInfoType(t string) string {
	switch t {
	case wechat.InfoTypeVerifyTicket, wechat.InfoTypeAuthorized, wechat.InfoTypeUpdateAuthorized,
		wechat.InfoTypeUnauthorized, wechat.InfoTypeFastRegister:
		return t
	}
	return "other"
}
