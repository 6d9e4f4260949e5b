package sealed_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/sealed"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, sealed.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t testing.TB, primary []byte, older ...[]byte) *sealed.Keyring {
	t.Helper()
	k, err := sealed.KeyringFromKeys(primary, older...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// noLeak fails if an error text contains any of the secrets.
func noLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q contains a secret", err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	key, otherKey := newKey(t), newKey(t)
	k := keyring(t, key)
	const secret = "refreshtoken@@@R1xq9ZpVw-very-secret"
	const ad = "authorizer/wxc/wxa/refresh_token"
	good, err := k.Seal(secret, ad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(good, "v1:"+sealed.KeyID(key)+":") || strings.Contains(good, secret) {
		t.Fatalf("sealed value %q has the wrong shape", good)
	}
	again, _ := k.Seal(secret, ad)
	if again == good {
		t.Fatal("sealing twice gave the same value: the nonce is not random")
	}
	payload := good[strings.LastIndex(good, ":")+1:]
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return "v1:" + sealed.KeyID(key) + ":" + base64.RawURLEncoding.EncodeToString(b)
	}
	// A keyring that claims the same key id for another key.
	impostor, err := sealed.NewKeyring(sealed.KeyID(key), otherKey, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		k       *sealed.Keyring
		value   string
		ad      string
		want    string
		wantErr error
	}{
		{name: "round trip", k: k, value: good, ad: ad, want: secret},
		{name: "empty stays empty", k: k, value: "", ad: ad, want: ""},
		{name: "other record", k: k, value: good, ad: "authorizer/wxc/wxOTHER/refresh_token", wantErr: sealed.ErrAuthentication},
		{name: "other field", k: k, value: good, ad: "authorizer/wxc/wxa/access_token", wantErr: sealed.ErrAuthentication},
		{name: "tampered nonce", k: k, value: flip(0), ad: ad, wantErr: sealed.ErrAuthentication},
		{name: "tampered ciphertext", k: k, value: flip(14), ad: ad, wantErr: sealed.ErrAuthentication},
		{name: "tampered tag", k: k, value: flip(len(raw) - 1), ad: ad, wantErr: sealed.ErrAuthentication},
		{name: "truncated", k: k, value: good[:len(good)-4], ad: ad, wantErr: sealed.ErrAuthentication},
		{name: "too short for a nonce", k: k, value: "v1:" + sealed.KeyID(key) + ":AAAA", ad: ad, wantErr: sealed.ErrMalformed},
		{name: "wrong master key", k: keyring(t, otherKey), value: good, ad: ad, wantErr: sealed.ErrUnknownKey},
		{name: "same id, wrong key", k: impostor, value: good, ad: ad, wantErr: sealed.ErrAuthentication},
		{name: "plaintext", k: k, value: secret, ad: ad, wantErr: sealed.ErrMalformed},
		{name: "unknown version", k: k, value: "v2" + good[2:], ad: ad, wantErr: sealed.ErrMalformed},
		{name: "no key id", k: k, value: "v1::" + payload, ad: ad, wantErr: sealed.ErrMalformed},
		{name: "bad key id", k: k, value: "v1:a/b:" + payload, ad: ad, wantErr: sealed.ErrMalformed},
		{name: "bad base64", k: k, value: "v1:" + sealed.KeyID(key) + ":" + payload + "!!", ad: ad, wantErr: sealed.ErrMalformed},
		{name: "no payload", k: k, value: "v1:" + sealed.KeyID(key) + ":", ad: ad, wantErr: sealed.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.k.Open(tc.value, tc.ad)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open = %v, want %v", err, tc.wantErr)
				}
				if got != "" {
					t.Fatal("a failed Open returned a value")
				}
				noLeak(t, err, secret, payload, tc.value)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseMasterKey(t *testing.T) {
	key := newKey(t)
	short := newKey(t)[:16]
	tests := []struct {
		name, in string
		want     []byte
	}{
		{name: "standard", in: base64.StdEncoding.EncodeToString(key), want: key},
		{name: "standard unpadded", in: base64.RawStdEncoding.EncodeToString(key), want: key},
		{name: "url alphabet", in: base64.URLEncoding.EncodeToString(key), want: key},
		{name: "trailing newline from a file", in: base64.StdEncoding.EncodeToString(key) + "\n", want: key},
		{name: "too short", in: base64.StdEncoding.EncodeToString(short)},
		{name: "too long", in: base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1))},
		{name: "not base64", in: "not a key, just a password!"},
		{name: "hex instead of base64", in: hex.EncodeToString(key)},
		{name: "empty", in: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sealed.ParseMasterKey(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("ParseMasterKey accepted %d bytes", len(got))
				}
				noLeak(t, err, strings.TrimSpace(tc.in))
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("ParseMasterKey: %v", err)
			}
		})
	}
}

