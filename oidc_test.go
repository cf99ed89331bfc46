package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"wxcas/config"
	"wxcas/logx"
	"wxcas/openid"
)

const (
	oidcMiniAppID   = "wxa1b2c3d4e5f60003"
	oidcMobileAppID = "wxa1b2c3d4e5f60004"
	oidcBackendPass = "mini-program-backend-secret-0123456789"
)

// oidcEnv is a sandbox wxcas with the OpenID provider: a native app (public,
// PKCE), a mini program's back end (confidential) and a web site client.
type oidcEnv struct {
	t     testing.TB
	app   *app
	base  string
	clock *offsetClock
}

func oidcConfig(listen, base, database string) string {
	return fmt.Sprintf(`server: {listen: %q, public_url: %q}
%s
sandbox: {enabled: true}
log: {level: warn}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: s1}
    - {appid: wxa1b2c3d4e5f60002, kind: official_account, secret: s2}
    - {appid: %s, kind: mini_program, secret: s3}
    - {appid: %s, kind: mobile_app, secret: s4}
login: {website_appid: wxa1b2c3d4e5f60001}
cas: {services: [{id: demo, name: Demo, match: prefix, url: '%s/sandbox/app/'}]}
oidc:
  enabled: true
  token_per_ip: {max: 0, window: 1m}
  token_per_client: {max: 0, window: 1m}
  challenge_per_ip: {max: 0, window: 1m}
  clients:
    - {id: app, type: native, redirect_uris: ['com.example.app:/cb', 'http://127.0.0.1/cb'], first_party: true, claims: [userId, nickname]}
    - {id: mp, type: backend, secret: %s, first_party: true, claims: [userId, phone]}
    - {id: site, type: web, secret: %s, redirect_uris: ['https://site.example/cb'], claims: [userId]}
`, listen, base, database, oidcMiniAppID, oidcMobileAppID, base, oidcBackendPass, oidcBackendPass+"-site")
}

func startOIDC(t testing.TB, database string, oidcKeys ...string) *oidcEnv {
	t.Helper()
	ln, base := listen(t)
	clock := &offsetClock{}
	if database == "" {
		database = "database: {sqlite_path: " + t.TempDir() + "/wxcas.db}"
	}
	body := oidcConfig(ln.Addr().String(), base, database)
	for _, k := range oidcKeys {
		body = strings.Replace(body, "  enabled: true\n", "  enabled: true\n  "+k+"\n", 1)
	}
	a := runApp(t, ln, body, clock.Now)
	return &oidcEnv{t: t, app: a, base: base, clock: clock}
}

// wechatCode has the emulator mint a code for person in appid (type js for
// wx.login, phone for getPhoneNumber, "" for the Open SDK).
func (e *oidcEnv) wechatCode(appid, person, typ string) string {
	form := url.Values{"appid": {appid}, "sandbox_user": {person}}
	if typ != "" {
		form.Set("type", typ)
	}
	resp, err := http.PostForm(e.base+"/sandbox/wechat/_sandbox/code", form)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out struct{ Code string }
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	require.NotEmpty(e.t, out.Code)
	return out.Code
}

func (e *oidcEnv) api(path string, body any) (int, map[string]any) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(e.base+path, "application/json", strings.NewReader(string(b)))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// appLogin runs the JSON journey for person in appid, binding phone by SMS
// when WeChat names someone new, and returns the session (TGT).
func (e *oidcEnv) appLogin(appid, person, typ, phone string) string {
	status, out := e.api("/api/v1/login/wechat", map[string]string{"appid": appid, "code": e.wechatCode(appid, person, typ)})
	require.Equal(e.t, http.StatusOK, status, "%v", out)
	if out["status"] == "binding_required" {
		_, out = e.api("/api/v1/bind/sms/send", map[string]string{"bind_token": out["bind_token"].(string), "phone": phone})
		e164 := "+86" + phone
		status, out = e.api("/api/v1/bind/sms/verify", map[string]string{"bind_token": out["bind_token"].(string), "code": sandboxSMSCode(e.t, e.base, e164)})
		require.Equal(e.t, http.StatusOK, status, "%v", out)
	}
	require.Equal(e.t, "logged_in", out["status"], "%v", out)
	return out["tgt"].(string)
}

// backendTokens has the mini program's back end ("mp", confidential) get
// tokens with scope for session tgt: challenge, then code exchange.
func (e *oidcEnv) backendTokens(ctx context.Context, tgt, scope string) (*oauth2.Config, *oauth2.Token) {
	e.t.Helper()
	status, out := e.challenge(url.Values{"scope": {scope}, "session": {tgt}}, "mp", oidcBackendPass)
	require.Equal(e.t, http.StatusOK, status, "%v", out)
	conf := e.oauthConf(ctx, "mp", oidcBackendPass)
	tok, err := conf.Exchange(ctx, out["authorization_code"].(string))
	require.NoError(e.t, err)
	return conf, tok
}

// casLogout ends session tgt with the CAS REST API, as an app logs out.
func (e *oidcEnv) casLogout(tgt string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, e.base+"/cas/v1/tickets/"+tgt, nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
}

// challenge posts to the authorization challenge endpoint.
func (e *oidcEnv) challenge(form url.Values, basic ...string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oidc/challenge", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func (e *oidcEnv) provider(ctx context.Context) *oidc.Provider {
	p, err := oidc.NewProvider(ctx, e.base)
	require.NoError(e.t, err)
	return p
}

// oauthConf is the x/oauth2 client of a registered client.
func (e *oidcEnv) oauthConf(ctx context.Context, id, secret string) *oauth2.Config {
	ep := e.provider(ctx).Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if secret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
}

