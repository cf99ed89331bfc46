package main

// A relying party for the OpenID Provider tests, built on the libraries a
// real Go web application would use: github.com/coreos/go-oidc (discovery,
// JWKS, ID token verification, userinfo) and golang.org/x/oauth2
// (authorization URL, PKCE, code exchange, refresh). It is a small web site:
//
//	GET  /login?client=web|native[&prompt=none][&max_age=N]  starts an authorization
//	GET  /callback                                where wxcas sends the browser back
//	POST /backchannel                             OIDC back-channel logout
//	GET  /logged-out                              the post-logout redirect URI
//
// It remembers each authorization it started (state → PKCE verifier, nonce)
// as its session would; the test finishes the login (exchange, verification)
// with what it remembered, so every check is a require in the test.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

const (
	rpWebClient    = "web"
	rpWebSecret    = "web-client-secret-for-the-oidc-browser-tests"
	rpNativeClient = "native"
	// backChannelEvent is the event a logout token carries (OIDC
	// Back-Channel Logout 1.0 §2.4).
	backChannelEvent = "http://schemas.openid.net/event/backchannel-logout"
)

type oidcRP struct {
	srv *httptest.Server
	URL string // http://127.0.0.1:<port>

	mu        sync.Mutex
	issuer    string
	provider  *oidc.Provider
	clients   map[string]*rpClient
	pending   map[string]rpPending // by state
	lastState string
	lastAuth  string // the authorization URL the RP sent the browser to
	callbacks []url.Values
	loggedOut []url.Values
	logouts   []rpLogoutPost
	problems  []string // what the RP's handlers refused
}

