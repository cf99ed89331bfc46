package openid

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// client is the op.Client view of a configured client.
type client struct {
	Client
	loginURL func(id string) string
}

func (c *client) GetID() string                    { return c.ID }
func (c *client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }
func (c *client) ApplicationType() op.ApplicationType {
	if c.Type == TypeNative {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	switch c.Client.AuthMethod {
	case "client_secret_post":
		return oidc.AuthMethodPost
	case "client_secret_basic":
		return oidc.AuthMethodBasic
	}
	return oidc.AuthMethodNone
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	var out []oidc.GrantType
	for _, g := range c.Grants {
		out = append(out, oidc.GrantType(g))
	}
	return out
}
func (c *client) LoginURL(id string) string            { return c.loginURL(id) }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration       { return c.IDTokenTTL }
func (c *client) DevMode() bool                        { return false }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) IsScopeAllowed(scope string) bool     { return slices.Contains(c.Scopes, scope) }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) public() bool { return c.Type == TypeNative }

func (c *client) hasGrant(g string) bool { return slices.Contains(c.Grants, g) }

// claims are the configured principal attributes of attrs, single values
// as strings and several as arrays.
func (c *client) claims(attrs map[string][]string) map[string]any {
	out := map[string]any{}
	for _, name := range c.Claims {
		switch v := attrs[name]; len(v) {
		case 0:
		case 1:
			out[name] = v[0]
		default:
			out[name] = v
		}
	}
	return out
}
