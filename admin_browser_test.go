package main

// The admin console in real headless Chromium: an operator listed in
// admin.principals signs in through wxcas's own WeChat login, finds a
// person, unbinds them with a reason and reads the audit log; someone else
// is refused. Screenshots at desktop and phone sizes go to the artifacts
// directory with the other browser tests'.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/audit"
	"wxcas/binding"
	"wxcas/store"
)

// opsUser is the operator's directory user, made before they first log
// in, so that admin.principals can name them.
const (
	opsUser  = "u-ops-ann"
	opsPhone = "+8613800138001"
)

func startAdminE2E(t *testing.T) *e2e {
	t.Helper()
	requireChromium(t)
	ln, base := listen(t)
	site := casSite(t, base)
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: web-secret}
login: {website_appid: wxa1b2c3d4e5f60001}
admin: {principals: [%s]}
cas:
  services:
    - {id: site, name: Test site, match: prefix, url: '%s/', attributes: [phone, nickname, userId], attributes_on_service_validate: true}
`, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), opsUser, site.URL)
	a := runApp(t, ln, body, nil)
	_, err := a.db.ExecContext(context.Background(), `INSERT INTO users (id, phone, created_at) VALUES (?, ?, ?)`,
		opsUser, opsPhone, store.Time(a.now()))
	require.NoError(t, err)
	browser, shots := startChromium(t)
	return &e2e{t: t, app: a, base: base, appURL: site.URL + "/", browser: browser, shots: shots}
}

// phone is the viewport of a phone's browser.
var phone = []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}

// screenshots takes a full-page screenshot at a desktop's and a phone's size.
func (e *e2e) screenshots(ctx context.Context, name string) {
	e.t.Helper()
	for _, size := range []struct {
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{{1280, 800, nil}, {390, 844, phone}} {
		e.do(ctx, chromedp.EmulateViewport(size.w, size.h, size.opts...))
		e.screenshot(ctx, fmt.Sprintf("%s-%d", name, size.w))
	}
	e.do(ctx, chromedp.ResetViewport())
}

// phoneScreen is what a phone shows with sel scrolled into view (a long
// page's full screenshot is too tall to read).
func (e *e2e) phoneScreen(ctx context.Context, sel, name string) {
	e.t.Helper()
	e.do(ctx, chromedp.EmulateViewport(390, 844, phone...), chromedp.ScrollIntoView(chromedp.CSS(sel)))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(e.shots, name+".png"), png, 0o644))
	e.do(ctx, chromedp.ResetViewport())
}

// submit submits the form of sel and waits for the page answering it.
func (e *e2e) submit(ctx context.Context, sel string) {
	e.t.Helper()
	_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	require.NoError(e.t, err, "%s leads to a new page", sel)
}

// signInThroughWeChat follows the console's redirect to the WeChat login
// and binds phone; it returns once back on the console.
func (e *e2e) signInThroughWeChat(ctx context.Context, person, phone, e164 string) {
	e.t.Helper()
	e.do(ctx, chromedp.Navigate(e.base+"/admin"))
	e.scanInline(ctx, person, true)
	e.bindPhone(ctx, phone, e164, "admin-00-"+person)
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#q")))
	require.Equal(e.t, e.base+"/admin/", e.location(ctx), "back on the console, the ticket gone from the address")
}

func TestBrowserAdmin(t *testing.T) {
	e := startAdminE2E(t)
	ctx := context.Background()

	// Carol uses the site: she is the person the operator will unbind.
	carol := e.person("")
	e.do(carol, chromedp.Navigate(e.appURL))
	e.scanInline(carol, "carol", true)
	e.bindPhone(carol, "137 0013 7000", "+8613700137000", "admin-00-carol")
	carolID, _ := e.onSite(carol)

	ops := e.person("")
	t.Run("the operator signs in through WeChat", func(t *testing.T) {
		e := e.sub(t)
		e.signInThroughWeChat(ops, "ann", "138 0013 8001", opsPhone)
		require.Equal(t, "查找用户", e.text(ops, "h1"))
		require.Contains(t, e.text(ops, ".admin-who"), opsUser)
		e.screenshots(ops, "admin-01-search")
	})

	t.Run("search by phone shows the person whole", func(t *testing.T) {
		e := e.sub(t)
		e.do(ops, chromedp.SetValue(chromedp.CSS("#by"), "phone"), chromedp.SendKeys(chromedp.CSS("#q"), "137 0013 7000"))
		e.submit(ops, "#search")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#results")))
		results := e.text(ops, "#results")
		require.Contains(t, results, carolID)
		require.Contains(t, results, "+8613700137000", "searched by that number: shown whole")
		require.Contains(t, results, "carol", "the nickname of her WeChat account")
		e.screenshots(ops, "admin-02-found")
	})

	t.Run("unbind needs a reason, then ends her sessions", func(t *testing.T) {
		e := e.sub(t)
		e.submit(ops, ".admin-person button")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#reason")))
		require.Contains(t, e.text(ops, "main"), "+86137****7000", "the confirmation masks the phone")
		e.screenshots(ops, "admin-03-confirm")
		e.submit(ops, "#unbind")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#reason-error")))
		_, err := e.app.bindings.BindingOf(ctx, carolID)
		require.NoError(t, err, "no reason, no unbind")

		e.do(ops, chromedp.SendKeys(chromedp.CSS("#reason"), "工单 #1024：手机丢失"))
		e.submit(ops, "#unbind")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#notice")))
		require.Contains(t, e.text(ops, "#notice"), carolID)
		require.Contains(t, e.text(ops, "#results"), "未绑定微信")
		e.screenshots(ops, "admin-04-unbound")
		_, err = e.app.bindings.BindingOf(ctx, carolID)
		require.ErrorIs(t, err, binding.ErrNotFound)

		// Her SSO session ended: the site's next login starts over.
		e.do(carol, chromedp.Navigate(e.base+"/cas/login?service="+url.QueryEscape(e.appURL)), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
	})

	t.Run("the audit log shows the unbind with the operator and the reason", func(t *testing.T) {
		e := e.sub(t)
		e.do(ops, chromedp.Click(chromedp.CSS(`.admin-nav a[href$="/admin/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#audit-filter")))
		e.do(ops, chromedp.SetValue(chromedp.CSS("#kind"), audit.KindUnbind))
		e.submit(ops, "#show")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#events")))
		events := e.text(ops, "#events")
		require.Contains(t, events, "admin:"+opsUser)
		require.Contains(t, events, "工单 #1024：手机丢失")
		require.Contains(t, events, carolID)
		e.do(ops, chromedp.SetValue(chromedp.CSS("#kind"), ""))
		e.submit(ops, "#show")
		e.do(ops, chromedp.WaitVisible(chromedp.CSS("#events")))
		require.Contains(t, e.text(ops, "#events"), "search: 1 found by phone +86137****7000", "the search is in the log too")
		require.NotContains(t, e.text(ops, "#events"), "13700137000", "masked")
		e.screenshots(ops, "admin-05-audit")
		e.phoneScreen(ops, "#events", "admin-05-audit-390-events")
		e.do(ops, chromedp.Navigate(e.base+"/admin/audit?lang=en"), chromedp.WaitVisible(chromedp.CSS("#audit-filter")))
		require.Equal(t, "Audit log", e.text(ops, "h1"))
		e.screenshots(ops, "admin-06-audit-en")
	})

	t.Run("someone not listed is refused", func(t *testing.T) {
		e := e.sub(t)
		dave := e.person("")
		e.do(dave, chromedp.Navigate(e.base+"/admin/"))
		e.scanInline(dave, "dave", true)
		e.bindPhone(dave, "136 0013 6000", "+8613600136000", "admin-00-dave")
		e.do(dave, chromedp.WaitVisible(chromedp.CSS("p.detail")))
		require.Equal(t, "无权访问", e.text(dave, "h1"))
		require.NotContains(t, e.text(dave, "main"), carolID)
		e.screenshots(dave, "admin-07-refused")
		refusals, err := e.app.auditStore.List(ctx, audit.Filter{Kind: audit.KindRefusal, Outcome: "not_admin"})
		require.NoError(t, err)
		require.Len(t, refusals, 1)
		require.Equal(t, adminServiceID, refusals[0].Service)
	})
}

