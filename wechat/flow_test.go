package wechat_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/wechat"
	"wxcas/wechat/emulator"
)

const callback = "https://cas.example.org/login/wechat/callback?service=https%3A%2F%2Fapp.example.org%2F&x=1"

// Every entry point exchanges a code for an identity against the emulator.
func TestEntryPoints(t *testing.T) {
	tests := []struct {
		name       string
		appID      string
		code       func(e *env) string
		wantScope  string
		wantUnion  bool
		wantInfo   bool // userinfo allowed with this token
		wantLangOK bool // language field present (mobile app)
	}{
		{
			name:  "website full-page QR (qrconnect)",
			appID: web,
			code: func(e *env) string {
				u, err := e.c.QRConnectURL(web, callback, "st4te", "")
				require.NoError(t, err)
				cb := e.scan(u, "alice")
				code, state, err := wechat.ParseCallback(cb.Query())
				require.NoError(t, err)
				require.Equal(t, "st4te", state)
				require.Equal(t, "https://app.example.org/", cb.Query().Get("service"), "existing query kept")
				require.Equal(t, "1", cb.Query().Get("x"))
				require.True(t, strings.HasPrefix(cb.String(), "https://cas.example.org/login/wechat/callback?service="))
				return code
			},
			wantScope: wechat.ScopeLogin, wantUnion: true, wantInfo: true,
		},
		{
			name:  "website inline QR (wxLogin iframe)",
			appID: web,
			code: func(e *env) string {
				o, err := e.c.WxLogin(web, "login_container", callback, "inl1ne")
				require.NoError(t, err)
				cb := e.scan(e.c.WxLoginIframeURL(o), "alice")
				code, state, err := wechat.ParseCallback(cb.Query())
				require.NoError(t, err)
				require.Equal(t, "inl1ne", state)
				return code
			},
			wantScope: wechat.ScopeLogin, wantUnion: true, wantInfo: true,
		},
		{
			name:  "official account snsapi_base",
			appID: oa,
			code: func(e *env) string {
				u, err := e.c.OAuthURL(oa, callback, wechat.ScopeBase, "b4se", false)
				require.NoError(t, err)
				code, _, err := wechat.ParseCallback(e.scan(u, "alice").Query())
				require.NoError(t, err)
				return code
			},
			wantScope: wechat.ScopeBase, wantUnion: false, wantInfo: false,
		},
		{
			name:  "official account snsapi_userinfo",
			appID: oa,
			code: func(e *env) string {
				u, err := e.c.OAuthURL(oa, callback, wechat.ScopeUserInfo, "us3r", true)
				require.NoError(t, err)
				code, _, err := wechat.ParseCallback(e.scan(u, "alice").Query())
				require.NoError(t, err)
				return code
			},
			wantScope: wechat.ScopeUserInfo, wantUnion: true, wantInfo: true,
		},
		{
			name:      "mobile app (Open SDK code)",
			appID:     mobile,
			code:      func(e *env) string { return e.code(mobile, "alice", "") },
			wantScope: wechat.ScopeUserInfo, wantUnion: true, wantInfo: true, wantLangOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok, err := e.c.ExchangeCode(e.ctx, tt.appID, tt.code(e))
			require.NoError(t, err)
			require.Equal(t, tt.appID, tok.AppID)
			require.Equal(t, e.em.OpenID(tt.appID, "alice"), tok.OpenID)
			require.Equal(t, tt.wantScope, tok.Scope)
			require.True(t, tok.HasScope(tt.wantScope))
			require.False(t, tok.IsSnapshotUser)
			require.NotEmpty(t, tok.AccessToken)
			require.NotEmpty(t, tok.RefreshToken)
			require.Equal(t, e.clock.Now().Add(7200*time.Second), tok.ExpiresAt)
			if tt.wantUnion {
				require.Equal(t, e.em.UnionID(tt.appID, "alice"), tok.UnionID)
				require.NotEmpty(t, tok.UnionID)
			} else {
				require.Empty(t, tok.UnionID)
			}
			require.NoError(t, e.c.CheckToken(e.ctx, tok.AccessToken, tok.OpenID))

			info, err := e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "")
			if !tt.wantInfo {
				requireKind(t, err, wechat.ErrScopeUnauthorized, 48001)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tok.OpenID, info.OpenID)
			require.Equal(t, e.em.UnionID(tt.appID, "alice"), info.UnionID)
			require.Equal(t, "alice 🐼", info.Nickname)
			require.Zero(t, info.Sex)
			require.Empty(t, info.Province+info.City+info.Country)
			require.NotNil(t, info.Privilege)
			require.Empty(t, info.Privilege)
			require.True(t, strings.HasPrefix(info.HeadImgURL, "https://thirdwx.qlogo.cn/"))
			if tt.wantLangOK {
				require.Equal(t, "zh_CN", info.Language)
			} else {
				require.Empty(t, info.Language)
			}
		})
	}
}

