// Package openid is wxcas's OpenID Provider (OAuth 2.0 authorization server
// and OpenID Connect 1.0), built on the CAS side rather than beside it:
//
//   - a browser authorization is a CAS login for an internal service
//     (/oidc/continue/<client>), so it runs the same login journey (QR on a
//     desktop, the Official Account inside WeChat, guidance on other
//     phones) and the same SSO session (TGT and cookie) as /cas/login;
//   - an app without a browser logs the person in with the JSON journey API
//     and spends the session it got at the authorization challenge
//     endpoint (draft "OAuth 2.0 for First-Party Applications");
//   - logging out of either ends the one session: CAS single logout and
//     OIDC back-channel logout both go out, and the session's grants are
//     revoked.
//
// The protocol — request parsing, client authentication, discovery, JWKS,
// authorize, userinfo, revocation, end-session — is zitadel/oidc's op
// package (OpenID Certified). wxcas supplies the storage (all in the
// database: any instance answers any step), the signing keys, and its own
// code and refresh grants, because RFC 9068 access tokens need the at+jwt
// header, PKCE must never be skipped once a challenge was sent, and a
// replayed code or refresh token must revoke what it issued.
package openid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"github.com/zitadel/schema"
	"golang.org/x/text/language"

	"wxcas/cas"
	"wxcas/ratelimit"
)

// Sessions is the CAS SSO session store the provider is built on;
// *cas.Server is one.
type Sessions interface {
	RedeemTicket(ctx context.Context, serviceURL, ticket string) (cas.Session, error)
	SessionOf(ctx context.Context, tgtID string) (cas.Session, error)
	SessionByKey(ctx context.Context, key string) (cas.Session, error)
	Logout(ctx context.Context, key string) error
}

// Deps are the provider's collaborators.
type Deps struct {
	Store    Store
	Sessions Sessions
	// EntryAccount says whether appID is an Official Account an
	// authorization request may name as its entry (appid=); nil: none may.
	EntryAccount func(appID string) bool
	// Atomic runs fn in one database transaction that Store calls join
	// (store.DB.Atomic).
	Atomic  func(ctx context.Context, fn func(ctx context.Context) error) error
	Limiter ratelimit.Limiter
	// RealIP is the client address of a request (the web layer's
	// extractor, which trusts only configured proxies).
	RealIP func(*http.Request) string
	// HTTPClient posts back-channel logout tokens.
	HTTPClient *http.Client
	// PublicURL is wxcas's external base URL: the issuer.
	PublicURL *url.URL
	// SealKey seals the signing keys at rest; CryptoKey is the op
	// package's key for its opaque values; LogoutKey signs the logout
	// continuation. Each 32 bytes, derived from the master secret.
	SealKey, CryptoKey, LogoutKey []byte
	// Pages shows errors and the logged-out page to browsers.
	Pages cas.Pages
	// SessionLifetime is the longest an SSO session lives
	// (cas.tgt_max_lifetime): grants are kept that long at least.
	SessionLifetime time.Duration
	// Insecure allows an http issuer (the sandbox).
	Insecure bool
	Now      func() time.Time
	Log      *slog.Logger
}

// Provider is the OpenID Provider.
type Provider struct {
	cfg     Config
	d       Deps
	clients map[string]*client
	keys    *keyRing
	issuer  string
	base    string // issuer without a trailing slash
	op      *op.Provider
	handler http.Handler
	logout  *backChannel
}

// Endpoint paths under the issuer.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathAuthorize  = "/oidc/authorize"
	PathToken      = "/oidc/token"
	PathUserinfo   = "/oidc/userinfo"
	PathRevoke     = "/oidc/revoke"
	PathIntrospect = "/oidc/introspect"
	PathEndSession = "/oidc/end_session"
	PathKeys       = "/oidc/keys"
	PathChallenge  = "/oidc/challenge"
	PathLogin      = "/oidc/login"
	// PathContinue + "/<client id>" is the internal CAS service a browser
	// authorization logs in for; PathLoggedOut the one logout returns to.
	PathContinue  = "/oidc/continue"
	PathLoggedOut = "/oidc/logged-out"
)

