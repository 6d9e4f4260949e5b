package msgcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// Sentinel errors. They are wrapped with a short reason that never contains key
// material, the Encrypt value or any decrypted byte.
var (
	ErrSignature  = errors.New("msgcrypt: signature mismatch")
	ErrKey        = errors.New("msgcrypt: illegal EncodingAESKey")
	ErrBase64     = errors.New("msgcrypt: Encrypt is not valid base64")
	ErrCiphertext = errors.New("msgcrypt: illegal ciphertext length")
	ErrPadding    = errors.New("msgcrypt: illegal padding")
	ErrLength     = errors.New("msgcrypt: illegal message length")
	ErrAppID      = errors.New("msgcrypt: appid mismatch")
	ErrXML        = errors.New("msgcrypt: malformed XML")
)

const (
	encodingAESKeyLen = 43
	keyLen            = 32
	randomLen         = 16
	lengthFieldLen    = 4
	headerLen         = randomLen + lengthFieldLen
	// padBlock is WeChat's PKCS#7 block size, deliberately not aes.BlockSize.
	padBlock = 32
)

// DecodeKey turns a 43-character EncodingAESKey into the 32-byte AES key.
func DecodeKey(encodingAESKey string) ([]byte, error) {
	if len(encodingAESKey) != encodingAESKeyLen {
		return nil, fmt.Errorf("%w: want %d characters, got %d", ErrKey, encodingAESKeyLen, len(encodingAESKey))
	}
	for i := 0; i < len(encodingAESKey); i++ {
		if !isAlnum(encodingAESKey[i]) {
			return nil, fmt.Errorf("%w: character %d is not [A-Za-z0-9]", ErrKey, i+1)
		}
	}
	// Not Strict: the 43rd character carries 2 padding bits that Tencent's
	// generated keys do not keep at zero (the official sample key ends in "C").
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != keyLen {
		return nil, fmt.Errorf("%w: does not decode to %d bytes", ErrKey, keyLen)
	}
	return key, nil
}

func isAlnum(b byte) bool {
	return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9'
}

// Sign returns hex(sha1(join(sort(parts)))) — parts are token, timestamp, nonce[, encrypt].
func Sign(parts ...string) string {
	var sig [2 * sha1.Size]byte
	sign(&sig, parts)
	return string(sig[:])
}

func sign(dst *[2 * sha1.Size]byte, parts []string) {
	var stack [4]string
	sorted := append(stack[:0], parts...) // never reorder the caller's slice
	slices.Sort(sorted)
	h := sha1.New()
	for _, p := range sorted {
		io.WriteString(h, p)
	}
	var sum [sha1.Size]byte
	hex.Encode(dst[:], h.Sum(sum[:0]))
}

// Verify compares signature with Sign(parts...) in constant time; ErrSignature on mismatch.
func Verify(signature string, parts ...string) error {
	var want [2 * sha1.Size]byte
	sign(&want, parts)
	if subtle.ConstantTimeCompare([]byte(signature), want[:]) != 1 {
		return ErrSignature
	}
	return nil
}

// Option configures a Crypter.
type Option func(*Crypter)

// WithPreviousKey makes Decrypt also try this key, so that pushes sealed just
// before an EncodingAESKey rotation still open. An invalid key makes NewCrypter fail.
func WithPreviousKey(encodingAESKey string) Option {
	return func(c *Crypter) {
		c.previousKey = encodingAESKey
		c.hasPrevious = true
	}
}

// WithRand sets the source of the 16 random bytes of each sealed message
// (default crypto/rand); tests inject a deterministic one.
func WithRand(r io.Reader) Option {
	return func(c *Crypter) { c.rand = r }
}

// Crypter seals and opens messages for one token, appid and key (plus an
// optional previous key). It is safe for concurrent use unless the reader given
// to WithRand is not.
type Crypter struct {
	token       string
	appID       string
	current     keyState
	previous    *keyState
	previousKey string
	hasPrevious bool
	rand        io.Reader
}

type keyState struct {
	block cipher.Block
	iv    [aes.BlockSize]byte
}

func newKeyState(encodingAESKey string) (keyState, error) {
	key, err := DecodeKey(encodingAESKey)
	if err != nil {
		return keyState{}, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return keyState{}, fmt.Errorf("%w: %w", ErrKey, err)
	}
	ks := keyState{block: block}
	copy(ks.iv[:], key[:aes.BlockSize])
	return ks, nil
}

// NewCrypter holds the message token, the appid (the component appid), the
// current key and optionally the previous key.
func NewCrypter(token, appID, encodingAESKey string, opts ...Option) (*Crypter, error) {
	if token == "" {
		return nil, errors.New("msgcrypt: empty token")
	}
	if appID == "" {
		return nil, errors.New("msgcrypt: empty appid")
	}
	c := &Crypter{token: token, appID: appID, rand: rand.Reader}
	for _, opt := range opts {
		opt(c)
	}
	var err error
	if c.current, err = newKeyState(encodingAESKey); err != nil {
		return nil, err
	}
	if c.hasPrevious {
		prev, err := newKeyState(c.previousKey)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		c.previous = &prev
	}
	c.previousKey = "" // keep no copy of the key text beyond the cipher itself
	if c.rand == nil {
		c.rand = rand.Reader
	}
	return c, nil
}

