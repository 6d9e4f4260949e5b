package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken"
)

// The control surface under /emulator/: the same operations as the Go
// methods, in JSON, for tests running in another process. Errors are
// {"error":{"code","message"}} like wxtoken's own API.

func (e *Emulator) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /emulator/config", e.ctlConfig)
	mux.HandleFunc("GET /emulator/clock", e.ctlClock)
	mux.HandleFunc("POST /emulator/clock/advance", e.ctlAdvance)
	mux.HandleFunc("GET /emulator/faults", e.ctlFaults)
	mux.HandleFunc("POST /emulator/faults", e.ctlSetFault)
	mux.HandleFunc("DELETE /emulator/faults", e.ctlClearFaults)
	mux.HandleFunc("DELETE /emulator/faults/{endpoint...}", e.ctlClearFault)
	mux.HandleFunc("GET /emulator/pushes", e.ctlPushes)
	mux.HandleFunc("POST /emulator/pushes/pause", e.ctlPause)
	mux.HandleFunc("POST /emulator/pushes/resume", e.ctlResume)
	mux.HandleFunc("POST /emulator/pushes/ticket", e.ctlPushTicket)
	mux.HandleFunc("GET /emulator/counters", e.ctlCounters)
	mux.HandleFunc("GET /emulator/messages", e.ctlMessages)
	mux.HandleFunc("GET /emulator/accounts", e.ctlAccounts)
	mux.HandleFunc("GET /emulator/accounts/{appid}", e.ctlAccount)
	mux.HandleFunc("POST /emulator/authorize", e.ctlAuthorize)
	mux.HandleFunc("POST /emulator/accounts/{appid}/revoke", e.ctlRevoke)
	mux.HandleFunc("POST /emulator/accounts/{appid}/update", e.ctlUpdate)
	mux.HandleFunc("POST /emulator/accounts/{appid}/rotate-refresh-token", e.ctlRotate)
	mux.HandleFunc("POST /emulator/accounts/{appid}/drop-refresh-token", e.ctlDrop)
	mux.HandleFunc("POST /emulator/oracle", e.ctlOracle)
	mux.HandleFunc("GET /emulator/avatar/{file}", e.serveAvatar)
	const catchAll = "/emulator/"
	mux.HandleFunc(catchAll, func(w http.ResponseWriter, r *http.Request) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			other := r.Clone(r.Context())
			other.Method = m
			if _, pattern := mux.Handler(other); pattern != catchAll && pattern != "" {
				ctlError(w, http.StatusMethodNotAllowed, wxtoken.EInvalid, "method not allowed; see GET /emulator/config for the list")
				return
			}
		}
		ctlError(w, http.StatusNotFound, wxtoken.ENotFound, "no such control endpoint; see GET /emulator/config for the list")
	})
	return mux
}

var controlEndpoints = []string{
	"GET /emulator/config", "GET /emulator/clock", "POST /emulator/clock/advance {\"duration\":\"10m\"}",
	"GET /emulator/faults", "POST /emulator/faults {\"endpoint\",\"errcode\",\"http_status\",\"delay\",\"drop\",\"probability\",\"count\",\"after_handling\"}",
	"DELETE /emulator/faults", "DELETE /emulator/faults/{endpoint}",
	"GET /emulator/pushes", "POST /emulator/pushes/pause", "POST /emulator/pushes/resume", "POST /emulator/pushes/ticket",
	"GET /emulator/counters[?appid=]", "GET /emulator/messages",
	"GET /emulator/accounts?offset=&limit=", "GET /emulator/accounts/{appid}",
	"POST /emulator/authorize {\"pre_auth_code\",\"appid\",\"redirect_uri\",\"func_info\"}",
	"POST /emulator/accounts/{appid}/revoke", "POST /emulator/accounts/{appid}/update {\"func_info\":[…]}",
	"POST /emulator/accounts/{appid}/rotate-refresh-token", "POST /emulator/accounts/{appid}/drop-refresh-token",
	"POST /emulator/oracle {\"kind\":\"component_token|authorizer_token|refresh_token\",\"appid\",\"token\"}",
}

