package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/client"
)

// exampleDeployment stands in for a real one: a wxtoken service that knows
// one authorized account, and WeChat, which rejects the first call's token
// (as if it had been renewed elsewhere) so that the example goes through the
// renew-and-retry path.
func exampleDeployment() (wxtokenURL, apiKey, wechatURL string, stop func()) {
	api := newFakeAPI(wxtoken.SystemClock{}, "wx1111111111111111")
	wx := &fakeWeChat{api: api, appID: "wx1111111111111111", rejectNext: 1}
	apiSrv := httptest.NewServer(api.handler())
	wxSrv := httptest.NewServer(wx.handler())
	return apiSrv.URL, api.key, wxSrv.URL, func() { apiSrv.Close(); wxSrv.Close() }
}

// A service calls WeChat's APIs directly with an http.Client whose transport
// takes care of the authorizer's access token: it adds access_token to every
// call and, when WeChat answers 40001, 42001 or 40014, has wxtoken renew the
// token and sends the call once more.
func ExampleClient_Transport() {
	// In production: the wxtoken service's URL, one of its --api-keys, and
	// https://api.weixin.qq.com.
	wxtokenURL, apiKey, wechatURL, stop := exampleDeployment()
	defer stop()

	tokens := client.New(wxtokenURL, apiKey)
	wechat := &http.Client{Transport: tokens.Transport("wx1111111111111111", nil)}

	msg := `{"touser":"oAbc123","msgtype":"text","text":{"content":"Your order has shipped"}}`
	resp, err := wechat.Post(wechatURL+"/cgi-bin/message/custom/send", "application/json", strings.NewReader(msg))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(answer))
	// Output: {"errcode":0,"errmsg":"ok"}
}

// A token source hands out the authorizer's token from memory until shortly
// before it expires; concurrent callers share one request to wxtoken.
func ExampleClient_TokenSource() {
	wxtokenURL, apiKey, _, stop := exampleDeployment()
	defer stop()

	tokens := client.New(wxtokenURL, apiKey)
	src := tokens.TokenSource("wx1111111111111111")
	tok, err := src.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(tok.Value, "90_"), tok.Valid(tok.ExpiresAt.Add(-client.DefaultEarlyExpiry)))
	// Output: true true
}