// AppID is the appid that sealed messages carry and opened messages must carry.
func (c *Crypter) AppID() string { return c.appID }

// Encrypt returns base64(AES-256-CBC(IV=key[:16], PKCS#7/32 of (16 random bytes ‖ uint32be(len(msg)) ‖ msg ‖ appID))).
func (c *Crypter) Encrypt(msg []byte) (string, error) {
	var random [randomLen]byte
	if _, err := io.ReadFull(c.rand, random[:]); err != nil {
		return "", fmt.Errorf("msgcrypt: random source: %w", err)
	}
	return seal(&c.current, random, msg, c.appID)
}

func seal(ks *keyState, random [randomLen]byte, msg []byte, appID string) (string, error) {
	if uint64(len(msg)) > math.MaxUint32 || len(msg) > math.MaxInt-headerLen-len(appID)-padBlock {
		return "", errors.New("msgcrypt: message too long")
	}
	n := headerLen + len(msg) + len(appID)
	pad := padBlock - n%padBlock
	buf := make([]byte, n+pad)
	copy(buf, random[:])
	binary.BigEndian.PutUint32(buf[randomLen:], uint32(len(msg)))
	copy(buf[headerLen:], msg)
	copy(buf[headerLen+len(msg):], appID)
	for i := n; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(ks.block, ks.iv[:]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Decrypt reverses Encrypt with the current key, then the previous one; it
// checks the trailing appid equals c's appID. usedPrevious says which key worked.
func (c *Crypter) Decrypt(encrypt string) (msg []byte, usedPrevious bool, err error) {
	msg, _, usedPrevious, err = c.decrypt(encrypt, true)
	return msg, usedPrevious, err
}

// DecryptAny is Decrypt without the appid check; it returns the trailing appid
// (for callers serving several appids).
func (c *Crypter) DecryptAny(encrypt string) (msg []byte, appID string, usedPrevious bool, err error) {
	return c.decrypt(encrypt, false)
}

func (c *Crypter) decrypt(encrypt string, checkAppID bool) (msg []byte, appID string, usedPrevious bool, err error) {
	o, usedPrevious, err := c.decryptOpened(encrypt, checkAppID)
	if err != nil {
		return nil, "", false, err
	}
	return o.msg, string(o.appID), usedPrevious, nil
}

func (c *Crypter) decryptOpened(encrypt string, checkAppID bool) (o opened, usedPrevious bool, err error) {
	ciphertext, err := decodeCiphertext(encrypt)
	if err != nil {
		return opened{}, false, err
	}
	plain := make([]byte, len(ciphertext))
	o, err = c.openWith(&c.current, ciphertext, plain, checkAppID)
	if err == nil || c.previous == nil {
		return o, false, err
	}
	po, perr := c.openWith(c.previous, ciphertext, plain, checkAppID)
	if perr == nil {
		return po, true, nil
	}
	// Report the failure of whichever key got further: ErrAppID means that key
	// did decrypt, while the other one only produced noise.
	if stage(perr) > stage(err) {
		err = perr
	}
	return opened{}, false, err
}

func stage(err error) int {
	switch {
	case errors.Is(err, ErrAppID):
		return 3
	case errors.Is(err, ErrLength):
		return 2
	default:
		return 1
	}
}

func (c *Crypter) openWith(ks *keyState, ciphertext, plain []byte, checkAppID bool) (opened, error) {
	o, err := open(ks, ciphertext, plain)
	if err != nil {
		return opened{}, err
	}
	if checkAppID && string(o.appID) != c.appID {
		return opened{}, fmt.Errorf("%w: message is for another appid", ErrAppID)
	}
	return o, nil
}

// decodeCiphertext accepts only canonical base64 (no line breaks, zero padding
// bits), so that one ciphertext has exactly one Encrypt spelling.
func decodeCiphertext(encrypt string) ([]byte, error) {
	if encrypt == "" {
		return nil, fmt.Errorf("%w: empty", ErrCiphertext)
	}
	ciphertext, err := base64.StdEncoding.Strict().DecodeString(encrypt)
	if err != nil || base64.StdEncoding.EncodedLen(len(ciphertext)) != len(encrypt) {
		return nil, ErrBase64
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a positive multiple of %d", ErrCiphertext, len(ciphertext), aes.BlockSize)
	}
	return ciphertext, nil
}

type opened struct {
	random []byte
	msg    []byte
	appID  []byte
}

// open decrypts ciphertext into plain (same length) and splits the plaintext.
// The returned slices alias plain.
func open(ks *keyState, ciphertext, plain []byte) (opened, error) {
	cipher.NewCBCDecrypter(ks.block, ks.iv[:]).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > padBlock || pad > len(plain) {
		return opened{}, ErrPadding
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return opened{}, ErrPadding
		}
	}
	content := plain[:len(plain)-pad]
	if len(content) < headerLen {
		return opened{}, fmt.Errorf("%w: plaintext shorter than its header", ErrLength)
	}
	// Compare as uint64: a length near 2^32 must not wrap around on any platform.
	msgLen := uint64(binary.BigEndian.Uint32(content[randomLen:headerLen]))
	if msgLen > uint64(len(content)-headerLen) {
		return opened{}, fmt.Errorf("%w: length field exceeds the plaintext", ErrLength)
	}
	end := headerLen + int(msgLen)
	return opened{
		random: content[:randomLen],
		msg:    content[headerLen:end:end],
		appID:  content[end:],
	}, nil
}

// OpenPush does what an event URL handler needs in one call: parse the envelope, verify
// msgSignature over [token, timestamp, nonce, Encrypt], decrypt, and check that the appid inside
// (and the envelope's AppId when present) is c's appID.
func (c *Crypter) OpenPush(msgSignature, timestamp, nonce string, body []byte) (msg []byte, env Envelope, usedPrevious bool, err error) {
	env, err = ParseEnvelope(body)
	if err != nil {
		return nil, Envelope{}, false, err
	}
	if err := Verify(msgSignature, c.token, timestamp, nonce, env.Encrypt); err != nil {
		return nil, env, false, err
	}
	if env.AppID != "" && env.AppID != c.appID {
		return nil, env, false, fmt.Errorf("%w: envelope AppId is another appid", ErrAppID)
	}
	msg, usedPrevious, err = c.Decrypt(env.Encrypt)
	if err != nil {
		return nil, env, false, err
	}
	return msg, env, usedPrevious, nil
}

// SealPush is what WeChat does before pushing: returns the body
// <xml><AppId><![CDATA[appid]]></AppId><Encrypt><![CDATA[…]]></Encrypt></xml>
// and the msg_signature to put in the query string.
func (c *Crypter) SealPush(msg []byte, timestamp, nonce string) (body []byte, msgSignature string, err error) {
	encrypt, err := c.Encrypt(msg)
	if err != nil {
		return nil, "", err
	}
	b := make([]byte, 0, 80+len(c.appID)+len(encrypt))
	b = append(b, "<xml><AppId>"...)
	b = appendCDATA(b, c.appID)
	b = append(b, "</AppId><Encrypt>"...)
	b = appendCDATA(b, encrypt)
	b = append(b, "</Encrypt></xml>"...)
	return b, Sign(c.token, timestamp, nonce, encrypt), nil
}

// BuildReply is the encrypted passive reply <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>,
// laid out byte for byte as Tencent's samples and wechatpy write it.
func (c *Crypter) BuildReply(msg []byte, timestamp, nonce string) ([]byte, error) {
	// The signature covers timestamp and nonce verbatim, so they must survive an
	// XML round trip unchanged: no carriage returns (normalised away by every
	// parser) and only characters that XML can carry.
	if !xmlSafe(timestamp) || !xmlSafe(nonce) {
		return nil, fmt.Errorf("%w: timestamp or nonce cannot be written to XML unchanged", ErrXML)
	}
	encrypt, err := c.Encrypt(msg)
	if err != nil {
		return nil, err
	}
	signature := Sign(c.token, timestamp, nonce, encrypt)
	b := make([]byte, 0, 160+len(encrypt)+len(timestamp)+len(nonce))
	b = append(b, "<xml>\n<Encrypt>"...)
	b = appendCDATA(b, encrypt)
	b = append(b, "</Encrypt>\n<MsgSignature>"...)
	b = appendCDATA(b, signature)
	b = append(b, "</MsgSignature>\n<TimeStamp>"...)
	b = appendEscaped(b, timestamp)
	b = append(b, "</TimeStamp>\n<Nonce>"...)
	b = appendCDATA(b, nonce)
	b = append(b, "</Nonce>\n</xml>"...)
	return b, nil
}

// OpenReply parses and verifies such a reply (used by the emulator and tests).
func (c *Crypter) OpenReply(body []byte) (msg []byte, err error) {
	fields := [...]xmlField{
		{name: "Encrypt"}, {name: "MsgSignature"}, {name: "TimeStamp"}, {name: "Nonce"},
	}
	if err := parseXML(body, fields[:]); err != nil {
		return nil, err
	}
	for _, f := range fields {
		if !f.seen {
			return nil, fmt.Errorf("%w: reply has no %s", ErrXML, f.name)
		}
	}
	if fields[0].value == "" {
		return nil, fmt.Errorf("%w: empty Encrypt", ErrXML)
	}
	if err := Verify(fields[1].value, c.token, fields[2].value, fields[3].value, fields[0].value); err != nil {
		return nil, err
	}
	msg, _, err = c.Decrypt(fields[0].value)
	return msg, err
}
