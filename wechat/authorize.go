package wechat

import (
	"encoding/json"
	"net/url"
	"strings"
)

// MaxStateLen is WeChat's documented limit for state.
const MaxStateLen = 128

// QRConnectURL builds the full-page website login URL:
//
//	{OpenBaseURL}/connect/qrconnect?appid=APPID&redirect_uri=ENCODED&response_type=code&scope=snsapi_login&state=STATE[&lang=en]#wechat_redirect
//
// redirectURI is given plain; it is percent-encoded here. state is required
// (it is the CSRF token) and must be 1–128 characters of [A-Za-z0-9]. lang
// is "" (Chinese), "cn" or "en". appID must be a website app.
func (c *Client) QRConnectURL(appID, redirectURI, state, lang string) (string, error) {
	app, err := c.app(opQRConnect, appID, KindWebsite)
	if err != nil {
		return "", err
	}
	if err := checkRedirect(opQRConnect, redirectURI, state); err != nil {
		return "", err
	}
	switch lang {
	case "", "cn", "en":
	default:
		return "", newError(opQRConnect, ErrInvalidArgument, `lang must be "cn" or "en"`)
	}
	var b strings.Builder
	b.WriteString(c.openBase)
	b.WriteString("/connect/qrconnect?appid=")
	b.WriteString(url.QueryEscape(app.AppID))
	b.WriteString("&redirect_uri=")
	b.WriteString(url.QueryEscape(redirectURI))
	b.WriteString("&response_type=code&scope=" + ScopeLogin + "&state=")
	b.WriteString(state)
	if lang != "" {
		b.WriteString("&lang=" + lang)
	}
	b.WriteString("#wechat_redirect")
	return b.String(), nil
}

// OAuthURL builds the Official Account web-authorization URL opened inside
// the WeChat browser:
//
//	{OpenBaseURL}/connect/oauth2/authorize?appid=APPID&redirect_uri=ENCODED&response_type=code&scope=SCOPE&state=STATE[&forcePopup=true]#wechat_redirect
//
// scope is ScopeBase or ScopeUserInfo; state as for QRConnectURL. appID
// must be an Official Account; one served through a third-party platform
// gets &component_appid=COMPONENT_APPID before the fragment.
func (c *Client) OAuthURL(appID, redirectURI, scope, state string, forcePopup bool) (string, error) {
	app, err := c.app(opOAuth2, appID, KindOfficialAccount)
	if err != nil {
		return "", err
	}
	if scope != ScopeBase && scope != ScopeUserInfo {
		return "", newError(opOAuth2, ErrInvalidArgument, "scope must be snsapi_base or snsapi_userinfo")
	}
	if err := checkRedirect(opOAuth2, redirectURI, state); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(c.openBase)
	b.WriteString("/connect/oauth2/authorize?appid=")
	b.WriteString(url.QueryEscape(app.AppID))
	b.WriteString("&redirect_uri=")
	b.WriteString(url.QueryEscape(redirectURI))
	b.WriteString("&response_type=code&scope=")
	b.WriteString(scope)
	b.WriteString("&state=")
	b.WriteString(state)
	if forcePopup {
		b.WriteString("&forcePopup=true")
	}
	if app.ViaPlatform() {
		// On behalf of the platform: WeChat then names the account in the
		// callback (appid=) and the code goes to the component exchange.
		b.WriteString("&component_appid=")
		b.WriteString(url.QueryEscape(app.ComponentAppID))
	}
	b.WriteString("#wechat_redirect")
	return b.String(), nil
}

func checkRedirect(op, redirectURI, state string) error {
	u, err := url.Parse(redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return newError(op, ErrInvalidArgument, "redirect_uri must be an absolute http(s) URL without fragment")
	}
	return checkState(op, state)
}

func checkState(op, state string) error {
	if state == "" || len(state) > MaxStateLen {
		return newError(op, ErrInvalidArgument, "state must be 1-128 characters")
	}
	for _, r := range state {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return newError(op, ErrInvalidArgument, "state must contain only A-Z, a-z and 0-9")
		}
	}
	return nil
}

// WxLoginOptions are the options of wxLogin.js (`new WxLogin({...})`) for the
// inline QR box. Its JSON form is exactly the object literal the script
// expects, so a page template can write
//
//	<script src="https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"></script>
//	<script>new WxLogin({{.WxLogin}});</script>
//
// (html/template JSON-encodes the value in a script context).
type WxLoginOptions struct {
	ID          string // id of the container element (required)
	AppID       string // website app (required)
	Scope       string // snsapi_login (required)
	RedirectURI string // already percent-encoded: the script concatenates it as given
	State       string
	// SelfRedirect true: the iframe navigates to redirect_uri; false: the top
	// window does. Always sent, so the script never falls back to "default".
	SelfRedirect     bool
	Style            string // "black" (default) or "white"
	Href             string // CSS restyling the box, often data:text/css;base64,...
	Lang             string // "en" for English
	StyleLite        bool   // stylelite=1: the new compact style
	DisableFastLogin bool   // fast_login=0: no desktop-client fast login
}

