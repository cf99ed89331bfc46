package openid

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"wxcas/ratelimit"
)

// Config is the `oidc:` section of config.yaml.
type Config struct {
	// Enabled turns the OpenID Provider on (needs cas.mode: server: its
	// sessions are the CAS SSO sessions).
	Enabled bool `yaml:"enabled"`
	// SigningAlgorithm signs ID tokens, access tokens and logout tokens:
	// RS256 (default; every OIDC library accepts it) or ES256.
	SigningAlgorithm string `yaml:"signing_algorithm"`
	// KeyRotation is how long one key signs before the next takes over
	// (default 720h).
	KeyRotation time.Duration `yaml:"key_rotation"`
	// KeyPublishAhead: a new key is published in JWKS this long before it
	// signs anything, so that relying parties that cache JWKS know it
	// (default 24h; at most half of KeyRotation).
	KeyPublishAhead time.Duration `yaml:"key_publish_ahead"`
	// CodeTTL bounds an authorization code (default 1m; at most 10m, RFC
	// 6749 §4.1.2).
	CodeTTL time.Duration `yaml:"code_ttl"`
	// LoginTTL bounds an authorization request while the person logs in
	// (default 15m).
	LoginTTL time.Duration `yaml:"login_ttl"`
	// Token lifetimes; a client may set its own.
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`  // default 10m
	IDTokenTTL      time.Duration `yaml:"id_token_ttl"`      // default 1h
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"` // default 720h: a refresh family's whole life
	// TokenPerClient and TokenPerIP limit calls to the token endpoint;
	// ChallengePerIP the authorization challenge endpoint.
	TokenPerClient ratelimit.Limit `yaml:"token_per_client"`
	// AuthorizePerIP limits browser authorization requests per client IP
	// (each stores a request row).
	AuthorizePerIP ratelimit.Limit `yaml:"authorize_per_ip"`
	TokenPerIP     ratelimit.Limit `yaml:"token_per_ip"`
	ChallengePerIP ratelimit.Limit `yaml:"challenge_per_ip"`
	// BackChannelLogoutTimeout bounds one back-channel logout POST.
	BackChannelLogoutTimeout time.Duration `yaml:"backchannel_logout_timeout"`
	Clients                  []Client      `yaml:"clients"`
}

// Client is a registered OAuth client.
type Client struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Type: native (a public mobile or desktop app: PKCE S256, no secret),
	// web (a confidential web application) or backend (a confidential back
	// end, e.g. a mini program's server, using the challenge endpoint).
	Type string `yaml:"type"`
	// Secret authenticates a confidential client (client_secret_basic, or
	// client_secret_post when AuthMethod says so). From the environment.
	Secret string `yaml:"secret"`
	// AuthMethod: client_secret_basic (default) or client_secret_post.
	AuthMethod string `yaml:"token_endpoint_auth_method"`
	// RedirectURIs are compared by exact string (a native app's loopback
	// URI with any port, RFC 8252 §7.3).
	RedirectURIs           []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// Grants: authorization_code and refresh_token (default: both).
	Grants []string `yaml:"grants"`
	// Scopes the client may ask for (default: openid, offline_access).
	Scopes []string `yaml:"scopes"`
	// Claims are the principal attributes (userId, phone, nickname,
	// wechatUnionId and the directory's attributes) put into its ID
	// tokens, access tokens and userinfo, under the same names.
	Claims []string `yaml:"claims"`
	// FirstParty lets the client log people in without a browser through
	// the authorization challenge endpoint.
	FirstParty bool `yaml:"first_party"`
	// BackChannelLogoutURI receives a logout token when a session the
	// client took part in ends (OIDC Back-Channel Logout 1.0).
	BackChannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// Lifetimes; 0: the provider's.
	AccessTokenTTL  time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL      time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL time.Duration `yaml:"refresh_token_ttl"`
}

// Client types.
const (
	TypeNative  = "native"
	TypeWeb     = "web"
	TypeBackend = "backend"
)

// Grant types a client may be given.
const (
	GrantCode    = "authorization_code"
	GrantRefresh = "refresh_token"
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SigningAlgorithm: "RS256",
		KeyRotation:      720 * time.Hour,
		KeyPublishAhead:  24 * time.Hour,
		CodeTTL:          time.Minute,
		LoginTTL:         15 * time.Minute,
		AccessTokenTTL:   10 * time.Minute,
		IDTokenTTL:       time.Hour,
		RefreshTokenTTL:  720 * time.Hour,
		TokenPerClient:   ratelimit.Limit{Max: 600, Window: time.Minute},
		TokenPerIP:       ratelimit.Limit{Max: 120, Window: time.Minute},
		AuthorizePerIP:   ratelimit.Limit{Max: 300, Window: time.Minute},
		ChallengePerIP:   ratelimit.Limit{Max: 60, Window: time.Minute},

		BackChannelLogoutTimeout: 5 * time.Second,
	}
}

