package openid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"wxcas/cas"
	"wxcas/store"
)

// server is the op package's LegacyServer with wxcas's own code and
// refresh grants, introspection and discovery additions.
type server struct {
	*op.LegacyServer
	p *Provider
}

// newID is a random identifier (130 bits, base32).
func newID() string { return rand.Text() }

// newSecret is a random bearer value (256 bits, base64url).
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign is an HMAC under the logout key, for values wxcas hands the browser
// to bring back.
func (p *Provider) sign(purpose, value string) string {
	m := hmac.New(sha256.New, p.d.LogoutKey)
	m.Write([]byte(purpose + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Discovery adds what the op package does not know: the challenge
// endpoint, and S256 as the only PKCE method.
func (s *server) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp, err := s.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	d, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return resp, nil
	}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.DeviceAuthorizationEndpoint = ""
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.CheckSessionIframe = ""
	d.ScopesSupported = s.p.scopes()
	d.ClaimsSupported = s.p.claimNames()
	return op.NewResponse(struct {
		*oidc.DiscoveryConfiguration
		AuthorizationChallengeEndpoint string `json:"authorization_challenge_endpoint"`
	}{d, s.p.base + PathChallenge}), nil
}

func (p *Provider) scopes() []string {
	var out []string
	for _, c := range p.cfg.Clients {
		for _, sc := range p.clients[c.ID].Scopes {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (p *Provider) claimNames() []string {
	out := []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "c_hash"}
	for _, c := range p.cfg.Clients {
		for _, name := range c.Claims {
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// CodeExchange is the authorization_code grant. The op package has
// authenticated the client (or found it public). Unlike the op package's
// own, PKCE is checked whenever the request carried a challenge, whatever
// the client type, and a code presented twice revokes the grant it issued
// the first time (RFC 6749 §4.1.2).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	p := s.p
	c, err := (&storage{p}).client(r.Client.GetID())
	if err != nil {
		return nil, oidc.ErrInvalidClient()
	}
	if !c.hasGrant(GrantCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the authorization_code grant")
	}
	a, err := p.d.Store.AuthRequestByCode(ctx, hashSecret(r.Data.Code))
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("code unknown or expired")
	}
	if err != nil {
		return nil, failed(err)
	}
	if a.GrantID != "" {
		p.replayed(ctx, "code", a.ClientID, a.GrantID)
		return nil, oidc.ErrInvalidGrant().WithDescription("code already used; the tokens it issued are revoked")
	}
	switch {
	case !p.d.Now().Before(a.ExpiresAt), !a.Done:
		return nil, oidc.ErrInvalidGrant().WithDescription("code unknown or expired")
	case a.ClientID != c.ID:
		return nil, oidc.ErrInvalidGrant().WithDescription("code was issued to another client")
	case redirectURIOf(r.Data) != a.RedirectURI:
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	case a.CodeChallenge != "" && r.Data.CodeVerifier == "":
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier required")
	case r.Data.CodeVerifier != "" && !validVerifier(r.Data.CodeVerifier):
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)")
	case a.CodeChallenge == "" && r.Data.CodeVerifier != "":
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier without a code_challenge in the authorization request")
	case a.CodeChallenge != "" && !oidc.VerifyCodeChallenge(&oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethodS256}, r.Data.CodeVerifier):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code_verifier")
	}
	now := p.d.Now()
	refresh := slices.Contains(a.Scopes, oidc.ScopeOfflineAccess) && c.hasGrant(GrantRefresh)
	// The grant row outlives its tokens while its session may live, so the
	// session's logout still finds this client (back-channel logout).
	g := Grant{
		ID: newID(), ClientID: c.ID, Subject: a.Subject, SessionKey: a.SessionKey, Scopes: a.Scopes,
		AuthTime: a.AuthTime, AMR: a.AMR, Attributes: a.Attributes, CreatedAt: now,
		ExpiresAt: latest(now.Add(c.AccessTokenTTL), now.Add(p.d.SessionLifetime)),
	}
	var refreshToken string
	familyEnd := now.Add(c.RefreshTokenTTL)
	if refresh {
		g.ExpiresAt = latest(g.ExpiresAt, familyEnd)
		refreshToken = newSecret()
	}
	err = p.d.Atomic(ctx, func(ctx context.Context) error {
		if err := p.d.Store.RedeemCode(ctx, a.ID, g.ID); err != nil {
			return err
		}
		if err := p.d.Store.CreateGrant(ctx, g); err != nil {
			return err
		}
		if refresh {
			return p.d.Store.CreateRefreshToken(ctx, RefreshToken{Hash: hashSecret(refreshToken), GrantID: g.ID, CreatedAt: now, ExpiresAt: familyEnd})
		}
		return nil
	})
	if errors.Is(err, ErrCodeUsed) {
		// A concurrent exchange won: this is a replay too.
		if again, rerr := p.d.Store.AuthRequest(ctx, a.ID); rerr == nil && again.GrantID != "" {
			p.replayed(ctx, "code", a.ClientID, again.GrantID)
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("code already used; the tokens it issued are revoked")
	}
	if err != nil {
		return nil, failed(err)
	}
	// A logout between the login and this exchange must not leave a live
	// grant behind. Checked after the grant is committed: a logout deletes
	// the session first and then revokes its grants, so either this sees
	// the session gone, or the grant was there for that revocation.
	if _, err := p.d.Sessions.SessionByKey(ctx, g.SessionKey); err != nil {
		if rerr := p.d.Store.RevokeGrant(ctx, g.ID); rerr != nil {
			return nil, oidc.ErrServerError().WithParent(rerr)
		}
		if errors.Is(err, cas.ErrNoSession) {
			return nil, oidc.ErrInvalidGrant().WithDescription("the session this code was issued in has ended")
		}
		return nil, failed(err)
	}
	return p.tokenResponse(ctx, c, g, g.Scopes, a.Nonce, r.Data.Code, refreshToken, familyEnd)
}

// failed answers a request the provider could not serve: 503
// temporarily_unavailable (retry later) when the database is out of reach,
// else server_error. Neither carries the cause: it is logged, not shown.
func failed(err error) error {
	if store.IsUnavailable(err) {
		return op.NewStatusError(&oidc.Error{ErrorType: "temporarily_unavailable", Description: "try again in a moment", Parent: err}, http.StatusServiceUnavailable)
	}
	return oidc.ErrServerError().WithParent(err)
}

func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func redirectURIOf(r *oidc.AccessTokenRequest) string {
	if r.RedirectURI == noRedirectURI {
		return ""
	}
	return r.RedirectURI
}

// replayed revokes the grant a replayed code or refresh token issued.
func (p *Provider) replayed(ctx context.Context, what, clientID, grantID string) {
	p.d.Log.WarnContext(ctx, "openid: "+what+" presented again; its grant is revoked", "client", clientID, "grant", short(grantID))
	if err := p.d.Store.RevokeGrant(ctx, grantID); err != nil {
		p.d.Log.ErrorContext(ctx, "openid: cannot revoke a replayed grant", "grant", short(grantID), "err", err)
	}
}

// RefreshToken is the refresh_token grant with rotation: each use returns
// a new refresh token and spends the old; a spent one presented again
// revokes the whole grant (RFC 9700 §4.14.2).
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	p := s.p
	c, err := (&storage{p}).client(r.Client.GetID())
	if err != nil {
		return nil, oidc.ErrInvalidClient()
	}
	if !c.hasGrant(GrantRefresh) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the refresh_token grant")
	}
	old := hashSecret(r.Data.RefreshToken)
	rt, err := p.d.Store.RefreshToken(ctx, old)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token unknown or expired")
	}
	if err != nil {
		return nil, failed(err)
	}
	g, err := p.d.Store.Grant(ctx, rt.GrantID)
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidGrant().WithDescription("refresh token unknown or expired"))
	}
	now := p.d.Now()
	switch {
	case g.ClientID != c.ID:
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token was issued to another client")
	case g.Revoked:
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token revoked")
	case rt.Used:
		p.replayed(ctx, "refresh token", c.ID, g.ID)
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used; its grant is revoked")
	case !now.Before(rt.ExpiresAt):
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token unknown or expired")
	}
	scopes := g.Scopes
	if len(r.Data.Scopes) > 0 {
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(g.Scopes, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope %q was not granted", sc)
			}
		}
		scopes = r.Data.Scopes
	}
	next := newSecret()
	err = p.d.Store.RotateRefreshToken(ctx, old, RefreshToken{Hash: hashSecret(next), GrantID: g.ID, CreatedAt: now, ExpiresAt: rt.ExpiresAt})
	if errors.Is(err, ErrTokenReused) {
		p.replayed(ctx, "refresh token", c.ID, g.ID)
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token already used; its grant is revoked")
	}
	if err != nil {
		return nil, failed(err)
	}
	return p.tokenResponse(ctx, c, g, scopes, "", "", next, rt.ExpiresAt)
}

