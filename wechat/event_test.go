package wechat

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

const created = 1700000000

var createdAt = time.Unix(created, 0).UTC()

type eventCase struct {
	name    string
	xml     string
	want    *Event
	wantErr string // substring of the error; "" = success
}

var eventCases = []eventCase{
	{
		name: "ticket, all in CDATA",
		xml: `<xml><AppId><![CDATA[wx0c0c0c0c0c0c0c0c]]></AppId><CreateTime><![CDATA[1700000000]]></CreateTime>` +
			`<InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@abc]]></ComponentVerifyTicket></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeVerifyTicket, ComponentVerifyTicket: "ticket@@@abc"},
	},
	{
		name: "ticket, plain text, indented, with a declaration and an unknown field",
		xml: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n  <AppId>wx0c0c0c0c0c0c0c0c</AppId>\n  <CreateTime>1700000000</CreateTime>\n" +
			"  <InfoType>component_verify_ticket</InfoType>\n  <ComponentVerifyTicket>ticket@@@abc</ComponentVerifyTicket>\n  <Extra><Nested>1</Nested></Extra>\n</xml>\n",
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeVerifyTicket, ComponentVerifyTicket: "ticket@@@abc"},
	},
	{
		name: "authorized, expiry as an absolute timestamp",
		xml: `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType>` +
			`<AuthorizerAppid>wx1a1a1a1a1a1a1a1a</AuthorizerAppid><AuthorizationCode>queryauthcode@@@q</AuthorizationCode>` +
			`<AuthorizationCodeExpiredTime>1700003600</AuthorizationCodeExpiredTime><PreAuthCode>preauthcode@@@p</PreAuthCode></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeAuthorized, AuthorizerAppID: testAuthz,
			AuthorizationCode: "queryauthcode@@@q", PreAuthCode: "preauthcode@@@p", AuthorizationCodeExpiresAt: createdAt.Add(time.Hour)},
	},
	{
		name: "updateauthorized, expiry as seconds in CDATA",
		xml: `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>updateauthorized</InfoType>` +
			`<AuthorizerAppid>wx1a1a1a1a1a1a1a1a</AuthorizerAppid><AuthorizationCode>queryauthcode@@@q</AuthorizationCode>` +
			`<AuthorizationCodeExpiredTime><![CDATA[600]]></AuthorizationCodeExpiredTime><PreAuthCode>preauthcode@@@p</PreAuthCode></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeUpdateAuthorized, AuthorizerAppID: testAuthz,
			AuthorizationCode: "queryauthcode@@@q", PreAuthCode: "preauthcode@@@p", AuthorizationCodeExpiresAt: createdAt.Add(10 * time.Minute)},
	},
	{
		name: "authorized without expiry or pre-auth code, AuthorizerAppId spelling",
		xml: `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType>` +
			`<AuthorizerAppId>wx1a1a1a1a1a1a1a1a</AuthorizerAppId><AuthorizationCode>queryauthcode@@@q</AuthorizationCode></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeAuthorized, AuthorizerAppID: testAuthz,
			AuthorizationCode: "queryauthcode@@@q"},
	},
	{
		name: "unauthorized",
		xml: `<xml><AppId><![CDATA[wx0c0c0c0c0c0c0c0c]]></AppId><CreateTime>1700000000</CreateTime>` +
			`<InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[wx1a1a1a1a1a1a1a1a]]></AuthorizerAppid></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeUnauthorized, AuthorizerAppID: testAuthz},
	},
	{
		name: "fast registration succeeded",
		xml: `<xml><AppId><![CDATA[wx0c0c0c0c0c0c0c0c]]></AppId><CreateTime>1700000000</CreateTime>` +
			`<InfoType><![CDATA[notify_third_fasteregister]]></InfoType><appid>wx3c3c3c3c3c3c3c3c</appid><status>0</status>` +
			`<auth_code>queryauthcode@@@f</auth_code><msg>OK</msg><info><name><![CDATA[某某公司]]></name><code><![CDATA[91110000]]></code>` +
			`<code_type>1</code_type><legal_persona_wechat><![CDATA[wxid]]></legal_persona_wechat><legal_persona_name><![CDATA[张三]]></legal_persona_name>` +
			`<component_phone><![CDATA[1234567]]></component_phone></info></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeFastRegister, FastRegister: &FastRegister{
			AppID: "wx3c3c3c3c3c3c3c3c", Status: 0, AuthCode: "queryauthcode@@@f", Msg: "OK",
			Info: map[string]string{"name": "某某公司", "code": "91110000", "code_type": "1", "legal_persona_wechat": "wxid",
				"legal_persona_name": "张三", "component_phone": "1234567"},
		}},
	},
	{
		name: "fast registration failed: no appid, no code",
		xml: `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>notify_third_fasteregister</InfoType>` +
			`<appid></appid><status><![CDATA[89249]]></status><auth_code></auth_code><msg>task running</msg><info></info></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: InfoTypeFastRegister, FastRegister: &FastRegister{
			Status: 89249, Msg: "task running", Info: map[string]string{},
		}},
	},
	{
		name: "unknown InfoType keeps the common fields",
		xml:  `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>notify_something_new</InfoType><X>1</X><X>2</X></xml>`,
		want: &Event{AppID: testAppID, CreateTime: createdAt, InfoType: "notify_something_new"},
	},
	{name: "empty", xml: ``, wantErr: "no <xml> root element"},
	{name: "not XML", xml: `{"AppId":"x"}`, wantErr: "text outside the root element"},
	{name: "unclosed", xml: `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId>`, wantErr: "malformed XML"},
	{name: "mismatched tags", xml: `<xml><AppId>x</Appid></xml>`, wantErr: "malformed XML"},
	{name: "unknown entity", xml: `<xml><AppId>&secret;</AppId></xml>`, wantErr: "malformed XML"},
	{name: "wrong root", xml: `<root><AppId>wx0c0c0c0c0c0c0c0c</AppId></root>`, wantErr: "root element is not <xml>"},
	{name: "two roots", xml: `<xml></xml><xml></xml>`, wantErr: "more than one root"},
	{
		name:    "missing AppId",
		xml:     `<xml><CreateTime>1700000000</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>t</ComponentVerifyTicket></xml>`,
		wantErr: "missing AppId",
	},
	{
		name:    "AppId not an appid",
		xml:     `<xml><AppId>../../etc</AppId><CreateTime>1700000000</CreateTime><InfoType>component_verify_ticket</InfoType></xml>`,
		wantErr: "AppId is not an appid",
	},
	{
		name:    "missing InfoType",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime></xml>`,
		wantErr: "missing InfoType",
	},
	{
		name:    "missing CreateTime",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>t</ComponentVerifyTicket></xml>`,
		wantErr: "missing CreateTime",
	},
	{
		name:    "CreateTime not a number",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>yesterday</CreateTime><InfoType>unauthorized</InfoType></xml>`,
		wantErr: "CreateTime is not an integer",
	},
	{
		name:    "CreateTime negative",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>-5</CreateTime><InfoType>unauthorized</InfoType></xml>`,
		wantErr: "CreateTime out of range",
	},
	{
		name:    "ticket without its ticket",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket><![CDATA[]]></ComponentVerifyTicket></xml>`,
		wantErr: "missing ComponentVerifyTicket",
	},
	{
		name:    "two tickets",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>component_verify_ticket</InfoType><ComponentVerifyTicket>a</ComponentVerifyTicket><ComponentVerifyTicket>b</ComponentVerifyTicket></xml>`,
		wantErr: "repeated element ComponentVerifyTicket",
	},
	{
		name:    "authorized without code",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>wx1a1a1a1a1a1a1a1a</AuthorizerAppid></xml>`,
		wantErr: "missing AuthorizationCode",
	},
	{
		name:    "authorized without authorizer",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType><AuthorizationCode>c</AuthorizationCode></xml>`,
		wantErr: "missing AuthorizerAppid",
	},
	{
		name:    "authorized with a bad expiry",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>authorized</InfoType><AuthorizerAppid>wx1a1a1a1a1a1a1a1a</AuthorizerAppid><AuthorizationCode>c</AuthorizationCode><AuthorizationCodeExpiredTime>1h</AuthorizationCodeExpiredTime></xml>`,
		wantErr: "AuthorizationCodeExpiredTime is not an integer",
	},
	{
		name:    "unauthorized with an appid that is not one",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wx1a/../x</AuthorizerAppid></xml>`,
		wantErr: "AuthorizerAppid is not an appid",
	},
	{
		name:    "fast registration without status",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>notify_third_fasteregister</InfoType><auth_code>c</auth_code></xml>`,
		wantErr: "missing status",
	},
	{
		name:    "fast registration succeeded without code",
		xml:     `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>1700000000</CreateTime><InfoType>notify_third_fasteregister</InfoType><status>0</status></xml>`,
		wantErr: "missing auth_code",
	},
}

