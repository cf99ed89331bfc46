package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/otp"
)

// submitted submits the form of sel and waits for the page answering it.
func (e *e2e) submitted(ctx context.Context, sel string) {
	e.t.Helper()
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	require.NoError(e.t, err, "%s leads to a new page", sel)
}

// TestBrowserAccountPage walks the account page in Chromium: a person logs
// in on a CAS site, opens /account in the same SSO session (no second
// login), replaces their WeChat account through WeChat's own QR page,
// changes their phone (a phone change holds replacements for a day, so the
// replacement comes first), and unlinks the WeChat account.
func TestBrowserAccountPage(t *testing.T) {
	e := startE2E(t)
	ctx := e.person("")
	e.do(ctx, chromedp.Navigate(e.appURL))
	e.scanInline(ctx, "acb_first", true)
	e.bindPhone(ctx, "13744440001", "+8613744440001", "account-login")
	e.onSite(ctx)

	e.do(ctx, chromedp.Navigate(e.base+"/account/"), chromedp.WaitVisible(chromedp.CSS("#masked-phone")))
	require.Equal(t, e.base+"/account/", e.location(ctx), "single sign-on: straight in, no ticket left in the address bar")
	require.Equal(t, "137****0001", e.text(ctx, "#masked-phone"))
	require.Contains(t, e.text(ctx, "#nickname"), "acb_first")
	require.Contains(t, e.text(ctx, "#logins"), "微信扫码")
	e.screenshots(ctx, "account-01-overview")

	// Another WeChat account: prove the phone, then WeChat's QR page.
	e.clock.Advance(2 * time.Minute) // past the login code's resend cooldown
	e.submitted(ctx, "#replace")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	e.screenshots(ctx, "account-02-replace-code")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613744440001")))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
	require.Contains(t, e.location(ctx), "/connect/qrconnect", "WeChat's own QR page")
	e.pickUser(ctx, "acb_second")
	e.do(ctx, chromedp.Click(chromedp.CSS(".approve")))
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Contains(t, e.text(ctx, "#notice"), "已更换绑定的微信")
	require.Contains(t, e.text(ctx, "#nickname"), "acb_second")
	e.screenshots(ctx, "account-03-replaced")

	// A new phone number: a code to the new number.
	e.submitted(ctx, "#change-phone")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	e.screenshots(ctx, "account-04-new-phone")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#phone"), "13744440002"))
	e.clock.Advance(otp.DefaultConfig().LoginGap) // the replacement's code went out a moment ago
	e.submitted(ctx, "#send-code")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	e.screenshots(ctx, "account-05-phone-code")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613744440002")))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Contains(t, e.text(ctx, "#notice"), "手机号已更换")
	require.Equal(t, "137****0002", e.text(ctx, "#masked-phone"))
	require.Contains(t, e.text(ctx, "#nickname"), "acb_second", "the replaced WeChat account stays")
	e.screenshots(ctx, "account-06-phone-changed")

	// Unlink.
	e.clock.Advance(2 * time.Minute)
	e.submitted(ctx, "#unbind")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), "000000"))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#account-error")))
	require.Contains(t, e.text(ctx, "#account-error"), "验证码不正确")
	e.screenshots(ctx, "account-07-unbind-wrong-code")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613744440002")))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#not-bound")))
	require.Contains(t, e.text(ctx, "#notice"), "已解除微信绑定")
	e.screenshots(ctx, "account-08-unbound")

	e.do(ctx, chromedp.Navigate(e.base+"/account/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#masked-phone")))
	require.Contains(t, e.text(ctx, "h1"), "My account")
	e.screenshots(ctx, "account-09-english")
}

// TestBrowserProductionAccountPage drives the account page as production
// serves it: the sandbox off, WeChat (the emulator) on a host of its own,
// the QR code by redirect. The person logs in on a CAS site, opens
// /account in the same SSO session, replaces their WeChat account through
// WeChat's own QR page, and changes their phone.
func TestBrowserProductionAccountPage(t *testing.T) {
	// No resend cooldown: the login's code and the account page's go to
	// one phone within seconds (the wall clock runs here).
	p := startProdWith(t, "redirect", "", "otp: {resend_cooldown: 0s}\n")
	e := p.e2e

	ctx := e.person("")
	e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS(".approve")))
	e.pickUser(ctx, "prod_acc_first")
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
	require.NoError(t, err)
	e.bindPhone(ctx, "137 4444 0101", "+8613744440101", "prod-account")
	e.onSite(ctx)

	e.do(ctx, chromedp.Navigate(e.base+"/account/"), chromedp.WaitVisible(chromedp.CSS("#masked-phone")))
	require.Equal(t, e.base+"/account/", e.location(ctx))
	require.Equal(t, "137****0101", e.text(ctx, "#masked-phone"))
	require.NotContains(t, e.text(ctx, "body"), "沙箱", "no sandbox banner in production")

	e.submitted(ctx, "#replace")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613744440101")))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
	loc, err := url.Parse(e.location(ctx))
	require.NoError(t, err)
	require.Equal(t, p.emURL+"/connect/qrconnect", loc.Scheme+"://"+loc.Host+loc.Path, "WeChat's own QR page, on WeChat's host")
	require.Equal(t, e.base+"/account/replace/callback", loc.Query().Get("redirect_uri"))
	e.pickUser(ctx, "prod_acc_second")
	e.do(ctx, chromedp.Click(chromedp.CSS(".approve")))
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Contains(t, e.text(ctx, "#notice"), "已更换绑定的微信")
	require.True(t, strings.HasPrefix(e.location(ctx), e.base+"/account/?done=replaced"), "post, redirect, get: %s", e.location(ctx))
	e.screenshots(ctx, "account-prod-replaced")

	e.do(ctx, chromedp.Navigate(e.base+"/account/?step=phone"), chromedp.WaitVisible(chromedp.CSS("#phone")))
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#phone"), "13744440102"))
	e.submitted(ctx, "#send-code")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613744440102")))
	e.submitted(ctx, "#confirm")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Equal(t, "137****0102", e.text(ctx, "#masked-phone"))
}
