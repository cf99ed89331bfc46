package openid

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// authReq is the op.AuthRequest view of an AuthRequest.
type authReq struct{ AuthRequest }

func (a *authReq) GetID() string                      { return a.ID }
func (a *authReq) GetACR() string                     { return "" }
func (a *authReq) GetAMR() []string                   { return a.AMR }
func (a *authReq) GetAudience() []string              { return []string{a.ClientID} }
func (a *authReq) GetAuthTime() time.Time             { return a.AuthTime }
func (a *authReq) GetClientID() string                { return a.ClientID }
func (a *authReq) GetNonce() string                   { return a.Nonce }
func (a *authReq) GetRedirectURI() string             { return a.RedirectURI }
func (a *authReq) GetScopes() []string                { return a.Scopes }
func (a *authReq) GetState() string                   { return a.State }
func (a *authReq) GetSubject() string                 { return a.Subject }
func (a *authReq) Done() bool                         { return a.AuthRequest.Done }
func (a *authReq) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authReq) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }
func (a *authReq) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}
