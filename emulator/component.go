package emulator

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// The component APIs (https://api.weixin.qq.com/cgi-bin/component/…). Each
// handler checks its body in the order WeChat reports problems and changes
// nothing unless it answers success.
//
// Missing values: an empty appid is 41002, an empty secret 41004; an empty
// ticket, code or refresh token is simply invalid (61006, 61009, 61023), as
// WeChat treats a null refresh token.

func (e *Emulator) checkPlatform(appID string) error {
	if appID == "" {
		return wxErr(errAppIDMissing)
	}
	if appID != e.cfg.ComponentAppID {
		return wxErr(errInvalidAppID)
	}
	return nil
}

func (e *Emulator) checkSecret(secret string) error {
	if secret == "" {
		return wxErr(errSecretMissing)
	}
	if secret != e.cfg.ComponentSecret {
		return wxErr(errInvalidSecret)
	}
	return nil
}

// authorizerIndex resolves a seeded appid: 41002 when empty, 40013 when it is
// no account of this emulator.
func (e *Emulator) authorizerIndex(appID string) (uint32, error) {
	if appID == "" {
		return 0, wxErr(errAppIDMissing)
	}
	index, ok := e.indexOf(appID)
	if !ok {
		return 0, wxErr(errInvalidAppID)
	}
	return index, nil
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

type componentTokenAnswer struct {
	ComponentAccessToken string `json:"component_access_token"`
	ExpiresIn            int64  `json:"expires_in"`
}

func (e *Emulator) apiComponentToken(c *call) (any, error) {
	var req struct {
		ComponentAppID        string `json:"component_appid"`
		ComponentAppSecret    string `json:"component_appsecret"`
		ComponentVerifyTicket string `json:"component_verify_ticket"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := e.checkPlatform(req.ComponentAppID); err != nil {
		return nil, err
	}
	if err := e.checkSecret(req.ComponentAppSecret); err != nil {
		return nil, err
	}
	if code := e.checkTicket(req.ComponentVerifyTicket, c.nowNano); code != 0 {
		return nil, wxErr(code)
	}
	e.compMu.Lock()
	serial := e.comp.mint(c.nowNano, e.cfg.TokenTTL, e.cfg.TokenOverlap)
	e.compMu.Unlock()
	return componentTokenAnswer{e.codec.mint(kindComponentToken, 0, serial), seconds(e.cfg.TokenTTL)}, nil
}

func (e *Emulator) apiStartPushTicket(c *call) (any, error) {
	var req struct {
		ComponentAppID  string `json:"component_appid"`
		ComponentSecret string `json:"component_secret"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := e.checkPlatform(req.ComponentAppID); err != nil {
		return nil, err
	}
	if err := e.checkSecret(req.ComponentSecret); err != nil {
		return nil, err
	}
	if e.cfg.PushURL != "" {
		// WeChat answers first and pushes afterwards; the push outlives the
		// caller's request.
		ctx := context.WithoutCancel(c.r.Context())
		c.after = func() {
			if err := e.PushTicket(ctx); err != nil {
				e.log.Warn("emulator: ticket push asked by api_start_push_ticket failed", "err", err)
			}
		}
	}
	return okBody, nil
}

type preAuthCodeAnswer struct {
	PreAuthCode string `json:"pre_auth_code"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (e *Emulator) apiCreatePreAuthCode(c *call) (any, error) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := e.checkPlatform(req.ComponentAppID); err != nil {
		return nil, err
	}
	code := e.newPreAuthCode(c.nowNano)
	return preAuthCodeAnswer{code, seconds(e.cfg.PreAuthCodeTTL)}, nil
}

// newPreAuthCode mints and records a pre-auth code.
func (e *Emulator) newPreAuthCode(now int64) string {
	e.codesMu.Lock()
	defer e.codesMu.Unlock()
	code, _ := e.newPreAuthCodeLocked(now)
	return code
}

// newPreAuthCodeLocked is newPreAuthCode with codesMu held.
func (e *Emulator) newPreAuthCodeLocked(now int64) (string, *preAuthCode) {
	if len(e.preAuth) >= e.preAuthPrune {
		for s, p := range e.preAuth {
			if now >= p.expires {
				delete(e.preAuth, s)
			}
		}
		e.preAuthPrune = max(1024, 2*len(e.preAuth))
	}
	e.preAuthNext++
	p := &preAuthCode{expires: now + int64(e.cfg.PreAuthCodeTTL)}
	e.preAuth[e.preAuthNext] = p
	return e.codec.mint(kindPreAuthCode, 0, e.preAuthNext), p
}

// newAuthCode mints and records an authorization code; codesMu is held.
func (e *Emulator) newAuthCode(index, generation uint32, now int64) string {
	if len(e.authCodes) >= e.authPrune {
		// Expired codes are kept a day so that they answer 61010, not 61009.
		for s, a := range e.authCodes {
			if now >= a.expires+int64(24*time.Hour) {
				delete(e.authCodes, s)
			}
		}
		e.authPrune = max(1024, 2*len(e.authCodes))
	}
	e.authCodeNext++
	e.authCodes[e.authCodeNext] = &authCode{index: index, generation: generation, expires: now + int64(e.cfg.AuthCodeTTL)}
	return e.codec.mint(kindAuthCode, 0, e.authCodeNext)
}

type funcScope struct {
	Category struct {
		ID int `json:"id"`
	} `json:"funcscope_category"`
}

func funcInfoJSON(ids []int) []funcScope {
	out := make([]funcScope, len(ids))
	for i, id := range ids {
		out[i].Category.ID = id
	}
	return out
}

type queryAuthAnswer struct {
	AuthorizationInfo struct {
		AuthorizerAppID        string      `json:"authorizer_appid"`
		AuthorizerAccessToken  string      `json:"authorizer_access_token"`
		ExpiresIn              int64       `json:"expires_in"`
		AuthorizerRefreshToken string      `json:"authorizer_refresh_token"`
		FuncInfo               []funcScope `json:"func_info"`
	} `json:"authorization_info"`
}

func (e *Emulator) apiQueryAuth(c *call) (any, error) {
	var req struct {
		ComponentAppID    string `json:"component_appid"`
		AuthorizationCode string `json:"authorization_code"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := e.checkPlatform(req.ComponentAppID); err != nil {
		return nil, err
	}
	_, serial, ok := e.codec.parse(kindAuthCode, req.AuthorizationCode)
	if !ok {
		return nil, wxErr(errCodeInvalid)
	}
	e.codesMu.Lock()
	defer e.codesMu.Unlock()
	code, ok := e.authCodes[serial]
	switch {
	case !ok:
		return nil, wxErr(errCodeInvalid)
	case c.nowNano >= code.expires:
		return nil, wxErr(errCodeExpired)
	case code.used && !e.cfg.AuthCodeReusable:
		return nil, wxErr(errCodeInvalid)
	}
	var accessSerial, refreshSerial uint32
	var funcInfo []int
	err := e.update(code.index, func(a *authz) error {
		if !a.authorized || a.generation != code.generation {
			return wxErr(errCodeInvalid) // revoked or authorized again since
		}
		if !a.refresh.has {
			a.refresh.replace()
		}
		a.exchanged = true
		accessSerial = a.access.mint(c.nowNano, e.cfg.TokenTTL, e.cfg.TokenOverlap)
		refreshSerial = a.refresh.cur
		funcInfo = a.funcInfo
		return nil
	})
	if err != nil {
		return nil, err
	}
	code.used = true
	var ans queryAuthAnswer
	info := &ans.AuthorizationInfo
	info.AuthorizerAppID = e.codec.appID(code.index)
	info.AuthorizerAccessToken = e.codec.mint(kindAuthorizerToken, code.index, accessSerial)
	info.ExpiresIn = seconds(e.cfg.TokenTTL)
	info.AuthorizerRefreshToken = e.codec.mint(kindRefreshToken, code.index, refreshSerial)
	if funcInfo == nil {
		funcInfo = e.account(code.index).DefaultFuncInfo
	}
	info.FuncInfo = funcInfoJSON(funcInfo)
	return ans, nil
}

type authorizerTokenAnswer struct {
	AuthorizerAccessToken  string `json:"authorizer_access_token"`
	ExpiresIn              int64  `json:"expires_in"`
	AuthorizerRefreshToken string `json:"authorizer_refresh_token"`
}

// appendJSON writes the answer of the scale test's hot path without
// reflection; minted values are base64url and need no escaping.
func (a authorizerTokenAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"authorizer_access_token":"`...)
	b = append(b, a.AuthorizerAccessToken...)
	b = append(b, `","expires_in":`...)
	b = strconv.AppendInt(b, a.ExpiresIn, 10)
	b = append(b, `,"authorizer_refresh_token":"`...)
	b = append(b, a.AuthorizerRefreshToken...)
	return append(b, `"}`...)
}

type authorizerTokenRequest struct {
	authorizerRequest
	AuthorizerRefreshToken string `json:"authorizer_refresh_token"`
}

func (e *Emulator) apiAuthorizerToken(c *call) (any, error) {
	var req authorizerTokenRequest
	index, err := e.decodeAccountCall(c, &req)
	if err != nil {
		return nil, err
	}
	ri, rs, ok := e.codec.parse(kindRefreshToken, req.AuthorizerRefreshToken)
	if !ok || ri != index {
		return nil, wxErr(errRefreshTokenBad)
	}
	rotate := e.cfg.RefreshTokenRotation > 0 && rand.Float64() < e.cfg.RefreshTokenRotation
	var accessSerial, refreshSerial uint32
	err = e.update(index, func(a *authz) error {
		if !a.authorized || !a.refresh.valid(rs, c.nowNano) {
			return wxErr(errRefreshTokenBad)
		}
		accessSerial = a.access.mint(c.nowNano, e.cfg.TokenTTL, e.cfg.TokenOverlap)
		a.refreshes++
		if rotate {
			a.refresh.rotate(c.nowNano, e.cfg.RefreshTokenOverlap)
		}
		refreshSerial = a.refresh.cur
		return nil
	})
	if err != nil {
		return nil, err
	}
	return authorizerTokenAnswer{
		AuthorizerAccessToken:  e.codec.mint(kindAuthorizerToken, index, accessSerial),
		ExpiresIn:              seconds(e.cfg.TokenTTL),
		AuthorizerRefreshToken: e.codec.mint(kindRefreshToken, index, refreshSerial),
	}, nil
}

type idJSON struct {
	ID int `json:"id"`
}

type authorizerInfoJSON struct {
	NickName        string          `json:"nick_name"`
	HeadImg         string          `json:"head_img"`
	ServiceTypeInfo idJSON          `json:"service_type_info"`
	VerifyTypeInfo  idJSON          `json:"verify_type_info"`
	UserName        string          `json:"user_name"`
	Alias           string          `json:"alias"`
	QRCodeURL       string          `json:"qrcode_url"`
	BusinessInfo    map[string]int  `json:"business_info"`
	IDC             int             `json:"idc"`
	PrincipalName   string          `json:"principal_name"`
	Signature       string          `json:"signature"`
	AccountStatus   int             `json:"account_status"`
	MiniProgramInfo *miniProgramRaw `json:"MiniProgramInfo,omitempty"`
	RegisterType    *int            `json:"register_type,omitempty"`
	BasicConfig     map[string]bool `json:"basic_config,omitempty"`
}

type miniProgramRaw struct {
	Network     map[string][]string `json:"network"`
	Categories  []Category          `json:"categories"`
	VisitStatus int                 `json:"visit_status"`
}

type authorizerInfoAnswer struct {
	AuthorizerInfo    authorizerInfoJSON `json:"authorizer_info"`
	AuthorizationInfo struct {
		AuthorizerAppID        string      `json:"authorizer_appid"`
		AuthorizerRefreshToken string      `json:"authorizer_refresh_token"`
		FuncInfo               []funcScope `json:"func_info"`
	} `json:"authorization_info"`
}

// authorizerRequest is what every per-account component API names: the
// platform and the account.
type authorizerRequest struct {
	ComponentAppID  string `json:"component_appid"`
	AuthorizerAppID string `json:"authorizer_appid"`
}

func (r *authorizerRequest) target() *authorizerRequest { return r }

// decodeAccountCall decodes a per-account API's body into req and checks the
// platform and the account it names, as WeChat does before anything else.
func (e *Emulator) decodeAccountCall(c *call, req interface{ target() *authorizerRequest }) (uint32, error) {
	if err := decodeBody(c.body, req); err != nil {
		return 0, err
	}
	t := req.target()
	if err := e.checkPlatform(t.ComponentAppID); err != nil {
		return 0, err
	}
	return e.authorizerIndex(t.AuthorizerAppID)
}

func (e *Emulator) apiGetAuthorizerInfo(c *call) (any, error) {
	var req authorizerRequest
	index, err := e.decodeAccountCall(c, &req)
	if err != nil {
		return nil, err
	}
	acct := e.accountWithState(index)
	if !acct.Authorized {
		return nil, wxErr(errNotAuthorizedByBiz)
	}
	var ans authorizerInfoAnswer
	info := &ans.AuthorizerInfo
	info.NickName, info.HeadImg, info.UserName, info.Alias = acct.NickName, acct.HeadImg, acct.UserName, acct.Alias
	info.QRCodeURL, info.PrincipalName, info.Signature = acct.QRCodeURL, acct.PrincipalName, acct.Signature
	info.ServiceTypeInfo.ID, info.VerifyTypeInfo.ID = acct.ServiceType, acct.VerifyType
	info.BusinessInfo = map[string]int{"open_store": 0, "open_scan": 0, "open_pay": 0, "open_card": 0, "open_shake": 0}
	info.IDC, info.AccountStatus = 1, 1
	if acct.Type == MiniProgram {
		host := strings.ToLower(acct.UserName[3:]) + ".example.com"
		info.MiniProgramInfo = &miniProgramRaw{
			Network: map[string][]string{
				"RequestDomain": {"https://api." + host}, "WsRequestDomain": {"wss://ws." + host},
				"UploadDomain": {"https://upload." + host}, "DownloadDomain": {"https://cdn." + host},
				"BizDomain": {}, "UDPDomain": {},
			},
			Categories: acct.Categories,
		}
		zero := 0
		info.RegisterType = &zero
		info.BasicConfig = map[string]bool{"is_phone_configured": true, "is_email_configured": true}
	}
	auth := &ans.AuthorizationInfo
	auth.AuthorizerAppID = acct.AppID
	auth.AuthorizerRefreshToken = acct.RefreshToken
	auth.FuncInfo = funcInfoJSON(acct.FuncInfo)
	return ans, nil
}

type authorizerListEntry struct {
	AuthorizerAppID string `json:"authorizer_appid"`
	RefreshToken    string `json:"refresh_token"`
	AuthTime        int64  `json:"auth_time"`
}

type authorizerListAnswer struct {
	TotalCount int                   `json:"total_count"`
	List       []authorizerListEntry `json:"list"`
}

// maxListCount is api_get_authorizer_list's page cap.
const maxListCount = 500

func (e *Emulator) apiGetAuthorizerList(c *call) (any, error) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
		Offset         *int   `json:"offset"`
		Count          *int   `json:"count"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := e.checkPlatform(req.ComponentAppID); err != nil {
		return nil, err
	}
	if req.Offset == nil || req.Count == nil || *req.Offset < 0 || *req.Count <= 0 || *req.Count > maxListCount {
		return nil, &apiError{code: errInvalidArgs, msg: errmsgs[errInvalidArgs] + ": offset ≥ 0 and 1 ≤ count ≤ 500 required"}
	}
	page, total := e.authorizedPage(*req.Offset, *req.Count)
	ans := authorizerListAnswer{TotalCount: total, List: make([]authorizerListEntry, 0, len(page))}
	for _, index := range page {
		entry := authorizerListEntry{AuthorizerAppID: e.codec.appID(index)}
		e.view(index, func(a *authz) {
			if a.refresh.has && a.exchanged {
				entry.RefreshToken = e.codec.mint(kindRefreshToken, index, a.refresh.cur)
			}
			entry.AuthTime = e.authTime(index, a).Unix()
		})
		ans.List = append(ans.List, entry)
	}
	return ans, nil
}

// The authorizer options WeChat lets a platform read and set, with their
// largest value (location_report: 0 off, 1 on session entry, 2 every 5 s).
var (
	optionNames = [...]string{"location_report", "voice_recognize", "customer_service"}
	optionMax   = [...]int8{2, 1, 1}
)

func optionIndex(name string) int {
	for i, n := range optionNames {
		if n == name {
			return i
		}
	}
	return -1
}

// optionValues returns the account's options: seeded until set.
func (e *Emulator) optionValues(index uint32, a *authz) [len(optionNames)]int8 {
	if a.optionsSet {
		return a.options
	}
	s := e.codec.accountStream(index, 3)
	var v [len(optionNames)]int8
	for i := range v {
		v[i] = int8(s.intn(int(optionMax[i]) + 1))
	}
	return v
}

type optionRequest struct {
	authorizerRequest
	OptionName  string          `json:"option_name"`
	OptionValue json.RawMessage `json:"option_value"`
}

type optionAnswer struct {
	AuthorizerAppID string `json:"authorizer_appid"`
	OptionName      string `json:"option_name"`
	OptionValue     string `json:"option_value"`
}

func (e *Emulator) optionTarget(c *call, req *optionRequest) (uint32, int, error) {
	index, err := e.decodeAccountCall(c, req)
	if err != nil {
		return 0, 0, err
	}
	opt := optionIndex(req.OptionName)
	if opt < 0 {
		return 0, 0, wxErr(errOptionName)
	}
	return index, opt, nil
}

func (e *Emulator) apiGetAuthorizerOption(c *call) (any, error) {
	var req optionRequest
	index, opt, err := e.optionTarget(c, &req)
	if err != nil {
		return nil, err
	}
	var value int8
	authorized := false
	e.view(index, func(a *authz) {
		authorized = a.authorized
		value = e.optionValues(index, a)[opt]
	})
	if !authorized {
		return nil, wxErr(errNotAuthorizedByBiz)
	}
	return optionAnswer{req.AuthorizerAppID, req.OptionName, strconv.Itoa(int(value))}, nil
}

func (e *Emulator) apiSetAuthorizerOption(c *call) (any, error) {
	var req optionRequest
	index, opt, err := e.optionTarget(c, &req)
	if err != nil {
		return nil, err
	}
	// The documentation sends the value as a string; numbers are taken too.
	var text string
	if err := json.Unmarshal(req.OptionValue, &text); err != nil {
		text = string(req.OptionValue)
	}
	v, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || v < 0 || v > int(optionMax[opt]) {
		return nil, wxErr(errOptionValue)
	}
	err = e.update(index, func(a *authz) error {
		if !a.authorized {
			return wxErr(errNotAuthorizedByBiz)
		}
		a.options = e.optionValues(index, a)
		a.options[opt] = int8(v)
		a.optionsSet = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return okBody, nil
}

func (e *Emulator) apiClearQuota(c *call) (any, error) {
	var req struct {
		ComponentAppID string `json:"component_appid"`
		AppSecret      string `json:"appsecret"`
		AppID          string `json:"appid"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	platform := req.ComponentAppID
	if platform == "" {
		platform = req.AppID // the form an account uses for itself: appid + appsecret
	}
	if err := e.checkPlatform(platform); err != nil {
		return nil, err
	}
	if err := e.checkSecret(req.AppSecret); err != nil {
		return nil, err
	}
	target := int64(-1)
	if req.AppID != "" && req.AppID != e.cfg.ComponentAppID {
		index, err := e.authorizerIndex(req.AppID)
		if err != nil {
			return nil, err
		}
		authorized := false
		e.view(index, func(a *authz) { authorized = a.authorized })
		if !authorized {
			return nil, wxErr(errNotAuthorizedByBiz)
		}
		target = int64(index)
	}
	if !e.quotas.clear(target, e.cfg.ClearQuotaPerMonth, c.now) {
		return nil, wxErr(errClearQuotaLimit)
	}
	return okBody, nil
}