type rpClient struct {
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

type rpPending struct {
	client, verifier, nonce string
}

type rpLogoutPost struct {
	contentType string
	token       string
}

func newOIDCRP(t *testing.T) *oidcRP {
	t.Helper()
	rp := &oidcRP{pending: map[string]rpPending{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", rp.handleLogin)
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		rp.callbacks = append(rp.callbacks, r.URL.Query())
		rp.mu.Unlock()
		rpPage(w, "rp-callback", "state "+r.URL.Query().Get("state")+" error "+r.URL.Query().Get("error"))
	})
	mux.HandleFunc("GET /logged-out", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		rp.loggedOut = append(rp.loggedOut, r.URL.Query())
		rp.mu.Unlock()
		rpPage(w, "rp-logged-out", "state "+r.URL.Query().Get("state"))
	})
	mux.HandleFunc("POST /backchannel", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			rp.problem("back-channel: %v", err)
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		rp.mu.Lock()
		rp.logouts = append(rp.logouts, rpLogoutPost{contentType: r.Header.Get("Content-Type"), token: r.PostForm.Get("logout_token")})
		rp.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	rp.URL = rp.srv.URL
	return rp
}

func rpPage(w http.ResponseWriter, id, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>RP</title></head><body><p id="%s">%s</p></body></html>`, id, html.EscapeString(text))
}

func (rp *oidcRP) problem(format string, args ...any) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.problems = append(rp.problems, fmt.Sprintf(format, args...))
}

// connect discovers the provider at issuer and sets up the two clients:
// the confidential web client (client_secret_basic) and the native app
// (public, PKCE only), whose redirect URI is this server's loopback
// address with its runtime port.
func (rp *oidcRP) connect(t *testing.T, issuer string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, issuer)
	require.NoError(t, err, "discovery")
	web := provider.Endpoint()
	web.AuthStyle = oauth2.AuthStyleInHeader
	native := provider.Endpoint()
	native.AuthStyle = oauth2.AuthStyleInParams
	scopes := []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.issuer, rp.provider = issuer, provider
	rp.clients = map[string]*rpClient{
		rpWebClient: {
			conf:     oauth2.Config{ClientID: rpWebClient, ClientSecret: rpWebSecret, Endpoint: web, RedirectURL: rp.URL + "/callback", Scopes: scopes},
			verifier: provider.Verifier(&oidc.Config{ClientID: rpWebClient}),
		},
		rpNativeClient: {
			conf:     oauth2.Config{ClientID: rpNativeClient, Endpoint: native, RedirectURL: rp.URL + "/callback", Scopes: scopes},
			verifier: provider.Verifier(&oidc.Config{ClientID: rpNativeClient}),
		},
	}
}

func randomValue() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleLogin starts an authorization code flow with state, nonce and PKCE
// S256, as an RP's login button does.
func (rp *oidcRP) handleLogin(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("client")
	if id == "" {
		id = rpWebClient
	}
	rp.mu.Lock()
	c := rp.clients[id]
	rp.mu.Unlock()
	if c == nil {
		rp.problem("login for unknown client %q", id)
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	}
	state, nonce, verifier := randomValue(), randomValue(), oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}
	if maxAge := r.URL.Query().Get("max_age"); maxAge != "" {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", maxAge))
	}
	if prompt := r.URL.Query().Get("prompt"); prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
	}
	rp.mu.Lock()
	rp.pending[state] = rpPending{client: id, verifier: verifier, nonce: nonce}
	rp.lastState = state
	rp.lastAuth = c.conf.AuthCodeURL(state, opts...)
	rp.mu.Unlock()
	http.Redirect(w, r, rp.lastAuth, http.StatusFound)
}

// loginURL is where a browser starts logging in to the RP.
func (rp *oidcRP) loginURL(client, prompt string) string {
	u := rp.URL + "/login?client=" + url.QueryEscape(client)
	if prompt != "" {
		u += "&prompt=" + url.QueryEscape(prompt)
	}
	return u
}

// lastCallback is the query of the last callback, which must answer the
// last authorization the RP started (same state).
func (rp *oidcRP) lastCallback(t *testing.T) url.Values {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	require.Empty(t, rp.problems)
	require.NotEmpty(t, rp.callbacks, "the browser came back to the RP")
	cb := rp.callbacks[len(rp.callbacks)-1]
	require.Equal(t, rp.lastState, cb.Get("state"), "the callback carries the state of the authorization the RP started")
	return cb
}

// lastAuthorization is the query of the last authorization request the RP
// started.
func (rp *oidcRP) lastAuthorization(t *testing.T) url.Values {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	u, err := url.Parse(rp.lastAuth)
	require.NoError(t, err)
	return u.Query()
}

func (rp *oidcRP) callbackCount() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.callbacks)
}

// rpLogin is a finished login: the tokens and what the RP verified.
type rpLogin struct {
	client  string
	code    string // the code it was exchanged for, and the PKCE verifier
	pkce    string
	token   *oauth2.Token
	rawID   string
	id      *oidc.IDToken
	claims  idClaims
	access  map[string]any // the access token's claims (verified)
	profile map[string]any // userinfo
}

type idClaims struct {
	SID      string `json:"sid"`
	Nonce    string `json:"nonce"`
	AZP      string `json:"azp"`
	AtHash   string `json:"at_hash"`
	CHash    string `json:"c_hash"`
	AuthTime int64  `json:"auth_time"`
	UserID   string `json:"userId"`
	Phone    string `json:"phone"`
	Nickname string `json:"nickname"`
}

// finish does what the RP's callback handler does with a code: the state
// names an authorization the RP started (used once), the code is exchanged
// with the PKCE verifier, the ID token is verified against the provider's
// JWKS with its nonce, and userinfo is fetched with the access token.
func (rp *oidcRP) finish(t *testing.T, cb url.Values) *rpLogin {
	t.Helper()
	require.Empty(t, cb.Get("error"), "error %s: %s", cb.Get("error"), cb.Get("error_description"))
	require.NotEmpty(t, cb.Get("code"))
	rp.mu.Lock()
	p, ok := rp.pending[cb.Get("state")]
	delete(rp.pending, cb.Get("state"))
	c := rp.clients[p.client]
	provider, issuer := rp.provider, rp.issuer
	rp.mu.Unlock()
	require.True(t, ok, "state %q names an authorization the RP started", cb.Get("state"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.conf.Exchange(ctx, cb.Get("code"), oauth2.VerifierOption(p.verifier))
	require.NoError(t, err, "code exchange")
	require.Equal(t, "Bearer", tok.TokenType)
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken, "offline_access gives a refresh token")
	require.True(t, tok.Expiry.After(time.Now()))

	l := &rpLogin{client: p.client, code: cb.Get("code"), pkce: p.verifier, token: tok}
	l.rawID, _ = tok.Extra("id_token").(string)
	require.NotEmpty(t, l.rawID, "the token response has an ID token")
	l.id, err = c.verifier.Verify(ctx, l.rawID)
	require.NoError(t, err, "the ID token verifies against the JWKS")
	require.Equal(t, issuer, l.id.Issuer)
	require.Equal(t, []string{p.client}, l.id.Audience)
	require.Equal(t, p.nonce, l.id.Nonce, "the ID token carries the RP's nonce")
	require.NotEmpty(t, l.id.Subject)
	require.NoError(t, l.id.Claims(&l.claims))
	require.NotEmpty(t, l.claims.SID, "the ID token names the session (sid)")
	require.Equal(t, p.client, l.claims.AZP)
	require.NotZero(t, l.claims.AuthTime)
	require.NotEmpty(t, l.claims.CHash)
	require.NoError(t, l.id.VerifyAccessToken(tok.AccessToken), "at_hash")
	require.Equal(t, "JWT", joseHeader(t, l.rawID)["typ"])

	// The access token: an RFC 9068 JWT (typ at+jwt) signed by the same
	// keys, for this client and session.
	require.Equal(t, "at+jwt", joseHeader(t, tok.AccessToken)["typ"])
	_, err = c.verifier.Verify(ctx, tok.AccessToken)
	require.NoError(t, err, "the access token verifies against the JWKS")
	l.access = jwtPayload(t, tok.AccessToken)
	require.Equal(t, p.client, l.access["client_id"])
	require.Equal(t, l.id.Subject, l.access["sub"])
	require.Equal(t, l.claims.SID, l.access["sid"])
	require.ElementsMatch(t, []string{"openid", "offline_access"}, strings.Fields(l.access["scope"].(string)))

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	require.NoError(t, err, "userinfo")
	require.Equal(t, l.id.Subject, info.Subject, "userinfo is about the ID token's subject")
	require.NoError(t, info.Claims(&l.profile))
	return l
}

// exchangeAgain presents l's code a second time.
func (rp *oidcRP) exchangeAgain(l *rpLogin) error {
	rp.mu.Lock()
	c := rp.clients[l.client]
	rp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.conf.Exchange(ctx, l.code, oauth2.VerifierOption(l.pkce))
	return err
}

// verifyID verifies an ID token of client (one from a refresh: no nonce).
func (rp *oidcRP) verifyID(t *testing.T, client, raw string) (*oidc.IDToken, idClaims) {
	t.Helper()
	rp.mu.Lock()
	c := rp.clients[client]
	rp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.verifier.Verify(ctx, raw)
	require.NoError(t, err)
	var claims idClaims
	require.NoError(t, id.Claims(&claims))
	return id, claims
}

// discovery is the provider's metadata.
func (rp *oidcRP) discovery(t *testing.T) map[string]any {
	t.Helper()
	rp.mu.Lock()
	provider := rp.provider
	rp.mu.Unlock()
	var m map[string]any
	require.NoError(t, provider.Claims(&m))
	return m
}

func (rp *oidcRP) lastLoggedOut(t *testing.T) url.Values {
	t.Helper()
	rp.mu.Lock()
	defer rp.mu.Unlock()
	require.NotEmpty(t, rp.loggedOut, "the browser came back to the post-logout URI")
	return rp.loggedOut[len(rp.loggedOut)-1]
}

// refresh redeems a refresh token through oauth2's token source.
func (rp *oidcRP) refresh(client, refreshToken string) (*oauth2.Token, error) {
	rp.mu.Lock()
	c := rp.clients[client]
	rp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

func (rp *oidcRP) userInfo(tok *oauth2.Token) (*oidc.UserInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rp.mu.Lock()
	provider := rp.provider
	rp.mu.Unlock()
	return provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
}

// requireOAuthError: err is the token endpoint's answer code.
func requireOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.Equal(t, code, re.ErrorCode, "%s", re.ErrorDescription)
	require.Equal(t, http.StatusBadRequest, re.Response.StatusCode)
}

// logoutTokens returns the back-channel posts received so far.
func (rp *oidcRP) logoutPosts() []rpLogoutPost {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]rpLogoutPost(nil), rp.logouts...)
}

// waitLogout waits (the post is asynchronous) for the n-th back-channel
// logout post and returns its token.
func (rp *oidcRP) waitLogout(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if posts := rp.logoutPosts(); len(posts) >= n {
			require.Equal(t, "application/x-www-form-urlencoded", posts[n-1].contentType)
			return posts[n-1].token
		}
		require.True(t, time.Now().Before(deadline), "back-channel logout %d never arrived", n)
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyLogoutToken checks a logout token as OIDC Back-Channel Logout 1.0
// §2.6 asks an RP to, for the session of login l.
func (rp *oidcRP) verifyLogoutToken(t *testing.T, raw string, l *rpLogin) {
	t.Helper()
	rp.mu.Lock()
	c := rp.clients[l.client]
	rp.mu.Unlock()
	require.Equal(t, "logout+jwt", joseHeader(t, raw)["typ"], "explicit typ (§2.4)")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.verifier.Verify(ctx, raw)
	require.NoError(t, err, "the logout token verifies against the JWKS")
	require.Equal(t, l.id.Issuer, tok.Issuer)
	require.Equal(t, []string{l.client}, tok.Audience)
	require.Equal(t, l.id.Subject, tok.Subject)
	claims := jwtPayload(t, raw)
	require.NotContains(t, claims, "nonce", "a logout token must not carry a nonce")
	require.NotEmpty(t, claims["jti"])
	require.NotZero(t, claims["iat"])
	require.Equal(t, l.claims.SID, claims["sid"], "the logout names the session the ID token named")
	events, ok := claims["events"].(map[string]any)
	require.True(t, ok, "events is a JSON object: %v", claims["events"])
	require.Contains(t, events, backChannelEvent)
	require.Equal(t, map[string]any{}, events[backChannelEvent])
}

// joseHeader decodes a compact JWS's protected header.
func joseHeader(t *testing.T, jws string) map[string]any {
	t.Helper()
	return decodeSegment(t, jws, 0)
}

// jwtPayload decodes a compact JWS's payload (verify it first).
func jwtPayload(t *testing.T, jws string) map[string]any {
	t.Helper()
	return decodeSegment(t, jws, 1)
}

func decodeSegment(t *testing.T, jws string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	require.Len(t, parts, 3, "a compact JWS")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}