func TestNewKeyring(t *testing.T) {
	a, b := newKey(t), newKey(t)
	tests := []struct {
		name      string
		primaryID string
		primary   []byte
		older     map[string][]byte
		wantErr   bool
	}{
		{name: "derived id", primary: a},
		{name: "named keys", primaryID: "2025-06", primary: a, older: map[string][]byte{"2024-12": b}},
		{name: "short key", primary: a[:31], wantErr: true},
		{name: "short older key", primary: a, older: map[string][]byte{"old": b[:16]}, wantErr: true},
		{name: "id with a colon", primaryID: "k:1", primary: a, wantErr: true},
		{name: "id too long", primaryID: strings.Repeat("k", 33), primary: a, wantErr: true},
		{name: "id given twice", primaryID: "k1", primary: a, older: map[string][]byte{"k1": b}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := sealed.NewKeyring(tc.primaryID, tc.primary, tc.older)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewKeyring accepted it: %v", k)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantID := tc.primaryID
			if wantID == "" {
				wantID = sealed.KeyID(tc.primary)
			}
			if k.PrimaryID() != wantID || len(k.IDs()) != 1+len(tc.older) {
				t.Fatalf("keyring %v, want primary %s", k, wantID)
			}
		})
	}

	// Giving the primary key again among the older ones is harmless.
	k := keyring(t, a, a, b)
	if len(k.IDs()) != 2 {
		t.Fatalf("keyring %v, want 2 keys", k)
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	key := newKey(t)
	k := keyring(t, key)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, k)
		for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), string(key)} {
			if strings.Contains(out, enc) {
				t.Fatalf("%s of a keyring shows the key", verb)
			}
		}
		if !strings.Contains(out, sealed.KeyID(key)) {
			t.Fatalf("%s of a keyring = %q, want its key id", verb, out)
		}
	}
}

// FuzzOpen feeds Open what storage may hold: sealed values are read back from
// a database, which is outside input.
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, sealed.KeySize)
	k, err := sealed.KeyringFromKeys(key)
	if err != nil {
		f.Fatal(err)
	}
	const ad = "authorizer/wxc/wxa/refresh_token"
	good, err := k.Seal("refreshtoken@@@seed", ad)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "v1:", "v1::", "v1:" + sealed.KeyID(key) + ":AAAA", "v1:zz:" + good[12:], "v2:a:b", good + "=", good[:len(good)-3], "plaintext"} {
		f.Add(seed, ad)
	}
	f.Fuzz(func(t *testing.T, value, ad string) {
		got, err := k.Open(value, ad)
		if err != nil {
			if !errors.Is(err, sealed.ErrMalformed) && !errors.Is(err, sealed.ErrUnknownKey) && !errors.Is(err, sealed.ErrAuthentication) {
				t.Fatalf("Open: untyped error %v", err)
			}
			if got != "" {
				t.Fatal("a failed Open returned a value")
			}
			if len(value) >= 24 && strings.Contains(err.Error(), value) {
				t.Fatalf("error %q repeats the input", err)
			}
			return
		}
		// Whatever opens must seal and open again to the same plaintext.
		resealed, err := k.Seal(got, ad)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := k.Open(resealed, ad); err != nil || again != got {
			t.Fatalf("reseal round trip: %q, %v", again, err)
		}
	})
}
