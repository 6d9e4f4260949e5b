// Package sealed encrypts the secrets a wxtoken.Store keeps (tickets, access
// tokens, refresh tokens) with AES-256-GCM under a master key, whatever the
// store, so that a copy of the database or a backup reveals no credential.
//
// A sealed value is "v1:<keyid>:<base64url(nonce‖ciphertext)>". The key id
// names the key that sealed it, so that a keyring holding a new primary key
// and the old ones still opens everything, and Store.Reseal moves old values
// to the new key. Each value is bound to its record and field with associated
// data: a sealed refresh token copied onto another account does not open.
package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the size of a master key: AES-256.
const KeySize = 32

const version = "v1"

// Errors of Open, to tell apart with errors.Is. None of them carries any part
// of the sealed value.
var (
	// ErrMalformed: the value is not a sealed value of a known format.
	ErrMalformed = errors.New("sealed: malformed sealed value")
	// ErrUnknownKey: the value was sealed under a key the keyring does not
	// hold (a key removed too early, or the wrong master key).
	ErrUnknownKey = errors.New("sealed: sealed under a key not in the keyring")
	// ErrAuthentication: the value does not open under its key: it was
	// tampered with, or belongs to another record.
	ErrAuthentication = errors.New("sealed: sealed value failed authentication")
)

// Keyring holds a primary key, which seals, and older keys, which only open.
// It is safe for concurrent use and never prints its keys.
type Keyring struct {
	primaryID string
	aeads     map[string]cipher.AEAD
}

// KeyID derives a key's id: the first 8 hex digits of its SHA-256. Operators
// then pass only keys, and the id of a key is the same on every replica.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// NewKeyring returns a keyring sealing under primary. primaryID may be empty
// to derive it with KeyID; older maps key ids ("" to derive) to keys that can
// still open values sealed before a rotation.
func NewKeyring(primaryID string, primary []byte, older map[string][]byte) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	add := func(id string, key []byte) (string, error) {
		if len(key) != KeySize {
			return "", fmt.Errorf("sealed: a key must be %d bytes, got %d", KeySize, len(key))
		}
		if id == "" {
			id = KeyID(key)
		}
		if !validKeyID(id) {
			return "", fmt.Errorf("sealed: key id %q must be 1 to 32 letters, digits, '-' or '_'", id)
		}
		if _, dup := k.aeads[id]; dup {
			return "", fmt.Errorf("sealed: key id %q given twice", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return "", fmt.Errorf("sealed: %w", err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return "", fmt.Errorf("sealed: %w", err)
		}
		k.aeads[id] = aead
		return id, nil
	}
	id, err := add(primaryID, primary)
	if err != nil {
		return nil, err
	}
	k.primaryID = id
	// Sorted, so that an error names the same key on every run.
	ids := make([]string, 0, len(older))
	for id := range older {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := add(id, older[id]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// KeyringFromKeys is NewKeyring with every id derived: the form operators use.
func KeyringFromKeys(primary []byte, older ...[]byte) (*Keyring, error) {
	byID := map[string][]byte{KeyID(primary): primary}
	m := map[string][]byte{}
	for _, key := range older {
		id := KeyID(key)
		if seen, ok := byID[id]; ok {
			// The same key given twice is harmless; two keys sharing an id
			// would make values ambiguous.
			if !bytes.Equal(seen, key) {
				return nil, fmt.Errorf("sealed: two different keys have id %s; name them with NewKeyring", id)
			}
			continue
		}
		byID[id] = key
		m[id] = key
	}
	return NewKeyring("", primary, m)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseMasterKey decodes a master key given as base64 (standard or URL
// alphabet, padded or not) of 32 bytes. Its errors never repeat the input.
func ParseMasterKey(b64 string) ([]byte, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return nil, errors.New("sealed: master key is empty (want base64 of 32 random bytes, e.g. from `head -c32 /dev/urandom | base64`)")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("sealed: master key decodes to %d bytes, want %d", len(key), KeySize)
		}
		return key, nil
	}
	return nil, errors.New("sealed: master key is not valid base64 (want base64 of 32 random bytes)")
}

// PrimaryID returns the id of the key that seals.
func (k *Keyring) PrimaryID() string { return k.primaryID }

// IDs returns the ids of every key the keyring holds, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// String shows key ids only, so that printing a keyring by mistake reveals no
// key material.
func (k *Keyring) String() string {
	return fmt.Sprintf("sealed.Keyring{primary: %s, keys: %v}", k.primaryID, k.IDs())
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }

// additionalData binds a value to the format version, its key id and the
// caller's context (which record and field it belongs to).
func additionalData(keyID, associatedData string) []byte {
	return []byte(version + "\x00" + keyID + "\x00" + associatedData)
}

// Seal encrypts plaintext under the primary key. An empty plaintext stays
// empty: "no token" must remain visible to the store's due index.
func (k *Keyring) Seal(plaintext, associatedData string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := k.aeads[k.primaryID]
	ct := aead.Seal(nil, nil, []byte(plaintext), additionalData(k.primaryID, associatedData))
	return version + ":" + k.primaryID + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Open decrypts a value made by Seal with the same associated data. An empty
// value opens to an empty string.
func (k *Keyring) Open(sealed, associatedData string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	id, payload, err := parse(sealed)
	if err != nil {
		return "", err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("%w (key id %s; the keyring holds %v)", ErrUnknownKey, id, k.IDs())
	}
	ct, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(ct) < aead.Overhead() {
		return "", ErrMalformed
	}
	pt, err := aead.Open(nil, nil, ct, additionalData(id, associatedData))
	if err != nil {
		return "", fmt.Errorf("%w (key id %s)", ErrAuthentication, id)
	}
	return string(pt), nil
}

// KeyIDOf returns the id of the key that sealed a value, or "" for an empty
// value.
func KeyIDOf(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	id, _, err := parse(sealed)
	return id, err
}

func parse(sealed string) (id, payload string, err error) {
	v, rest, ok := strings.Cut(sealed, ":")
	if !ok || v != version {
		return "", "", ErrMalformed
	}
	id, payload, ok = strings.Cut(rest, ":")
	if !ok || !validKeyID(id) || payload == "" {
		return "", "", ErrMalformed
	}
	return id, payload, nil
}
