package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"wxcas/wechat"
)

// CallbackPath is where WeChat sends people back to wxcas, under
// public_url (web/flow.go registers it; the login pages send it as
// redirect_uri).
const CallbackPath = "/wechat/callback"

// CallbackURL is the redirect_uri wxcas sends WeChat for publicURL.
func CallbackURL(publicURL string) string {
	return trimSlash(publicURL) + CallbackPath
}

func trimSlash(u string) string { return strings.TrimSuffix(u, "/") }

// Callback checks that WeChat accepts the redirect_uri wxcas sends for one
// app: the redirect_uri's host is public_url's, and WeChat only sends
// people back to the callback domain configured for the app (a website
// app's 授权回调域, an Official Account's 网页授权域名). WeChat offers no
// API to read that setting; its authorize page, loaded with the very URL
// wxcas's login page builds, shows an error instead of a QR code when the
// domain does not match. Loading the page starts nothing a person could
// finish: nobody scans it.
type Callback struct {
	Client    *wechat.Client
	HTTP      *http.Client
	AppID     string
	PublicURL string
	// UnreachableFix replaces the fix for pages that do not load (the
	// sandbox's emulator runs inside wxcas serve).
	UnreachableFix string
}

// Name implements Check.
func (c Callback) Name() string { return "wechat_callback/" + c.AppID }

// pageErrors are the texts of WeChat's authorize error pages (spaces
// removed before matching), with what each means and how to fix it; %[1]s
// is the app, %[2]s the callback host, %[3]s where the setting lives.
var pageErrors = []struct{ text, detail, fix string }{
	{"该链接无法访问", "WeChat refuses the redirect_uri's domain (该链接无法访问)", "set %[1]s's callback domain to %[2]s (%[3]s)"},
	{"redirect_uri域名与后台配置不一致", "WeChat refuses the redirect_uri's domain (redirect_uri 域名与后台配置不一致)", "set %[1]s's callback domain to %[2]s (%[3]s)"},
	{"redirect_uri参数错误", "WeChat refuses the redirect_uri (redirect_uri 参数错误)", "set %[1]s's callback domain to %[2]s (%[3]s), and check server.public_url"},
	{"appid参数错误", "WeChat does not know the appid (appid 参数错误)", "check wechat.apps' appid %[1]s against %[3]s"},
	{"Scope参数错误或没有Scope权限", "WeChat refuses the scope for this appid: its kind is wrong or it lacks the permission (Scope 参数错误或没有 Scope 权限)", "check the kind of %[1]s in wechat.apps (website for a website app, official_account for an Official Account) and its login permission (%[3]s)"},
	{"component_appid参数错误", "WeChat refuses the platform's component_appid for this account (component_appid 参数错误)", "check via_platform of %[1]s and the platform's component_appid"},
	{"该公众号未授权给此第三方平台", "the Official Account has not authorized the third-party platform", "have an administrator of %[1]s authorize the third-party platform"},
}

// outsideWeChat is what WeChat shows an Official Account's page opened
// outside its app, where it checks no domain.
const outsideWeChat = "请在微信客户端打开链接"

// Run implements Check.
func (c Callback) Run(ctx context.Context) Result {
	app, ok := c.Client.App(c.AppID)
	if !ok {
		return Fail(c.AppID+" is not a configured app", "report this as a wxcas bug")
	}
	redirect := CallbackURL(c.PublicURL)
	ru, err := url.Parse(redirect)
	if err != nil || ru.Host == "" {
		return Fail(fmt.Sprintf("redirect_uri %q is not an absolute URL", redirect), "set server.public_url to the https URL people reach wxcas at")
	}
	host := ru.Hostname()
	state := strings.ReplaceAll(invalidCode(), "-", "")
	var page string
	if app.Kind == wechat.KindWebsite {
		page, err = c.Client.QRConnectURL(app.AppID, redirect, state, "")
	} else {
		page, err = c.Client.OAuthURL(app.AppID, redirect, wechat.ScopeBase, state, false)
	}
	if err != nil {
		return Fail(fmt.Sprintf("%s: cannot build the authorize URL: %v", app, err), "check server.public_url")
	}
	body, status, err := c.load(ctx, page)
	if err != nil {
		fix := c.UnreachableFix
		if fix == "" {
			fix = "check that this machine reaches WeChat's pages over https and that wechat.open_base_url is empty or right"
		}
		return Fail(fmt.Sprintf("%s: cannot load WeChat's authorize page: %v", app, err), fix)
	}
	where := callbackSetting(app)
	flat := strings.Join(strings.Fields(body), "")
	for _, e := range pageErrors {
		if strings.Contains(flat, strings.ReplaceAll(e.text, " ", "")) {
			return Fail(fmt.Sprintf("%s: redirect_uri %s: %s", app, redirect, e.detail), fmt.Sprintf(e.fix, app.AppID, host, where))
		}
	}
	if status >= 400 {
		return Fail(fmt.Sprintf("%s: WeChat's authorize page answered HTTP %d", app, status),
			"check wechat.open_base_url (empty for WeChat's own pages) and run wxcas doctor again")
	}
	if strings.Contains(flat, outsideWeChat) {
		return Pass(fmt.Sprintf("%s: redirect_uri host %s is public_url's; WeChat checks an Official Account's domain only inside its app, so make sure %s is %s",
			app, host, where, host))
	}
	return Pass(fmt.Sprintf("%s: WeChat accepts redirect_uri %s (public_url's host %s)", app, redirect, host))
}

// maxPage bounds how much of the authorize page is read.
const maxPage = 512 << 10

func (c Callback) load(ctx context.Context, page string) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, page, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// The error quotes the URL, which holds nothing secret (appid,
		// redirect_uri and a throwaway state); it is long, so only the
		// cause is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	return string(b), resp.StatusCode, err
}

// callbackSetting names where an app's callback domain is set.
func callbackSetting(app wechat.App) string {
	switch {
	case app.ViaPlatform():
		return "the third-party platform's development settings (开发资料) on open.weixin.qq.com"
	case app.Kind == wechat.KindOfficialAccount:
		return "网页授权域名 on mp.weixin.qq.com, 设置与开发 → 公众号设置 → 功能设置"
	}
	return "授权回调域 on open.weixin.qq.com, 管理中心 → 网站应用 → 开发信息"
}