func ctlError(w http.ResponseWriter, status int, code, msg string) {
	writeJSONStatus(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// ctlErr maps the Go API's errors onto statuses.
func ctlErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnknownAccount):
		ctlError(w, http.StatusNotFound, wxtoken.ENotFound, err.Error())
	case errors.Is(err, ErrNotAuthorized), errors.Is(err, ErrPreAuthCodeInvalid), errors.Is(err, ErrPreAuthCodeExpired):
		ctlError(w, http.StatusConflict, wxtoken.EConflict, err.Error())
	case errors.Is(err, ErrClockNotManual):
		ctlError(w, http.StatusConflict, wxtoken.EConflict, err.Error())
	case errors.Is(err, ErrNoPushURL), errors.Is(err, ErrPushFailed):
		ctlError(w, http.StatusBadGateway, wxtoken.EUnavailable, err.Error())
	default:
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, err.Error())
	}
}

// readJSON decodes a control request body; an empty body is an empty object.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		ctlError(w, http.StatusRequestEntityTooLarge, wxtoken.ETooLarge, "body over 64 KiB")
		return false
	}
	if len(body) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, "malformed JSON: "+err.Error())
		return false
	}
	return true
}

func (e *Emulator) ctlConfig(w http.ResponseWriter, r *http.Request) {
	c := e.cfg
	writeJSON(w, map[string]any{
		"component_appid":                 c.ComponentAppID,
		"push_url":                        c.PushURL,
		"ticket_interval":                 c.TicketInterval.String(),
		"ticket_repeat":                   c.TicketRepeat,
		"authorizers":                     c.Authorizers,
		"seed":                            c.Seed,
		"pre_authorized":                  c.PreAuthorized,
		"token_ttl":                       c.TokenTTL.String(),
		"token_overlap":                   c.TokenOverlap.String(),
		"refresh_token_rotation":          c.RefreshTokenRotation,
		"pre_auth_code_ttl":               c.PreAuthCodeTTL.String(),
		"auth_code_ttl":                   c.AuthCodeTTL.String(),
		"auth_code_expired_time_relative": c.AuthCodeExpiredTimeRelative,
		"auth_code_reusable":              c.AuthCodeReusable,
		"reauthorize_keeps_refresh_token": c.ReauthorizeKeepsRefreshToken,
		"reject_access_token_param":       c.RejectAccessTokenParam,
		"ip_whitelist":                    c.IPWhitelist,
		"quotas":                          c.Quotas,
		"endpoints":                       e.Endpoints(),
		"control":                         controlEndpoints,
	})
}

type clockJSON struct {
	Now    time.Time `json:"now"`
	Manual bool      `json:"manual"`
	// Origin and Scale are set for a scaled clock, so that another process
	// builds the same wxtoken.ScaledClock.
	Origin *time.Time `json:"origin,omitempty"`
	Scale  float64    `json:"scale,omitempty"`
}

func (e *Emulator) clockState() clockJSON {
	c := clockJSON{Now: e.clock.Now()}
	_, c.Manual = e.clock.(advancer)
	if sc, ok := e.clock.(*wxtoken.ScaledClock); ok {
		c.Origin, c.Scale = &sc.Origin, sc.Scale
	}
	return c
}

func (e *Emulator) ctlClock(w http.ResponseWriter, r *http.Request) { writeJSON(w, e.clockState()) }