// accessClaims are an RFC 9068 access token's claims.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time,omitempty"`
	JWTID    string   `json:"jti"`
	Scope    string   `json:"scope"`
	SID      string   `json:"sid,omitempty"`
}

// tokenResponse signs the access token (typ at+jwt, RFC 9068) and the ID
// token of a grant.
// Its tokens end by the end of the refresh family (familyEnd) at the
// latest.
func (p *Provider) tokenResponse(ctx context.Context, c *client, g Grant, scopes []string, nonce, code, refreshToken string, familyEnd time.Time) (*op.Response, error) {
	key, err := p.keys.current(ctx)
	if err != nil {
		return nil, failed(err)
	}
	now := p.d.Now()
	exp := now.Add(c.AccessTokenTTL)
	if refreshToken != "" && exp.After(familyEnd) {
		exp = familyEnd
	}
	at := map[string]any{}
	for k, v := range c.claims(g.Attributes) {
		at[k] = v
	}
	std := accessClaims{
		Issuer: p.issuer, Subject: g.Subject, Audience: []string{c.ID}, ClientID: c.ID, Expiry: exp.Unix(), IssuedAt: now.Unix(),
		AuthTime: unixOrZero(g.AuthTime), JWTID: newJTI(g.ID), Scope: strings.Join(scopes, " "), SID: g.SessionKey,
	}
	accessToken, err := key.sign(merge(std, at), "at+jwt")
	if err != nil {
		return nil, failed(err)
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: accessToken, TokenType: oidc.BearerToken, RefreshToken: refreshToken,
		ExpiresIn: uint64(exp.Sub(now) / time.Second), Scope: scopes,
	}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		id := oidc.NewIDTokenClaims(p.issuer, g.Subject, []string{c.ID}, now.Add(c.IDTokenTTL), g.AuthTime, nonce, "", g.AMR, c.ID, 0)
		id.IssuedAt = oidc.FromTime(now)
		id.SessionID = g.SessionKey
		alg := jose.SignatureAlgorithm(key.Algorithm)
		if id.AccessTokenHash, err = oidc.ClaimHash(accessToken, alg); err != nil {
			return nil, failed(err)
		}
		if code != "" {
			if id.CodeHash, err = oidc.ClaimHash(code, alg); err != nil {
				return nil, failed(err)
			}
		}
		id.Claims = c.claims(g.Attributes)
		if resp.IDToken, err = key.sign(id, "JWT"); err != nil {
			return nil, failed(err)
		}
	}
	return op.NewResponse(resp), nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// merge is std's JSON object with extra claims added (std wins).
