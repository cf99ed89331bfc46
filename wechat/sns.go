package wechat

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Scopes.
const (
	ScopeLogin    = "snsapi_login"    // website app (qrconnect)
	ScopeBase     = "snsapi_base"     // Official Account, silent, openid only
	ScopeUserInfo = "snsapi_userinfo" // Official Account and mobile app, consent, profile
)

// Token is the result of a code exchange or a refresh: the user's identity
// in one app plus a user-level access token.
type Token struct {
	AppID   string
	OpenID  string // per-app user id
	UnionID string // same for one person across an open-platform account; optional
	Scope   string // granted scopes, comma-separated
	// IsSnapshotUser is set for Official Account snapshot-page users; the
	// exchange then also returns an ErrSnapshotUser error.
	IsSnapshotUser bool
	AccessToken    string
	RefreshToken   string
	// ExpiresAt is when AccessToken expires (zero if WeChat sent no expires_in).
	ExpiresAt time.Time
}

// Scopes splits Scope.
func (t *Token) Scopes() []string {
	var out []string
	for s := range strings.SplitSeq(t.Scope, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HasScope reports whether scope was granted.
func (t *Token) HasScope(scope string) bool {
	for _, s := range t.Scopes() {
		if s == scope {
			return true
		}
	}
	return false
}

// String describes the token without the token values.
func (t Token) String() string {
	return fmt.Sprintf("wechat.Token{AppID:%s OpenID:%s UnionID:%s Scope:%s IsSnapshotUser:%t ExpiresAt:%s AccessToken:[redacted] RefreshToken:[redacted]}",
		t.AppID, t.OpenID, t.UnionID, t.Scope, t.IsSnapshotUser, t.ExpiresAt.Format(time.RFC3339))
}

// GoString is String, so %#v does not print the tokens either.
func (t Token) GoString() string { return t.String() }

// LogValue keeps the tokens out of slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", t.AppID), slog.String("openid", t.OpenID),
		slog.String("unionid", t.UnionID), slog.String("scope", t.Scope),
		slog.Bool("is_snapshotuser", t.IsSnapshotUser))
}

type tokenResponse struct {
	AccessToken    string  `json:"access_token"`
	ExpiresIn      flexInt `json:"expires_in"`
	RefreshToken   string  `json:"refresh_token"`
	OpenID         string  `json:"openid"`
	Scope          string  `json:"scope"`
	UnionID        string  `json:"unionid"`
	IsSnapshotUser flexInt `json:"is_snapshotuser"`
}

func (r *tokenResponse) complete() bool { return r.AccessToken != "" && r.OpenID != "" }

func (c *Client) token(appID string, r *tokenResponse) *Token {
	t := &Token{
		AppID:          appID,
		OpenID:         r.OpenID,
		UnionID:        r.UnionID,
		Scope:          r.Scope,
		IsSnapshotUser: r.IsSnapshotUser == 1,
		AccessToken:    r.AccessToken,
		RefreshToken:   r.RefreshToken,
	}
	if r.ExpiresIn > 0 {
		t.ExpiresAt = c.now().Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	return t
}

// ExchangeCode exchanges an authorization code (GET /sns/oauth2/access_token)
// from a website app (qrconnect / wxLogin.js), an Official Account
// (oauth2/authorize) or a mobile app (Open SDK), using the secret of appID.
//
// The code is single use, so the request is never repeated once it may
// have reached WeChat; a failure needs a new code (a new login).
//
// For an Official Account snapshot-page user the token is returned
// together with an error matching ErrSnapshotUser: its openid is virtual
// and must not be bound to an account.
func (c *Client) ExchangeCode(ctx context.Context, appID, code string) (*Token, error) {
	app, err := c.ownSecretApp(opAccessToken, appID, KindWebsite, KindOfficialAccount, KindMobileApp)
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, newError(opAccessToken, ErrInvalidArgument, "empty code")
	}
	r, err := fetch[tokenResponse](ctx, c, call{
		op: opAccessToken,
		query: url.Values{
			"appid": {app.AppID}, "secret": {app.Secret},
			"code": {code}, "grant_type": {"authorization_code"},
		},
		singleUse: true,
		secrets:   []string{app.Secret, code},
	})
	if err != nil {
		return nil, err
	}
	t := c.token(app.AppID, r)
	if t.IsSnapshotUser {
		return t, newError(opAccessToken, ErrSnapshotUser, "is_snapshotuser=1")
	}
	return t, nil
}