func TestParseEvent(t *testing.T) {
	for _, tc := range eventCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tc.xml))
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, got %v", got)
				}
				if wxtoken.ErrorCode(err) != wxtoken.EInvalid || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want EInvalid containing %q", err, tc.wantErr)
				}
				if got != nil {
					t.Errorf("an event came with the error: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseEventErrorsNameNoValue(t *testing.T) {
	secret := "ticket@@@" + secretCores[2]
	inputs := []string{
		`<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><CreateTime>` + secret + `</CreateTime><InfoType>x</InfoType></xml>`,
		`<xml><AppId>` + secret + `</AppId><CreateTime>1</CreateTime><InfoType>x</InfoType></xml>`,
		`<xml><ComponentVerifyTicket>` + secret + `&bad;</ComponentVerifyTicket></xml>`,
		`<xml><ComponentVerifyTicket>` + secret + `</Wrong></xml>`,
		`<xml><` + secret + `>`,
	}
	for _, in := range inputs {
		_, err := ParseEvent([]byte(in))
		if err == nil {
			t.Fatalf("no error for %q", in)
		}
		assertNoSecret(t, "ParseEvent error", err.Error())
	}
}

func TestParseEventSizeCap(t *testing.T) {
	big := `<xml><AppId>wx0c0c0c0c0c0c0c0c</AppId><Pad>` + strings.Repeat("a", MaxEventBytes) + `</Pad></xml>`
	if _, err := ParseEvent([]byte(big)); wxtoken.ErrorCode(err) != wxtoken.ETooLarge {
		t.Errorf("got %v, want ETooLarge", err)
	}
}