// jwtHeader decodes a JWS's protected header.
func jwtHeader(t testing.TB, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

// oauthError is the OAuth error code of a failed x/oauth2 call.
func oauthError(t testing.TB, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	return re.ErrorCode
}

// TestOIDCNativeAppChallengeFlow: the mobile-app team's flow without a
// browser — WeChat Open SDK code → JSON journey with SMS binding (first
// login) → session → authorization challenge with PKCE → code → tokens,
// verified by a standard relying-party library; then the same person again
// (returning: no binding) gets the same subject.
func TestOIDCNativeAppChallengeFlow(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) { nativeAppChallengeFlow(t, startOIDC(t, "", "signing_algorithm: "+alg), alg) })
	}
}

func nativeAppChallengeFlow(t *testing.T, e *oidcEnv, alg string) {
	ctx := context.Background()
	conf := e.oauthConf(ctx, "app", "")
	verifier := e.provider(ctx).Verifier(&oidc.Config{ClientID: "app"})

	login := func(phone string) (*oauth2.Token, *oidc.IDToken) {
		tgt := e.appLogin(oidcMobileAppID, "carol", "", phone)
		pkce := oauth2.GenerateVerifier()
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid offline_access"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "insufficient_authorization", out["error"], "no session yet: the app is sent to the journey")
		status, out = e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid offline_access"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}, "session": {tgt}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		tok, err := conf.Exchange(ctx, out["authorization_code"].(string), oauth2.VerifierOption(pkce))
		require.NoError(t, err)
		raw, _ := tok.Extra("id_token").(string)
		id, err := verifier.Verify(ctx, raw)
		require.NoError(t, err)
		return tok, id
	}
	tok, id := login("13700137001")
	require.NotEmpty(t, tok.RefreshToken, "offline_access gives a refresh token")
	require.Equal(t, "at+jwt", jwtHeader(t, tok.AccessToken)["typ"], "RFC 9068 access token")
	require.Equal(t, alg, jwtHeader(t, tok.AccessToken)["alg"])
	require.Equal(t, alg, jwtHeader(t, tok.Extra("id_token").(string))["alg"])
	var claims struct {
		UserID   string `json:"userId"`
		Nickname string `json:"nickname"`
		SID      string `json:"sid"`
	}
	require.NoError(t, id.Claims(&claims))
	require.Equal(t, id.Subject, claims.UserID, "sub is the CAS principal (the user id with the built-in directory)")
	require.NotEmpty(t, claims.SID)

	info, err := e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(tok))
	require.NoError(t, err)
	require.Equal(t, id.Subject, info.Subject)

	_, again := login("")
	require.Equal(t, id.Subject, again.Subject, "a returning person is the same subject")
}

// TestOIDCMiniProgramBackend: wx.login code → the JSON journey binds the
// WeChat phone number → the back end, with its client credentials, gets a
// code at the challenge endpoint and JWT access and refresh tokens whose
// business claims its API servers verify offline against JWKS.
func TestOIDCMiniProgramBackend(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	status, out := e.api("/api/v1/login/wechat", map[string]string{"appid": oidcMiniAppID, "code": e.wechatCode(oidcMiniAppID, "alice", "js")})
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Equal(t, "binding_required", out["status"])
	status, out = e.api("/api/v1/bind/wechat-phone", map[string]string{"bind_token": out["bind_token"].(string), "phone_code": e.wechatCode(oidcMiniAppID, "alice", "phone")})
	require.Equal(t, http.StatusOK, status, "%v", out)
	tgt := out["tgt"].(string)

	form := url.Values{"scope": {"openid offline_access"}, "session": {tgt}}
	status, out = e.challenge(form)
	require.Equal(t, http.StatusUnauthorized, status, "a confidential client must authenticate")
	require.Equal(t, "invalid_client", out["error"])
	status, out = e.challenge(form, "mp", "wrong-secret-wrong-secret-wrong-secret")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "invalid_client", out["error"])
	status, out = e.challenge(url.Values{"scope": {"openid"}, "session": {tgt}, "unionid": {"forged"}, "openid": {"forged"}}, "mp", oidcBackendPass)
	require.Equal(t, http.StatusOK, status, "%v", out)
	forgedCode := out["authorization_code"].(string)
	status, out = e.challenge(form, "mp", oidcBackendPass)
	require.Equal(t, http.StatusOK, status, "%v", out)

	conf := e.oauthConf(ctx, "mp", oidcBackendPass)
	tok, err := conf.Exchange(ctx, out["authorization_code"].(string))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)

	// Offline verification, as the mini program's API servers do: JWKS,
	// typ at+jwt, issuer, audience, business claims.
	keySet := oidc.NewRemoteKeySet(ctx, e.base+"/oidc/keys")
	payload, err := keySet.VerifySignature(ctx, tok.AccessToken)
	require.NoError(t, err)
	var at map[string]any
	require.NoError(t, json.Unmarshal(payload, &at))
	require.Equal(t, "at+jwt", jwtHeader(t, tok.AccessToken)["typ"])
	require.Equal(t, e.base, at["iss"])
	require.Equal(t, "mp", at["client_id"])
	require.Equal(t, "+8613800138000", at["phone"], "the bound WeChat phone number is a claim")
	require.Equal(t, at["sub"], at["userId"])

	// The forged unionid/openid fields named nobody: the code is the
	// session's person.
	forged, err := conf.Exchange(ctx, forgedCode)
	require.NoError(t, err)
	fp, err := keySet.VerifySignature(ctx, forged.AccessToken)
	require.NoError(t, err)
	require.Contains(t, string(fp), fmt.Sprintf("%q", at["sub"]))

	// Refresh rotates.
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok.RefreshToken, next.RefreshToken)
	require.NotEqual(t, tok.AccessToken, next.AccessToken)
}