// RefreshToken renews a user access token (GET /sns/oauth2/refresh_token; no
// secret is sent). The response carries no unionid. ErrRefreshTokenInvalid
// means the user must authorize again.
func (c *Client) RefreshToken(ctx context.Context, appID, refreshToken string) (*Token, error) {
	app, err := c.ownSecretApp(opRefreshToken, appID, KindWebsite, KindOfficialAccount, KindMobileApp)
	if err != nil {
		return nil, err
	}
	if refreshToken == "" {
		return nil, newError(opRefreshToken, ErrInvalidArgument, "empty refresh token")
	}
	r, err := fetch[tokenResponse](ctx, c, call{
		op: opRefreshToken,
		query: url.Values{
			"appid": {app.AppID}, "grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		},
		secrets: []string{refreshToken},
	})
	if err != nil {
		return nil, err
	}
	return c.token(app.AppID, r), nil
}

type authResponse struct {
	ErrCode *flexInt `json:"errcode"`
}

// /sns/auth is the one login call whose success is errcode:0 itself.
func (r *authResponse) complete() bool { return r.ErrCode != nil && *r.ErrCode == 0 }

// CheckToken reports whether a user access token is valid for openID
// (GET /sns/auth). It returns nil when valid, otherwise typically
// ErrInvalidToken, ErrTokenExpired or ErrInvalidOpenID.
func (c *Client) CheckToken(ctx context.Context, accessToken, openID string) error {
	if accessToken == "" || openID == "" {
		return newError(opAuth, ErrInvalidArgument, "empty access token or openid")
	}
	_, err := fetch[authResponse](ctx, c, call{
		op:      opAuth,
		query:   url.Values{"access_token": {accessToken}, "openid": {openID}},
		secrets: []string{accessToken},
	})
	return err
}

// UserInfo is a WeChat user's profile. Since 2021-10-20 Sex is always 0 and
// Province, City and Country are empty.
type UserInfo struct {
	OpenID     string
	UnionID    string // optional
	Nickname   string // may contain emoji
	HeadImgURL string // empty if no avatar; stops working when the user changes it
	Sex        int
	Province   string
	City       string
	Country    string
	Privilege  []string
	Language   string // undocumented; sometimes present
}

type userInfoResponse struct {
	OpenID     string   `json:"openid"`
	UnionID    string   `json:"unionid"`
	Nickname   string   `json:"nickname"`
	HeadImgURL string   `json:"headimgurl"`
	Sex        flexInt  `json:"sex"`
	Province   string   `json:"province"`
	City       string   `json:"city"`
	Country    string   `json:"country"`
	Privilege  []string `json:"privilege"`
	Language   string   `json:"language"`
}

func (r *userInfoResponse) complete() bool { return r.OpenID != "" }

// UserInfo fetches the user's profile (GET /sns/userinfo). lang is "",
// "zh_CN", "zh_TW" or "en". A token from snsapi_base gives ErrScopeUnauthorized.
func (c *Client) UserInfo(ctx context.Context, accessToken, openID, lang string) (*UserInfo, error) {
	if accessToken == "" || openID == "" {
		return nil, newError(opUserInfo, ErrInvalidArgument, "empty access token or openid")
	}
	q := url.Values{"access_token": {accessToken}, "openid": {openID}}
	switch lang {
	case "":
	case "zh_CN", "zh_TW", "en":
		q.Set("lang", lang)
	default:
		return nil, newError(opUserInfo, ErrInvalidArgument, "lang must be zh_CN, zh_TW or en")
	}
	r, err := fetch[userInfoResponse](ctx, c, call{op: opUserInfo, query: q, secrets: []string{accessToken}})
	if err != nil {
		return nil, err
	}
	return &UserInfo{
		OpenID: r.OpenID, UnionID: r.UnionID, Nickname: r.Nickname, HeadImgURL: r.HeadImgURL,
		Sex: int(r.Sex), Province: r.Province, City: r.City, Country: r.Country,
		Privilege: r.Privilege, Language: r.Language,
	}, nil
}

// Session is the result of a mini program login.
type Session struct {
	AppID      string
	OpenID     string
	UnionID    string // present when the mini program is bound to an open-platform account
	SessionKey string // keep on the server; never send it to the client
}

// String describes the session without the session key.
func (s Session) String() string {
	return fmt.Sprintf("wechat.Session{AppID:%s OpenID:%s UnionID:%s SessionKey:[redacted]}", s.AppID, s.OpenID, s.UnionID)
}

// GoString is String.
func (s Session) GoString() string { return s.String() }

// LogValue keeps the session key out of slog output.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", s.AppID), slog.String("openid", s.OpenID), slog.String("unionid", s.UnionID))
}

type sessionResponse struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid"`
}

func (r *sessionResponse) complete() bool { return r.OpenID != "" && r.SessionKey != "" }

// JSCode2Session exchanges a mini program wx.login code (GET
// /sns/jscode2session). Like ExchangeCode it is never repeated once the
// request may have reached WeChat.
func (c *Client) JSCode2Session(ctx context.Context, appID, jsCode string) (*Session, error) {
	app, err := c.app(opJSCode, appID, KindMiniProgram)
	if err != nil {
		return nil, err
	}
	if jsCode == "" {
		return nil, newError(opJSCode, ErrInvalidArgument, "empty js_code")
	}
	r, err := fetch[sessionResponse](ctx, c, call{
		op: opJSCode,
		query: url.Values{
			"appid": {app.AppID}, "secret": {app.Secret},
			"js_code": {jsCode}, "grant_type": {"authorization_code"},
		},
		singleUse: true,
		secrets:   []string{app.Secret, jsCode},
	})
	if err != nil {
		return nil, err
	}
	return &Session{AppID: app.AppID, OpenID: r.OpenID, UnionID: r.UnionID, SessionKey: r.SessionKey}, nil
}
