package msgcrypt

import (
	"testing"
)

// componentVerifyTicketPush is the decrypted payload WeChat pushes every ten
// minutes to the authorization event URL (~300 bytes, shaped like the docs' example).
const componentVerifyTicketPush = "<xml><AppId><![CDATA[wx3d5e7b1c0a9f8e21]]></AppId>" +
	"<CreateTime>1700000000</CreateTime>" +
	"<InfoType><![CDATA[component_verify_ticket]]></InfoType>" +
	"<ComponentVerifyTicket><![CDATA[ticket@@@lEHjsBEi_TPDey0IZxw4Zbb7JRYLOtEf9ksvDpSwzkwog3R6xEpdaK0yIee7JOyOXM0V7cp0dpM58GKmb8FSKA]]></ComponentVerifyTicket>" +
	"</xml>"

func BenchmarkOpenPush(b *testing.B) {
	c := newTestCrypter(b)
	body, sig, err := c.SealPush([]byte(componentVerifyTicketPush), "1700000000", "1372623149")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		msg, _, _, err := c.OpenPush(sig, "1700000000", "1372623149", body)
		if err != nil || len(msg) != len(componentVerifyTicketPush) {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealPush(b *testing.B) {
	c := newTestCrypter(b)
	msg := []byte(componentVerifyTicketPush)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.SealPush(msg, "1700000000", "1372623149"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvelope(b *testing.B) {
	c := newTestCrypter(b)
	body, _, _ := c.SealPush([]byte(componentVerifyTicketPush), "1700000000", "1372623149")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(body); err != nil {
			b.Fatal(err)
		}
	}
}