// TestOIDCGrantRefusals: what the token and challenge endpoints refuse.
func TestOIDCGrantRefusals(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMobileAppID, "dora", "", "13700137002")
	app := e.oauthConf(ctx, "app", "")
	code := func(pkce string) string {
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid offline_access"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}, "session": {tgt}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		return out["authorization_code"].(string)
	}

	t.Run("plain PKCE", func(t *testing.T) {
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}, "session": {tgt}})
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_request", out["error"])
	})
	t.Run("public client without PKCE", func(t *testing.T) {
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid"}, "session": {tgt}})
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_request", out["error"])
	})
	t.Run("scope not allowed is dropped", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid admin"}, "session": {tgt},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		tok, err := app.Exchange(ctx, out["authorization_code"].(string), oauth2.VerifierOption(pkce))
		require.NoError(t, err)
		require.Equal(t, "openid", tok.Extra("scope"), "the token response says what was granted")
		status, out = e.challenge(url.Values{"client_id": {"app"}, "scope": {"admin"}, "session": {tgt},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_scope", out["error"], "without openid")
	})
	t.Run("not a first-party client", func(t *testing.T) {
		status, out := e.challenge(url.Values{"scope": {"openid"}, "session": {tgt}}, "site", oidcBackendPass+"-site")
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "unauthorized_client", out["error"])
	})
	t.Run("logged-out session", func(t *testing.T) {
		other := e.appLogin(oidcMobileAppID, "dora", "", "")
		e.casLogout(other)
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid"}, "session": {other},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusBadRequest, status)
		require.Equal(t, "invalid_session", out["error"])
	})
	t.Run("code from a session that logged out since", func(t *testing.T) {
		other := e.appLogin(oidcMobileAppID, "dora", "", "")
		pkce := oauth2.GenerateVerifier()
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid offline_access"}, "session": {other},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		e.casLogout(other)
		_, err := app.Exchange(ctx, out["authorization_code"].(string), oauth2.VerifierOption(pkce))
		require.Equal(t, "invalid_grant", oauthError(t, err), "logging out ends what the session had not collected yet")
	})
	t.Run("wrong verifier", func(t *testing.T) {
		_, err := app.Exchange(ctx, code(oauth2.GenerateVerifier()), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		require.Equal(t, "invalid_grant", oauthError(t, err))
	})
	t.Run("missing verifier", func(t *testing.T) {
		_, err := app.Exchange(ctx, code(oauth2.GenerateVerifier()))
		require.Equal(t, "invalid_grant", oauthError(t, err))
	})
	t.Run("another client's code", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		_, err := e.oauthConf(ctx, "mp", oidcBackendPass).Exchange(ctx, code(pkce), oauth2.VerifierOption(pkce))
		require.Equal(t, "invalid_grant", oauthError(t, err))
	})
	t.Run("code reuse revokes what it issued", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		c := code(pkce)
		tok, err := app.Exchange(ctx, c, oauth2.VerifierOption(pkce))
		require.NoError(t, err)
		_, err = app.Exchange(ctx, c, oauth2.VerifierOption(pkce))
		require.Equal(t, "invalid_grant", oauthError(t, err))
		_, err = app.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.Equal(t, "invalid_grant", oauthError(t, err), "the first exchange's refresh token is revoked")
		_, err = e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(tok))
		require.Error(t, err, "and its access token no longer opens userinfo")
	})
	t.Run("refresh token reuse revokes the family", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		tok, err := app.Exchange(ctx, code(pkce), oauth2.VerifierOption(pkce))
		require.NoError(t, err)
		next, err := app.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.NoError(t, err)
		_, err = app.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.Equal(t, "invalid_grant", oauthError(t, err), "the spent token is refused")
		_, err = app.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
		require.Equal(t, "invalid_grant", oauthError(t, err), "and the live one too: the family is revoked")
	})
	t.Run("expired code", func(t *testing.T) {
		pkce := oauth2.GenerateVerifier()
		c := code(pkce)
		e.clock.Advance(2 * time.Minute)
		_, err := app.Exchange(ctx, c, oauth2.VerifierOption(pkce))
		require.Equal(t, "invalid_grant", oauthError(t, err))
	})
}

// TestOIDCRevocationAndIntrospection: RFC 7009 and RFC 7662.
func TestOIDCRevocationAndIntrospection(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "erin", "js", "13700137003")
	conf, tok := e.backendTokens(ctx, tgt, "openid offline_access")

	introspect := func(token string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oidc/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("mp", oidcBackendPass)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return m
	}
	at := introspect(tok.AccessToken)
	require.Equal(t, true, at["active"])
	require.Equal(t, "mp", at["client_id"])
	require.Equal(t, "access_token", at["token_type"])
	require.Equal(t, true, introspect(tok.RefreshToken)["active"])
	require.Equal(t, false, introspect("not-a-token")["active"])
	req, _ := http.NewRequest(http.MethodPost, e.base+"/oidc/introspect", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("site", oidcBackendPass+"-site")
	other, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var seen map[string]any
	require.NoError(t, json.NewDecoder(other.Body).Decode(&seen))
	other.Body.Close()
	require.Equal(t, map[string]any{"active": false}, seen, "a client learns nothing of another client's tokens")

	revoke := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/oidc/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("mp", oidcBackendPass)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, revoke("unknown-token"), "RFC 7009: an unknown token is not an error")
	require.Equal(t, http.StatusOK, revoke(tok.RefreshToken))
	require.Equal(t, false, introspect(tok.RefreshToken)["active"])
	require.Equal(t, false, introspect(tok.AccessToken)["active"], "revoking the refresh token revokes its access tokens")
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.Equal(t, "invalid_grant", oauthError(t, err))

	req, _ = http.NewRequest(http.MethodGet, e.base+"/oidc/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="wxcas", error="invalid_token"`, resp.Header.Get("WWW-Authenticate"), "RFC 6750 §3")
	resp, err = http.Get(e.base + "/oidc/userinfo")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, `Bearer realm="wxcas"`, resp.Header.Get("WWW-Authenticate"), "no token: no error code (RFC 6750 §3.1)")
}