func merge(std accessClaims, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range extra {
		out[k] = v
	}
	out["iss"], out["sub"], out["aud"], out["client_id"] = std.Issuer, std.Subject, std.Audience, std.ClientID
	out["exp"], out["iat"], out["jti"], out["scope"] = std.Expiry, std.IssuedAt, std.JWTID, std.Scope
	if std.AuthTime != 0 {
		out["auth_time"] = std.AuthTime
	}
	if std.SID != "" {
		out["sid"] = std.SID
	}
	return out
}

// Introspect (RFC 7662) answers for the provider's access tokens (verified
// here: signature, issuer, expiry, typ at+jwt) and refresh tokens, each
// active only while its grant is; anything else is {"active": false}.
func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	cc := r.Data.ClientCredentials
	if cc == nil || (&storage{s.p}).AuthorizeClientIDSecret(ctx, cc.ClientID, cc.ClientSecret) != nil {
		return nil, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("introspection needs a confidential client's credentials"), http.StatusUnauthorized)
	}
	resp, err := s.p.introspect(ctx, r.Data.Token)
	if err != nil {
		return nil, failed(err)
	}
	if resp.Active && resp.ClientID != cc.ClientID {
		// A client learns about its own tokens only: another client's
		// token, like an unknown one, is inactive (RFC 7662 §4).
		resp = &oidc.IntrospectionResponse{}
	}
	return op.NewResponse(resp), nil
}

