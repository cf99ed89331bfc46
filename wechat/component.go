package wechat

import (
	"context"
	"net/url"
)

// The third-party platform (开放平台第三方平台) calls: an Official Account
// that authorized a platform is served with the platform's
// component_access_token instead of its own secret (reference §5.3).

type componentTokenRequest struct {
	ComponentAppID     string `json:"component_appid"`
	ComponentAppSecret string `json:"component_appsecret"`
	VerifyTicket       string `json:"component_verify_ticket"`
}

type componentTokenResponse struct {
	ComponentAccessToken string  `json:"component_access_token"`
	ExpiresIn            flexInt `json:"expires_in"`
}

func (r *componentTokenResponse) complete() bool { return r.ComponentAccessToken != "" }

// Platform returns the configured platform with this component appid.
func (c *Client) Platform(componentAppID string) (Platform, bool) {
	p, ok := c.platforms[componentAppID]
	return p, ok
}

// ComponentAccessToken fetches the platform's component_access_token (POST
// /cgi-bin/component/api_component_token) with the newest
// component_verify_ticket WeChat pushed. Each call issues a new token;
// share it (the caller keeps it in the database). ErrTicketInvalid means
// the ticket is stale: wait for WeChat's next push.
func (c *Client) ComponentAccessToken(ctx context.Context, componentAppID, verifyTicket string) (*AppToken, error) {
	p, ok := c.platforms[componentAppID]
	if !ok {
		return nil, newError(opComponentToken, ErrUnknownApp, "component appid is not configured")
	}
	if verifyTicket == "" {
		return nil, newError(opComponentToken, ErrInvalidArgument, "no component_verify_ticket")
	}
	r, err := fetch[componentTokenResponse](ctx, c, call{
		op:   opComponentToken,
		body: componentTokenRequest{ComponentAppID: p.ComponentAppID, ComponentAppSecret: p.Secret, VerifyTicket: verifyTicket},
		// A new token per call, and WeChat limits the calls a day: never
		// sent twice.
		singleUse: true,
		secrets:   []string{p.Secret, verifyTicket},
	})
	if err != nil {
		return nil, err
	}
	return c.appToken(p.ComponentAppID, &appTokenResponse{AccessToken: r.ComponentAccessToken, ExpiresIn: r.ExpiresIn}), nil
}

// platformApp looks up an Official Account served through a platform.
func (c *Client) platformApp(op, appID string) (App, error) {
	app, err := c.app(op, appID, KindOfficialAccount)
	if err != nil {
		return App{}, err
	}
	if !app.ViaPlatform() {
		return App{}, newError(op, ErrWrongAppKind, "app "+app.AppID+" is not served through a platform")
	}
	return app, nil
}

// ExchangeComponentCode exchanges an Official Account's authorization code
// on behalf of its platform (GET /sns/oauth2/component/access_token), with
// the platform's component_access_token. As ExchangeCode: never repeated
// once it may have reached WeChat, and a snapshot-page user comes with
// ErrSnapshotUser. ErrNotAuthorized means the account withdrew its
// authorization of the platform.
func (c *Client) ExchangeComponentCode(ctx context.Context, appID, code, componentAccessToken string) (*Token, error) {
	app, err := c.platformApp(opComponentAccessToken, appID)
	if err != nil {
		return nil, err
	}
	if code == "" || componentAccessToken == "" {
		return nil, newError(opComponentAccessToken, ErrInvalidArgument, "empty code or component access token")
	}
	r, err := fetch[tokenResponse](ctx, c, call{
		op: opComponentAccessToken,
		query: url.Values{
			"appid": {app.AppID}, "code": {code}, "grant_type": {"authorization_code"},
			"component_appid": {app.ComponentAppID}, "component_access_token": {componentAccessToken},
		},
		singleUse: true,
		secrets:   []string{code, componentAccessToken},
	})
	if err != nil {
		return nil, err
	}
	t := c.token(app.AppID, r)
	if t.IsSnapshotUser {
		return t, newError(opComponentAccessToken, ErrSnapshotUser, "is_snapshotuser=1")
	}
	return t, nil
}

// RefreshComponentToken renews a user access token of a platform-served
// Official Account (GET /sns/oauth2/component/refresh_token).
func (c *Client) RefreshComponentToken(ctx context.Context, appID, refreshToken, componentAccessToken string) (*Token, error) {
	app, err := c.platformApp(opComponentRefreshToken, appID)
	if err != nil {
		return nil, err
	}
	if refreshToken == "" || componentAccessToken == "" {
		return nil, newError(opComponentRefreshToken, ErrInvalidArgument, "empty refresh token or component access token")
	}
	r, err := fetch[tokenResponse](ctx, c, call{
		op: opComponentRefreshToken,
		query: url.Values{
			"appid": {app.AppID}, "grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
			"component_appid": {app.ComponentAppID}, "component_access_token": {componentAccessToken},
		},
		secrets: []string{refreshToken, componentAccessToken},
	})
	if err != nil {
		return nil, err
	}
	return c.token(app.AppID, r), nil
}