// MarshalJSON writes the wxLogin.js option object.
func (o WxLoginOptions) MarshalJSON() ([]byte, error) {
	type wire struct {
		ID           string `json:"id"`
		AppID        string `json:"appid"`
		Scope        string `json:"scope"`
		RedirectURI  string `json:"redirect_uri"`
		State        string `json:"state,omitempty"`
		SelfRedirect bool   `json:"self_redirect"`
		Style        string `json:"style,omitempty"`
		Href         string `json:"href,omitempty"`
		Lang         string `json:"lang,omitempty"`
		StyleLite    int    `json:"stylelite,omitempty"`
		FastLogin    *int   `json:"fast_login,omitempty"`
	}
	w := wire{
		ID: o.ID, AppID: o.AppID, Scope: o.Scope, RedirectURI: o.RedirectURI, State: o.State,
		SelfRedirect: o.SelfRedirect, Style: o.Style, Href: o.Href, Lang: o.Lang,
	}
	if o.StyleLite {
		w.StyleLite = 1
	}
	if o.DisableFastLogin {
		zero := 0
		w.FastLogin = &zero
	}
	return json.Marshal(w)
}

// WxLogin returns the wxLogin.js options for the inline QR box with the
// required fields set and redirectURI percent-encoded; set the optional
// fields (Style, Href, Lang, StyleLite, SelfRedirect...) on the result.
// Validation is the same as for QRConnectURL; containerID must be non-empty.
func (c *Client) WxLogin(appID, containerID, redirectURI, state string) (WxLoginOptions, error) {
	app, err := c.app(opQRConnect, appID, KindWebsite)
	if err != nil {
		return WxLoginOptions{}, err
	}
	if containerID == "" {
		return WxLoginOptions{}, newError(opQRConnect, ErrInvalidArgument, "empty container id")
	}
	if err := checkRedirect(opQRConnect, redirectURI, state); err != nil {
		return WxLoginOptions{}, err
	}
	return WxLoginOptions{
		ID: containerID, AppID: app.AppID, Scope: ScopeLogin,
		RedirectURI: url.QueryEscape(redirectURI), State: state,
	}, nil
}

// WxLoginIframeURL returns the iframe src that wxLogin.js would create for o,
// but on the configured OpenBaseURL. wxLogin.js always points at
// open.weixin.qq.com, so a page that must work against the emulator
// (sandbox mode) embeds this URL in its own iframe instead; such an iframe
// must carry allow="local-network-access" for desktop fast login in Chrome.
func (c *Client) WxLoginIframeURL(o WxLoginOptions) string {
	var b strings.Builder
	b.WriteString(c.openBase)
	b.WriteString("/connect/qrconnect?appid=")
	b.WriteString(url.QueryEscape(o.AppID))
	b.WriteString("&scope=")
	b.WriteString(url.QueryEscape(o.Scope))
	b.WriteString("&redirect_uri=")
	b.WriteString(o.RedirectURI) // already encoded, as in the script
	b.WriteString("&state=")
	b.WriteString(url.QueryEscape(o.State))
	b.WriteString("&login_type=jssdk&self_redirect=")
	if o.SelfRedirect {
		b.WriteString("true")
	} else {
		b.WriteString("false")
	}
	for _, kv := range [][2]string{{"style", o.Style}, {"href", o.Href}, {"lang", o.Lang}} {
		if kv[1] != "" {
			b.WriteString("&" + kv[0] + "=" + url.QueryEscape(kv[1]))
		}
	}
	if o.StyleLite {
		b.WriteString("&stylelite=1")
	}
	if o.DisableFastLogin {
		b.WriteString("&fast_login=0")
	}
	return b.String()
}

// ParseCallback reads the query WeChat sends to redirect_uri. A callback
// without a code means the user refused: the error matches ErrAccessDenied
// (WeChat may also simply never redirect on refusal). The caller must still
// check state against the value it issued.
func ParseCallback(q url.Values) (code, state string, err error) {
	code, state = q.Get("code"), q.Get("state")
	if code == "" {
		return "", state, newError(opCallback, ErrAccessDenied, "callback without code")
	}
	return code, state, nil
}
