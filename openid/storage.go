package openid

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"wxcas/cas"
	"wxcas/store"
)

// storage is the op.Storage the op package calls. The code and refresh
// grants do not go through its token methods (server.go issues tokens);
// what is left is requests, clients, keys, userinfo, revocation and
// end-session.
type storage struct{ p *Provider }

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest = (*storage)(nil)
)

// hashSecret is how codes and refresh tokens are stored.
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// errUnknownClient is a plain error: the op package answers it as
// invalid_client, not server_error.
var errUnknownClient = errors.New("unknown client")

func (s *storage) client(id string) (*client, error) {
	c, ok := s.p.clients[id]
	if !ok {
		return nil, errUnknownClient
	}
	return c, nil
}

// CreateAuthRequest stores a browser authorization request after the op
// package validated it (client, redirect URI, response type). wxcas adds:
// only the client's scopes; PKCE S256 for public clients and never plain.
func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, hintSubject string) (op.AuthRequest, error) {
	c, err := s.client(r.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient()
	}
	if err := checkPKCE(c, r.CodeChallenge, string(r.CodeChallengeMethod)); err != nil {
		return nil, err
	}
	scopes, err := checkScopes(c, r.Scopes)
	if err != nil {
		return nil, err
	}
	maxAge := -1
	if r.MaxAge != nil {
		maxAge = int(min(*r.MaxAge, 1<<30))
	}
	now := s.p.d.Now()
	a := AuthRequest{
		ID: newID(), ClientID: c.ID, RedirectURI: r.RedirectURI, Scopes: scopes, State: r.State, Nonce: r.Nonce,
		ResponseMode: string(r.ResponseMode), CodeChallenge: r.CodeChallenge, Prompt: r.Prompt, MaxAge: maxAge,
		UILocales: localesString(r.UILocales), LoginHint: truncate(r.LoginHint, 255), HintSubject: hintSubject,
		EntryAppID: entryAccount(ctx),
		CreatedAt:  now, ExpiresAt: now.Add(s.p.cfg.LoginTTL),
	}
	if err := s.p.d.Store.CreateAuthRequest(ctx, a); err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return &authReq{a}, nil
}

// checkPKCE: a public client must send an S256 challenge; plain is refused
// for everyone (RFC 9700 §2.1.1), and so is a challenge without a method,
// which RFC 7636 would read as plain.
func checkPKCE(c *client, challenge, method string) error {
	switch {
	case challenge == "" && method != "":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
	case challenge == "" && c.public():
		return oidc.ErrInvalidRequest().WithDescription("code_challenge (PKCE, S256) is required for this client")
	case challenge == "":
		return nil
	case method != string(oidc.CodeChallengeMethodS256):
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256 (plain is not accepted)")
	case len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "":
		return oidc.ErrInvalidRequest().WithDescription("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
	}
	return nil
}

// checkScopes keeps the request's scopes the client may ask for and drops
// the others (RFC 6749 §3.3: the token response's scope says what was
// granted). The op package narrows /authorize requests the same way before
// they get here. openid is required: this is an OpenID provider.
func checkScopes(c *client, asked []string) ([]string, error) {
	var out []string
	for _, sc := range asked {
		if c.IsScopeAllowed(sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if !slices.Contains(out, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("scope must include openid")
	}
	return out, nil
}

func localesString(l oidc.Locales) string {
	var parts []string
	for _, t := range l {
		parts = append(parts, t.String())
	}
	return truncate(strings.Join(parts, " "), 64)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// liveRequest returns a request that has not expired.
func (s *storage) liveRequest(ctx context.Context, id string) (AuthRequest, error) {
	a, err := s.p.d.Store.AuthRequest(ctx, id)
	if err != nil {
		return AuthRequest{}, err
	}
	if !s.p.d.Now().Before(a.ExpiresAt) {
		return AuthRequest{}, store.ErrNotFound
	}
	return a, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.liveRequest(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, oidc.ErrInvalidRequest().WithDescription("authorization request unknown or expired"))
	}
	return &authReq{a}, nil
}

// AuthRequestByCode is not reached: the code grant is server.go's.
func (s *storage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, oidc.ErrInvalidGrant()
}

// SaveAuthCode stores the code the op package made for a done request
// (only its hash) and cuts the request's life to the code's.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	return s.p.d.Store.SaveCode(ctx, id, hashSecret(code), s.p.d.Now().Add(s.p.cfg.CodeTTL))
}

// DeleteAuthRequest: requests are marked, not deleted (a replayed code
// must find what it issued); the clean-up removes them.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

var errNotHere = errors.New("openid: tokens are issued by the code and refresh grants")

func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errNotHere
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNotHere
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, oidc.ErrInvalidGrant()
}

// TerminateSession is replaced by TerminateSessionFromRequest.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// GetRefreshTokenInfo answers the revocation endpoint: a refresh token of
// ours is named by its hash from here on.
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.p.d.Store.RefreshToken(ctx, hashSecret(token))
	if errors.Is(err, store.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", err
	}
	g, err := s.p.d.Store.Grant(ctx, rt.GrantID)
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.Subject, refreshPrefix + rt.GrantID, nil
}

// refreshPrefix marks, inside RevokeToken, a grant named through one of
// its refresh tokens.
const refreshPrefix = "rt:"