func TestMiniProgramLoginAndPhone(t *testing.T) {
	e := newEnv(t)
	js, err := e.em.IssueJSCode(mini, "alice")
	require.NoError(t, err)
	s, err := e.c.JSCode2Session(e.ctx, mini, js)
	require.NoError(t, err)
	require.Equal(t, mini, s.AppID)
	require.Equal(t, e.em.OpenID(mini, "alice"), s.OpenID)
	require.Equal(t, e.em.UnionID(web, "alice"), s.UnionID, "bound mini program gets the account's unionid")
	require.NotEmpty(t, s.SessionKey)
	require.NotContains(t, s.String(), s.SessionKey)

	for _, stable := range []bool{false, true} {
		var at *wechat.AppToken
		if stable {
			at, err = e.c.StableAccessToken(e.ctx, mini, false)
		} else {
			at, err = e.c.AppAccessToken(e.ctx, mini)
		}
		require.NoError(t, err)
		require.Equal(t, e.clock.Now().Add(7200*time.Second), at.ExpiresAt)
		require.NotContains(t, at.String(), at.AccessToken)

		pc, err := e.em.IssuePhoneCode(mini, "alice")
		require.NoError(t, err)
		p, err := e.c.PhoneNumber(e.ctx, at.AccessToken, pc)
		require.NoError(t, err)
		person, _ := e.em.Person("alice")
		require.Equal(t, person.Phone, p.PurePhoneNumber)
		require.Equal(t, person.Phone, p.PhoneNumber)
		require.Equal(t, "86", p.CountryCode)
		require.Equal(t, mini, p.WatermarkAppID)
		require.Equal(t, e.clock.Now().Unix(), p.WatermarkTime.Unix())
		require.NotContains(t, p.String(), person.Phone)

		// The phone code is single use: 40029 the second time.
		_, err = e.c.PhoneNumber(e.ctx, at.AccessToken, pc)
		requireKind(t, err, wechat.ErrCodeInvalid, 40029)
	}
}

func TestStableTokenStaysUntilForced(t *testing.T) {
	e := newEnv(t)
	a, err := e.c.StableAccessToken(e.ctx, oa, false)
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	b, err := e.c.StableAccessToken(e.ctx, oa, false)
	require.NoError(t, err)
	require.Equal(t, a.AccessToken, b.AccessToken)
	require.Equal(t, a.ExpiresAt, b.ExpiresAt)
	c, err := e.c.StableAccessToken(e.ctx, oa, true)
	require.NoError(t, err)
	require.NotEqual(t, a.AccessToken, c.AccessToken)
}

// One person has one unionid across the apps of an open-platform account
// and a different openid in every app; another account gives another unionid.
func TestUnionIDAcrossApps(t *testing.T) {
	e := newEnv(t)
	openIDs := map[string]bool{}
	var union string
	for _, app := range []string{web, oa, mobile} {
		scope := ""
		if app == oa {
			scope = wechat.ScopeUserInfo
		}
		tok, err := e.c.ExchangeCode(e.ctx, app, e.code(app, "bob", scope))
		require.NoError(t, err)
		require.NotEmpty(t, tok.UnionID)
		if union == "" {
			union = tok.UnionID
		}
		require.Equal(t, union, tok.UnionID, app)
		require.False(t, openIDs[tok.OpenID], "openid must differ per app")
		openIDs[tok.OpenID] = true
	}
	js, err := e.em.IssueJSCode(mini, "bob")
	require.NoError(t, err)
	s, err := e.c.JSCode2Session(e.ctx, mini, js)
	require.NoError(t, err)
	require.Equal(t, union, s.UnionID)
	require.False(t, openIDs[s.OpenID])

	// Another person, same apps: other ids.
	tokA, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)
	require.NotEqual(t, union, tokA.UnionID)

	// Another open-platform account: another unionid for bob.
	tok2, err := e.c.ExchangeCode(e.ctx, web2, e.code(web2, "bob", ""))
	require.NoError(t, err)
	require.NotEqual(t, union, tok2.UnionID)

	// An Official Account bound to no account never gives a unionid.
	tok3, err := e.c.ExchangeCode(e.ctx, oaLone, e.code(oaLone, "bob", wechat.ScopeUserInfo))
	require.NoError(t, err)
	require.Empty(t, tok3.UnionID)
	info, err := e.c.UserInfo(e.ctx, tok3.AccessToken, tok3.OpenID, "en")
	require.NoError(t, err)
	require.Empty(t, info.UnionID)
}

func TestSnapshotUser(t *testing.T) {
	e := newEnv(t)
	// Person flag.
	tok, err := e.c.ExchangeCode(e.ctx, oa, e.code(oa, "snappy", wechat.ScopeUserInfo))
	requireKind(t, err, wechat.ErrSnapshotUser, 0)
	require.NotNil(t, tok, "the token comes with the error")
	require.True(t, tok.IsSnapshotUser)
	require.NotEqual(t, e.em.OpenID(oa, "snappy"), tok.OpenID, "virtual openid")
	require.False(t, wechat.IsRetryable(err))

	// Per-authorization flag through the sandbox page parameter.
	u, err := e.c.OAuthURL(oa, callback, wechat.ScopeUserInfo, "snap", false)
	require.NoError(t, err)
	code, _, err := wechat.ParseCallback(e.scan(u, "alice", "sandbox_snapshot=1").Query())
	require.NoError(t, err)
	tok, err = e.c.ExchangeCode(e.ctx, oa, code)
	requireKind(t, err, wechat.ErrSnapshotUser, 0)
	require.True(t, tok.IsSnapshotUser)

	// snsapi_base is never a snapshot.
	tok, err = e.c.ExchangeCode(e.ctx, oa, e.code(oa, "snappy", wechat.ScopeBase))
	require.NoError(t, err)
	require.False(t, tok.IsSnapshotUser)
}

