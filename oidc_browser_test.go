package main

// The OpenID Provider as a relying party meets it: wxcas in production mode
// (sandbox off, as browser_prod_test.go runs it), the WeChat emulator on its
// own address, headless Chromium, and an RP built on coreos/go-oidc and
// x/oauth2 (oidc_rp_test.go). A browser authorization is a CAS login for
// the internal service /oidc/continue/<client>, so these tests go through
// the real login pages (inline QR on a desktop, the Official Account inside
// WeChat), the phone binding, the CAS SSO cookie and CAS logout.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// oidcBrowserEnv is wxcas with the OpenID Provider on, in production mode, and
// its relying party.
type oidcBrowserEnv struct {
	*prodEnv
	rp *oidcRP
}

// startBrowserOIDC runs wxcas as startProd does (inline QR) with an oidc section:
// the RP's confidential web client and a native app with a loopback
// redirect URI. withBrowser false: no Chromium (plain HTTP tests).
func startBrowserOIDC(t *testing.T, withBrowser bool) *oidcBrowserEnv {
	t.Helper()
	if withBrowser {
		requireChromium(t)
	}
	ln, base := listen(t)
	rp := newOIDCRP(t)

	em, emSrv := prodEmulator(t)

	// Loaded as a sandbox file (the client secret is written in it, WeChat's
	// URLs are http, SMS goes to the console), then switched to production
	// as startProd does.
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: %s, kind: website, secret: web-secret}
    - {appid: %s, kind: official_account, secret: oa-secret}
login: {website_appid: %s, official_account_appid: %s, official_account_unionid: true, qr_mode: inline}
cas:
  services:
    - {id: site, name: Test site, match: prefix, url: 'https://site.example/', attributes: [phone]}
oidc:
  enabled: true
  clients:
    - id: %s
      name: OIDC test web site
      type: web
      secret: %s
      redirect_uris: ['%s/callback']
      post_logout_redirect_uris: ['%s/logged-out']
      backchannel_logout_uri: '%s/backchannel'
      scopes: [openid, offline_access]
      claims: [userId, phone, nickname]
    - id: %s
      name: OIDC test app
      type: native
      redirect_uris: ['http://127.0.0.1/callback']
      scopes: [openid, offline_access]
      claims: [userId]
`, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), prodWebsiteAppID, prodOAAppID, prodWebsiteAppID, prodOAAppID,
		rpWebClient, rpWebSecret, rp.URL, rp.URL, rp.URL, rpNativeClient)
	a := serveAsProduction(t, ln, body, emSrv.URL)

	rp.connect(t, base)
	e := &e2e{t: t, app: a, base: base}
	if withBrowser {
		e.browser, e.shots = startChromium(t)
	}
	return &oidcBrowserEnv{prodEnv: &prodEnv{e2e: e, em: em, emURL: emSrv.URL}, rp: rp}
}

func (o *oidcBrowserEnv) sub(t *testing.T) *oidcBrowserEnv {
	return &oidcBrowserEnv{prodEnv: o.prodEnv.sub(t), rp: o.rp}
}

// browserFor is a browser of its own (cookies included) with userAgent
// (desktop when empty), for up to d: one context may span several logins.
func (o *oidcBrowserEnv) browserFor(userAgent string, d time.Duration) context.Context {
	t := o.t
	ctx, cancel := chromedp.NewContext(o.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if userAgent == "" {
		userAgent = desktopUA
	}
	_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: userAgent, AcceptLanguage: "zh-CN,zh;q=0.9"})
	require.NoError(t, err)
	ctx, cancelT := context.WithTimeout(ctx, d)
	t.Cleanup(cancelT)
	return ctx
}

// navigate goes to u and returns the URL of the document that finally
// loaded (after every redirect).
func (o *oidcBrowserEnv) navigate(ctx context.Context, u string) string {
	o.t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	require.NoError(o.t, err, "navigate to %s", u)
	return resp.URL
}

// requireLoginPage: u is wxcas's login page (a journey), not the RP.
func (o *oidcBrowserEnv) requireLoginPage(u string) {
	o.t.Helper()
	require.True(o.t, strings.HasPrefix(u, o.base+"/login?flow="), "wxcas's login page, got %s", u)
}

// backOnRP waits for the RP's callback page and returns its query.
func (o *oidcBrowserEnv) backOnRP(ctx context.Context) url.Values {
	o.t.Helper()
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS("#rp-callback"))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		require.FailNow(o.t, "never back on the RP", "at %s: %v\n%s", o.location(ctx), err, body)
	}
	require.True(o.t, strings.HasPrefix(o.location(ctx), o.rp.URL+"/callback?"), o.location(ctx))
	return o.rp.lastCallback(o.t)
}

// tgc returns wxcas's SSO cookie in ctx's browser ("" when there is none).
func (o *oidcBrowserEnv) tgc(ctx context.Context) string {
	o.t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{o.base + "/cas/login"}})
	require.NoError(o.t, err)
	for _, c := range res.Cookies {
		if c.Name == "TGC" {
			return c.Value
		}
	}
	return ""
}

// desktopFirstLogin: the RP's login button in a desktop browser, the inline
// QR scanned by person, a phone bound by SMS, back on the RP with a code,
// which the RP turns into verified tokens.
func (o *oidcBrowserEnv) desktopFirstLogin(ctx context.Context, seen func() []string, phone, e164, shot string) *rpLogin {
	t := o.t
	t.Helper()
	landed := o.navigate(ctx, o.rp.loginURL(rpWebClient, ""))
	o.requireLoginPage(landed)
	q := o.rp.lastAuthorization(t)
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, "openid offline_access", q.Get("scope"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.NotEmpty(t, q.Get("code_challenge"))
	require.NotEmpty(t, q.Get("nonce"))
	require.NotEmpty(t, q.Get("state"))
	o.scanWxLogin(ctx, seen)
	o.bindPhone(ctx, phone, e164, shot)
	l := o.rp.finish(t, o.backOnRP(ctx))
	require.Equal(t, l.claims.UserID, l.id.Subject, "sub is the user id (built-in directory)")
	require.Equal(t, e164, l.claims.Phone, "the bound phone is a claim of the web client")
	require.NotEmpty(t, l.claims.Nickname, "the WeChat nickname is a claim of the web client")
	require.Equal(t, l.claims.UserID, l.profile["userId"], "userinfo has the client's claims")
	require.Equal(t, e164, l.profile["phone"])
	require.Equal(t, l.claims.Nickname, l.profile["nickname"])
	require.NotContains(t, l.profile, "wechatUnionId", "only the configured claims")
	return l
}

// approveInWeChat approves the Official Account authorizations as person
// until the browser is back on the RP; it returns how many there were.
func (o *oidcBrowserEnv) approveInWeChat(ctx context.Context, person string) int {
	t := o.t
	t.Helper()
	for steps := 0; ; steps++ {
		loc := o.location(ctx)
		if strings.HasPrefix(loc, o.rp.URL+"/callback?") {
			return steps
		}
		require.Less(t, steps, 3, "stuck at %s", loc)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		require.Equal(t, o.emURL+"/connect/oauth2/authorize", u.Scheme+"://"+u.Host+u.Path, "WeChat's OA authorization, step %d", steps)
		require.Equal(t, prodOAAppID, u.Query().Get("appid"))
		require.Equal(t, o.base+"/wechat/callback", u.Query().Get("redirect_uri"))
		o.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
		o.pickUser(ctx, person)
		_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
		require.NoError(t, err)
	}
}

// TestBrowserOIDCDesktopQR: a first login at an RP from a desktop browser,
// then the token lifecycle, single sign-on and prompt=none.
func TestBrowserOIDCDesktopQR(t *testing.T) {
	o := startBrowserOIDC(t, true)
	disc := o.rp.discovery(t)
	require.Equal(t, []any{"S256"}, disc["code_challenge_methods_supported"], "no plain PKCE")
	require.Equal(t, []any{"code"}, disc["response_types_supported"])
	ctx := o.browserFor("", 50*time.Second)
	seen := o.weChat(ctx, "quinn")

	l := o.desktopFirstLogin(ctx, seen, "137 0013 7101", "+8613700137101", "oidc-desktop")
	require.NotEmpty(t, o.tgc(ctx), "the OIDC login made a CAS SSO session")

	// Refresh with rotation: a new refresh token each time; the spent one
	// presented again revokes the family, the new one included.
	rt1 := l.token.RefreshToken
	tok2, err := o.rp.refresh(rpWebClient, rt1)
	require.NoError(t, err, "refresh")
	require.NotEmpty(t, tok2.RefreshToken)
	require.NotEqual(t, rt1, tok2.RefreshToken, "the refresh token rotates")
	require.NotEqual(t, l.token.AccessToken, tok2.AccessToken)
	require.Equal(t, "at+jwt", joseHeader(t, tok2.AccessToken)["typ"])
	rawID2, _ := tok2.Extra("id_token").(string)
	require.NotEmpty(t, rawID2, "a refresh with scope openid returns an ID token")
	id2, claims2 := o.rp.verifyID(t, rpWebClient, rawID2)
	require.Equal(t, l.id.Subject, id2.Subject)
	require.Equal(t, l.claims.SID, claims2.SID)
	require.Empty(t, id2.Nonce, "no nonce in a refreshed ID token")
	info, err := o.rp.userInfo(tok2)
	require.NoError(t, err)
	require.Equal(t, l.id.Subject, info.Subject)

	_, err = o.rp.refresh(rpWebClient, rt1)
	requireOAuthError(t, err, "invalid_grant")
	_, err = o.rp.refresh(rpWebClient, tok2.RefreshToken)
	requireOAuthError(t, err, "invalid_grant")
	_, err = o.rp.userInfo(tok2)
	require.Error(t, err, "the revoked family's access token no longer reaches userinfo")

	// A second authorization in the same browser: single sign-on from the
	// CAS cookie, straight back to the RP, no login page.
	before := o.rp.callbackCount()
	landed := o.navigate(ctx, o.rp.loginURL(rpWebClient, ""))
	require.True(t, strings.HasPrefix(landed, o.rp.URL+"/callback?"), "SSO: no login page, got %s", landed)
	require.Equal(t, before+1, o.rp.callbackCount())
	sso := o.rp.finish(t, o.rp.lastCallback(t))
	require.Equal(t, l.id.Subject, sso.id.Subject)
	require.Equal(t, l.claims.SID, sso.claims.SID, "the same SSO session")
	require.Equal(t, l.claims.AuthTime, sso.claims.AuthTime, "no new authentication")
	require.NotEqual(t, l.token.RefreshToken, sso.token.RefreshToken)

	// Its code presented again: refused, and the tokens it issued revoked.
	requireOAuthError(t, o.rp.exchangeAgain(sso), "invalid_grant")
	_, err = o.rp.refresh(rpWebClient, sso.token.RefreshToken)
	requireOAuthError(t, err, "invalid_grant")

	// prompt=none with the session: a code without any page.
	landed = o.navigate(ctx, o.rp.loginURL(rpWebClient, "none"))
	require.True(t, strings.HasPrefix(landed, o.rp.URL+"/callback?"), landed)
	silent := o.rp.finish(t, o.rp.lastCallback(t))
	require.Equal(t, l.claims.SID, silent.claims.SID)

	// prompt=none with max_age=0: the session is too old and no new login
	// may be asked for, so login_required (once, not a loop of tickets).
	landed = o.navigate(ctx, o.rp.loginURL(rpWebClient, "none")+"&max_age=0")
	require.True(t, strings.HasPrefix(landed, o.rp.URL+"/callback?"), landed)
	require.Equal(t, "login_required", o.rp.lastCallback(t).Get("error"))

	// prompt=none in a browser without the cookie: login_required at the
	// redirect URI, with the state, and no page shown.
	fresh := o.browserFor("", 20*time.Second)
	require.Empty(t, o.tgc(fresh))
	landed = o.navigate(fresh, o.rp.loginURL(rpWebClient, "none"))
	require.True(t, strings.HasPrefix(landed, o.rp.URL+"/callback?"), landed)
	cb := o.rp.lastCallback(t)
	require.Equal(t, "login_required", cb.Get("error"))
	require.Empty(t, cb.Get("code"))
	require.Empty(t, o.tgc(fresh), "prompt=none made no session")

	// prompt=login with the session: the login page all the same.
	before = o.rp.callbackCount()
	o.requireLoginPage(o.navigate(ctx, o.rp.loginURL(rpWebClient, "login")))
	require.Equal(t, before, o.rp.callbackCount())
}

// TestBrowserOIDCInsideWeChat: a person bound on a desktop logs in to the
// RP from WeChat's in-app browser through the Official Account, then a
// native app (public client, loopback redirect with a runtime port) gets
// its code from the same browser's session.
func TestBrowserOIDCInsideWeChat(t *testing.T) {
	o := startBrowserOIDC(t, true)
	desk := o.browserFor("", 30*time.Second)
	first := o.desktopFirstLogin(desk, o.weChat(desk, "rosa"), "137 0013 7102", "+8613700137102", "oidc-wechat-bind")

	wx := o.browserFor(weChatUA, 40*time.Second)
	landed := o.navigate(wx, o.rp.loginURL(rpWebClient, ""))
	require.True(t, strings.HasPrefix(landed, o.emURL+"/connect/oauth2/authorize?"), "inside WeChat: the Official Account authorization, got %s", landed)
	require.GreaterOrEqual(t, o.approveInWeChat(wx, "rosa"), 1)
	l := o.rp.finish(t, o.backOnRP(wx))
	require.Equal(t, first.id.Subject, l.id.Subject, "the same person by unionid: no second binding")
	require.Equal(t, "+8613700137102", l.claims.Phone)
	require.NotEqual(t, first.claims.SID, l.claims.SID, "another browser, another session")

	// The native app: system browser (here WeChat's) with the session, a
	// loopback redirect URI on the port the app listens on.
	rpURL, err := url.Parse(o.rp.URL)
	require.NoError(t, err)
	require.NotEmpty(t, rpURL.Port(), "registered without a port, used with one")
	landed = o.navigate(wx, o.rp.loginURL(rpNativeClient, ""))
	require.True(t, strings.HasPrefix(landed, o.rp.URL+"/callback?"), "SSO for the native app, got %s", landed)
	n := o.rp.finish(t, o.rp.lastCallback(t))
	require.Equal(t, []string{rpNativeClient}, n.id.Audience)
	require.Equal(t, l.id.Subject, n.id.Subject)
	require.Equal(t, l.claims.SID, n.claims.SID)
	require.Empty(t, n.claims.Phone, "the native app was given userId only")
	require.NotContains(t, n.profile, "phone")
	require.Equal(t, n.id.Subject, n.profile["userId"])
	var tok *oauth2.Token
	tok, err = o.rp.refresh(rpNativeClient, n.token.RefreshToken)
	require.NoError(t, err, "a public client refreshes without a secret")
	require.NotEqual(t, n.token.RefreshToken, tok.RefreshToken)
}

// TestBrowserOIDCLogout: RP-initiated logout (end_session) and CAS logout
// each end the one session: back-channel logout token, refresh token
// revoked, SSO cookie gone.
func TestBrowserOIDCLogout(t *testing.T) {
	o := startBrowserOIDC(t, true)
	disc := o.rp.discovery(t)
	require.Equal(t, true, disc["backchannel_logout_supported"])
	require.Equal(t, true, disc["backchannel_logout_session_supported"])
	endSession, _ := disc["end_session_endpoint"].(string)
	require.Equal(t, o.base+"/oidc/end_session", endSession)

	ctx := o.browserFor("", 55*time.Second)
	seen := o.weChat(ctx, "sara")
	l := o.desktopFirstLogin(ctx, seen, "137 0013 7103", "+8613700137103", "oidc-logout")
	require.NotEmpty(t, o.tgc(ctx))
	require.Empty(t, o.rp.logoutPosts())

	t.Run("RP-initiated", func(t *testing.T) {
		o := o.sub(t)
		state := randomValue()
		landed := o.navigate(ctx, endSession+"?"+url.Values{
			"id_token_hint": {l.rawID}, "post_logout_redirect_uri": {o.rp.URL + "/logged-out"}, "state": {state},
		}.Encode())
		require.True(t, strings.HasPrefix(landed, o.rp.URL+"/logged-out?"), "back at the post-logout URI, got %s", landed)
		o.do(ctx, chromedp.WaitVisible(chromedp.CSS("#rp-logged-out")))
		require.Equal(t, state, o.rp.lastLoggedOut(t).Get("state"))

		o.rp.verifyLogoutToken(t, o.rp.waitLogout(t, 1), l)
		_, err := o.rp.refresh(rpWebClient, l.token.RefreshToken)
		requireOAuthError(t, err, "invalid_grant")
		_, err = o.rp.userInfo(l.token)
		require.Error(t, err, "the access token of the ended session no longer reaches userinfo")
		require.Empty(t, o.tgc(ctx), "the SSO cookie is gone")
		// A new authorization needs a login again.
		o.requireLoginPage(o.navigate(ctx, o.rp.loginURL(rpWebClient, "")))
		require.Len(t, o.rp.logoutPosts(), 1, "one logout token for one session")
	})

	t.Run("CAS-initiated", func(t *testing.T) {
		o := o.sub(t)
		// The login page of the last subtest: a returning person only scans.
		if !strings.HasPrefix(o.location(ctx), o.base+"/login?flow=") {
			o.requireLoginPage(o.navigate(ctx, o.rp.loginURL(rpWebClient, "")))
		}
		o.scanWxLogin(ctx, seen)
		l2 := o.rp.finish(t, o.backOnRP(ctx))
		require.Equal(t, l.id.Subject, l2.id.Subject)
		require.NotEqual(t, l.claims.SID, l2.claims.SID, "a new session")
		require.NotEmpty(t, o.tgc(ctx))

		posts := len(o.rp.logoutPosts())
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(o.base+"/cas/logout"))
		require.NoError(t, err)
		require.Equal(t, int64(http.StatusOK), resp.Status)
		raw := o.rp.waitLogout(t, posts+1)
		o.rp.verifyLogoutToken(t, raw, l2)
		_, err = o.rp.refresh(rpWebClient, l2.token.RefreshToken)
		requireOAuthError(t, err, "invalid_grant")
		require.Empty(t, o.tgc(ctx))
	})
}

// TestBrowserOIDCAuthorizeErrors (no browser): what an authorization
// request that must not succeed gets. An unregistered redirect URI is never
// redirected to; errors about a registered one go back to it.
func TestBrowserOIDCAuthorizeErrors(t *testing.T) {
	o := startBrowserOIDC(t, false)
	verifier := oauth2.GenerateVerifier()
	authorize := func(t *testing.T, q url.Values) *http.Response {
		t.Helper()
		resp, err := noRedirect.Get(o.base + "/oidc/authorize?" + q.Encode())
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	request := func(client, redirectURI string) url.Values {
		return url.Values{
			"client_id": {client}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid offline_access"},
			"state": {"st-" + client}, "nonce": {"n"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"},
		}
	}
	// errorAt: a redirect to redirectURI with error and the request's state.
	errorAt := func(t *testing.T, resp *http.Response, redirectURI, code string) {
		t.Helper()
		require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, resp.StatusCode)
		loc, err := url.Parse(resp.Header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, redirectURI, loc.Scheme+"://"+loc.Host+loc.Path)
		require.Equal(t, code, loc.Query().Get("error"), loc.Query().Get("error_description"))
		require.NotEmpty(t, loc.Query().Get("state"))
		require.Empty(t, loc.Query().Get("code"))
	}
	// refused: an error page here, no redirect anywhere.
	refused := func(t *testing.T, resp *http.Response) {
		t.Helper()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", body)
		require.Empty(t, resp.Header.Get("Location"))
		require.NotContains(t, string(body), "evil.example")
	}
	callback := o.rp.URL + "/callback"

	t.Run("a well-formed request goes to the login", func(t *testing.T) {
		resp := authorize(t, request(rpWebClient, callback))
		require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), o.base+"/oidc/login?id="), resp.Header.Get("Location"))
	})
	t.Run("unregistered redirect_uri", func(t *testing.T) {
		refused(t, authorize(t, request(rpWebClient, "https://evil.example/callback")))
		// Exact match for a web client: another port, a query, a trailing
		// slash are other URIs.
		port := callback[strings.LastIndex(callback, ":"):]
		for _, u := range []string{strings.Replace(callback, port, ":1/callback", 1), callback + "?next=https://evil.example/", callback + "/"} {
			refused(t, authorize(t, request(rpWebClient, u)))
		}
		// Only a native client's loopback URI may change port.
		refused(t, authorize(t, request(rpNativeClient, "http://127.0.0.1:8080/other")))
	})
	t.Run("unknown client", func(t *testing.T) {
		refused(t, authorize(t, request("nobody", "https://evil.example/callback")))
	})
	t.Run("code_challenge_method=plain", func(t *testing.T) {
		q := request(rpWebClient, callback)
		q.Set("code_challenge", verifier)
		q.Set("code_challenge_method", "plain")
		errorAt(t, authorize(t, q), callback, "invalid_request")
	})
	t.Run("native client without PKCE", func(t *testing.T) {
		q := request(rpNativeClient, callback) // the loopback URI on the RP's port
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		errorAt(t, authorize(t, q), callback, "invalid_request")
		// With PKCE the same request is accepted (any loopback port).
		resp := authorize(t, request(rpNativeClient, callback))
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), o.base+"/oidc/login?id="), resp.Header.Get("Location"))
	})
}