// New builds the provider. cfg must have passed Validate.
func New(cfg Config, d Deps) (*Provider, error) {
	switch {
	case d.Store == nil, d.Sessions == nil, d.Atomic == nil, d.PublicURL == nil, d.Pages == nil:
		return nil, errors.New("openid: Deps.Store, Sessions, Atomic, PublicURL and Pages are required")
	case len(d.CryptoKey) != 32, len(d.LogoutKey) != 32, len(d.SealKey) != 32:
		return nil, errors.New("openid: Deps.SealKey, CryptoKey and LogoutKey must be 32 bytes")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{}
	}
	if d.RealIP == nil {
		d.RealIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	p := &Provider{cfg: cfg, d: d, clients: map[string]*client{}}
	p.base = strings.TrimSuffix(d.PublicURL.String(), "/")
	p.issuer = p.base
	for _, c := range cfg.Clients {
		p.clients[c.ID] = &client{Client: cfg.withDefaults(c), loginURL: func(id string) string {
			return p.base + PathLogin + "?id=" + url.QueryEscape(id)
		}}
	}
	var err error
	if p.keys, err = newKeyRing(d.Store, d.SealKey, cfg, d.Now, d.Log); err != nil {
		return nil, err
	}
	p.logout = newBackChannel(p, d.HTTPClient, cfg.BackChannelLogoutTimeout)

	var cryptoKey [32]byte
	copy(cryptoKey[:], d.CryptoKey)
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint(PathAuthorize), op.NewEndpoint(PathToken), op.NewEndpoint(PathUserinfo),
			op.NewEndpoint(PathRevoke), op.NewEndpoint(PathEndSession), op.NewEndpoint(PathKeys)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCustomDeviceAuthorizationEndpoint(op.NewEndpoint("/oidc/device_authorization")),
	}
	if d.Insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(&op.Config{
		CryptoKey:                         cryptoKey,
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedUILocales:                []language.Tag{language.SimplifiedChinese, language.English},
		SupportedScopes:                   []string{"openid", "offline_access"},
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}, &storage{p}, op.StaticIssuer(p.issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("openid: %w", err)
	}
	endpoints := p.op.Endpoints()
	endpoints.DeviceAuthorization = nil // not offered: no route
	srv := &server{LegacyServer: op.NewLegacyServer(p.op, endpoints), p: p}
	// No CORS: no client is a browser application; the op package's
	// default would reflect any origin with credentials.
	decoder := schema.NewDecoder()
	decoder.IgnoreUnknownKeys(true)
	inner := op.RegisterServer(srv, endpoints, op.WithServerCORSOptions(nil), op.WithDecoder(strictDecoder{decoder}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathLogin, p.handleLogin)
	mux.HandleFunc("GET "+PathContinue+"/{client}", p.handleContinue)
	mux.HandleFunc("GET "+PathLoggedOut, p.handleLoggedOut)
	mux.Handle(PathChallenge, p.clientCall("challenge", cfg.ChallengePerIP, http.HandlerFunc(p.handleChallenge)))
	mux.Handle(PathToken, p.clientCall("token", cfg.TokenPerIP, tokenRequest(inner)))
	mux.Handle(PathRevoke, p.clientCall("revoke", cfg.TokenPerIP, inner))
	mux.Handle(PathIntrospect, p.clientCall("introspect", cfg.TokenPerIP, inner))
	mux.Handle(PathAuthorize, p.guardAuthorize(inner))
	mux.Handle(PathUserinfo, bearerChallenge(inner))
	mux.Handle(PathEndSession, p.guardEndSession(inner))
	mux.Handle("/", inner)
	// Every endpoint sees the issuer (the op package builds absolute URLs
	// from it).
	p.handler = noStore(op.NewIssuerInterceptor(p.op.IssuerFromRequest).Handler(mux))
	return p, nil
}

// Handler serves every endpoint: mount it for PathDiscovery and /oidc/.
func (p *Provider) Handler() http.Handler { return p.handler }

// Issuer is the issuer identifier (server.public_url).
func (p *Provider) Issuer() string { return p.issuer }

// Services are the internal CAS services the provider logs people in for:
// one per client (named after it on the login page) and the logout
// continuation. Register them with the CAS server.
func Services(cfg Config, publicURL string) []cas.Service {
	if !cfg.Enabled {
		return nil
	}
	base := strings.TrimSuffix(publicURL, "/")
	var out []cas.Service
	for _, c := range cfg.Clients {
		name := c.Name
		if name == "" {
			name = c.ID
		}
		out = append(out, cas.Service{
			ID: "oidc." + c.ID, Name: name, Match: "prefix", URL: base + PathContinue + "/" + url.PathEscape(c.ID),
			LogoutType: "none", Internal: true,
		})
	}
	return append(out, cas.Service{ID: "oidc.logged-out", Name: "OpenID Connect", Match: "prefix", URL: base + PathLoggedOut, LogoutType: "none", Internal: true})
}

// Ready checks that the signing keys can be used (unsealed with this
// secrets.key, or made): an instance that cannot sign must not start.
func (p *Provider) Ready(ctx context.Context) error {
	_, err := p.keys.current(ctx)
	return err
}

// bearerChallenge adds the WWW-Authenticate header RFC 6750 §3 asks for
// on a 401 or 403 from a resource endpoint (userinfo): no error code when
// the request carried no token, else the error.
func bearerChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeJSON(w, http.StatusMethodNotAllowed, challengeError{Error: "invalid_request", Description: "use GET or POST"})
			return
		}
		if r.URL.Query().Has("access_token") {
			// RFC 6750 §2.3, §5.3: a token in a URL ends up in logs.
			writeJSON(w, http.StatusBadRequest, challengeError{Error: "invalid_request", Description: "send the access token in the Authorization header"})
			return
		}
		_, tokenInForm := r.URL.Query()["access_token"]
		h.ServeHTTP(&challengeWriter{ResponseWriter: w, token: r.Header.Get("Authorization") != "" || tokenInForm || r.Method == http.MethodPost}, r)
	})
}

type challengeWriter struct {
	http.ResponseWriter
	token bool
}

func (c *challengeWriter) WriteHeader(status int) {
	switch {
	case status == http.StatusUnauthorized && !c.token:
		c.Header().Set("WWW-Authenticate", `Bearer realm="wxcas"`)
	case status == http.StatusUnauthorized:
		c.Header().Set("WWW-Authenticate", `Bearer realm="wxcas", error="invalid_token"`)
	case status == http.StatusForbidden:
		c.Header().Set("WWW-Authenticate", `Bearer realm="wxcas", error="insufficient_scope", scope="openid"`)
	}
	c.ResponseWriter.WriteHeader(status)
}

// Cleanup deletes expired requests, grants, tokens and keys.
func (p *Provider) Cleanup(ctx context.Context) (int64, error) {
	return p.d.Store.Cleanup(ctx, p.d.Now())
}

// Close waits for back-channel logouts in flight.
func (p *Provider) Close() { p.logout.wait() }

// noStore marks every answer uncacheable: tokens, codes and pages that
// carry them must not be kept by any cache (RFC 6749 §5.1).
func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathDiscovery && r.URL.Path != PathKeys {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		h.ServeHTTP(w, r)
	})
}