// TestOIDCEndSessionWithoutRedirect: end-session with only a state (no
// post-logout redirect URI) ends on the logged-out page.
func TestOIDCEndSessionWithoutRedirect(t *testing.T) {
	e := startOIDC(t, "")
	resp, err := http.Get(e.base + "/oidc/end_session?state=abc")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, "/oidc/logged-out", resp.Request.URL.Path)
}

// TestOIDCSigningAlgorithmChange: an instance restarted with another
// signing_algorithm signs with a key of it at once, and publishes both
// algorithms while the old key's tokens live.
func TestOIDCSigningAlgorithmChange(t *testing.T) {
	db := "database: {sqlite_path: " + t.TempDir() + "/wxcas.db}"
	first := startOIDC(t, db)
	ctx := context.Background()
	tgt := first.appLogin(oidcMiniAppID, "ivan", "js", "13700137007")
	_, out := first.challenge(url.Values{"scope": {"openid"}, "session": {tgt}}, "mp", oidcBackendPass)
	old, err := first.oauthConf(ctx, "mp", oidcBackendPass).Exchange(ctx, out["authorization_code"].(string))
	require.NoError(t, err)
	require.Equal(t, "RS256", jwtHeader(t, old.AccessToken)["alg"])

	second := startOIDC(t, db, "signing_algorithm: ES256")
	_, out = second.challenge(url.Values{"scope": {"openid"}, "session": {tgt}}, "mp", oidcBackendPass)
	tok, err := second.oauthConf(ctx, "mp", oidcBackendPass).Exchange(ctx, out["authorization_code"].(string))
	require.NoError(t, err)
	require.Equal(t, "ES256", jwtHeader(t, tok.AccessToken)["alg"])
	require.Equal(t, "ES256", jwtHeader(t, tok.Extra("id_token").(string))["alg"])

	var disc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	resp, err := http.Get(second.base + "/.well-known/openid-configuration")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&disc))
	resp.Body.Close()
	require.Equal(t, []string{"ES256", "RS256"}, disc.Algs, "the old key's tokens still verify")
}

// TestOIDCRefusesToStartWithAnotherSecret: signing keys sealed with
// another secrets.key cannot be used, and the instance says so at start-up
// instead of answering every token request with an error.
func TestOIDCRefusesToStartWithAnotherSecret(t *testing.T) {
	dir := t.TempDir()
	body := func(key string) string {
		return strings.Replace(oidcConfig("127.0.0.1:0", "http://127.0.0.1:1", "database: {sqlite_path: "+dir+"/wxcas.db}"),
			"sandbox: {enabled: true}", "sandbox: {enabled: true}\nsecrets: {key: "+key+"}", 1)
	}
	start := func(key string) error {
		cfg, err := config.Load(writeConfig(t, body(key)))
		require.NoError(t, err)
		a, err := newAppWithClock(context.Background(), cfg, logx.Discard(), time.Now)
		if err == nil {
			a.db.Close()
		}
		return err
	}
	require.NoError(t, start(strings.Repeat("a", 40)))
	require.ErrorContains(t, start(strings.Repeat("b", 40)), "was secrets.key changed")
}

// TestOIDCLogoutRevokesGrants: the API session's REST logout (CAS) ends
// the OIDC grants of that session.
func TestOIDCLogoutRevokesGrants(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "finn", "js", "13700137004")
	conf, tok := e.backendTokens(ctx, tgt, "openid offline_access")
	e.casLogout(tgt)
	_, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.Equal(t, "invalid_grant", oauthError(t, err), "logging out of CAS revokes the session's refresh tokens")
}

// TestNoOIDCSecretReachesTheLog: codes, PKCE verifiers, access, ID and
// refresh tokens, sessions and client secrets never reach the log — wxcas's
// own lines nor the op package's (which log through slog's default) —
// including on the error paths (replays, wrong verifier, revocation).
func TestNoOIDCSecretReachesTheLog(t *testing.T) {
	logs := &logx.Buffer{}
	lib := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(lib) })
	ln, base := listen(t)
	body := strings.Replace(oidcConfig(ln.Addr().String(), base, "database: {sqlite_path: "+t.TempDir()+"/wxcas.db}"),
		"log: {level: warn}", "log: {level: debug, format: json}", 1)
	a := runAppWith(t, ln, body, appTest{log: logs})
	e := &oidcEnv{t: t, app: a, base: base, clock: &offsetClock{}}
	ctx := context.Background()
	var secrets []string

	tgt := e.appLogin(oidcMobileAppID, "hana", "", "13700137006")
	pkce := oauth2.GenerateVerifier()
	challenge := func() string {
		_, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid offline_access"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(pkce)}, "code_challenge_method": {"S256"}, "session": {tgt}})
		return out["authorization_code"].(string)
	}
	conf := e.oauthConf(ctx, "app", "")
	code := challenge()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(pkce))
	require.NoError(t, err)
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(pkce)) // replay
	require.Error(t, err)
	wrong := challenge()
	_, err = conf.Exchange(ctx, wrong, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	require.Error(t, err)
	code2 := challenge()
	tok2, err := conf.Exchange(ctx, code2, oauth2.VerifierOption(pkce))
	require.NoError(t, err)
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token()
	require.NoError(t, err)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token() // reuse
	require.Error(t, err)
	_, err = e.provider(ctx).UserInfo(ctx, oauth2.StaticTokenSource(next))
	require.Error(t, err, "revoked by the reuse")

	secrets = append(secrets, tgt, pkce, code, wrong, code2, tok.AccessToken, tok.RefreshToken, tok.Extra("id_token").(string),
		tok2.AccessToken, tok2.RefreshToken, next.AccessToken, next.RefreshToken, oidcBackendPass)
	text := logs.String()
	require.Contains(t, text, "presented again", "the replays were logged")
	for _, s := range secrets {
		require.NotEmpty(t, s)
		require.NotContains(t, text, s)
	}
}

