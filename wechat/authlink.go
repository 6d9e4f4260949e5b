package wechat

import (
	"net/url"
	"strconv"
	"strings"
)

// Where WeChat serves the authorization pages.
const (
	DefaultPCAuthBase     = "https://mp.weixin.qq.com"
	DefaultMobileAuthBase = "https://open.weixin.qq.com"
)

// AuthLinkOptions narrows what a merchant may authorize.
type AuthLinkOptions struct {
	// AuthType: 1 official accounts, 2 mini programs, 3 both, 4 mini-program
	// 推客, 5 channels, 6 all, 8 带货助手; 0 leaves it to WeChat (both).
	AuthType int
	// BizAppID restricts the page to one account; it wins over AuthType.
	BizAppID string
	// CategoryIDs restricts the permission sets offered.
	CategoryIDs []int
}

// PCAuthURL is the link to WeChat's QR-code authorization page, for desktop
// browsers. WeChat checks the page's Referer against the platform's
// configured "authorization start page domain", so the link must be followed
// from that domain, not typed in. base "" means DefaultPCAuthBase.
func PCAuthURL(base, componentAppID, preAuthCode, redirectURI string, o AuthLinkOptions) string {
	if base == "" {
		base = DefaultPCAuthBase
	}
	q := authQuery(nil, componentAppID, preAuthCode, redirectURI, o)
	return strings.TrimRight(base, "/") + "/cgi-bin/componentloginpage?" + q
}

// MobileAuthURL is the link that opens the authorization page inside WeChat
// on a phone. base "" means DefaultMobileAuthBase.
func MobileAuthURL(base, componentAppID, preAuthCode, redirectURI string, o AuthLinkOptions) string {
	if base == "" {
		base = DefaultMobileAuthBase
	}
	q := authQuery([][2]string{{"action", "bindcomponent"}, {"no_scan", "1"}}, componentAppID, preAuthCode, redirectURI, o)
	return strings.TrimRight(base, "/") + "/wxaopen/safe/bindcomponent?" + q + "#wechat_redirect"
}

// authQuery writes the parameters in the order of WeChat's documentation
// (url.Values would sort them), which keeps links comparable with its
// examples.
func authQuery(lead [][2]string, componentAppID, preAuthCode, redirectURI string, o AuthLinkOptions) string {
	params := append(lead,
		[2]string{"component_appid", componentAppID},
		[2]string{"pre_auth_code", preAuthCode},
		[2]string{"redirect_uri", redirectURI},
	)
	if o.AuthType != 0 {
		params = append(params, [2]string{"auth_type", strconv.Itoa(o.AuthType)})
	}
	if o.BizAppID != "" {
		params = append(params, [2]string{"biz_appid", o.BizAppID})
	}
	if len(o.CategoryIDs) > 0 {
		ids := make([]string, len(o.CategoryIDs))
		for i, id := range o.CategoryIDs {
			ids[i] = strconv.Itoa(id)
		}
		params = append(params, [2]string{"category_id_list", strings.Join(ids, "|")})
	}
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p[1]))
	}
	return b.String()
}
