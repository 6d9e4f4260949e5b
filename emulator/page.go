package emulator

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The merchant's side: the authorization page of mp.weixin.qq.com (PC, QR
// code) and open.weixin.qq.com (mobile, inside WeChat). Where WeChat shows a
// QR code to scan, the emulator lists the simulated accounts the merchant
// could scan with, each with an "authorize" button.

const pageSize = 20

// pageRequest is the page's query (GET) or form (POST).
type pageRequest struct {
	pc             bool
	componentAppID string
	preAuthCode    string
	redirectURI    string
	authType       int
	bizAppID       string
	bizIndex       uint32
	categories     []int // nil: the accounts' default sets
	start          int
}

func (e *Emulator) parsePageRequest(r *http.Request, v url.Values, pc bool) (*pageRequest, error) {
	p := &pageRequest{pc: pc, componentAppID: v.Get("component_appid"), preAuthCode: v.Get("pre_auth_code"),
		redirectURI: v.Get("redirect_uri"), bizAppID: v.Get("biz_appid"), authType: 3}
	if p.componentAppID != e.cfg.ComponentAppID {
		return nil, errors.New("该第三方平台不存在或 component_appid 有误 (component_appid is not this platform)")
	}
	if p.preAuthCode == "" {
		return nil, errors.New("缺少 pre_auth_code (pre_auth_code missing)")
	}
	if u, err := url.Parse(p.redirectURI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("redirect_uri 参数错误 (redirect_uri must be an absolute http or https URL)")
	}
	if pc && e.cfg.AuthorizationDomain != "" && !refererAllowed(r.Referer(), e.cfg.AuthorizationDomain) {
		return nil, errors.New("请确认授权入口页所在域名，与授权后回调页所在域名相同，并且，此两者都必须与申请第三方平台时填写的授权发起页域名相同 (Referer is not on the authorization start page domain)")
	}
	if s := v.Get("auth_type"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || !knownAuthType(n) {
			return nil, errors.New("auth_type 参数错误 (auth_type must be 1, 2, 3, 4, 5, 6 or 8)")
		}
		p.authType = n
	}
	if p.bizAppID != "" {
		index, ok := e.indexOf(p.bizAppID)
		if !ok {
			return nil, errors.New("biz_appid 不存在 (biz_appid is no account of this emulator)")
		}
		p.bizIndex = index
	}
	if s := v.Get("category_id_list"); s != "" {
		for _, part := range strings.Split(s, "|") {
			id, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || id <= 0 || id > 1000 {
				return nil, errors.New("category_id_list 参数错误 (permission set ids joined with |)")
			}
			if !contains(p.categories, id) {
				p.categories = append(p.categories, id)
			}
		}
	}
	if s := v.Get("start"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, errors.New("start 参数错误")
		}
		p.start = n
	}
	if err := e.preAuthUsable(p.preAuthCode); err != nil {
		return nil, err
	}
	return p, nil
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// refererAllowed reports whether referer's host is domain or under it.
func refererAllowed(referer, domain string) bool {
	u, err := url.Parse(referer)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Hostname())
	domain = strings.ToLower(strings.TrimPrefix(domain, "."))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// preAuthUsable checks a pre-auth code without using it up.
func (e *Emulator) preAuthUsable(code string) error {
	_, serial, ok := e.codec.parse(kindPreAuthCode, code)
	if !ok {
		return fmt.Errorf("授权链接无效 (%w)", ErrPreAuthCodeInvalid)
	}
	now := e.nowNano()
	e.codesMu.Lock()
	defer e.codesMu.Unlock()
	p, ok := e.preAuth[serial]
	switch {
	case !ok || p.used:
		return fmt.Errorf("授权链接已失效，请重新发起授权 (%w)", ErrPreAuthCodeInvalid)
	case now >= p.expires:
		return fmt.Errorf("授权链接已过期，请重新发起授权 (%w)", ErrPreAuthCodeExpired)
	}
	return nil
}

// allows reports whether the page may show and authorize account index.
func (p *pageRequest) allows(e *Emulator, index uint32) bool {
	if p.bizAppID != "" {
		return index == p.bizIndex
	}
	return typeAllowed(p.authType, e.account(index).Type)
}

