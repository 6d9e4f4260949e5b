package msgcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// fuzzCrypter has a previous key, so that both decryption paths are explored.
func fuzzCrypter(t testing.TB) *Crypter {
	return newTestCrypter(t, WithPreviousKey(testPrevKey))
}

func FuzzDecrypt(f *testing.F) {
	c := fuzzCrypter(f)
	old, _ := NewCrypter(testToken, testAppID, testPrevKey)
	for _, msg := range []string{"", "hello", componentVerifyTicketPush} {
		enc, _ := c.Encrypt([]byte(msg))
		f.Add(enc)
		enc, _ = old.Encrypt([]byte(msg))
		f.Add(enc)
	}
	f.Add(tencentEncrypt)
	f.Add(sealRaw(c, plaintext(24, "hello", testAppID, padding(21))))
	f.Add(sealRaw(c, plaintext(5, "hello", testAppID, []byte{5, 5, 4, 5, 5})))
	f.Add(sealRaw(c, plaintext(5, "hello", testAppID, padding(5))))
	f.Add(sealRaw(c, plaintext(5, "hello", "", padding(7))))
	for _, s := range []string{"", "====", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 15)), base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, encrypt string) {
		msg, appID, usedPrevious, err := c.DecryptAny(encrypt)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %v", err)
			}
			if msg != nil || appID != "" || usedPrevious {
				t.Fatal("failed decryption returned data")
			}
			if _, _, derr := c.Decrypt(encrypt); derr == nil {
				t.Fatal("Decrypt accepted what DecryptAny rejected")
			}
			return
		}
		// Decrypt agrees with DecryptAny, differing only by the appid check.
		dmsg, dprev, derr := c.Decrypt(encrypt)
		if appID == testAppID {
			if derr != nil || !bytes.Equal(dmsg, msg) || dprev != usedPrevious {
				t.Fatalf("Decrypt = %q, %v, %v; DecryptAny = %q", dmsg, dprev, derr, msg)
			}
		} else if !errors.Is(derr, ErrAppID) {
			t.Fatalf("appid %q: Decrypt = %v, want ErrAppID", appID, derr)
		}

		// Sealing again with the recovered random prefix reproduces the input
		// whenever its padding was canonical (ciphertext a multiple of 32).
		o, prev, err := c.decryptOpened(encrypt, false)
		if err != nil || prev != usedPrevious {
			t.Fatalf("decryptOpened = %v, %v", prev, err)
		}
		ks := &c.current
		if usedPrevious {
			ks = c.previous
		}
		resealed, err := seal(ks, [randomLen]byte(o.random), msg, appID)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(encrypt)
		if len(raw)%padBlock == 0 && resealed != encrypt {
			t.Fatalf("re-sealing gave\n%s\nfor input\n%s", resealed, encrypt)
		}
		msg2, appID2, prev2, err := c.DecryptAny(resealed)
		if err != nil || !bytes.Equal(msg2, msg) || appID2 != appID || prev2 != usedPrevious {
			t.Fatalf("round trip = %q, %q, %v, %v", msg2, appID2, prev2, err)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	for _, tt := range envelopeCases {
		f.Add([]byte(tt.body))
	}
	c := fuzzCrypter(f)
	body, _, _ := c.SealPush([]byte(componentVerifyTicketPush), "1700000000", "nonce")
	f.Add(body)
	reply, _ := c.BuildReply([]byte("reply"), "1700000000", "a]]>b")
	f.Add(reply)

	f.Fuzz(func(t *testing.T, body []byte) {
		if fast, slow, ok := parseBothWays(body); ok && fast != slow {
			t.Fatalf("fast path read %+v, encoding/xml read %+v", fast, slow)
		}
		env, err := ParseEnvelope(body)
		if err != nil {
			if !errors.Is(err, ErrXML) || env != (Envelope{}) {
				t.Fatalf("ParseEnvelope = %+v, %v", env, err)
			}
			return
		}
		if env.Encrypt == "" {
			t.Fatal("accepted an envelope without Encrypt")
		}
		// Whatever parses survives being written out and parsed again.
		rebuilt := []byte("<xml>")
		if env.AppID != "" {
			rebuilt = appendEscapedElement(rebuilt, "AppId", env.AppID)
		}
		if env.ToUserName != "" {
			rebuilt = appendEscapedElement(rebuilt, "ToUserName", env.ToUserName)
		}
		rebuilt = appendEscapedElement(rebuilt, "Encrypt", env.Encrypt)
		rebuilt = append(rebuilt, "</xml>"...)
		again, err := ParseEnvelope(rebuilt)
		if err != nil || again != env {
			t.Fatalf("re-parse of %q = %+v, %v; want %+v", rebuilt, again, err, env)
		}
	})
}

