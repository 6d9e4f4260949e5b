package emulator

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// Every value the emulator hands out (appids, tokens, tickets, codes) is a
// pure function of (seed, kind, index, serial). That is what lets a million
// seeded accounts cost nothing until they are touched: an appid maps back to
// its index without a table, and a token names its own account and serial, so
// checking it needs only the account's few mutated integers, never a stored
// string.
//
// None of this is cryptographically strong and it does not need to be: it is
// an emulator. It only has to look like WeChat's values and make forged or
// stale ones fail.

// mix64 is splitmix64's finalizer: a fast bijective scrambler of 64 bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

const golden = 0x9e3779b97f4a7c15

// feistel is a keyed permutation of 64-bit values, so that an id encodes to
// random-looking bits and decodes back exactly.
type feistel [4]uint64

func newFeistel(seed uint64, domain uint64) feistel {
	var f feistel
	for i := range f {
		f[i] = mix64(seed ^ mix64(domain*golden+uint64(i)+1))
	}
	return f
}

func (f *feistel) encrypt(x uint64) uint64 {
	l, r := uint32(x>>32), uint32(x)
	for i := 0; i < len(f); i++ {
		l, r = r, l^uint32(mix64(uint64(r)^f[i]))
	}
	return uint64(l)<<32 | uint64(r)
}

func (f *feistel) decrypt(y uint64) uint64 {
	l, r := uint32(y>>32), uint32(y)
	for i := len(f) - 1; i >= 0; i-- {
		l, r = r^uint32(mix64(uint64(l)^f[i])), l
	}
	return uint64(l)<<32 | uint64(r)
}

// kind separates the value spaces, so a refresh token never parses as an
// access token and vice versa.
type kind uint8

const (
	kindAppID kind = iota
	kindComponentToken
	kindAuthorizerToken
	kindRefreshToken
	kindTicket
	kindPreAuthCode
	kindAuthCode
	kindAccountData // not a value: the stream account attributes are drawn from
	kindCount
)

// valueFormat is the shape of one kind of value: a WeChat-like prefix and the
// number of random-looking bytes after the 8 that carry (index, serial).
type valueFormat struct {
	prefix string
	tagLen int
}

var formats = [kindCount]valueFormat{
	kindComponentToken:  {"86_", 94}, // 3 + 136 characters, like "86_dZ1C…"
	kindAuthorizerToken: {"86_", 94}, //
	kindRefreshToken:    {"refreshtoken@@@", 24},
	kindTicket:          {"ticket@@@", 56},
	kindPreAuthCode:     {"preauthcode@@@", 40},
	kindAuthCode:        {"queryauthcode@@@", 40},
}

var strictBase64 = base64.RawURLEncoding.Strict()

// codec mints and parses the values of one emulator.
type codec struct {
	perm   [kindCount]feistel
	tagKey [kindCount]uint64
	// salt differs between runs (unless the config fixes it), so that values
	// minted by a previous run of the emulator do not verify in this one. The
	// seeded initial refresh tokens are unsalted: they are the same in every
	// run with the same seed, like a real account's token outlives WeChat's
	// restarts.
	salt uint64
}

func newCodec(seed int64, salt uint64) *codec {
	c := &codec{salt: salt}
	for k := range c.perm {
		c.perm[k] = newFeistel(uint64(seed), uint64(k)+1)
		c.tagKey[k] = mix64(uint64(seed) ^ mix64(uint64(k)+0x51ed27))
	}
	return c
}

func (c *codec) saltFor(k kind, serial uint32) uint64 {
	if k == kindRefreshToken && serial == 0 {
		return 0
	}
	return c.salt
}

// appendTag appends n bytes that only the codec's keys produce for this id.
func (c *codec) appendTag(dst []byte, k kind, id uint64, n int) []byte {
	h := mix64(c.tagKey[k] ^ id ^ mix64(c.saltFor(k, uint32(id))^golden))
	var buf [8]byte
	for n > 0 {
		h = mix64(h + golden)
		binary.LittleEndian.PutUint64(buf[:], h)
		m := min(n, 8)
		dst = append(dst, buf[:m]...)
		n -= m
	}
	return dst
}

// mint returns the value of kind k for (index, serial).
func (c *codec) mint(k kind, index, serial uint32) string {
	f := formats[k]
	id := uint64(index)<<32 | uint64(serial)
	var raw [8 + 128]byte
	b := binary.BigEndian.AppendUint64(raw[:0], c.perm[k].encrypt(id))
	b = c.appendTag(b, k, id, f.tagLen)
	out := make([]byte, len(f.prefix)+base64.RawURLEncoding.EncodedLen(len(b)))
	copy(out, f.prefix)
	base64.RawURLEncoding.Encode(out[len(f.prefix):], b)
	return string(out)
}

// parse returns the (index, serial) a value of kind k was minted for, or
// ok=false when s is not such a value.
func (c *codec) parse(k kind, s string) (index, serial uint32, ok bool) {
	f := formats[k]
	if !strings.HasPrefix(s, f.prefix) {
		return 0, 0, false
	}
	enc := s[len(f.prefix):]
	if len(enc) != base64.RawURLEncoding.EncodedLen(8+f.tagLen) {
		return 0, 0, false
	}
	var raw [8 + 128]byte
	b := raw[:8+f.tagLen]
	// Strict: the spare bits of the last character must be zero, so that one
	// value has one spelling.
	if _, err := strictBase64.Decode(b, []byte(enc)); err != nil {
		return 0, 0, false
	}
	id := c.perm[k].decrypt(binary.BigEndian.Uint64(b[:8]))
	var want [128]byte
	tag := c.appendTag(want[:0], k, id, f.tagLen)
	if subtle.ConstantTimeCompare(tag, b[8:]) != 1 {
		return 0, 0, false
	}
	return uint32(id >> 32), uint32(id), true
}

// appID is "wx" and 16 hex digits, a permutation of the account index.
func (c *codec) appID(index uint32) string {
	var b [18]byte
	b[0], b[1] = 'w', 'x'
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], c.perm[kindAppID].encrypt(uint64(index)))
	hex.Encode(b[2:], raw[:])
	return string(b[:])
}

// accountIndex inverts appID; ok is false for anything that is not the appid
// of an index below n.
func (c *codec) accountIndex(appID string, n int) (uint32, bool) {
	if len(appID) != 18 || appID[0] != 'w' || appID[1] != 'x' {
		return 0, false
	}
	var raw [8]byte
	for i := 2; i < 18; i++ {
		ch := appID[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return 0, false // appids are lower-case hex; anything else is another appid
		}
	}
	if _, err := hex.Decode(raw[:], []byte(appID[2:])); err != nil {
		return 0, false
	}
	x := c.perm[kindAppID].decrypt(binary.BigEndian.Uint64(raw[:]))
	if x >= uint64(n) {
		return 0, false
	}
	return uint32(x), true
}

// stream draws deterministic attributes of account index (names, types, …).
type stream struct{ h uint64 }

func (c *codec) accountStream(index uint32, purpose uint64) *stream {
	return &stream{h: mix64(c.tagKey[kindAccountData] ^ mix64(uint64(index)<<8|purpose))}
}

func (s *stream) next() uint64 {
	s.h = mix64(s.h + golden)
	return s.h
}

// intn returns a value in [0, n).
func (s *stream) intn(n int) int { return int(s.next() % uint64(n)) }

func (s *stream) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[s.next()&15]
	}
	return string(b)
}

func (s *stream) alnum(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.next()%uint64(len(alphabet))]
	}
	return string(b)
}