// TestOIDCAuthorizationBelongsToItsBrowser: an authorization request is
// continued only by the browser that continued it first. Otherwise whoever
// starts one could send its /oidc/login link to a person with an SSO
// session and collect that person's code at the callback.
func TestOIDCAuthorizationBelongsToItsBrowser(t *testing.T) {
	e := startOIDC(t, "")
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(c *http.Client, u string) *http.Response {
		resp, err := c.Get(u)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	attacker, victim := browser(), browser()
	resp := get(attacker, e.base+"/oidc/authorize?"+url.Values{"client_id": {"site"}, "redirect_uri": {"https://site.example/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}.Encode())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loginURL := resp.Header.Get("Location")
	require.Contains(t, loginURL, "/oidc/login?id=")
	id, _ := url.Parse(loginURL)
	reqID := id.Query().Get("id")

	resp = get(attacker, loginURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "/cas/login?service=", "the first browser goes on to log in")

	for name, u := range map[string]string{
		"login":    loginURL,
		"continue": e.base + "/oidc/continue/site?id=" + reqID + "&ticket=ST-GUESSED",
	} {
		resp = get(victim, u)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s in another browser is refused", name)
		require.Empty(t, resp.Header.Get("Location"), name)
	}
	// There is no callback that issues codes on request: a code goes out
	// once, in the answer to the request that redeemed the login's ticket.
	for _, c := range []*http.Client{attacker, victim} {
		resp = get(c, e.base+"/oidc/authorize/callback?id="+reqID)
		require.GreaterOrEqual(t, resp.StatusCode, 400)
		require.Empty(t, resp.Header.Get("Location"), "no code, nowhere")
		post, err := c.PostForm(e.base+"/oidc/authorize/callback?id="+reqID, url.Values{"id": {"another-request"}})
		require.NoError(t, err)
		post.Body.Close()
		require.GreaterOrEqual(t, post.StatusCode, 400)
		require.Empty(t, post.Header.Get("Location"), "no code, nowhere")
	}
}

// TestOIDCParameterNamesAreExact: the op package's decoder matches names
// without regard to case, so a second spelling would smuggle a value past
// wxcas's checks; any name not in lower case is refused.
func TestOIDCParameterNamesAreExact(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "nina", "js", "13700137012")
	_, tok := e.backendTokens(ctx, tgt, "openid")
	pkce := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	authorize := "client_id=app&response_type=code&scope=openid&state=s&code_challenge=" + pkce + "&code_challenge_method=S256&redirect_uri=" +
		url.QueryEscape("http://127.0.0.1:5000/cb")
	for name, u := range map[string]string{
		"end_session ID_TOKEN_HINT": "/oidc/end_session?ID_TOKEN_HINT=" + tok.AccessToken,
		"end_session Client_Id":     "/oidc/end_session?Client_Id=app&Post_Logout_Redirect_Uri=" + url.QueryEscape("http://127.0.0.1:5555/bye"),
		"authorize REDIRECT_URI":    "/oidc/authorize?" + authorize + "&REDIRECT_URI=" + url.QueryEscape("http://localhost:5000/cb"),
		"authorize Response_Mode":   "/oidc/authorize?" + authorize + "&Response_Mode=form_post",
		"authorize State":           "/oidc/authorize?" + authorize + "&State=" + strings.Repeat("A", 3000),
	} {
		resp, err := noRedirect.Get(e.base + u)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Empty(t, resp.Header.Get("Location"), name)
	}
	status, _, out := e.postForm(http.MethodPost, "/oidc/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"},
		"client_id": {"app"}, "Client_Id": {"mp"}, "Client_Secret": {oidcBackendPass}})
	require.Equal(t, http.StatusBadRequest, status, "%v", out)
	resp, err := http.Get(e.base + "/cas/v1/tickets/" + tgt)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the session lives on")
}

// TestOIDCInternalServicesStayInternal: the CAS services the provider logs
// people in for get no tickets over REST and no validation outside wxcas.
func TestOIDCInternalServicesStayInternal(t *testing.T) {
	e := startOIDC(t, "")
	tgt := e.appLogin(oidcMiniAppID, "olga", "js", "13700137013")
	resp, err := http.PostForm(e.base+"/cas/v1/tickets/"+tgt, url.Values{"service": {e.base + "/oidc/continue/site?id=x"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, err = http.Get(e.base + "/oidc/userinfo?access_token=x")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "no bearer token in a URL")
}

// TestOIDCEndSessionAfterTheSessionExpired: logging out with an ID token
// whose SSO session has expired still revokes that session's grants
// (refresh tokens outlive the session).
func TestOIDCEndSessionAfterTheSessionExpired(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "petra", "js", "13700137014")
	conf, tok := e.backendTokens(ctx, tgt, "openid offline_access")
	e.clock.Advance(3 * time.Hour) // past the idle timeout (2h)
	resp, err := http.Get(e.base + "/cas/v1/tickets/" + tgt)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the session expired")
	next, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err, "refresh tokens outlive the session")
	resp, err = noRedirect.Get(e.base + "/oidc/end_session?id_token_hint=" + url.QueryEscape(tok.Extra("id_token").(string)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: next.RefreshToken}).Token()
	require.Equal(t, "invalid_grant", oauthError(t, err), "the logout revoked them")
}

// TestOIDCAuthorizeRefusals: what /oidc/authorize never redirects, and
// what it sends back to a registered redirect URI.
func TestOIDCAuthorizeRefusals(t *testing.T) {
	e := startOIDC(t, "")
	authorize := func(q url.Values) *http.Response {
		resp, err := noRedirect.Get(e.base + "/oidc/authorize?" + q.Encode())
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	pkce := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := func() url.Values {
		return url.Values{"client_id": {"app"}, "redirect_uri": {"com.example.app:/cb"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"st"}, "code_challenge": {pkce}, "code_challenge_method": {"S256"}}
	}
	for name, change := range map[string]func(url.Values){
		"unregistered redirect_uri":         func(q url.Values) { q.Set("redirect_uri", "com.example.app:/cb/../evil") },
		"redirect_uri of another client":    func(q url.Values) { q.Set("redirect_uri", "https://site.example/cb") },
		"redirect_uri differing by a slash": func(q url.Values) { q.Set("redirect_uri", "com.example.app:/cb/") },
		"unknown client":                    func(q url.Values) { q.Set("client_id", "nobody") },
		"no redirect_uri":                   func(q url.Values) { q.Del("redirect_uri") },
		"loopback as localhost":             func(q url.Values) { q.Set("redirect_uri", "http://localhost:4444/cb") },
		"loopback as another address":       func(q url.Values) { q.Set("redirect_uri", "http://[::1]:4444/cb") },
		"loopback over https":               func(q url.Values) { q.Set("redirect_uri", "https://127.0.0.1:4444/cb") },
		"loopback with another path":        func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:4444/cb/x") },
	} {
		q := base()
		change(q)
		resp := authorize(q)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Empty(t, resp.Header.Get("Location"), "%s: never redirected", name)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", "%s: a page", name)
	}
	// RFC 8252 §7.3: the registered loopback URI with any port.
	q := base()
	q.Set("redirect_uri", "http://127.0.0.1:4444/cb")
	resp := authorize(q)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Location"), "/oidc/login?id=")

	for name, tc := range map[string]struct {
		change func(url.Values)
		error  string
	}{
		"plain PKCE":       {func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		"no PKCE (public)": {func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		// RFC 6749 §4.1.2.1 allows unauthorized_client too: the op package
		// answers so, the client being registered for code only.
		"implicit":        {func(q url.Values) { q.Set("response_type", "token") }, "unauthorized_client"},
		"no openid scope": {func(q url.Values) { q.Set("scope", "admin") }, "invalid_scope"},
	} {
		q := base()
		tc.change(q)
		resp := authorize(q)
		require.Equal(t, http.StatusFound, resp.StatusCode, name)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "com.example.app:/cb", loc.Scheme+":"+loc.Opaque+loc.Path, name)
		require.Equal(t, tc.error, loc.Query().Get("error"), name)
		require.Equal(t, "st", loc.Query().Get("state"), name)
	}
}

// TestOIDCEntryAccount: an authorization request may name the Official
// Account a login inside WeChat starts from (appid=, as on /cas/login): it
// goes on to the CAS login; one naming no Official Account goes back to the
// client as invalid_request.
func TestOIDCEntryAccount(t *testing.T) {
	e := startOIDC(t, "")
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(appID string) *http.Response {
		resp, err := browser.Get(e.base + "/oidc/authorize?" + url.Values{"client_id": {"site"}, "redirect_uri": {"https://site.example/cb"},
			"response_type": {"code"}, "scope": {"openid"}, "state": {"s"}, "appid": {appID}}.Encode())
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := authorize("wxa1b2c3d4e5f60002")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	resp, err := browser.Get(resp.Header.Get("Location"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	login, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/cas/login", login.Path)
	require.Equal(t, "wxa1b2c3d4e5f60002", login.Query().Get("appid"), "the CAS login starts from the entry account")

	for _, appID := range []string{"wxa1b2c3d4e5f60001", "wxffffffffffffff01"} {
		resp := authorize(appID)
		require.Equal(t, http.StatusFound, resp.StatusCode, appID)
		back, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "site.example", back.Host, appID)
		require.Equal(t, "invalid_request", back.Query().Get("error"), appID)
	}
}

// TestOIDCBackChannelReachesEveryClientOfTheSession: a client is told of
// its session's logout even when its tokens are gone by then — revoked by
// the client, or expired and cleaned up (Back-Channel Logout 1.0 §2.7: every
// RP the person logged in to in that session).
func TestOIDCBackChannelReachesEveryClientOfTheSession(t *testing.T) {
	var mu sync.Mutex
	var tokens []string
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.FormValue("logout_token"))
		mu.Unlock()
	}))
	t.Cleanup(rp.Close)
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(tokens)
	}

	ln, base := listen(t)
	clock := &offsetClock{}
	body := strings.Replace(oidcConfig(ln.Addr().String(), base, "database: {sqlite_path: "+t.TempDir()+"/wxcas.db}"),
		"first_party: true, claims: [userId, phone]}", "first_party: true, claims: [userId, phone], backchannel_logout_uri: '"+rp.URL+"/bcl'}", 1)
	a := runApp(t, ln, body, clock.Now)
	e := &oidcEnv{t: t, app: a, base: base, clock: clock}
	ctx := context.Background()
	conf := e.oauthConf(ctx, "mp", oidcBackendPass)

	for _, end := range []string{"revoked by the client", "expired and cleaned up"} {
		t.Run(end, func(t *testing.T) {
			tgt := e.appLogin(oidcMiniAppID, "jane", "js", "13700137008")
			_, out := e.challenge(url.Values{"scope": {"openid"}, "session": {tgt}}, "mp", oidcBackendPass)
			tok, err := conf.Exchange(ctx, out["authorization_code"].(string))
			require.NoError(t, err)
			if end == "revoked by the client" {
				req, _ := http.NewRequest(http.MethodPost, base+"/oidc/revoke", strings.NewReader(url.Values{"token": {tok.AccessToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("mp", oidcBackendPass)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
			} else {
				clock.Advance(30 * time.Minute) // past the access token, within the session
				_, err := openid.NewSQLStore(a.db).Cleanup(ctx, clock.Now())
				require.NoError(t, err)
			}
			before := received()
			req, _ := http.NewRequest(http.MethodDelete, base+"/cas/v1/tickets/"+tgt, nil)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			deadline := time.Now().Add(10 * time.Second)
			for received() == before && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			require.Equal(t, before+1, received(), "the client is told of the logout")
		})
	}
}

// postForm posts form to path with optional Basic credentials and returns
// the status, headers and JSON body.
func (e *oidcEnv) postForm(method, path string, form url.Values, basic ...string) (int, http.Header, map[string]any) {
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// TestOIDCClientCallRefusals: what every endpoint a client calls with a
// form refuses — other methods, the URL's parameters, repeated ones, and
// any authentication but the client's registered one.
func TestOIDCClientCallRefusals(t *testing.T) {
	e := startOIDC(t, "")
	tgt := e.appLogin(oidcMiniAppID, "kate", "js", "13700137009")
	code := func() string {
		_, out := e.challenge(url.Values{"scope": {"openid offline_access"}, "session": {tgt}}, "mp", oidcBackendPass)
		return out["authorization_code"].(string)
	}
	exchange := url.Values{"grant_type": {"authorization_code"}}

	resp, err := http.Get(e.base + "/oidc/token?grant_type=authorization_code&client_id=mp&client_secret=" + oidcBackendPass + "&code=" + code())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "no token request by GET (secrets in a URL)")

	form := url.Values{"grant_type": {"authorization_code"}, "code": {code()}}
	status, _, out := e.postForm(http.MethodPost, "/oidc/token?client_id=mp&client_secret="+oidcBackendPass, form)
	require.Equal(t, http.StatusUnauthorized, status, "credentials in the URL are not read: %v", out)

	for name, tc := range map[string]struct {
		form   url.Values
		basic  []string
		status int
		error  string
	}{
		"post for a Basic client":     {url.Values{"client_id": {"mp"}, "client_secret": {oidcBackendPass}}, nil, http.StatusUnauthorized, "invalid_client"},
		"Basic and a body secret":     {url.Values{"client_secret": {oidcBackendPass}}, []string{"mp", oidcBackendPass}, http.StatusUnauthorized, "invalid_client"},
		"Basic and another client_id": {url.Values{"client_id": {"site"}}, []string{"mp", oidcBackendPass}, http.StatusUnauthorized, "invalid_client"},
		"public client with a secret": {url.Values{"client_id": {"app"}, "client_secret": {"x"}}, nil, http.StatusUnauthorized, "invalid_client"},
		"wrong secret":                {url.Values{}, []string{"mp", "wrong"}, http.StatusUnauthorized, "invalid_client"},
		"repeated parameter":          {url.Values{"scope": {"openid", "openid"}}, []string{"mp", oidcBackendPass}, http.StatusBadRequest, "invalid_request"},
	} {
		f := url.Values{"code": {code()}}
		for k, v := range exchange {
			f[k] = v
		}
		for k, v := range tc.form {
			f[k] = v
		}
		status, hdr, out := e.postForm(http.MethodPost, "/oidc/token", f, tc.basic...)
		require.Equal(t, tc.status, status, "%s: %v", name, out)
		require.Equal(t, tc.error, out["error"], name)
		if status == http.StatusUnauthorized && tc.basic != nil {
			require.NotEmpty(t, hdr.Get("WWW-Authenticate"), "%s: RFC 6749 §5.2", name)
		}
	}
	status, _, out = e.postForm(http.MethodPut, "/oidc/challenge", url.Values{})
	require.Equal(t, http.StatusMethodNotAllowed, status, "%v", out)
	require.Equal(t, "invalid_request", out["error"])
	resp, err = http.Post(e.base+"/oidc/challenge", "application/json", strings.NewReader(`{"client_id":"mp"}`))
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "invalid_request", out["error"], "a JSON body is refused as not a form: %v", out)
}

// TestOIDCVerifierAndScopeRules: a PKCE verifier of the wrong form is
// refused (RFC 7636 §4.1), and userinfo needs the openid scope.
func TestOIDCVerifierAndScopeRules(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMobileAppID, "lena", "", "13700137010")
	app := e.oauthConf(ctx, "app", "")
	for name, verifier := range map[string]string{"too short": "a", "not unreserved": strings.Repeat("é", 43)} {
		status, out := e.challenge(url.Values{"client_id": {"app"}, "scope": {"openid"}, "session": {tgt},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}})
		require.Equal(t, http.StatusOK, status, "%v", out)
		_, err := app.Exchange(ctx, out["authorization_code"].(string), oauth2.VerifierOption(verifier))
		require.Equal(t, "invalid_grant", oauthError(t, err), name)
	}

	mp := e.oauthConf(ctx, "mp", oidcBackendPass)
	_, out := e.challenge(url.Values{"scope": {"openid offline_access"}, "session": {tgt}}, "mp", oidcBackendPass)
	tok, err := mp.Exchange(ctx, out["authorization_code"].(string))
	require.NoError(t, err)
	status, _, narrowed := e.postForm(http.MethodPost, "/oidc/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tok.RefreshToken}, "scope": {"offline_access"}}, "mp", oidcBackendPass)
	require.Equal(t, http.StatusOK, status, "%v", narrowed)
	req, _ := http.NewRequest(http.MethodGet, e.base+"/oidc/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+narrowed["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "an access token without openid opens no userinfo")
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
}

// TestOIDCEndSessionRefusals: what end-session refuses, with a page.
func TestOIDCEndSessionRefusals(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "mona", "js", "13700137011")
	_, tok := e.backendTokens(ctx, tgt, "openid")
	idToken := tok.Extra("id_token").(string)
	alive := func() bool {
		resp, err := http.Get(e.base + "/cas/v1/tickets/" + tgt)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	for name, q := range map[string]url.Values{
		"an access token as hint":        {"id_token_hint": {tok.AccessToken}},
		"unknown client":                 {"client_id": {"nobody"}},
		"hint of another client":         {"id_token_hint": {idToken}, "client_id": {"app"}},
		"unregistered post-logout URI":   {"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"post-logout URI with no client": {"post_logout_redirect_uri": {"com.example.app:/cb"}},
		"repeated parameter":             {"state": {"a", "b"}},
	} {
		resp, err := noRedirect.Get(e.base + "/oidc/end_session?" + q.Encode())
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", name)
		require.True(t, alive(), "%s: the session lives on", name)
	}
	resp, err := noRedirect.Get(e.base + "/oidc/end_session?" + url.Values{"id_token_hint": {idToken}}.Encode())
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.False(t, alive(), "the ID token's session is over")
}

// TestOIDCAuthorizeBounds: repeated parameters, oversized values and
// response modes other than query.
func TestOIDCAuthorizeBounds(t *testing.T) {
	e := startOIDC(t, "")
	pkce := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	q := "client_id=app&response_type=code&scope=openid&code_challenge=" + pkce + "&code_challenge_method=S256&state=st"
	for name, tc := range map[string]struct {
		query  string
		status int
		error  string
	}{
		"repeated redirect_uri": {q + "&redirect_uri=" + url.QueryEscape("http://127.0.0.1/cb") + "&redirect_uri=" + url.QueryEscape("http://localhost:5555/cb"), http.StatusBadRequest, ""},
		"state too long":        {q + "&redirect_uri=com.example.app:/cb&nonce=" + strings.Repeat("n", 600), http.StatusFound, "invalid_request"},
		"form_post":             {q + "&redirect_uri=com.example.app:/cb&response_mode=form_post", http.StatusFound, "invalid_request"},
		"huge query":            {q + "&redirect_uri=com.example.app:/cb&login_hint=" + strings.Repeat("x", 9000), http.StatusBadRequest, ""},
	} {
		resp, err := noRedirect.Get(e.base + "/oidc/authorize?" + tc.query)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, tc.status, resp.StatusCode, name)
		if tc.error != "" {
			loc, err := url.Parse(resp.Header.Get("Location"))
			require.NoError(t, err)
			require.Equal(t, tc.error, loc.Query().Get("error"), name)
			require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "com.example.app:/cb"), name)
		} else {
			require.Empty(t, resp.Header.Get("Location"), name)
		}
	}
}