// parseBothWays runs the fast path and the full parser separately; ok says
// whether the fast path accepted the body. When it did, the full parser must
// accept it too and read the same values.
func parseBothWays(body []byte) (fast, slow [3]xmlField, ok bool) {
	fast = [3]xmlField{{name: "AppId"}, {name: "ToUserName"}, {name: "Encrypt"}}
	slow = fast
	if !parseSimpleXML(body, fast[:]) {
		return fast, slow, false
	}
	if err := parseXMLTokens(body, slow[:]); err != nil {
		slow[2].value = "full parser failed: " + err.Error()
	}
	return fast, slow, true
}

// appendEscapedElement escapes more than appendEscaped does, because parsed
// values may hold carriage returns and tabs that must survive verbatim.
func appendEscapedElement(b []byte, name, value string) []byte {
	b = append(b, "<"+name+">"...)
	for _, r := range value {
		switch r {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		case '\n':
			b = append(b, "&#xA;"...)
		case '\t':
			b = append(b, "&#x9;"...)
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, "</"+name+">"...)
}

func FuzzOpenPush(f *testing.F) {
	c := fuzzCrypter(f)
	old, _ := NewCrypter(testToken, testAppID, testPrevKey)
	foreign, _ := NewCrypter(testToken, "wx0000000000000000", testKey)
	for _, sealer := range []*Crypter{c, old, foreign} {
		body, sig, _ := sealer.SealPush([]byte(componentVerifyTicketPush), "1700000000", "nonce")
		f.Add(sig, "1700000000", "nonce", body)
		f.Add(sig, "1700000001", "nonce", body)
	}
	enc, _ := c.Encrypt([]byte("<xml/>"))
	f.Add(Sign(testToken, "1", "2", enc), "1", "2", []byte("<xml><ToUserName>gh_0123456789ab</ToUserName><Encrypt>"+enc+"</Encrypt></xml>"))
	tampered := sealRaw(c, plaintext(24, "hello", testAppID, padding(21)))
	f.Add(Sign(testToken, "1", "2", tampered), "1", "2", []byte("<xml><Encrypt>"+tampered+"</Encrypt></xml>"))
	for _, tt := range envelopeCases {
		f.Add(Sign(testToken, "1", "2", tt.want.Encrypt), "1", "2", []byte(tt.body))
	}

	f.Fuzz(func(t *testing.T, msgSignature, timestamp, nonce string, body []byte) {
		msg, env, _, err := c.OpenPush(msgSignature, timestamp, nonce, body)
		if err != nil {
			if !isTyped(err) {
				t.Fatalf("untyped error %v", err)
			}
			if msg != nil {
				t.Fatal("failed OpenPush returned a message")
			}
			return
		}
		if Verify(msgSignature, testToken, timestamp, nonce, env.Encrypt) != nil {
			t.Fatal("accepted a push whose signature does not verify")
		}
		if env.AppID != "" && env.AppID != testAppID {
			t.Fatalf("accepted envelope AppId %q", env.AppID)
		}
		if _, appID, _, err := c.DecryptAny(env.Encrypt); err != nil || appID != testAppID {
			t.Fatalf("accepted inner appid %q (%v)", appID, err)
		}
	})
}
