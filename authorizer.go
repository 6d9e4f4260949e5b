package wxtoken

import (
	"regexp"
	"time"
)

// AuthorizerState says whether the platform may act for an account.
type AuthorizerState string

const (
	// StateAuthorized: the refresh token works; tokens are kept fresh.
	StateAuthorized AuthorizerState = "authorized"
	// StateNeedsReauthorization: WeChat rejected the refresh token (61023) and
	// recovery through the authorizer list failed; the merchant must
	// authorize again. Tokens are not refreshed.
	StateNeedsReauthorization AuthorizerState = "needs_reauthorization"
	// StateRevoked: the merchant revoked the authorization (an unauthorized
	// push, or 61003). Tokens are erased.
	StateRevoked AuthorizerState = "revoked"
)

// Valid reports whether s is one of the known states.
func (s AuthorizerState) Valid() bool {
	switch s {
	case StateAuthorized, StateNeedsReauthorization, StateRevoked:
		return true
	}
	return false
}

// Authorizer is an official account or mini program that authorized the
// platform, with the credentials to act for it.
//
// RefreshToken and AccessToken.Value are secrets: they are sealed at rest and
// never printed. A refresh token is the one credential that cannot be minted
// again without the merchant, so a write that replaces it replaces it together
// with the access token it came with, atomically.
type Authorizer struct {
	ComponentAppID string          `json:"component_appid"`
	AppID          string          `json:"authorizer_appid"`
	State          AuthorizerState `json:"state"`
	RefreshToken   string          `json:"-"`
	AccessToken    Token           `json:"access_token"`
	FuncInfo       []int           `json:"func_info"`
	Info           AccountInfo     `json:"account_info"`

	AuthorizedAt  time.Time `json:"authorized_at"`
	LastRefreshAt time.Time `json:"last_refresh_at,omitempty"`
	// LastError is a short, secret-free description of the last failure.
	LastError string    `json:"last_error,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastEventAt is the CreateTime of the last push applied to this
	// authorizer: pushes are applied in order and an older one is ignored.
	LastEventAt time.Time `json:"-"`
	// AuthCodeDigest is the SHA-256 (hex) of the last authorization code
	// exchanged, so that the redirect and the push carrying the same code
	// exchange it once.
	AuthCodeDigest string `json:"-"`

	// Version increases with every write; Store.PutAuthorizer is a
	// compare-and-set on it.
	Version int64 `json:"-"`
}

// Clone returns a deep copy, so a cached authorizer can be handed out without
// sharing its slices.
func (a *Authorizer) Clone() *Authorizer {
	if a == nil {
		return nil
	}
	c := *a
	c.FuncInfo = append([]int(nil), a.FuncInfo...)
	c.Info.MiniProgram = a.Info.MiniProgram.clone()
	return &c
}

// AccountInfo is what api_get_authorizer_info tells about an account. None of
// it is secret.
type AccountInfo struct {
	NickName      string       `json:"nick_name,omitempty"`
	HeadImg       string       `json:"head_img,omitempty"`
	ServiceType   int          `json:"service_type"`
	VerifyType    int          `json:"verify_type"`
	UserName      string       `json:"user_name,omitempty"`
	Alias         string       `json:"alias,omitempty"`
	QRCodeURL     string       `json:"qrcode_url,omitempty"`
	PrincipalName string       `json:"principal_name,omitempty"`
	Signature     string       `json:"signature,omitempty"`
	AccountStatus int          `json:"account_status,omitempty"`
	MiniProgram   *MiniProgram `json:"mini_program,omitempty"`
	FetchedAt     time.Time    `json:"fetched_at,omitempty"`
}

// MiniProgram is present in AccountInfo when the account is a mini program.
type MiniProgram struct {
	Categories  []MiniProgramCategory `json:"categories,omitempty"`
	VisitStatus int                   `json:"visit_status"`
}

// MiniProgramCategory is one category a mini program is registered in.
type MiniProgramCategory struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

func (m *MiniProgram) clone() *MiniProgram {
	if m == nil {
		return nil
	}
	c := *m
	c.Categories = append([]MiniProgramCategory(nil), m.Categories...)
	return &c
}

var appIDPattern = regexp.MustCompile(`^wx[0-9a-zA-Z]{14,30}$`)

// ValidAppID reports whether s looks like a WeChat AppID (wx + 16 hex digits in
// practice; a little looser here so test accounts fit).
func ValidAppID(s string) bool { return appIDPattern.MatchString(s) }