// withDefaults fills a client's unset lists and lifetimes.
func (c Config) withDefaults(cl Client) Client {
	if len(cl.Grants) == 0 {
		cl.Grants = []string{GrantCode, GrantRefresh}
	}
	if len(cl.Scopes) == 0 {
		cl.Scopes = []string{"openid", "offline_access"}
	}
	if cl.AuthMethod == "" && cl.Type != TypeNative {
		cl.AuthMethod = "client_secret_basic"
	}
	if cl.AccessTokenTTL == 0 {
		cl.AccessTokenTTL = c.AccessTokenTTL
	}
	if cl.IDTokenTTL == 0 {
		cl.IDTokenTTL = c.IDTokenTTL
	}
	if cl.RefreshTokenTTL == 0 {
		cl.RefreshTokenTTL = c.RefreshTokenTTL
	}
	return cl
}

// maxSignedTTL is the longest life of anything signed: a key stays in JWKS
// this long after it stops signing.
func (c Config) maxSignedTTL() time.Duration {
	m := max(c.AccessTokenTTL, c.IDTokenTTL)
	for _, cl := range c.Clients {
		m = max(m, cl.AccessTokenTTL, cl.IDTokenTTL)
	}
	return m
}

// Validate lists problems with key paths under "oidc.". secretFromEnv tells
// whether a client's secret came from the environment; insecureOK allows
// http redirect URIs on non-loopback hosts (the sandbox).
func (c Config) Validate(secretFromEnv func(path string) bool, insecureOK bool) []string {
	if !c.Enabled {
		return nil
	}
	var p []string
	add := func(bad bool, format string, args ...any) {
		if bad {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	add(c.SigningAlgorithm != "RS256" && c.SigningAlgorithm != "ES256", "oidc.signing_algorithm: %q must be RS256 or ES256", c.SigningAlgorithm)
	add(c.KeyRotation < time.Hour, "oidc.key_rotation: %v must be at least 1h", c.KeyRotation)
	add(c.KeyPublishAhead <= 0 || c.KeyPublishAhead > c.KeyRotation/2, "oidc.key_publish_ahead: %v must be positive and at most half of oidc.key_rotation", c.KeyPublishAhead)
	add(c.CodeTTL < 10*time.Second || c.CodeTTL > 10*time.Minute, "oidc.code_ttl: %v must be between 10s and 10m", c.CodeTTL)
	add(c.LoginTTL < time.Minute || c.LoginTTL > 24*time.Hour, "oidc.login_ttl: %v must be between 1m and 24h", c.LoginTTL)
	p = append(p, lifetimes("oidc", c.AccessTokenTTL, c.IDTokenTTL, c.RefreshTokenTTL, false)...)
	p = append(p, c.TokenPerClient.Problems("oidc.token_per_client")...)
	p = append(p, c.TokenPerIP.Problems("oidc.token_per_ip")...)
	p = append(p, c.AuthorizePerIP.Problems("oidc.authorize_per_ip")...)
	p = append(p, c.ChallengePerIP.Problems("oidc.challenge_per_ip")...)
	add(c.BackChannelLogoutTimeout <= 0 || c.BackChannelLogoutTimeout > time.Minute, "oidc.backchannel_logout_timeout: %v must be between 1ns and 1m", c.BackChannelLogoutTimeout)
	add(len(c.Clients) == 0, "oidc.clients: at least one client is needed when oidc.enabled is true")
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("oidc.clients[%d]", i)
		add(!validClientID(cl.ID), "%s.id: %q must be 1-59 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)", key, cl.ID)
		add(seen[cl.ID], "%s.id: %q is used twice", key, cl.ID)
		seen[cl.ID] = true
		// Only the lifetimes the client sets itself: the provider's are
		// checked once, above.
		p = append(p, lifetimes(key, cl.AccessTokenTTL, cl.IDTokenTTL, cl.RefreshTokenTTL, true)...)
		cl = c.withDefaults(cl)
		switch cl.Type {
		case TypeNative:
			add(cl.Secret != "", "%s.secret: a native app cannot keep a secret; leave it out (it uses PKCE)", key)
			add(cl.AuthMethod != "", "%s.token_endpoint_auth_method: a native app has none", key)
		case TypeWeb, TypeBackend:
			add(len(cl.Secret) < 32, "%s.secret: required for a %s client, at least 32 characters", key, cl.Type)
			add(cl.Secret != "" && !secretFromEnv(key+".secret"), "%s.secret: must come from the environment (${VAR}), not be written in the file", key)
			add(cl.AuthMethod != "client_secret_basic" && cl.AuthMethod != "client_secret_post", "%s.token_endpoint_auth_method: %q must be client_secret_basic or client_secret_post", key, cl.AuthMethod)
		default:
			p = append(p, fmt.Sprintf("%s.type: %q must be native, web or backend", key, cl.Type))
		}
		for _, g := range cl.Grants {
			add(g != GrantCode && g != GrantRefresh, "%s.grants: %q is not offered (authorization_code, refresh_token; never implicit or password)", key, g)
		}
		add(!slices.Contains(cl.Scopes, "openid"), "%s.scopes: must include openid", key)
		add(slices.Contains(cl.Scopes, "offline_access") && !slices.Contains(cl.Grants, GrantRefresh), "%s.scopes: offline_access needs the refresh_token grant", key)
		add(cl.Type == TypeBackend && !cl.FirstParty, "%s.first_party: a backend client logs people in only through the challenge endpoint; set first_party: true", key)
		add(cl.Type != TypeBackend && len(cl.RedirectURIs) == 0, "%s.redirect_uris: at least one is needed", key)
		for j, u := range cl.RedirectURIs {
			if msg := redirectProblem(cl.Type, u, insecureOK); msg != "" {
				p = append(p, fmt.Sprintf("%s.redirect_uris[%d]: %q %s", key, j, u, msg))
			}
		}
		for j, u := range cl.PostLogoutRedirectURIs {
			if msg := redirectProblem(TypeWeb, u, insecureOK); msg != "" && redirectProblem(cl.Type, u, insecureOK) != "" {
				p = append(p, fmt.Sprintf("%s.post_logout_redirect_uris[%d]: %q %s", key, j, u, msg))
			}
		}
		if cl.BackChannelLogoutURI != "" {
			if msg := redirectProblem(TypeWeb, cl.BackChannelLogoutURI, insecureOK); msg != "" {
				p = append(p, fmt.Sprintf("%s.backchannel_logout_uri: %q %s", key, cl.BackChannelLogoutURI, msg))
			}
		}
		for _, claim := range cl.Claims {
			add(reservedClaims[claim], "%s.claims: %q is a registered JWT claim wxcas sets itself", key, claim)
		}
	}
	return p
}

func lifetimes(key string, access, id, refresh time.Duration, zeroOK bool) []string {
	var p []string
	check := func(name string, d, lo, hi time.Duration) {
		if zeroOK && d == 0 {
			return
		}
		if d < lo || d > hi {
			p = append(p, fmt.Sprintf("%s.%s: %v must be between %v and %v", key, name, d, lo, hi))
		}
	}
	check("access_token_ttl", access, time.Minute, 24*time.Hour)
	check("id_token_ttl", id, time.Minute, 24*time.Hour)
	check("refresh_token_ttl", refresh, 10*time.Minute, 8760*time.Hour)
	return p
}

// reservedClaims are set by wxcas and cannot be configured as attribute
// claims.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true, "auth_time": true,
	"nonce": true, "acr": true, "amr": true, "azp": true, "sid": true, "at_hash": true, "c_hash": true,
	"client_id": true, "scope": true, "events": true, "typ": true,
}

