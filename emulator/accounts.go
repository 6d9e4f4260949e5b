package emulator

import (
	"fmt"
	"time"
)

// AccountType is the kind of a simulated account.
type AccountType string

const (
	OfficialAccount AccountType = "official_account" // 公众号
	MiniProgram     AccountType = "mini_program"     // 小程序
)

// Category is a mini program's registered category.
type Category struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

// Account is one seeded account: its static attributes derived from (seed,
// index), and its current authorization as the emulator sees it.
type Account struct {
	Index         int         `json:"index"`
	AppID         string      `json:"appid"`
	Type          AccountType `json:"type"`
	NickName      string      `json:"nick_name"`
	HeadImg       string      `json:"head_img"`
	UserName      string      `json:"user_name"` // gh_…, the original id
	Alias         string      `json:"alias,omitempty"`
	PrincipalName string      `json:"principal_name"`
	Signature     string      `json:"signature"`
	QRCodeURL     string      `json:"qrcode_url"`
	ServiceType   int         `json:"service_type"` // official accounts: 0 subscription, 1 upgraded, 2 service; mini programs 0
	VerifyType    int         `json:"verify_type"`  // -1 unverified, 0 WeChat-verified
	Categories    []Category  `json:"categories,omitempty"`
	// DefaultFuncInfo is what the account grants when the page does not
	// narrow it with category_id_list.
	DefaultFuncInfo []int `json:"default_func_info"`
	HasMenu         bool  `json:"has_menu"` // official accounts without a menu answer menu/get with 46003

	// The authorization, as of the call.
	Authorized bool      `json:"authorized"`
	FuncInfo   []int     `json:"func_info,omitempty"`
	AuthTime   time.Time `json:"auth_time,omitzero"`
	// CodeExchanged is false for an authorization whose code nobody
	// exchanged yet: api_get_authorizer_list shows its refresh_token "".
	CodeExchanged bool  `json:"code_exchanged"`
	Refreshes     int64 `json:"refreshes"` // successful api_authorizer_token calls
	// RefreshToken is the current refresh token ("" when there is none).
	// It is a secret of the simulated platform, kept out of JSON.
	RefreshToken string `json:"-"`
}

// The permission sets (funcscope_category ids) the emulator knows, with the
// names WeChat's page shows. Ids it does not know are shown as "权限集 N".
var funcScopeNames = map[int]string{
	1: "消息管理权限", 2: "用户管理权限", 3: "帐号服务权限", 4: "网页服务权限",
	5: "微信小店权限", 6: "微信多客服权限", 7: "群发与通知权限", 8: "微信卡券权限",
	9: "微信扫一扫权限", 10: "微信连WIFI权限", 11: "素材管理权限", 12: "微信摇周边权限",
	13: "微信门店权限", 15: "自定义菜单权限", 16: "获取认证状态及信息", 17: "帐号管理权限（小程序）",
	18: "开发管理与数据分析权限（小程序）", 19: "客服消息管理权限（小程序）", 22: "城市服务接口权限",
	23: "广告管理权限", 24: "开放平台帐号管理权限", 25: "开放平台帐号管理权限（小程序）",
	26: "微信电子发票权限", 27: "快速注册小程序权限", 30: "小程序基本信息设置权限", 31: "小程序认证权限",
	33: "微信卡路里权限", 36: "小程序插件管理权限", 37: "附近的小程序权限", 40: "小程序订阅消息权限",
	41: "小程序物流助手权限", 45: "小程序直播权限", 48: "小程序插件管理权限",
}

func funcScopeName(id int) string {
	if n, ok := funcScopeNames[id]; ok {
		return n
	}
	return fmt.Sprintf("权限集 %d", id)
}

var (
	officialFuncInfo = []int{1, 15, 4, 7, 2, 3, 11, 6, 8, 13, 9, 10, 12, 22, 23, 26, 27, 33, 24}
	miniFuncInfo     = []int{17, 18, 19, 25, 30, 31, 36, 37, 40, 41, 45, 48}
)

// Funcscope ids the authorizer APIs of this emulator check.
const (
	scopeMessage      = 1  // 消息管理权限: message/custom/send for official accounts
	scopeUser         = 2  // 用户管理权限: user/info
	scopeMenu         = 15 // 自定义菜单权限: menu/get
	scopeMiniAccount  = 17 // 帐号管理权限: account/getaccountbasicinfo
	scopeMiniCustomer = 19 // 客服消息管理权限: message/custom/send for mini programs
)