// TestOIDCAuthorizeFormBodyBound: a POST authorization request is bounded
// like a GET one.
func TestOIDCAuthorizeFormBodyBound(t *testing.T) {
	e := startOIDC(t, "")
	resp, err := noRedirect.PostForm(e.base+"/oidc/authorize", url.Values{"client_id": {"app"}, "redirect_uri": {"com.example.app:/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "foo": {strings.Repeat("x", 60000)}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Location"))
}

// TestOIDCIDTokenHintNamesThePerson: an authorization whose id_token_hint
// names another person than the one logged in (OIDC Core §3.1.2.1) gets
// login_required with prompt=none, and a new login otherwise.
func TestOIDCIDTokenHintNamesThePerson(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	bindPerson(t, e.app, "quinn", "+8613700137015")
	bindPerson(t, e.app, "rita", "+8613700137016")
	site := &oauth2.Config{ClientID: "site", ClientSecret: oidcBackendPass + "-site", RedirectURL: "https://site.example/cb",
		Endpoint: oauth2.Endpoint{AuthURL: e.base + "/oidc/authorize", TokenURL: e.base + "/oidc/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{oidc.ScopeOpenID}}
	// login logs person in to the site in browser c and returns the ID token.
	login := func(c *http.Client, person string, opts ...oauth2.AuthCodeOption) *http.Response {
		resp, err := sandboxQRLogin(c, site.AuthCodeURL("st", opts...), person)
		require.NoError(t, err)
		return resp
	}
	codeOf := func(resp *http.Response) string {
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, "site.example", loc.Host, "back at the site: %s", loc)
		return loc.Query().Get("code")
	}
	rita := sandboxBrowser(e.base)
	tok, err := site.Exchange(ctx, codeOf(login(rita, "rita")))
	require.NoError(t, err)
	ritasHint := tok.Extra("id_token").(string)

	quinn := sandboxBrowser(e.base)
	require.NotEmpty(t, codeOf(login(quinn, "quinn")))

	// Quinn's browser, the hint names Rita.
	resp, err := quinn.Get(site.AuthCodeURL("st", oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", ritasHint)))
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "login_required", loc.Query().Get("error"), "%s", loc)

	resp, err = quinn.Get(site.AuthCodeURL("st", oauth2.SetAuthURLParam("id_token_hint", ritasHint)))
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(page), "sandbox-qr", "a new login is asked for")

	// Rita's own hint in Rita's browser: at once.
	resp, err = rita.Get(site.AuthCodeURL("st", oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", ritasHint)))
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, codeOf(resp))
}

// TestOIDCDatabaseOutageIsNotRevocation: with the database out of reach,
// userinfo and introspection answer an error (retry later), never "invalid
// token" or "inactive", which would make clients throw good tokens away.
func TestOIDCDatabaseOutageIsNotRevocation(t *testing.T) {
	e := startOIDC(t, "")
	ctx := context.Background()
	tgt := e.appLogin(oidcMiniAppID, "sara", "js", "13700137017")
	_, tok := e.backendTokens(ctx, tgt, "openid offline_access")
	require.NoError(t, e.app.db.Close())

	req, _ := http.NewRequest(http.MethodGet, e.base+"/oidc/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.GreaterOrEqual(t, resp.StatusCode, 500, "userinfo: an error, not invalid_token")

	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		status, _, out := e.postForm(http.MethodPost, "/oidc/introspect", url.Values{"token": {token}}, "mp", oidcBackendPass)
		require.GreaterOrEqual(t, status, 500, "introspection: an error, not inactive: %v", out)
		require.NotContains(t, out, "active")
	}
}
