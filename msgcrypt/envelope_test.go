package msgcrypt

import (
	"errors"
	"strings"
	"testing"
)

var envelopeCases = []struct {
	name    string
	body    string
	want    Envelope
	wantErr bool
}{
	{name: "authorization push, CDATA",
		body: "<xml><AppId><![CDATA[wx3d5e7b1c0a9f8e21]]></AppId><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>",
		want: Envelope{AppID: "wx3d5e7b1c0a9f8e21", Encrypt: "abc+/="}},
	{name: "plain text values",
		body: "<xml><AppId>wx3d5e7b1c0a9f8e21</AppId><Encrypt>abc+/=</Encrypt></xml>",
		want: Envelope{AppID: "wx3d5e7b1c0a9f8e21", Encrypt: "abc+/="}},
	{name: "message push with ToUserName and extra fields",
		body: "<xml>\n  <ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\n  <Encrypt><![CDATA[QUJD]]></Encrypt>\n  <AgentID><![CDATA[1]]></AgentID>\n</xml>\n",
		want: Envelope{ToUserName: "gh_0123456789ab", Encrypt: "QUJD"}},
	{name: "xml declaration and comment",
		body: `<?xml version="1.0" encoding="UTF-8"?><!-- push --><xml><Encrypt>QUJD</Encrypt></xml>`,
		want: Envelope{Encrypt: "QUJD"}},
	{name: "value split across CDATA sections",
		body: "<xml><Encrypt><![CDATA[QU]]><![CDATA[JD]]></Encrypt></xml>",
		want: Envelope{Encrypt: "QUJD"}},
	{name: "entity in text",
		body: "<xml><AppId>a&amp;b</AppId><Encrypt>QUJD</Encrypt></xml>",
		want: Envelope{AppID: "a&b", Encrypt: "QUJD"}},
	{name: "unknown nested elements are ignored",
		body: "<xml><Extra><Inner>x</Inner></Extra><Encrypt>QUJD</Encrypt></xml>",
		want: Envelope{Encrypt: "QUJD"}},
	{name: "carriage return is normalised as XML requires",
		body: "<xml><Encrypt>QUJD\r</Encrypt></xml>",
		want: Envelope{Encrypt: "QUJD\n"}},
	{name: "empty", body: "", wantErr: true},
	{name: "doctype", body: "<!DOCTYPE xml><xml><Encrypt>QUJD</Encrypt></xml>", wantErr: true},
	{name: "control character", body: "<xml><Encrypt>QU\x01JD</Encrypt></xml>", wantErr: true},
	{name: "noncharacter U+FFFE", body: "<xml><Encrypt>QU\uFFFEJD</Encrypt></xml>", wantErr: true},
	{name: "plain success", body: "success", wantErr: true},
	{name: "json", body: `{"Encrypt":"QUJD"}`, wantErr: true},
	{name: "wrong root", body: "<root><Encrypt>QUJD</Encrypt></root>", wantErr: true},
	{name: "namespaced root", body: `<x:xml xmlns:x="urn:x"><Encrypt>QUJD</Encrypt></x:xml>`, wantErr: true},
	{name: "missing Encrypt", body: "<xml><AppId>wx</AppId></xml>", wantErr: true},
	{name: "empty Encrypt", body: "<xml><Encrypt><![CDATA[]]></Encrypt></xml>", wantErr: true},
	{name: "Encrypt one level too deep", body: "<xml><Wrap><Encrypt>QUJD</Encrypt></Wrap></xml>", wantErr: true},
	{name: "repeated Encrypt", body: "<xml><Encrypt>QUJD</Encrypt><Encrypt>REVG</Encrypt></xml>", wantErr: true},
	{name: "repeated AppId", body: "<xml><AppId>a</AppId><AppId>b</AppId><Encrypt>QUJD</Encrypt></xml>", wantErr: true},
	{name: "element inside Encrypt", body: "<xml><Encrypt>QU<b/>JD</Encrypt></xml>", wantErr: true},
	{name: "unclosed", body: "<xml><Encrypt>QUJD</Encrypt>", wantErr: true},
	{name: "mismatched tags", body: "<xml><Encrypt>QUJD</AppId></xml>", wantErr: true},
	{name: "two roots", body: "<xml><Encrypt>QUJD</Encrypt></xml><xml/>", wantErr: true},
	{name: "text after root", body: "<xml><Encrypt>QUJD</Encrypt></xml>trailing", wantErr: true},
	{name: "doctype with entity", body: `<!DOCTYPE xml [<!ENTITY e "QUJD">]><xml><Encrypt>&e;</Encrypt></xml>`, wantErr: true},
	{name: "undefined entity", body: "<xml><Encrypt>&e;</Encrypt></xml>", wantErr: true},
	{name: "foreign encoding", body: `<?xml version="1.0" encoding="GBK"?><xml><Encrypt>QUJD</Encrypt></xml>`, wantErr: true},
	{name: "invalid utf-8", body: "<xml><Encrypt>QU\xffJD</Encrypt></xml>", wantErr: true},
}

func TestParseEnvelope(t *testing.T) {
	for _, tt := range envelopeCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvelope([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrXML) || got != (Envelope{}) {
					t.Fatalf("ParseEnvelope = %+v, %v; want ErrXML", got, err)
				}
				if strings.Contains(err.Error(), "QUJD") {
					t.Fatalf("error %q quotes the body", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseEnvelope = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestAppendCDATA(t *testing.T) {
	for _, s := range []string{"", "plain", "]]>", "a]]>b]]>c", "]]]]>>", "]"} {
		body := appendCDATA([]byte("<xml><Encrypt>"), "x"+s)
		body = append(body, "</Encrypt></xml>"...)
		env, err := ParseEnvelope(body)
		if err != nil || env.Encrypt != "x"+s {
			t.Fatalf("CDATA of %q read back as %q, %v (%s)", s, env.Encrypt, err, body)
		}
	}
}

func TestSimpleParserAgreesWithEncodingXML(t *testing.T) {
	c := newTestCrypter(t)
	sealed, _, _ := c.SealPush([]byte("x"), "1", "2")
	reply, _ := c.BuildReply([]byte("x"), "1", "2")
	// The bodies WeChat and the samples send must take the fast path, or the
	// benchmark measures the wrong parser.
	for _, body := range []string{
		string(sealed),
		"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\n<Encrypt><![CDATA[QUJD]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>",
		"<xml>\n    <ToUserName><![CDATA[asdasdasd]]></ToUserName>\n    <Encrypt><![CDATA[QUJD]]></Encrypt>\n</xml>\n",
	} {
		if _, _, ok := parseBothWays([]byte(body)); !ok {
			t.Fatalf("fast path declined %q", body)
		}
	}
	replyFields := [4]xmlField{{name: "Encrypt"}, {name: "MsgSignature"}, {name: "TimeStamp"}, {name: "Nonce"}}
	if !parseSimpleXML(reply, replyFields[:]) {
		t.Fatalf("fast path declined the reply %q", reply)
	}
	for _, tt := range envelopeCases {
		if fast, slow, ok := parseBothWays([]byte(tt.body)); ok && fast != slow {
			t.Fatalf("%s: fast path read %+v, encoding/xml read %+v", tt.name, fast, slow)
		}
	}
}