var (
	places     = []string{"北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "厦门", "青岛", "长沙", "天津", "郑州", "昆明", "大连", "宁波", "合肥"}
	words      = []string{"云朵", "星河", "青禾", "知行", "木子", "晨光", "山海", "小满", "初心", "拾光", "南风", "半夏", "橙子", "麦田", "远方", "蓝鲸", "松果", "米粒", "鹿鸣", "白鹭", "竹林", "清泉", "暖阳", "花间", "一粟"}
	businesses = []string{"咖啡", "书店", "花坊", "烘焙", "健身", "茶舍", "酒店", "民宿", "文创", "乐器", "宠物", "眼镜", "母婴", "家居", "摄影", "教育", "数码", "餐厅", "服饰", "旅行"}
	oaSuffixes = []string{"", "", "服务号", "生活", "精选", "俱乐部"}
	mpSuffixes = []string{"小程序", "商城", "点单", "预约", "会员", ""}
	categories = []Category{{"工具", "效率"}, {"餐饮", "点餐平台"}, {"教育", "在线教育"}, {"商家自营", "服装/鞋/箱包"}, {"生活服务", "丽人"}, {"旅游", "景区服务"}, {"商业服务", "会展服务"}}
	slogans    = []string{"欢迎关注%s，每周更新好物与活动。", "%s：认真做好每一件小事。", "这里是%s，预约、咨询、会员一站搞定。", "%s官方帐号，感谢您的支持。"}
)

// account derives the static attributes of seeded account index.
func (e *Emulator) account(index uint32) Account {
	s := e.codec.accountStream(index, 1)
	a := Account{Index: int(index), AppID: e.codec.appID(index)}
	// About a third of the accounts are mini programs, as on a typical platform.
	if s.intn(3) == 0 {
		a.Type = MiniProgram
	} else {
		a.Type = OfficialAccount
	}
	place, word, biz := places[s.intn(len(places))], words[s.intn(len(words))], businesses[s.intn(len(businesses))]
	if a.Type == MiniProgram {
		a.NickName = word + biz + mpSuffixes[s.intn(len(mpSuffixes))]
		a.Categories = []Category{categories[s.intn(len(categories))]}
		a.DefaultFuncInfo = miniFuncInfo
	} else {
		a.NickName = place + word + biz + oaSuffixes[s.intn(len(oaSuffixes))]
		a.ServiceType = []int{0, 0, 1, 2, 2}[s.intn(5)]
		a.DefaultFuncInfo = officialFuncInfo
		a.HasMenu = s.intn(5) != 0
		if s.intn(2) == 0 {
			a.Alias = fmt.Sprintf("%s%d", []string{"shop", "club", "life", "cafe", "studio"}[s.intn(5)], 100+s.intn(9900))
		}
	}
	if s.intn(6) == 0 {
		a.VerifyType = -1
	}
	if a.Type == MiniProgram && s.intn(5) == 0 {
		a.PrincipalName = "个人"
		a.VerifyType = -1
	} else {
		a.PrincipalName = place + word + biz + "有限公司"
	}
	a.Signature = fmt.Sprintf(slogans[s.intn(len(slogans))], a.NickName)
	a.UserName = "gh_" + s.hex(12)
	a.HeadImg = "http://wx.qlogo.cn/mmopen/" + s.alnum(76) + "/0"
	a.QRCodeURL = "http://mmbiz.qpic.cn/mmbiz_jpg/" + s.alnum(64) + "/0"
	return a
}

// seededAuthTime is when a pre-authorized account authorized: up to a year
// before the emulator started, fixed by the seed.
func (e *Emulator) seededAuthTime(index uint32) time.Time {
	s := e.codec.accountStream(index, 2)
	return e.started.Add(-time.Duration(1+s.intn(365*24*3600)) * time.Second).Truncate(time.Second)
}

// typeAllowed reports whether an account of type t may be shown for the
// page's auth_type (1 official accounts, 2 mini programs, 3 and 6 both, 4 the
// mini-program 推客 flow, which lists mini programs). The channels (5) and
// 带货助手 (8) flows list nothing: the emulator simulates no such accounts.
func typeAllowed(authType int, t AccountType) bool {
	switch authType {
	case 1:
		return t == OfficialAccount
	case 2, 4:
		return t == MiniProgram
	case 3, 6:
		return true
	}
	return false
}

func knownAuthType(authType int) bool {
	switch authType {
	case 1, 2, 3, 4, 5, 6, 8:
		return true
	}
	return false
}
