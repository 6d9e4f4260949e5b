package msgcrypt

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
)

const (
	testToken   = "wxtokenTestToken"
	testAppID   = "wx3d5e7b1c0a9f8e21"
	testKey     = "Z9a8B7c6D5e4F3g2H1i0J9k8L7m6N5o4P3q2R1s0T9u"
	testPrevKey = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v"
)

var typedErrors = []error{ErrSignature, ErrKey, ErrBase64, ErrCiphertext, ErrPadding, ErrLength, ErrAppID, ErrXML}

func isTyped(err error) bool {
	for _, e := range typedErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// countingReader yields 0, 1, 2, … so that every sealed message is reproducible.
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func newTestCrypter(t testing.TB, opts ...Option) *Crypter {
	t.Helper()
	c, err := NewCrypter(testToken, testAppID, testKey, append([]Option{WithRand(&countingReader{})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sealRaw encrypts an arbitrary plaintext (a multiple of 16 bytes) with c's
// current key, to build ciphertexts that Encrypt would never produce.
func sealRaw(c *Crypter, plain []byte) string {
	buf := bytes.Clone(plain)
	cipher.NewCBCEncrypter(c.current.block, c.current.iv[:]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// plaintext lays out random ‖ length ‖ msg ‖ appid ‖ padding by hand.
func plaintext(length uint32, msg, appID string, pad []byte) []byte {
	b := make([]byte, 16, 64)
	b = binary.BigEndian.AppendUint32(b, length)
	b = append(b, msg...)
	b = append(b, appID...)
	return append(b, pad...)
}

func padding(n int) []byte { return bytes.Repeat([]byte{byte(n)}, n) }

// assertNoSecrets checks the promise that error strings carry neither key
// material nor plaintext.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{testKey, testPrevKey, testToken}, secrets...) {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q reveals a secret", err)
		}
	}
}

func TestDecodeKey(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantErr bool
	}{
		{"valid", testKey, false},
		{"official sample key with nonzero trailing bits", tencentKey, false},
		{"42 characters", testKey[:42], true},
		{"44 characters", testKey + "A", true},
		{"empty", "", true},
		{"plus sign", "+" + testKey[1:], true},
		{"slash", testKey[:42] + "/", true},
		{"already padded", testKey[:42] + "=", true},
		{"non-ascii", "é" + testKey[2:], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := DecodeKey(tt.key)
			if tt.wantErr {
				if !errors.Is(err, ErrKey) {
					t.Fatalf("err = %v, want ErrKey", err)
				}
				assertNoSecrets(t, err, tt.key)
				return
			}
			if err != nil || len(key) != 32 {
				t.Fatalf("DecodeKey = %d bytes, %v", len(key), err)
			}
		})
	}
}

func TestNewCrypterRejects(t *testing.T) {
	tests := []struct {
		name              string
		token, appID, key string
		opts              []Option
		want              error
	}{
		{"bad key", testToken, testAppID, "short", nil, ErrKey},
		{"bad previous key", testToken, testAppID, testKey, []Option{WithPreviousKey("short")}, ErrKey},
		{"empty token", "", testAppID, testKey, nil, nil},
		{"empty appid", testToken, "", testKey, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCrypter(tt.token, tt.appID, tt.key, tt.opts...)
			if err == nil || c != nil {
				t.Fatalf("NewCrypter = %v, %v; want an error", c, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignAndVerify(t *testing.T) {
	parts := []string{"token", "1700000000", "nonce", "ENCRYPT"}
	sig := Sign(parts...)
	if parts[0] != "token" || parts[3] != "ENCRYPT" {
		t.Fatal("Sign reordered the caller's slice")
	}
	if got := Sign("ENCRYPT", "nonce", "token", "1700000000"); got != sig {
		t.Fatal("Sign depends on the order of its arguments")
	}
	if err := Verify(sig, parts...); err != nil {
		t.Fatalf("Verify(own signature) = %v", err)
	}
	threeParts := Sign("token", "1700000000", "nonce")
	if threeParts == sig {
		t.Fatal("signature without encrypt equals the one with it")
	}
	if err := Verify(threeParts, "token", "1700000000", "nonce"); err != nil {
		t.Fatalf("Verify(3 parts) = %v", err)
	}
	bad := []string{"", sig[:39], sig + "0", strings.ToUpper(sig), threeParts}
	for i := range sig {
		flipped := []byte(sig)
		flipped[i] ^= 0x01
		bad = append(bad, string(flipped))
	}
	for _, b := range bad {
		if err := Verify(b, parts...); !errors.Is(err, ErrSignature) {
			t.Fatalf("Verify(%q) = %v, want ErrSignature", b, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c := newTestCrypter(t)
	// Lengths 0..80 cover every pad value 1..32 with this appid.
	for n := 0; n <= 80; n++ {
		msg := bytes.Repeat([]byte{'x'}, n)
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(enc)
		if len(raw)%32 != 0 {
			t.Fatalf("len %d: ciphertext of %d bytes is not padded to 32", n, len(raw))
		}
		got, usedPrevious, err := c.Decrypt(enc)
		if err != nil || usedPrevious || !bytes.Equal(got, msg) {
			t.Fatalf("len %d: Decrypt = %q, %v, %v", n, got, usedPrevious, err)
		}
		got, appID, _, err := c.DecryptAny(enc)
		if err != nil || appID != testAppID || !bytes.Equal(got, msg) {
			t.Fatalf("len %d: DecryptAny = %q, %q, %v", n, got, appID, err)
		}
	}
}

func TestEncryptIsDeterministicWithInjectedRand(t *testing.T) {
	a, _ := newTestCrypter(t).Encrypt([]byte("hello"))
	b, _ := newTestCrypter(t).Encrypt([]byte("hello"))
	if a != b {
		t.Fatal("same random source gave different ciphertexts")
	}
	c := newTestCrypter(t)
	first, _ := c.Encrypt([]byte("hello"))
	second, _ := c.Encrypt([]byte("hello"))
	if first == second {
		t.Fatal("consecutive random prefixes gave the same ciphertext")
	}
	failing, _ := NewCrypter(testToken, testAppID, testKey, WithRand(bytes.NewReader(make([]byte, 15))))
	if _, err := failing.Encrypt([]byte("x")); err == nil {
		t.Fatal("Encrypt with an exhausted random source succeeded")
	}
}

func TestSealPushOpenPush(t *testing.T) {
	c := newTestCrypter(t)
	ticket := []byte(componentVerifyTicketPush)
	body, sig, err := c.SealPush(ticket, "1700000000", "n0nce")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body, []byte("<xml><AppId><![CDATA["+testAppID+"]]></AppId><Encrypt><![CDATA[")) {
		t.Fatalf("unexpected push body %s", body)
	}
	msg, env, usedPrevious, err := c.OpenPush(sig, "1700000000", "n0nce", body)
	if err != nil || usedPrevious || !bytes.Equal(msg, ticket) || env.AppID != testAppID {
		t.Fatalf("OpenPush = %q, %+v, %v, %v", msg, env, usedPrevious, err)
	}

	// A message push to the $APPID$ URL carries ToUserName instead of AppId.
	enc, _ := c.Encrypt([]byte("<xml/>"))
	toUser := []byte("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	msg, env, _, err = c.OpenPush(Sign(testToken, "1", "2", enc), "1", "2", toUser)
	if err != nil || string(msg) != "<xml/>" || env.ToUserName != "gh_0123456789ab" || env.AppID != "" {
		t.Fatalf("OpenPush(ToUserName) = %q, %+v, %v", msg, env, err)
	}
}

func TestBuildReplyOpenReply(t *testing.T) {
	c := newTestCrypter(t)
	tests := []struct{ name, timestamp, nonce string }{
		{"plain", "1700000000", "123456"},
		{"cdata terminator in nonce", "1700000000", "a]]>b"},
		{"markup in timestamp", "<1&2>", "n"},
		{"unicode", "1700000000", "随机"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply, err := c.BuildReply([]byte("TESTCOMPONENT_MSG_TYPE_TEXT_callback"), tt.timestamp, tt.nonce)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := c.OpenReply(reply)
			if err != nil || string(msg) != "TESTCOMPONENT_MSG_TYPE_TEXT_callback" {
				t.Fatalf("OpenReply = %q, %v\n%s", msg, err, reply)
			}
		})
	}
	for _, bad := range []string{"a\rb", "\x00", "\xff"} {
		if _, err := c.BuildReply([]byte("x"), "1", bad); !errors.Is(err, ErrXML) {
			t.Fatalf("BuildReply(nonce %q) = %v, want ErrXML", bad, err)
		}
	}

	reply, _ := c.BuildReply([]byte("x"), "1", "2")
	other, _ := NewCrypter("anotherToken", testAppID, testKey)
	if _, err := other.OpenReply(reply); !errors.Is(err, ErrSignature) {
		t.Fatalf("OpenReply with another token = %v, want ErrSignature", err)
	}
	broken := map[string]string{
		"no signature": strings.Replace(string(reply), "MsgSignature", "Signature", 2),
		"no nonce":     strings.Replace(string(reply), "Nonce", "Once", 2),
		"not xml":      "success",
	}
	for name, body := range broken {
		if _, err := c.OpenReply([]byte(body)); !errors.Is(err, ErrXML) {
			t.Fatalf("%s: OpenReply = %v, want ErrXML", name, err)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old, err := NewCrypter(testToken, testAppID, testPrevKey, WithRand(&countingReader{}))
	if err != nil {
		t.Fatal(err)
	}
	rotated := newTestCrypter(t, WithPreviousKey(testPrevKey))
	body, sig, _ := old.SealPush([]byte("sealed before the rotation"), "1", "2")

	msg, _, usedPrevious, err := rotated.OpenPush(sig, "1", "2", body)
	if err != nil || !usedPrevious || string(msg) != "sealed before the rotation" {
		t.Fatalf("OpenPush(previous key) = %q, usedPrevious=%v, %v", msg, usedPrevious, err)
	}
	body, sig, _ = rotated.SealPush([]byte("sealed after"), "1", "2")
	if _, _, usedPrevious, err = rotated.OpenPush(sig, "1", "2", body); err != nil || usedPrevious {
		t.Fatalf("OpenPush(current key) usedPrevious=%v, %v", usedPrevious, err)
	}

	// Without the previous key, the old message is noise.
	enc, _ := old.Encrypt([]byte("sealed before the rotation"))
	if _, _, err := newTestCrypter(t).Decrypt(enc); err == nil {
		t.Fatal("a message under an unknown key decrypted")
	}
	// A previous-key message for another appid reports the appid, not the
	// padding noise that the current key produced.
	foreign, _ := NewCrypter(testToken, "wx0000000000000000", testPrevKey)
	enc, _ = foreign.Encrypt([]byte("for someone else"))
	if _, _, err := rotated.Decrypt(enc); !errors.Is(err, ErrAppID) {
		t.Fatalf("Decrypt(previous key, foreign appid) = %v, want ErrAppID", err)
	}
	if _, appID, usedPrevious, err := rotated.DecryptAny(enc); err != nil || appID != "wx0000000000000000" || !usedPrevious {
		t.Fatalf("DecryptAny = %q, %v, %v", appID, usedPrevious, err)
	}
}

func TestDecryptRejects(t *testing.T) {
	c := newTestCrypter(t)
	valid, _ := c.Encrypt([]byte("hello"))
	tests := []struct {
		name    string
		encrypt string
		want    error
	}{
		{"empty", "", ErrCiphertext},
		{"not base64", "not base64!", ErrBase64},
		{"url alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(valid) + "-_", ErrBase64},
		{"line break", valid[:20] + "\n" + valid[20:], ErrBase64},
		{"missing padding", strings.TrimRight(valid, "="), ErrBase64},
		{"non-canonical padding bits", base64.StdEncoding.EncodeToString(make([]byte, 32))[:42] + "B=", ErrBase64},
		{"decodes to nothing", "====", ErrBase64},
		{"15 bytes", base64.StdEncoding.EncodeToString(make([]byte, 15)), ErrCiphertext},
		{"33 bytes", base64.StdEncoding.EncodeToString(make([]byte, 33)), ErrCiphertext},
		{"pad byte 0", sealRaw(c, plaintext(5, "hello", testAppID, []byte{0, 0, 0, 0, 0})), ErrPadding},
		{"pad byte 33", sealRaw(c, append(plaintext(0, "", "", nil), bytes.Repeat([]byte{33}, 44)...)), ErrPadding},
		{"pad bytes differ", sealRaw(c, plaintext(5, "hello", testAppID, []byte{5, 5, 4, 5, 5})), ErrPadding},
		{"pad longer than the plaintext", sealRaw(c, bytes.Repeat([]byte{32}, 16)), ErrPadding},
		{"shorter than the header", sealRaw(c, append([]byte("0123456789abcdef012"), padding(13)...)), ErrLength},
		{"length one too large", sealRaw(c, plaintext(24, "hello", testAppID, padding(21))), ErrLength},
		{"length 2^32-1", sealRaw(c, plaintext(math.MaxUint32, "hello", testAppID, padding(21))), ErrLength},
		{"length 2^31", sealRaw(c, plaintext(1<<31, "hello", testAppID, padding(21))), ErrLength},
		{"empty appid", sealRaw(c, plaintext(23, "hello"+testAppID, "", padding(21))), ErrAppID},
		{"appid with a suffix", sealRaw(c, plaintext(5, "hello", testAppID+"x", padding(20))), ErrAppID},
		{"non-canonical but valid padding decrypts", sealRaw(c, plaintext(5, "hello", testAppID, padding(5))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, _, err := c.Decrypt(tt.encrypt)
			if tt.want == nil {
				if err != nil || string(msg) != "hello" {
					t.Fatalf("Decrypt = %q, %v", msg, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || msg != nil {
				t.Fatalf("Decrypt = %q, %v; want %v", msg, err, tt.want)
			}
			assertNoSecrets(t, err, "hello", testAppID)
		})
	}
}

func TestDecryptAnyReturnsTheTrailingAppID(t *testing.T) {
	c := newTestCrypter(t)
	for _, appID := range []string{"", "wx0000000000000000", "a much longer receiver id than an appid, 中文"} {
		enc := sealRaw(c, func() []byte {
			p := plaintext(5, "hello", appID, nil)
			return append(p, padding(32-len(p)%32)...)
		}())
		msg, got, _, err := c.DecryptAny(enc)
		if err != nil || got != appID || string(msg) != "hello" {
			t.Fatalf("DecryptAny = %q, %q, %v; want appid %q", msg, got, err, appID)
		}
		if _, _, err := c.Decrypt(enc); !errors.Is(err, ErrAppID) {
			t.Fatalf("Decrypt of appid %q = %v, want ErrAppID", appID, err)
		}
	}
}

// TestTamperedCiphertext flips every byte of a short message's ciphertext. CBC
// without a MAC cannot detect every change (that is the signature's job), but a
// flip must never panic, never yield a different appid, never change the length.
func TestTamperedCiphertext(t *testing.T) {
	c := newTestCrypter(t)
	const msg = "short"
	enc, _ := c.Encrypt([]byte(msg))
	raw, _ := base64.StdEncoding.DecodeString(enc)
	rejected := 0
	for i := range raw {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			tampered := bytes.Clone(raw)
			tampered[i] ^= mask
			tenc := base64.StdEncoding.EncodeToString(tampered)
			got, _, err := c.Decrypt(tenc)
			if err != nil {
				rejected++
				if !isTyped(err) {
					t.Fatalf("byte %d: untyped error %v", i, err)
				}
				assertNoSecrets(t, err, msg)
			} else if len(got) != len(msg) {
				t.Fatalf("byte %d: accepted with length %d", i, len(got))
			}
			// DecryptAny may see a shifted appid when the length field was hit;
			// Decrypt must then refuse it as another appid's message.
			if _, appID, _, anyErr := c.DecryptAny(tenc); anyErr == nil && appID != testAppID && !errors.Is(err, ErrAppID) {
				t.Fatalf("byte %d: appid %q accepted by Decrypt (err %v)", i, appID, err)
			}
			// Through OpenPush, the signature over the original Encrypt rejects it.
			body := []byte("<xml><AppId>" + testAppID + "</AppId><Encrypt>" + tenc + "</Encrypt></xml>")
			if _, _, _, err := c.OpenPush(Sign(testToken, "1", "2", enc), "1", "2", body); !errors.Is(err, ErrSignature) {
				t.Fatalf("byte %d: OpenPush = %v, want ErrSignature", i, err)
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no tampered ciphertext was rejected")
	}
	// The last block holds the appid and the padding: any change there must fail.
	for i := len(raw) - 16; i < len(raw); i++ {
		tampered := bytes.Clone(raw)
		tampered[i] ^= 0x01
		if _, _, err := c.Decrypt(base64.StdEncoding.EncodeToString(tampered)); err == nil {
			t.Fatalf("flip in the last block (byte %d) was accepted", i)
		}
	}
}

func TestOpenPushRejects(t *testing.T) {
	c := newTestCrypter(t)
	body, sig, _ := c.SealPush([]byte("payload"), "1700000000", "nonce")
	enc := mustEnvelope(t, body).Encrypt
	foreign, _ := NewCrypter(testToken, "wx0000000000000000", testKey)
	foreignBody, foreignSig, _ := foreign.SealPush([]byte("payload"), "1700000000", "nonce")

	tests := []struct {
		name                  string
		sig, timestamp, nonce string
		body                  string
		want                  error
	}{
		{"wrong signature", strings.Repeat("0", 40), "1700000000", "nonce", string(body), ErrSignature},
		{"other timestamp", sig, "1700000001", "nonce", string(body), ErrSignature},
		{"other nonce", sig, "1700000000", "nonce2", string(body), ErrSignature},
		{"signature of the 3 parts only", Sign(testToken, "1700000000", "nonce"), "1700000000", "nonce", string(body), ErrSignature},
		{"envelope AppId of another platform", sig, "1700000000", "nonce",
			"<xml><AppId>wx0000000000000000</AppId><Encrypt>" + enc + "</Encrypt></xml>", ErrAppID},
		{"inner appid of another platform", foreignSig, "1700000000", "nonce",
			strings.Replace(string(foreignBody), "wx0000000000000000", testAppID, 1), ErrAppID},
		{"malformed body", sig, "1700000000", "nonce", string(body[:len(body)-3]), ErrXML},
		{"no Encrypt", sig, "1700000000", "nonce", "<xml><AppId>" + testAppID + "</AppId></xml>", ErrXML},
		{"empty body", sig, "1700000000", "nonce", "", ErrXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, _, _, err := c.OpenPush(tt.sig, tt.timestamp, tt.nonce, []byte(tt.body))
			if !errors.Is(err, tt.want) || msg != nil {
				t.Fatalf("OpenPush = %q, %v; want %v", msg, err, tt.want)
			}
			assertNoSecrets(t, err, "payload")
		})
	}
}

func mustEnvelope(t *testing.T, body []byte) Envelope {
	t.Helper()
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestConcurrentUse(t *testing.T) {
	c, err := NewCrypter(testToken, testAppID, testKey, WithPreviousKey(testPrevKey))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				want := fmt.Sprintf("goroutine %d message %d", g, i)
				body, sig, err := c.SealPush([]byte(want), "1", "2")
				if err == nil {
					var msg []byte
					msg, _, _, err = c.OpenPush(sig, "1", "2", body)
					if err == nil && string(msg) != want {
						err = fmt.Errorf("got %q, want %q", msg, want)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAppID(t *testing.T) {
	if got := newTestCrypter(t).AppID(); got != testAppID {
		t.Fatalf("AppID = %q", got)
	}
}