func (e *Emulator) ctlAdvance(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Duration string `json:"duration"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil || d < 0 {
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, `duration must be a non-negative Go duration such as "10m"`)
		return
	}
	if err := e.AdvanceClock(d); err != nil {
		ctlErr(w, err)
		return
	}
	writeJSON(w, e.clockState())
}

func (e *Emulator) ctlFaults(w http.ResponseWriter, r *http.Request) { writeJSON(w, e.Faults()) }

func (e *Emulator) ctlSetFault(w http.ResponseWriter, r *http.Request) {
	var j faultJSON
	if !readJSON(w, r, &j) {
		return
	}
	var f Fault
	if err := f.fromJSON(j); err != nil {
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, err.Error())
		return
	}
	if err := e.setFault(j.Endpoint, f); err != nil {
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, err.Error())
		return
	}
	writeJSON(w, e.Faults())
}

func (e *Emulator) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	e.ClearFaults()
	writeJSON(w, e.Faults())
}

func (e *Emulator) ctlClearFault(w http.ResponseWriter, r *http.Request) {
	e.ClearFault(r.PathValue("endpoint"))
	writeJSON(w, e.Faults())
}

func (e *Emulator) ctlPushes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"paused": e.PushesPaused(), "pushes": e.Pushes()})
}

func (e *Emulator) ctlPause(w http.ResponseWriter, r *http.Request) {
	e.PausePushes()
	writeJSON(w, map[string]bool{"paused": true})
}

func (e *Emulator) ctlResume(w http.ResponseWriter, r *http.Request) {
	e.ResumePushes()
	writeJSON(w, map[string]bool{"paused": false})
}

func (e *Emulator) ctlPushTicket(w http.ResponseWriter, r *http.Request) {
	if err := e.PushTicket(r.Context()); err != nil {
		ctlErr(w, err)
		return
	}
	pushes := e.Pushes()
	writeJSON(w, pushes[len(pushes)-1])
}

func (e *Emulator) ctlCounters(w http.ResponseWriter, r *http.Request) {
	c := e.Counters()
	if appID := r.URL.Query().Get("appid"); appID != "" {
		c.Refreshes = map[string]int64{appID: c.Refreshes[appID]}
	}
	writeJSON(w, c)
}

func (e *Emulator) ctlMessages(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"messages": e.Messages()})
}

// maxControlPage caps /emulator/accounts pages.
const maxControlPage = 1000

func (e *Emulator) ctlAccounts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, limit := 0, 100
	for name, dst := range map[string]*int{"offset": &offset, "limit": &limit} {
		if s := q.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, name+" must be a non-negative integer")
				return
			}
			*dst = n
		}
	}
	limit = min(limit, maxControlPage)
	writeJSON(w, map[string]any{"total": e.cfg.Authorizers, "accounts": e.Accounts(offset, limit)})
}

func (e *Emulator) ctlAccount(w http.ResponseWriter, r *http.Request) {
	a, err := e.Account(r.PathValue("appid"))
	if err != nil {
		ctlErr(w, err)
		return
	}
	writeJSON(w, a)
}

func (e *Emulator) ctlAuthorize(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PreAuthCode string `json:"pre_auth_code"`
		AppID       string `json:"appid"`
		RedirectURI string `json:"redirect_uri"`
		FuncInfo    []int  `json:"func_info"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	redirect, err := e.Authorize(r.Context(), req.PreAuthCode, req.AppID, req.RedirectURI, req.FuncInfo)
	if err != nil && !errors.Is(err, ErrPushFailed) {
		ctlErr(w, err)
		return
	}
	writeJSON(w, map[string]any{"redirect": redirect, "pushed": err == nil})
}

// pushResult answers an operation whose state change happened, saying
// whether its push was answered "success".
func pushResult(w http.ResponseWriter, err error) {
	if err != nil && !errors.Is(err, ErrPushFailed) {
		ctlErr(w, err)
		return
	}
	writeJSON(w, map[string]bool{"ok": true, "pushed": err == nil})
}

func (e *Emulator) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	pushResult(w, e.Revoke(r.Context(), r.PathValue("appid")))
}

func (e *Emulator) ctlUpdate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		FuncInfo []int `json:"func_info"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	pushResult(w, e.UpdateAuthorization(r.Context(), r.PathValue("appid"), req.FuncInfo))
}

func (e *Emulator) ctlRotate(w http.ResponseWriter, r *http.Request) {
	pushResult(w, e.RotateRefreshToken(r.PathValue("appid")))
}

func (e *Emulator) ctlDrop(w http.ResponseWriter, r *http.Request) {
	pushResult(w, e.DropRefreshToken(r.PathValue("appid")))
}

// ctlOracle answers whether WeChat would accept a token now. Tokens travel in
// the body, never in a URL that could be logged.
func (e *Emulator) ctlOracle(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Kind  string `json:"kind"`
		AppID string `json:"appid"`
		Token string `json:"token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	var valid bool
	switch req.Kind {
	case "component_token":
		valid = e.ComponentTokenValid(req.Token)
	case "authorizer_token":
		valid = e.AuthorizerTokenValid(req.AppID, req.Token)
	case "refresh_token":
		valid = e.RefreshTokenValid(req.AppID, req.Token)
	default:
		ctlError(w, http.StatusBadRequest, wxtoken.EInvalid, "kind must be component_token, authorizer_token or refresh_token")
		return
	}
	writeJSON(w, map[string]bool{"valid": valid})
}
