package wechat

import (
	"net/url"
	"reflect"
	"testing"
)

func TestAuthLinks(t *testing.T) {
	const redirect = "https://platform.example.com/authorize/callback?from=pc&x=a b"
	tests := []struct {
		name         string
		link         string
		wantPrefix   string
		wantQuery    url.Values
		wantFragment string
	}{
		{
			name:       "PC, defaults",
			link:       PCAuthURL("", testAppID, "preauthcode@@@p", redirect, AuthLinkOptions{}),
			wantPrefix: "https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=",
			wantQuery: url.Values{"component_appid": {testAppID}, "pre_auth_code": {"preauthcode@@@p"},
				"redirect_uri": {redirect}},
		},
		{
			name:       "PC on the emulator, all options",
			link:       PCAuthURL("http://127.0.0.1:9000/", testAppID, "p", redirect, AuthLinkOptions{AuthType: 3, BizAppID: testAuthz, CategoryIDs: []int{1, 15, 18}}),
			wantPrefix: "http://127.0.0.1:9000/cgi-bin/componentloginpage?",
			wantQuery: url.Values{"component_appid": {testAppID}, "pre_auth_code": {"p"}, "redirect_uri": {redirect},
				"auth_type": {"3"}, "biz_appid": {testAuthz}, "category_id_list": {"1|15|18"}},
		},
		{
			name:       "mobile, defaults",
			link:       MobileAuthURL("", testAppID, "p", redirect, AuthLinkOptions{AuthType: 2}),
			wantPrefix: "https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=",
			wantQuery: url.Values{"action": {"bindcomponent"}, "no_scan": {"1"}, "component_appid": {testAppID},
				"pre_auth_code": {"p"}, "redirect_uri": {redirect}, "auth_type": {"2"}},
			wantFragment: "wechat_redirect",
		},
		{
			name:       "mobile on the emulator",
			link:       MobileAuthURL("http://127.0.0.1:9000", testAppID, "p", redirect, AuthLinkOptions{BizAppID: testAuthz}),
			wantPrefix: "http://127.0.0.1:9000/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&",
			wantQuery: url.Values{"action": {"bindcomponent"}, "no_scan": {"1"}, "component_appid": {testAppID},
				"pre_auth_code": {"p"}, "redirect_uri": {redirect}, "biz_appid": {testAuthz}},
			wantFragment: "wechat_redirect",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.link) < len(tc.wantPrefix) || tc.link[:len(tc.wantPrefix)] != tc.wantPrefix {
				t.Errorf("link %q does not start with %q", tc.link, tc.wantPrefix)
			}
			u, err := url.Parse(tc.link)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query(); !reflect.DeepEqual(got, tc.wantQuery) {
				t.Errorf("query %v, want %v", got, tc.wantQuery)
			}
			if u.Fragment != tc.wantFragment {
				t.Errorf("fragment %q, want %q", u.Fragment, tc.wantFragment)
			}
		})
	}
}