func TestRefreshAndAuth(t *testing.T) {
	e := newEnv(t)
	tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)

	// Not yet expired: the same token comes back with its expiry extended.
	e.clock.Advance(time.Hour)
	r1, err := e.c.RefreshToken(e.ctx, web, tok.RefreshToken)
	require.NoError(t, err)
	require.Equal(t, tok.AccessToken, r1.AccessToken)
	require.Equal(t, tok.RefreshToken, r1.RefreshToken)
	require.Equal(t, tok.OpenID, r1.OpenID)
	require.Equal(t, e.clock.Now().Add(7200*time.Second), r1.ExpiresAt)
	require.Empty(t, r1.UnionID, "refresh carries no unionid")

	// Expired: /sns/auth says 42001, refresh issues a new token.
	e.clock.Advance(3 * time.Hour)
	err = e.c.CheckToken(e.ctx, r1.AccessToken, r1.OpenID)
	requireKind(t, err, wechat.ErrTokenExpired, 42001)
	r2, err := e.c.RefreshToken(e.ctx, web, tok.RefreshToken)
	require.NoError(t, err)
	require.NotEqual(t, r1.AccessToken, r2.AccessToken)
	require.NoError(t, e.c.CheckToken(e.ctx, r2.AccessToken, r2.OpenID))

	// Wrong openid, unknown token.
	requireKind(t, e.c.CheckToken(e.ctx, r2.AccessToken, e.em.OpenID(web, "bob")), wechat.ErrInvalidOpenID, 40003)
	requireKind(t, e.c.CheckToken(e.ctx, "bogus-token", r2.OpenID), wechat.ErrInvalidToken, 40014)
	_, err = e.c.UserInfo(e.ctx, "bogus-token", r2.OpenID, "")
	requireKind(t, err, wechat.ErrInvalidToken, 40001)

	// Refresh token: unknown, other app, expired after 30 days.
	_, err = e.c.RefreshToken(e.ctx, web, "bogus-refresh")
	requireKind(t, err, wechat.ErrRefreshTokenInvalid, 40030)
	_, err = e.c.RefreshToken(e.ctx, mobile, tok.RefreshToken)
	requireKind(t, err, wechat.ErrRefreshTokenInvalid, 40030)
	e.clock.Advance(31 * 24 * time.Hour)
	_, err = e.c.RefreshToken(e.ctx, web, tok.RefreshToken)
	requireKind(t, err, wechat.ErrRefreshTokenInvalid, 42002)
}

// Per-product code lifetimes, through the injected clock.
func TestCodeLifetimes(t *testing.T) {
	tests := []struct {
		app   string
		scope string
		ttl   time.Duration
		js    bool
	}{
		{web, "", 10 * time.Minute, false},
		{mobile, "", 10 * time.Minute, false},
		{oa, wechat.ScopeBase, 5 * time.Minute, false},
		{mini, "", 5 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			e := newEnv(t)
			issue := func() string {
				if tt.js {
					c, err := e.em.IssueJSCode(tt.app, "alice")
					require.NoError(t, err)
					return c
				}
				return e.code(tt.app, "alice", tt.scope)
			}
			exchange := func(code string) error {
				if tt.js {
					_, err := e.c.JSCode2Session(e.ctx, tt.app, code)
					return err
				}
				_, err := e.c.ExchangeCode(e.ctx, tt.app, code)
				return err
			}
			fresh, stale := issue(), issue()
			e.clock.Advance(tt.ttl - time.Second)
			require.NoError(t, exchange(fresh), "valid just before the end of its lifetime")
			e.clock.Advance(time.Second)
			requireKind(t, exchange(stale), wechat.ErrCodeInvalid, 40029)
		})
	}
}

// Many logins at once (run with -race).
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t)
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		go func() {
			code, err := e.em.IssueCode(web, "alice", "")
			if err == nil {
				_, err = e.c.ExchangeCode(e.ctx, web, code)
			}
			errs <- err
		}()
	}
	for i := 0; i < 40; i++ {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 40, e.em.Calls(emulator.PathAccessToken))
}

func TestEmulatorContentTypes(t *testing.T) {
	// The client succeeds although these answers are labelled text/plain.
	e := newEnv(t)
	tok, err := e.c.ExchangeCode(e.ctx, web, e.code(web, "alice", ""))
	require.NoError(t, err)
	resp, err := http.Get(e.srv.URL + emulator.PathUserInfo + "?access_token=" + tok.AccessToken + "&openid=" + tok.OpenID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	_, err = e.c.UserInfo(e.ctx, tok.AccessToken, tok.OpenID, "zh_TW")
	require.NoError(t, err)
}
