package wechat

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"wxcas/logx"
)

// AppToken is an app-level access token (cgi-bin/token or stable_token),
// used by server APIs such as the phone number call. Not a user token.
type AppToken struct {
	AppID       string
	AccessToken string
	ExpiresAt   time.Time // zero if WeChat sent no expires_in
}

// String describes the token without its value.
func (t AppToken) String() string {
	return fmt.Sprintf("wechat.AppToken{AppID:%s ExpiresAt:%s AccessToken:[redacted]}", t.AppID, t.ExpiresAt.Format(time.RFC3339))
}

// GoString is String.
func (t AppToken) GoString() string { return t.String() }

// LogValue keeps the token out of slog output.
func (t AppToken) LogValue() slog.Value {
	return slog.GroupValue(slog.String("appid", t.AppID), slog.Time("expires_at", t.ExpiresAt))
}

type appTokenResponse struct {
	AccessToken string  `json:"access_token"`
	ExpiresIn   flexInt `json:"expires_in"`
}

func (r *appTokenResponse) complete() bool { return r.AccessToken != "" }

func (c *Client) appToken(appID string, r *appTokenResponse) *AppToken {
	t := &AppToken{AppID: appID, AccessToken: r.AccessToken}
	if r.ExpiresIn > 0 {
		t.ExpiresAt = c.now().Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	return t
}

// AppAccessToken fetches an app-level token (GET /cgi-bin/token). Each call
// issues a new token and retires the previous one; cache it. Official
// Account and mini program apps only.
func (c *Client) AppAccessToken(ctx context.Context, appID string) (*AppToken, error) {
	app, err := c.ownSecretApp(opToken, appID, KindOfficialAccount, KindMiniProgram)
	if err != nil {
		return nil, err
	}
	r, err := fetch[appTokenResponse](ctx, c, call{
		op:      opToken,
		query:   url.Values{"grant_type": {"client_credential"}, "appid": {app.AppID}, "secret": {app.Secret}},
		secrets: []string{app.Secret},
	})
	if err != nil {
		return nil, err
	}
	return c.appToken(app.AppID, r), nil
}

type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// StableAccessToken fetches the stable app-level token (POST
// /cgi-bin/stable_token, secret in the JSON body). Without forceRefresh
// WeChat returns the current token until shortly before it expires. A
// forced refresh is limited (20 a day, 30 s apart), so it is not retried.
func (c *Client) StableAccessToken(ctx context.Context, appID string, forceRefresh bool) (*AppToken, error) {
	app, err := c.ownSecretApp(opStableToken, appID, KindOfficialAccount, KindMiniProgram)
	if err != nil {
		return nil, err
	}
	r, err := fetch[appTokenResponse](ctx, c, call{
		op: opStableToken,
		body: stableTokenRequest{
			GrantType: "client_credential", AppID: app.AppID, Secret: app.Secret, ForceRefresh: forceRefresh,
		},
		singleUse: forceRefresh,
		secrets:   []string{app.Secret},
	})
	if err != nil {
		return nil, err
	}
	return c.appToken(app.AppID, r), nil
}

// PhoneInfo is a mini program user's phone number.
type PhoneInfo struct {
	PhoneNumber     string // with country code for non-mainland numbers
	PurePhoneNumber string // without country code
	CountryCode     string // "86"
	WatermarkAppID  string // the mini program the number was issued to
	WatermarkTime   time.Time
}

// String masks the number (logx.MaskPhone).
func (p PhoneInfo) String() string {
	return fmt.Sprintf("wechat.PhoneInfo{CountryCode:%s PurePhoneNumber:%s WatermarkAppID:%s}",
		p.CountryCode, logx.MaskPhone(p.PurePhoneNumber), p.WatermarkAppID)
}

// GoString is String.
func (p PhoneInfo) GoString() string { return p.String() }

// LogValue masks the number in slog output (logx.MaskPhone).
func (p PhoneInfo) LogValue() slog.Value {
	return slog.GroupValue(slog.String("country_code", p.CountryCode),
		slog.String("phone", logx.MaskPhone(p.PurePhoneNumber)), slog.String("watermark_appid", p.WatermarkAppID))
}

type phoneRequest struct {
	Code string `json:"code"`
}

type phoneResponse struct {
	PhoneInfo *struct {
		PhoneNumber     string     `json:"phoneNumber"`
		PurePhoneNumber string     `json:"purePhoneNumber"`
		CountryCode     flexString `json:"countryCode"`
		Watermark       struct {
			Timestamp flexInt `json:"timestamp"`
			AppID     string  `json:"appid"`
		} `json:"watermark"`
	} `json:"phone_info"`
}

func (r *phoneResponse) complete() bool {
	return r.PhoneInfo != nil && (r.PhoneInfo.PhoneNumber != "" || r.PhoneInfo.PurePhoneNumber != "")
}

// PhoneNumber exchanges a mini program getPhoneNumber code (POST
// /wxa/business/getuserphonenumber) using an app-level access token of the
// mini program (see AppAccessToken / StableAccessToken). The code is single
// use: the request is never repeated once it may have reached WeChat.
func (c *Client) PhoneNumber(ctx context.Context, appAccessToken, code string) (*PhoneInfo, error) {
	if appAccessToken == "" || code == "" {
		return nil, newError(opPhoneNumber, ErrInvalidArgument, "empty access token or code")
	}
	r, err := fetch[phoneResponse](ctx, c, call{
		op:        opPhoneNumber,
		query:     url.Values{"access_token": {appAccessToken}},
		body:      phoneRequest{Code: code},
		singleUse: true,
		secrets:   []string{appAccessToken, code},
	})
	if err != nil {
		return nil, err
	}
	pi := r.PhoneInfo
	p := &PhoneInfo{
		PhoneNumber: pi.PhoneNumber, PurePhoneNumber: pi.PurePhoneNumber,
		CountryCode: string(pi.CountryCode), WatermarkAppID: pi.Watermark.AppID,
	}
	if pi.Watermark.Timestamp > 0 {
		p.WatermarkTime = time.Unix(int64(pi.Watermark.Timestamp), 0)
	}
	return p, nil
}
