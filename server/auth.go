package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/wxtoken/wxtoken"
)

// Scopes of API keys.
const (
	ScopeAdmin                = "admin"
	ScopeReadComponent        = "read:component"
	ScopeReadAuthorizerPrefix = "read:authorizer:"
	ScopeInvalidate           = "invalidate"
	ScopeProxy                = "proxy"
	ScopeProxyPrefix          = "proxy:"
)

// minKeyLen keeps guessable keys out: a key is the only thing between the
// network and every account's token.
const minKeyLen = 16

// apiKey is a configured key with its scopes resolved. Only the SHA-256 of
// the key is kept.
type apiKey struct {
	name          string
	hash          [sha256.Size]byte
	admin         bool
	readComponent bool
	invalidate    bool
	readGlobs     []string // appid globs of read:authorizer:
	proxyGlobs    []string // appid globs of proxy and proxy:
}

type keyring struct {
	keys []*apiKey
}

func newKeyring(given []APIKey) (*keyring, error) {
	kr := &keyring{}
	seen := map[[sha256.Size]byte]string{}
	names := map[string]bool{}
	for i, k := range given {
		if k.Name == "" {
			return nil, fmt.Errorf("server: API key %d has no name", i+1)
		}
		if names[k.Name] {
			return nil, fmt.Errorf("server: two API keys are named %q", k.Name)
		}
		names[k.Name] = true
		if len(k.Key) < minKeyLen {
			return nil, fmt.Errorf("server: API key %q is shorter than %d characters", k.Name, minKeyLen)
		}
		ak := &apiKey{name: k.Name, hash: sha256.Sum256([]byte(k.Key))}
		if other, dup := seen[ak.hash]; dup {
			return nil, fmt.Errorf("server: API keys %q and %q are the same key", other, k.Name)
		}
		seen[ak.hash] = k.Name
		if len(k.Scopes) == 0 {
			return nil, fmt.Errorf("server: API key %q has no scopes", k.Name)
		}
		for _, sc := range k.Scopes {
			if err := ak.grant(sc); err != nil {
				return nil, fmt.Errorf("server: API key %q: %w", k.Name, err)
			}
		}
		kr.keys = append(kr.keys, ak)
	}
	return kr, nil
}

func (k *apiKey) grant(scope string) error {
	switch {
	case scope == ScopeAdmin:
		k.admin = true
	case scope == ScopeReadComponent:
		k.readComponent = true
	case scope == ScopeInvalidate:
		k.invalidate = true
	case scope == ScopeProxy:
		k.proxyGlobs = append(k.proxyGlobs, "*")
	case strings.HasPrefix(scope, ScopeProxyPrefix):
		g, err := checkGlob(scope, strings.TrimPrefix(scope, ScopeProxyPrefix))
		if err != nil {
			return err
		}
		k.proxyGlobs = append(k.proxyGlobs, g)
	case strings.HasPrefix(scope, ScopeReadAuthorizerPrefix):
		g, err := checkGlob(scope, strings.TrimPrefix(scope, ScopeReadAuthorizerPrefix))
		if err != nil {
			return err
		}
		k.readGlobs = append(k.readGlobs, g)
	default:
		return fmt.Errorf("unknown scope %q", scope)
	}
	return nil
}

func checkGlob(scope, g string) (string, error) {
	if g == "" {
		return "", fmt.Errorf("scope %q names no appid", scope)
	}
	if _, err := path.Match(g, "wx"); err != nil {
		return "", fmt.Errorf("scope %q: bad pattern: %w", scope, err)
	}
	return g, nil
}

func matchAny(globs []string, appID string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, appID); ok {
			return true
		}
	}
	return false
}

func (k *apiKey) canReadComponent() bool { return k.admin || k.readComponent }
func (k *apiKey) canInvalidate() bool    { return k.admin || k.invalidate }

func (k *apiKey) canReadAuthorizer(appID string) bool {
	return k.admin || matchAny(k.readGlobs, appID)
}

// canList reports whether the key may see any authorizer at all.
func (k *apiKey) canList() bool { return k.admin || len(k.readGlobs) > 0 }

func (k *apiKey) canProxy(appID string) bool {
	return k.admin || matchAny(k.proxyGlobs, appID)
}

// authenticate returns the key of the request's Authorization header. Every
// configured key is compared, in constant time, so that neither the match
// nor its position shows in the answer's timing.
func (kr *keyring) authenticate(r *http.Request) (*apiKey, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "an Authorization: Bearer <key> header is required")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "the Authorization header must be \"Bearer <key>\"")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	var found *apiKey
	for _, k := range kr.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k
		}
	}
	if found == nil {
		return nil, wxtoken.Errorf(wxtoken.EUnauthorized, "unknown API key")
	}
	return found, nil
}

func forbidden(what string) error {
	return wxtoken.Errorf(wxtoken.EForbidden, "this API key may not %s", what)
}
