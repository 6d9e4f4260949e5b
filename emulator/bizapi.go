package emulator

import (
	"hash/fnv"
	"slices"
	"unicode/utf8"
)

// A few of the APIs a platform calls on an account's behalf (step 7), with
// the account's authorizer_access_token. The token was checked before the
// handler runs (41001, 40001, 42001, 61003, 61015); the handlers check that
// the account is of a type that has the API (48001) and granted the
// permission set it needs (61007).

// requireScope returns the calling account if it may call an API for account
// type t (both when t is "") that needs permission set scope.
func (e *Emulator) requireScope(c *call, t AccountType, scope int) (Account, error) {
	acct := e.accountWithState(c.index)
	if t != "" && acct.Type != t {
		return acct, wxErr(errAPIUnauthorized)
	}
	if !slices.Contains(acct.FuncInfo, scope) {
		return acct, wxErr(errScopeUnauthorized)
	}
	return acct, nil
}

// validOpenID accepts the shape of WeChat openids: 28 characters of
// [A-Za-z0-9_-] starting with "o".
func validOpenID(s string) bool {
	if len(s) != 28 || s[0] != 'o' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

var customMsgTypes = []string{"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard", "miniprogrampage", "link"}

// maxCustomText is the longest text message WeChat takes (2048 bytes).
const maxCustomText = 2048

func (e *Emulator) apiCustomSend(c *call) (any, error) {
	acct := e.accountWithState(c.index)
	scope := scopeMessage
	if acct.Type == MiniProgram {
		scope = scopeMiniCustomer
	}
	if _, err := e.requireScope(c, "", scope); err != nil {
		return nil, err
	}
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if !validOpenID(req.ToUser) {
		return nil, wxErr(errInvalidOpenID)
	}
	if !slices.Contains(customMsgTypes, req.MsgType) {
		return nil, wxErr(errInvalidMsgType)
	}
	content := ""
	if req.MsgType == "text" {
		if req.Text == nil || req.Text.Content == "" {
			return nil, wxErr(errEmptyContent)
		}
		if len(req.Text.Content) > maxCustomText || !utf8.ValidString(req.Text.Content) {
			return nil, wxErr(errContentTooLong)
		}
		content = req.Text.Content
	}
	e.messages.add(Message{AppID: acct.AppID, ToUser: req.ToUser, MsgType: req.MsgType, Content: content, At: c.now})
	return okBody, nil
}

type userInfoAnswer struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	Language       string `json:"language,omitempty"`
	SubscribeTime  int64  `json:"subscribe_time,omitempty"`
	UnionID        string `json:"unionid,omitempty"`
	Remark         string `json:"remark"`
	GroupID        int    `json:"groupid"`
	TagIDList      []int  `json:"tagid_list"`
	SubscribeScene string `json:"subscribe_scene,omitempty"`
	QRScene        int    `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
}

var subscribeScenes = []string{"ADD_SCENE_SEARCH", "ADD_SCENE_QR_CODE", "ADD_SCENE_PROFILE_CARD", "ADD_SCENE_ACCOUNT_MIGRATION", "ADD_SCENE_WECHAT_ADVERTISEMENT", "ADD_SCENE_OTHERS"}

func (e *Emulator) apiUserInfo(c *call) (any, error) {
	acct, err := e.requireScope(c, OfficialAccount, scopeUser)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	openID := q.Get("openid")
	if openID == "" {
		return nil, wxErr(errOpenIDMissing)
	}
	if !validOpenID(openID) {
		return nil, wxErr(errInvalidOpenID)
	}
	// The follower's attributes are a function of (account, openid).
	h := fnv.New64a()
	h.Write([]byte(acct.AppID))
	h.Write([]byte(openID))
	s := &stream{h: h.Sum64()}
	ans := userInfoAnswer{OpenID: openID, TagIDList: []int{}}
	if s.intn(10) == 0 {
		return ans, nil // unfollowed: WeChat says only subscribe 0 and the openid
	}
	lang := q.Get("lang")
	if lang == "" {
		lang = "zh_CN"
	}
	ans.Subscribe = 1
	ans.Language = lang
	ans.SubscribeTime = e.started.Unix() - int64(s.intn(3*365*86400))
	ans.UnionID = "o6_bm" + s.alnum(23)
	ans.SubscribeScene = subscribeScenes[s.intn(len(subscribeScenes))]
	if s.intn(3) == 0 {
		ans.TagIDList = []int{2, 100 + s.intn(50)}
	}
	return ans, nil
}

type menuButton struct {
	Type      string       `json:"type,omitempty"`
	Name      string       `json:"name"`
	Key       string       `json:"key,omitempty"`
	URL       string       `json:"url,omitempty"`
	SubButton []menuButton `json:"sub_button"`
}

func (e *Emulator) apiMenuGet(c *call) (any, error) {
	acct, err := e.requireScope(c, OfficialAccount, scopeMenu)
	if err != nil {
		return nil, err
	}
	if !acct.HasMenu {
		return nil, wxErr(errMenuMissing)
	}
	site := "https://" + acct.UserName[3:] + ".example.com/"
	var ans struct {
		Menu struct {
			Button []menuButton `json:"button"`
		} `json:"menu"`
	}
	ans.Menu.Button = []menuButton{
		{Type: "click", Name: "今日推荐", Key: "V1001_TODAY", SubButton: []menuButton{}},
		{Name: "服务", SubButton: []menuButton{
			{Type: "view", Name: "预约", URL: site + "booking", SubButton: []menuButton{}},
			{Type: "view", Name: "会员中心", URL: site + "member", SubButton: []menuButton{}},
			{Type: "click", Name: "联系我们", Key: "V1002_CONTACT", SubButton: []menuButton{}},
		}},
		{Type: "view", Name: "官网", URL: site, SubButton: []menuButton{}},
	}
	return ans, nil
}

func (e *Emulator) apiAccountBasicInfo(c *call) (any, error) {
	acct, err := e.requireScope(c, MiniProgram, scopeMiniAccount)
	if err != nil {
		return nil, err
	}
	principalType := 1
	if acct.PrincipalName == "个人" {
		principalType = 0
	}
	type quotaInfo struct {
		Value           string `json:"signature,omitempty"`
		HeadImageURL    string `json:"head_image_url,omitempty"`
		ModifyUsedCount int    `json:"modify_used_count"`
		ModifyQuota     int    `json:"modify_quota"`
	}
	return map[string]any{
		"errcode":            0,
		"errmsg":             "ok",
		"appid":              acct.AppID,
		"account_type":       2,
		"principal_type":     principalType,
		"principal_name":     acct.PrincipalName,
		"realname_status":    1,
		"nickname":           acct.NickName,
		"registered_country": 1,
		"wx_verify_info": map[string]any{
			"qualification_verify": acct.VerifyType == 0,
			"naming_verify":        acct.VerifyType == 0,
			"annual_review":        false,
		},
		"signature_info":  quotaInfo{Value: acct.Signature, ModifyUsedCount: 1, ModifyQuota: 5},
		"head_image_info": quotaInfo{HeadImageURL: acct.HeadImg, ModifyUsedCount: 0, ModifyQuota: 5},
	}, nil
}