// TestBrowserProductionAdmin signs an operator in to the console as
// production serves it (sandbox off, WeChat's QR page on its own host) and
// searches for them by phone.
func TestBrowserProductionAdmin(t *testing.T) {
	p := startProdWith(t, "redirect", "", "admin: {principals: ["+opsUser+"]}\n")
	_, err := p.app.db.ExecContext(context.Background(), `INSERT INTO users (id, phone, created_at) VALUES (?, ?, ?)`,
		opsUser, opsPhone, store.Time(p.app.now()))
	require.NoError(t, err)
	ctx := p.person("")
	p.do(ctx, chromedp.Navigate(p.base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(".approve")))
	require.True(t, strings.HasPrefix(p.location(ctx), p.emURL+"/connect/qrconnect"), "WeChat's own QR page: %s", p.location(ctx))
	p.pickUser(ctx, "prod_ops")
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
	require.NoError(t, err)
	p.bindPhone(ctx, "138 0013 8001", opsPhone, "prod-admin")
	p.do(ctx, chromedp.WaitVisible(chromedp.CSS("#q")))
	require.Equal(t, p.base+"/admin/", p.location(ctx), "back on the console, signed in")
	require.NotContains(t, p.text(ctx, "body"), "沙箱", "no sandbox banner in production")
	p.do(ctx, chromedp.SetValue(chromedp.CSS("#by"), "phone"), chromedp.SendKeys(chromedp.CSS("#q"), "138 0013 8001"))
	p.submit(ctx, "#search")
	p.do(ctx, chromedp.WaitVisible(chromedp.CSS("#results")))
	require.Contains(t, p.text(ctx, "#results"), opsUser)
}