func (p *Provider) introspect(ctx context.Context, token string) (*oidc.IntrospectionResponse, error) {
	inactive := &oidc.IntrospectionResponse{}
	st := &storage{p}
	if claims, ok := p.verifyAccessToken(ctx, token); ok {
		g, c, err := st.liveGrantOfJTI(ctx, claims.JWTID)
		if errors.Is(err, errGrantGone) {
			return inactive, nil
		}
		if err != nil {
			return nil, err
		}
		return &oidc.IntrospectionResponse{
			Active: true, Scope: strings.Fields(claims.Scope), ClientID: claims.ClientID, TokenType: "access_token",
			Expiration: oidc.Time(claims.Expiry), IssuedAt: oidc.Time(claims.IssuedAt), Subject: claims.Subject,
			Audience: claims.Audience, Issuer: p.issuer, JWTID: claims.JWTID, Claims: c.claims(g.Attributes),
		}, nil
	}
	rt, err := p.d.Store.RefreshToken(ctx, hashSecret(token))
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if rt.Used || !p.d.Now().Before(rt.ExpiresAt) {
		return inactive, nil
	}
	g, err := p.d.Store.Grant(ctx, rt.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, err
	}
	if g.Revoked {
		return inactive, nil
	}
	return &oidc.IntrospectionResponse{
		Active: true, Scope: g.Scopes, ClientID: g.ClientID, TokenType: "refresh_token", Subject: g.Subject,
		Expiration: oidc.FromTime(rt.ExpiresAt), IssuedAt: oidc.FromTime(rt.CreatedAt), Issuer: p.issuer,
	}, nil
}

// verifyAccessToken checks a JWT access token of ours: signature, typ,
// issuer, expiry.
func (p *Provider) verifyAccessToken(ctx context.Context, token string) (accessClaims, bool) {
	payload, ok := p.verifySigned(ctx, token, "at+jwt")
	if !ok {
		return accessClaims{}, false
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != p.issuer || p.d.Now().Unix() >= c.Expiry {
		return accessClaims{}, false
	}
	return c, true
}

// verifySigned checks that token is a compact JWS of the header type typ
// signed by one of the published keys, and returns its payload. Claims
// are the caller's to check.
func (p *Provider) verifySigned(ctx context.Context, token, typ string) ([]byte, bool) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, false
	}
	h := jws.Signatures[0].Header
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(got, typ) {
		return nil, false
	}
	for attempt := range 2 {
		keys, err := p.keys.published(ctx)
		if err != nil {
			return nil, false
		}
		for _, k := range keys {
			if k.SigningKey.ID == h.KeyID {
				payload, err := jws.Verify(k.private.Public())
				return payload, err == nil
			}
		}
		if attempt == 0 {
			p.keys.refresh(ctx) // a key another instance made since
		}
	}
	return nil, false
}

// UserInfo answers for a live access token of ours (verified here, typ
// at+jwt, so an ID token is not taken for one); anything else is
// invalid_token with 401 (RFC 6750 §3.1).
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	invalid := op.NewStatusError(&oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"}, http.StatusUnauthorized)
	claims, ok := s.p.verifyAccessToken(ctx, r.Data.AccessToken)
	if !ok {
		return nil, invalid
	}
	if !slices.Contains(strings.Fields(claims.Scope), oidc.ScopeOpenID) {
		return nil, op.NewStatusError(&oidc.Error{ErrorType: "insufficient_scope", Description: "userinfo needs the openid scope"}, http.StatusForbidden)
	}
	info := &oidc.UserInfo{}
	err := (&storage{s.p}).SetUserinfoFromToken(ctx, info, claims.JWTID, claims.Subject, "")
	if errors.Is(err, errGrantGone) {
		return nil, invalid
	}
	if err != nil {
		return nil, failed(err)
	}
	return op.NewResponse(info), nil
}