// redirectProblem says what is wrong with a redirect URI for a client type
// ("" when nothing). Native apps: a private-use scheme with a dot (reverse
// domain name, RFC 8252 §7.1), https, or http on a loopback IP literal
// (§7.3). Web: https, or http on loopback (a developer's machine), or any
// http when insecureOK.
func redirectProblem(typ, raw string, insecureOK bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || raw != strings.TrimSpace(raw) {
		return "must be an absolute URI without a fragment"
	}
	loopback := u.Scheme == "http" && isLoopbackIP(u.Hostname())
	switch {
	case u.Scheme == "https" && u.Host != "":
		return ""
	case loopback:
		return ""
	case u.Scheme == "http" && u.Host != "" && insecureOK:
		return ""
	case typ == TypeNative && u.Scheme != "http" && strings.Contains(u.Scheme, "."):
		return ""
	case typ == TypeNative:
		return "must be https, a private-use scheme with a dot (com.example.app:/callback) or http://127.0.0.1 (RFC 8252)"
	}
	return "must be https (or http on 127.0.0.1 / [::1])"
}

// validClientID: the id is part of the internal CAS service's id
// ("oidc." + id, at most 64 characters) and URL path.
func validClientID(id string) bool {
	if id == "" || len(id) > 59 {
		return false
	}
	for i, r := range id {
		alnum := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		if !alnum && (i == 0 || (r != '_' && r != '.' && r != '-')) {
			return false
		}
	}
	return true
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
