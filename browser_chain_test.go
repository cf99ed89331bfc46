package main

// The unionid chain inside WeChat, as production runs it (sandbox off):
// several Official Accounts, one of them served through a WeChat
// third-party platform whose ticket push reaches wxcas over HTTP, and the
// unionid account that reveals who the person is.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/wechat/emulator"
)

const (
	chainEntryA    = "wxa1b2c3d4e5f60005" // entry OA served through the platform, no unionid
	chainEntryB    = "wxa1b2c3d4e5f60006" // entry OA with its own secret, no unionid
	chainComponent = "wxa1b2c3d4e5f60009"
	chainAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

type chainEnv struct {
	*prodEnv
}

func startChain(t *testing.T) *chainEnv {
	t.Helper()
	requireChromium(t)
	ln, base := listen(t)
	em, err := emulator.New(emulator.Options{
		Apps: []emulator.App{
			{AppID: prodWebsiteAppID, Secret: "web-secret", Kind: emulator.KindWebsite, OpenPlatformID: "campus", CallbackDomain: "127.0.0.1"},
			{AppID: prodOAAppID, Secret: "oa-secret", Kind: emulator.KindOfficialAccount, OpenPlatformID: "campus", CallbackDomain: "127.0.0.1"},
			{AppID: chainEntryA, Kind: emulator.KindOfficialAccount, ComponentAppID: chainComponent, CallbackDomain: "127.0.0.1"},
			{AppID: chainEntryB, Secret: "oa-b-secret", Kind: emulator.KindOfficialAccount, CallbackDomain: "127.0.0.1"},
		},
		Platforms: []emulator.Platform{{ComponentAppID: chainComponent, Secret: "component-secret", Token: "campustoken",
			EncodingAESKey: chainAESKey, EventURL: base + "/wechat/platforms/campus/events", Authorizers: []string{chainEntryA}}},
	})
	require.NoError(t, err)
	emSrv := httptest.NewServer(em)
	t.Cleanup(emSrv.Close)
	site := casSite(t, base)
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: %s, kind: website, secret: web-secret}
    - {appid: %s, kind: official_account, secret: oa-secret}
    - {appid: %s, kind: official_account, via_platform: campus}
    - {appid: %s, kind: official_account, secret: oa-b-secret}
  platforms:
    - {id: campus, component_appid: %s, secret: component-secret, token: campustoken, encoding_aes_key: %s}
login:
  website_appid: %s
  official_account_appid: %s
  unionid_official_account: %s
cas:
  services:
    - {id: site, name: Test site, match: prefix, url: '%s/', attributes: [phone, nickname], attributes_on_service_validate: true}
`, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), prodWebsiteAppID, prodOAAppID, chainEntryA, chainEntryB,
		chainComponent, chainAESKey, prodWebsiteAppID, prodOAAppID, prodOAAppID, site.URL)
	a := serveAsProduction(t, ln, body, emSrv.URL)
	browser, shots := startChromium(t)
	return &chainEnv{&prodEnv{e2e: &e2e{t: t, app: a, base: base, appURL: site.URL + "/", browser: browser, shots: shots}, em: em, emURL: emSrv.URL}}
}

func (c *chainEnv) sub(t *testing.T) *chainEnv { return &chainEnv{c.prodEnv.sub(t)} }

// inWeChat is a new phone whose WeChat is signed in as person.
func (c *chainEnv) inWeChat(person string) context.Context {
	ctx := c.person(weChatUA)
	c.do(ctx, chromedp.Navigate(c.emURL+emulator.PathSandboxSignIn+"?user="+url.QueryEscape(person)))
	return ctx
}

// entryLink is what an Official Account's menu points at.
func (c *chainEnv) entryLink(appID string) string {
	return c.base + "/cas/login?service=" + url.QueryEscape(c.appURL) + "&appid=" + appID
}

func TestBrowserOfficialAccountChain(t *testing.T) {
	env := startChain(t)
	ctx := context.Background()
	require.NoError(t, env.em.PushTicket(ctx, chainComponent), "wxcas answers the ticket push with success")
	var wendy string

	t.Run("a new person: silent entry account, one consent on the unionid account, phone, ticket", func(t *testing.T) {
		c := env.sub(t)
		wx := c.inWeChat("wendy")
		c.do(wx, chromedp.Navigate(c.entryLink(chainEntryA)), chromedp.WaitVisible(chromedp.CSS(".approve")))
		loc, err := url.Parse(c.location(wx))
		require.NoError(t, err)
		require.Equal(t, c.emURL+"/connect/oauth2/authorize", loc.Scheme+"://"+loc.Host+loc.Path)
		require.Equal(t, prodOAAppID, loc.Query().Get("appid"), "the step-up is on the unionid account")
		require.Equal(t, "snsapi_userinfo", loc.Query().Get("scope"))
		c.screenshot(wx, "chain-01-consent")
		_, err = chromedp.RunResponse(wx, chromedp.Click(chromedp.CSS(".approve")))
		require.NoError(t, err)
		c.bindPhone(wx, "137 0013 7201", "+8613700137201", "chain-02")
		user, phone := c.onSite(wx)
		require.Equal(t, "+8613700137201", phone)
		wendy = user

		events, err := audit.NewSQL(c.app.db).List(context.Background(), audit.Filter{UserID: user})
		require.NoError(t, err)
		var kinds []string
		for _, ev := range events {
			kinds = append(kinds, ev.Kind+"/"+ev.AppID)
		}
		require.ElementsMatch(t, []string{"bind/" + prodOAAppID, "link/" + chainEntryA, "login/" + prodOAAppID}, kinds,
			"the entry account's link is in the audit log")
		require.Equal(t, 1, c.em.Authorizations(chainEntryA), "the entry account was asked, through the platform")
		require.Zero(t, c.em.ConsentPages(chainEntryA), "silently")
		require.Equal(t, 1, c.em.ConsentPages(prodOAAppID), "one consent screen")
	})

	t.Run("later from the same entry account: no screen, not even the step-up", func(t *testing.T) {
		c := env.sub(t)
		steps := c.em.Authorizations(prodOAAppID)
		wx := c.inWeChat("wendy")
		c.do(wx, chromedp.Navigate(c.entryLink(chainEntryA)))
		user, _ := c.onSite(wx)
		require.Equal(t, wendy, user)
		require.Equal(t, steps, c.em.Authorizations(prodOAAppID), "the entry account was linked when the phone was bound")
	})

	t.Run("later from another entry account: recognised, no consent screen", func(t *testing.T) {
		c := env.sub(t)
		for range 2 {
			steps := c.em.Authorizations(prodOAAppID)
			wx := c.inWeChat("wendy")
			c.do(wx, chromedp.Navigate(c.entryLink(chainEntryB)))
			user, _ := c.onSite(wx)
			require.Equal(t, wendy, user)
			require.Equal(t, 1, c.em.ConsentPages(prodOAAppID), "WeChat remembers the consent: the step-up is silent")
			require.Zero(t, c.em.ConsentPages(chainEntryB))
			// Already bound, so no phone is proven here: B is not linked
			// (a passed-on code must not tie B to this account for good),
			// and each login from B steps up, silently.
			require.Equal(t, steps+1, c.em.Authorizations(prodOAAppID), "one silent step-up")
		}
	})

	t.Run("a person the unionid account already knows finishes silently", func(t *testing.T) {
		c := env.sub(t)
		steps, consents := c.em.Authorizations(prodOAAppID), c.em.ConsentPages(prodOAAppID)
		wx := c.inWeChat("wendy")
		c.do(wx, chromedp.Navigate(c.entryLink(prodOAAppID)))
		user, _ := c.onSite(wx)
		require.Equal(t, wendy, user)
		require.Equal(t, steps+1, c.em.Authorizations(prodOAAppID), "one silent snsapi_base")
		require.Equal(t, consents, c.em.ConsentPages(prodOAAppID))
	})

	t.Run("an entry account that withdrew from the platform gets a clear page", func(t *testing.T) {
		c := env.sub(t)
		require.NoError(t, c.em.Unauthorize(context.Background(), chainComponent, chainEntryA), "wxcas takes the unauthorized event")
		asked := c.em.Authorizations(chainEntryA)
		wx := c.inWeChat("wendy")
		c.do(wx, chromedp.Navigate(c.entryLink(chainEntryA)), chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, c.text(wx, "h1"), "无法通过该公众号登录")
		require.False(t, strings.HasPrefix(c.location(wx), c.appURL))
		require.Equal(t, asked, c.em.Authorizations(chainEntryA), "no trip to WeChat that cannot succeed")
		c.screenshot(wx, "chain-03-withdrawn")
	})

	t.Run("an entry link naming an unknown account is refused", func(t *testing.T) {
		c := env.sub(t)
		wx := c.inWeChat("wendy")
		c.do(wx, chromedp.Navigate(c.entryLink("wxffffffffffffff01")), chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, c.text(wx, "h1"), "入口链接有误")
	})
}