func (e *Emulator) servePage(w http.ResponseWriter, r *http.Request, pc bool) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		e.counters.add("page", outcomeCode(0))
		p, err := e.parsePageRequest(r, r.URL.Query(), pc)
		if err != nil {
			e.errorPage(w, http.StatusBadRequest, err.Error())
			return
		}
		e.renderPage(w, r, p)
	case http.MethodPost:
		e.pageAuthorize(w, r, pc)
	default:
		w.Header().Set("Allow", "GET, POST")
		e.errorPage(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

// pageAuthorize is the click on "authorize".
func (e *Emulator) pageAuthorize(w http.ResponseWriter, r *http.Request, pc bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		e.errorPage(w, http.StatusBadRequest, "表单无效 (malformed form)")
		return
	}
	p, err := e.parsePageRequest(r, r.PostForm, pc)
	if err != nil {
		e.errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	appID := r.PostForm.Get("appid")
	index, ok := e.indexOf(appID)
	if !ok || !p.allows(e, index) {
		e.errorPage(w, http.StatusBadRequest, "该帐号不能授权给此第三方平台 (appid is not offered on this page)")
		return
	}
	funcInfo := p.categories
	if picked := r.PostForm["func"]; len(picked) > 0 || r.PostForm.Get("funcs_shown") != "" {
		funcInfo = []int{}
		for _, s := range picked {
			id, err := strconv.Atoi(s)
			if err != nil || id <= 0 || id > 1000 || (p.categories != nil && !contains(p.categories, id)) {
				e.errorPage(w, http.StatusBadRequest, "权限集参数错误 (a permission set the platform did not ask for)")
				return
			}
			if !contains(funcInfo, id) {
				funcInfo = append(funcInfo, id)
			}
		}
	}
	redirect, err := e.Authorize(r.Context(), p.preAuthCode, appID, p.redirectURI, funcInfo)
	switch {
	case errors.Is(err, ErrPushFailed):
		// The merchant is redirected all the same; the platform has the code
		// through the redirect.
	case errors.Is(err, ErrNoFuncInfo):
		e.errorPage(w, http.StatusBadRequest, "请至少选择一个权限集 (grant at least one permission set)")
		return
	case err != nil:
		e.errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	http.Redirect(w, r, redirect, http.StatusFound)
}

type pageAccount struct {
	Account
	TypeLabel string
}

type pageScope struct {
	ID   int
	Name string
}

type pageData struct {
	PC             bool
	ComponentAppID string
	PreAuthCode    string
	RedirectURI    string
	AuthType       int
	BizAppID       string
	CategoryList   string
	Scopes         []pageScope
	Accounts       []pageAccount
	Next           string
	Total          int
}

func (e *Emulator) renderPage(w http.ResponseWriter, r *http.Request, p *pageRequest) {
	d := pageData{PC: p.pc, ComponentAppID: p.componentAppID, PreAuthCode: p.preAuthCode, RedirectURI: p.redirectURI,
		AuthType: p.authType, BizAppID: p.bizAppID, CategoryList: r.URL.Query().Get("category_id_list"), Total: e.cfg.Authorizers}
	for _, id := range p.categories {
		d.Scopes = append(d.Scopes, pageScope{id, funcScopeName(id)})
	}
	add := func(index uint32) {
		a := e.accountWithState(index)
		label := "公众号"
		if a.Type == MiniProgram {
			label = "小程序"
		}
		d.Accounts = append(d.Accounts, pageAccount{a, label})
	}
	if p.bizAppID != "" {
		add(p.bizIndex)
	} else {
		// Scan forward from the cursor; a page of one type among a million
		// accounts is found within a few dozen steps.
		i := p.start
		for scanned := 0; i < e.cfg.Authorizers && len(d.Accounts) < pageSize && scanned < 50*pageSize; i, scanned = i+1, scanned+1 {
			if typeAllowed(p.authType, e.account(uint32(i)).Type) {
				add(uint32(i))
			}
		}
		if i < e.cfg.Authorizers && typeAllowedAny(p.authType) {
			q := r.URL.Query()
			q.Set("start", strconv.Itoa(i))
			d.Next = r.URL.Path + "?" + q.Encode()
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := authPageTemplate.Execute(w, d); err != nil {
		e.log.Warn("emulator: render page", "err", err)
	}
}

func typeAllowedAny(authType int) bool {
	return typeAllowed(authType, OfficialAccount) || typeAllowed(authType, MiniProgram)
}

func (e *Emulator) errorPage(w http.ResponseWriter, status int, msg string) {
	e.counters.add("page", outcome{kind: 1, n: status})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := errorPageTemplate.Execute(w, msg); err != nil {
		e.log.Warn("emulator: render error page", "err", err)
	}
}

const pageStyle = `<style>
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:#f6f7f9;margin:0;color:#222}
header{background:#07c160;color:#fff;padding:14px 24px;font-size:18px}
main{max-width:760px;margin:24px auto;background:#fff;border-radius:8px;padding:24px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.acct{display:flex;align-items:center;gap:14px;padding:12px 0;border-bottom:1px solid #eee}
.acct img{width:48px;height:48px;border-radius:50%}
.acct .who{flex:1}.acct .meta{color:#888;font-size:12px}
.badge{font-size:11px;background:#eef;border-radius:3px;padding:1px 5px;margin-left:6px;color:#446}
.on{background:#e6f7ee;color:#087}
button{background:#07c160;color:#fff;border:0;border-radius:4px;padding:8px 18px;font-size:14px;cursor:pointer}
.scopes label{display:inline-block;margin:4px 12px 4px 0;font-size:13px}
.note{color:#888;font-size:12px}.err{color:#c00;font-size:16px}
</style>`

var authPageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>公众平台帐号授权 — wxtoken emulator</title>` + pageStyle + `</head><body>
<header>微信公众平台 · 第三方平台授权 <span class="note" style="color:#dfd">(wxtoken emulator)</span></header>
<main>
<p>第三方平台 <b>{{.ComponentAppID}}</b> 申请获得以下帐号的权限。{{if .PC}}在微信中扫码即选择下方的帐号。{{end}}</p>
<form method="post">
<input type="hidden" name="component_appid" value="{{.ComponentAppID}}">
<input type="hidden" name="pre_auth_code" value="{{.PreAuthCode}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="auth_type" value="{{.AuthType}}">
{{if .BizAppID}}<input type="hidden" name="biz_appid" value="{{.BizAppID}}">{{end}}
{{if .CategoryList}}<input type="hidden" name="category_id_list" value="{{.CategoryList}}">{{end}}
<div class="scopes">
{{if .Scopes}}<input type="hidden" name="funcs_shown" value="1"><p>授权的权限集：</p>
{{range .Scopes}}<label><input type="checkbox" name="func" value="{{.ID}}" checked> {{.Name}} ({{.ID}})</label>{{end}}
{{else}}<p class="note">授权帐号类型对应的全部权限集。</p>{{end}}
</div>
{{range .Accounts}}<div class="acct">
<img src="/emulator/avatar/{{.AppID}}.svg" alt="">
<div class="who"><b>{{.NickName}}</b><span class="badge">{{.TypeLabel}}</span>{{if .Authorized}}<span class="badge on">已授权</span>{{end}}
<div class="meta">{{.AppID}} · {{.UserName}} · {{.PrincipalName}}</div></div>
<button type="submit" name="appid" value="{{.AppID}}">授权</button>
</div>{{else}}<p class="note">没有可授权的帐号 (no simulated account of this type).</p>{{end}}
</form>
{{if .Next}}<p><a href="{{.Next}}">更多帐号 →</a></p>{{end}}
<p class="note">{{.Total}} simulated accounts. Clicking "授权" authorizes the account, pushes the authorized event and redirects to the platform's redirect_uri.</p>
</main></body></html>`))

var errorPageTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>授权失败 — wxtoken emulator</title>` + pageStyle + `</head><body>
<header>微信公众平台 · 第三方平台授权 <span class="note" style="color:#dfd">(wxtoken emulator)</span></header>
<main><p class="err">{{.}}</p></main></body></html>`))

// serveAvatar draws a seeded account's avatar: a coloured disc with the first
// character of its name.
func (e *Emulator) serveAvatar(w http.ResponseWriter, r *http.Request) {
	appID := strings.TrimSuffix(r.PathValue("file"), ".svg")
	index, ok := e.indexOf(appID)
	if !ok {
		http.NotFound(w, r)
		return
	}
	a := e.account(index)
	s := e.codec.accountStream(index, 4)
	hue := s.intn(360)
	initial := []rune(a.NickName)[0]
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">`+
		`<circle cx="48" cy="48" r="48" fill="hsl(%d,55%%,52%%)"/>`+
		`<text x="48" y="62" font-size="42" text-anchor="middle" fill="#fff" font-family="sans-serif">%s</text></svg>`,
		hue, template.HTMLEscapeString(string(initial)))
}

var indexTemplate = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>wxtoken emulator</title>` + pageStyle + `</head><body>
<header>wxtoken emulator — WeChat's side of a third-party platform</header>
<main>
<p>Component appid <b>{{.AppID}}</b>, {{.Authorizers}} simulated accounts, virtual time {{.Now}}.</p>
<p>APIs under <code>/cgi-bin/component/</code>; the authorization page at <code>/cgi-bin/componentloginpage</code> (needs a pre_auth_code from <code>api_create_preauthcode</code>).</p>
<p>Control and observation (JSON):
<a href="/emulator/clock">clock</a> ·
<a href="/emulator/counters">counters</a> ·
<a href="/emulator/pushes">pushes</a> ·
<a href="/emulator/faults">faults</a> ·
<a href="/emulator/accounts?limit=20">accounts</a> ·
<a href="/emulator/messages">messages</a> ·
<a href="/emulator/config">config</a></p>
</main></body></html>`))

func (e *Emulator) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexTemplate.Execute(w, map[string]any{"AppID": e.cfg.ComponentAppID, "Authorizers": e.cfg.Authorizers, "Now": e.clock.Now().Format("2006-01-02 15:04:05 MST")})
}