// RevokeToken revokes the grant a refresh or access token belongs to
// (RFC 7009 §2.1 lets revoking either revoke both). A token of another
// client is refused; an unknown one is not an error.
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	grantID, ok := strings.CutPrefix(tokenOrID, refreshPrefix)
	if !ok {
		// An access token: the op package verified it and passes its jti.
		grantID, ok = grantOfJTI(tokenOrID)
		if !ok {
			return nil
		}
	}
	g, err := s.p.d.Store.Grant(ctx, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	if g.ClientID != clientID {
		return oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client")
	}
	if err := s.p.d.Store.RevokeGrant(ctx, g.ID); err != nil {
		return oidc.ErrServerError()
	}
	s.p.d.Log.InfoContext(ctx, "openid: grant revoked by its client", "client", clientID, "grant", short(g.ID))
	return nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.p.keys.current(ctx)
	if err != nil {
		return nil, err
	}
	return signingKey{k}, nil
}

func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.p.keys.algorithms(ctx)
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.p.keys.published(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	return s.client(id)
}

// AuthorizeClientIDSecret compares in constant time; a public client has
// no secret to present.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, err := s.client(id)
	if err != nil || c.public() || subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return errors.New("invalid client credentials")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in the op package; see
// SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest is unused: server.go builds ID tokens.
func (s *storage) SetUserinfoFromRequest(context.Context, *oidc.UserInfo, op.IDTokenRequest, []string) error {
	return nil
}

// SetUserinfoFromToken answers userinfo for a verified access token (the
// UserInfo endpoint, server.go): the grant must be live, and the answer
// carries the client's claims. errGrantGone when the token opens nothing.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	g, c, err := s.liveGrantOfJTI(ctx, tokenID)
	if err != nil {
		return err
	}
	if g.Subject != subject {
		return errGrantGone
	}
	info.Subject = g.Subject
	for k, v := range c.claims(g.Attributes) {
		info.AppendClaims(k, v)
	}
	return nil
}

// SetIntrospectionFromToken is unused: server.go answers introspection.
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errNotHere
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("openid: JWT client authentication is not offered")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("openid: the JWT profile grant is not offered")
}

func (s *storage) Health(ctx context.Context) error {
	_, err := s.p.d.Store.SigningKeys(ctx, s.p.d.Now())
	return err
}

// liveGrantOfJTI returns the live grant an access token's jti names, and
// its client.
// It is errGrantGone when the token opens nothing; any other error is a
// failure to find out (the database out of reach), which must not be
// answered as "revoked".
func (s *storage) liveGrantOfJTI(ctx context.Context, jti string) (Grant, *client, error) {
	id, ok := grantOfJTI(jti)
	if !ok {
		return Grant{}, nil, errGrantGone
	}
	g, err := s.p.d.Store.Grant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Grant{}, nil, errGrantGone
	}
	if err != nil {
		return Grant{}, nil, err
	}
	c, cerr := s.client(g.ClientID)
	if g.Revoked || !s.p.d.Now().Before(g.ExpiresAt) || cerr != nil {
		return Grant{}, nil, errGrantGone
	}
	return g, c, nil
}

// errGrantGone: the token's grant is unknown, revoked or expired.
var errGrantGone = errors.New("openid: grant revoked, expired or unknown")

// An access token's jti is its grant's id, ".", and a random part: the
// grant is found (and its revocation seen) without a row per token.
func newJTI(grantID string) string { return grantID + "." + newID()[:16] }

func grantOfJTI(jti string) (string, bool) {
	id, _, ok := strings.Cut(jti, ".")
	return id, ok && id != ""
}

func notFoundAs(err error, as *oidc.Error) error {
	if errors.Is(err, store.ErrNotFound) {
		return as
	}
	return oidc.ErrServerError().WithParent(err)
}

func short(id string) string { return id[:min(8, len(id))] }

// TerminateSessionFromRequest ends the session an end-session request
// names (the sid of its id_token_hint) and sends the browser through
// /cas/logout, which ends the session its cookie names, then on to the
// post-logout redirect URI (already checked against the client's list by
// the op package) through PathLoggedOut.
func (s *storage) TerminateSessionFromRequest(ctx context.Context, r *op.EndSessionRequest) (string, error) {
	if r.IDTokenHintClaims != nil && r.IDTokenHintClaims.SessionID != "" {
		sid := r.IDTokenHintClaims.SessionID
		_, err := s.p.d.Sessions.SessionByKey(ctx, sid)
		switch {
		case err == nil:
			// Ends the session; OnLogout (SessionEnded) revokes its
			// grants and tells its clients.
			err = s.p.d.Sessions.Logout(ctx, sid)
		case errors.Is(err, cas.ErrNoSession):
			// The session expired before the logout: its grants (refresh
			// tokens outlive it) are revoked and its clients told all the
			// same.
			s.p.SessionEnded(ctx, cas.EndedSession{TGT: cas.TGT{Key: sid}})
			err = nil
		}
		if err != nil {
			s.p.d.Log.ErrorContext(ctx, "openid: cannot end the session of an end-session request", "err", err)
			return "", failed(err)
		}
	}
	back := s.p.base + PathLoggedOut
	// The op package puts state on its (empty) default when the request
	// named no post-logout redirect URI: only an absolute one is a place
	// to go.
	if u, err := url.Parse(r.RedirectURI); err == nil && u.Scheme != "" {
		back += "?to=" + url.QueryEscape(r.RedirectURI) + "&sig=" + s.p.sign("logged-out", r.RedirectURI)
	}
	return s.p.base + "/cas/logout?service=" + url.QueryEscape(back), nil
}
