package main

// Every page a person can meet, in Chromium, in Chinese and in English, at a
// desktop's and a phone's size: axe-core checks each one (axeCheck), and a
// screenshot of each goes to the artifacts directory as
// page-<name>-<lang>-<width>.png for people to look at.

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/i18n"
	"wxcas/store"
)

const iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"

// startPagesE2E runs wxcas in the sandbox with everything that has pages:
// the website app and an Official Account, the account page, and the admin
// console with one operator per language of the walk (pagesLangs), on a
// clock that can jump.
func startPagesE2E(t *testing.T) *e2e {
	t.Helper()
	requireChromium(t)
	ln, base := listen(t)
	site := casSite(t, base)
	var ops []string
	for _, l := range pagesLangs {
		ops = append(ops, l.opsUser)
	}
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: web-secret}
    - {appid: wxa1b2c3d4e5f60002, kind: official_account, secret: oa-secret}
login: {website_appid: wxa1b2c3d4e5f60001, official_account_appid: wxa1b2c3d4e5f60002, official_account_unionid: true}
admin: {principals: [%s]}
help: {text: "遇到问题？请联系信息中心：010-6275 0000", text_en: "Need help? Contact the IT service desk: 010-6275 0000", url: "https://it.example.edu/help"}
cas:
  services:
    - {id: site, name: Test site, match: prefix, url: '%s/', attributes: [phone, nickname, userId], attributes_on_service_validate: true}
`, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), strings.Join(ops, ", "), site.URL)
	clock := &offsetClock{}
	a := runApp(t, ln, body, clock.Now)
	for _, l := range pagesLangs {
		_, err := a.db.ExecContext(context.Background(), `INSERT INTO users (id, phone, created_at) VALUES (?, ?, ?)`,
			l.opsUser, l.opsE164, store.Time(a.now()))
		require.NoError(t, err)
	}
	browser, shots := startChromium(t)
	return &e2e{t: t, app: a, base: base, appURL: site.URL + "/", clock: clock, browser: browser, shots: shots}
}

// pagesLang is one language of the walk: how the browser asks for it, and
// the people who walk in it (each language has its own, so that both meet
// the first-login pages).
type pagesLang struct {
	name, acceptLanguage string
	htmlLang             string // what the pages' <html lang> says
	opsUser              string // an operator of the console: the desktop person binds their phone
	opsPhone, opsE164    string
	weChatPhone          string // the person inside WeChat (not an operator)
}

var pagesLangs = []pagesLang{
	{"zh", "zh-CN,zh", i18n.ZH, opsUser, "138 0013 8001", opsPhone, "+8613900139001"},
	{"en", "en-US,en", i18n.EN, "u-ops-ben", "138 0013 8002", "+8613800138002", "+8613900139002"},
}

// pagesWalk is one language's walk: its people.
type pagesWalk struct {
	lang   pagesLang
	people map[string]context.Context // by User-Agent ("": a desktop browser)
}

// newPagesWalk starts lang's walk with a person (a browser context) for
// each User-Agent of pageVisits, asking for lang. They live as long as e's
// test; each page sets its own time limit.
func newPagesWalk(e *e2e, lang pagesLang) *pagesWalk {
	w := &pagesWalk{lang: lang, people: map[string]context.Context{}}
	for _, page := range pageVisits {
		if _, ok := w.people[page.userAgent]; ok {
			continue
		}
		ctx := context.WithoutCancel(e.person(page.userAgent))
		_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: cmp.Or(page.userAgent, desktopUA), AcceptLanguage: lang.acceptLanguage})
		require.NoError(e.t, err)
		w.people[page.userAgent] = ctx
	}
	return w
}

// wxUser is the walk's WeChat user of role, for the emulator.
func (w *pagesWalk) wxUser(role string) string { return "pages_" + role + "_" + w.lang.name }

// pageVisits are the pages in the order of the walk: each reach brings the
// person with userAgent to the page from wherever the previous one left
// them (a login walks through its pages; "expired" jumps the clock and so
// comes last).
var pageVisits = []struct {
	name, userAgent string
	reach           func(e *e2e, ctx context.Context, w *pagesWalk)
}{
	{"qr", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(e.appURL))
		require.NoError(e.t, err)
		// axe runs under the page's own CSP (see axeCheck).
		require.Contains(e.t, fmt.Sprint(resp.Headers["Content-Security-Policy"]), "script-src 'self'")
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
	}},
	{"cancelled", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.submitted(ctx, "#cancel")
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#restart")))
	}},
	{"refused", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.scanInline(ctx, w.wxUser("desk"), false)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("a.button")))
	}},
	{"bind", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Click(chromedp.CSS("a.button")))
		e.scanInline(ctx, w.wxUser("desk"), true)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	}},
	{"bind-error", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.SetValue(chromedp.CSS("#phone"), "12345"))
		_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
		require.NoError(e.t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone-error")))
	}},
	{"code", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.SetValue(chromedp.CSS("#phone"), w.lang.opsPhone))
		_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
		require.NoError(e.t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	}},
	{"code-error", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		wrong := "000000"
		if e.smsCode(w.lang.opsE164) == wrong {
			wrong = "111111"
		}
		e.submitCode(ctx, wrong)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code-error")))
	}},
	{"mobile", iPhoneUA, func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#login-link")))
	}},
	{"wechat-bind", weChatUA, func(e *e2e, ctx context.Context, w *pagesWalk) {
		// The Official Account's authorization, snsapi_base then
		// snsapi_userinfo, on the emulator's pages (WeChat's stand-ins,
		// not checked); then wxcas's bind page, inside WeChat.
		e.do(ctx, chromedp.Navigate(e.appURL))
		for range 2 {
			e.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
			e.pickUser(ctx, w.wxUser("wx"))
			_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
			require.NoError(e.t, err)
		}
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	}},
	{"admin-forbidden", weChatUA, func(e *e2e, ctx context.Context, w *pagesWalk) {
		// Logged in, but no operator.
		e.do(ctx, chromedp.SetValue(chromedp.CSS("#phone"), w.lang.weChatPhone))
		_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
		require.NoError(e.t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
		e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode(w.lang.weChatPhone)), chromedp.Submit(chromedp.CSS("#code")))
		e.onSite(ctx)
		e.do(ctx, chromedp.Navigate(e.base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("p.detail")))
	}},
	{"logged-in", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode(w.lang.opsE164)), chromedp.Submit(chromedp.CSS("#code")))
		e.onSite(ctx)
		e.do(ctx, chromedp.Navigate(e.base+"/cas/login"), chromedp.WaitVisible(chromedp.CSS("p.detail")))
	}},
	{"post-redirect", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		// CAS method=POST: the page posts itself at once; its script is
		// held back so that the page stays to be looked at.
		require.NoError(e.t, chromedp.Listen(ctx, func(ev any) {
			if p, ok := ev.(*fetch.EventRequestPaused); ok {
				go func() { // Listen callbacks must not call the browser themselves
					_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: p.RequestID, ResponseCode: 200,
						ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/javascript"}}, Body: []byte("// held by the test")})
				}()
			}
		}))
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/static/autosubmit.js"}}})
		require.NoError(e.t, err)
		e.do(ctx, chromedp.Navigate(e.base+"/cas/login?method=POST&service="+url.QueryEscape(e.appURL)),
			chromedp.WaitVisible(chromedp.CSS("#post-redirect button")))
		_, err = chromedp.Call(ctx, fetch.Disable, cdp.Empty{})
		require.NoError(e.t, err)
	}},
	{"account", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/account/"), chromedp.WaitVisible(chromedp.CSS("#masked-phone")))
	}},
	{"account-phone", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/account/?step=phone"), chromedp.WaitVisible(chromedp.CSS("#phone")))
	}},
	{"admin", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/admin/"), chromedp.WaitVisible(chromedp.CSS("#q")))
	}},
	{"admin-results", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.SetValue(chromedp.CSS("#by"), "phone"), chromedp.SendKeys(chromedp.CSS("#q"), w.lang.weChatPhone))
		e.submit(ctx, "#search")
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#results")))
	}},
	{"admin-confirm", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.submit(ctx, ".admin-person button")
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#reason")))
	}},
	{"admin-audit", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS("#audit-filter")))
	}},
	{"unknown-service", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/cas/login?service="+url.QueryEscape("https://evil.example/steal")), chromedp.WaitVisible(chromedp.CSS("h1")))
	}},
	{"not-found", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("h1")))
	}},
	{"logged-out", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.base+"/cas/logout"), chromedp.WaitVisible(chromedp.CSS("h1")))
	}},
	{"logout-service", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		// The logged-out page with a link back to the site that asked.
		e.do(ctx, chromedp.Navigate(e.base+"/cas/logout?service="+url.QueryEscape(e.appURL)), chromedp.WaitVisible(chromedp.CSS("#back")))
	}},
	{"expired", "", func(e *e2e, ctx context.Context, w *pagesWalk) {
		e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
		flow := e.location(ctx)
		require.Contains(e.t, flow, "/login?flow=")
		e.clock.Advance(11 * time.Minute)
		e.do(ctx, chromedp.Navigate(flow), chromedp.WaitVisible(chromedp.CSS("#restart")))
	}},
}

// pageSizes are a desktop's and a phone's viewport.
var pageSizes = []struct {
	w, h int64
	opts []chromedp.EmulateViewportOption
}{{1280, 800, nil}, {390, 844, phone}}

func TestBrowserPagesAccessible(t *testing.T) {
	requireAxe(t)
	e := startPagesE2E(t)
	for _, lang := range pagesLangs {
		t.Run(lang.name, func(t *testing.T) {
			w := newPagesWalk(e.sub(t), lang)
			for _, page := range pageVisits {
				reached := false
				t.Run(page.name, func(t *testing.T) {
					e := e.sub(t)
					ctx, cancel := context.WithTimeout(w.people[page.userAgent], time.Minute)
					defer cancel()
					e.do(ctx, chromedp.ResetViewport())
					page.reach(e, ctx, w)
					reached = true
					htmlLang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
					require.NoError(t, err)
					require.Equal(t, lang.htmlLang, htmlLang, "the page is in the walk's language")
					for _, size := range pageSizes {
						t.Run(fmt.Sprint(size.w), func(t *testing.T) {
							e := e.sub(t)
							e.do(ctx, chromedp.EmulateViewport(size.w, size.h, size.opts...))
							e.screenshot(ctx, fmt.Sprintf("page-%s-%s-%d", page.name, lang.name, size.w))
							axeCheck(ctx, t, fmt.Sprintf("%s (%s, %dpx)", page.name, lang.name, size.w))
						})
					}
					e.do(ctx, chromedp.ResetViewport())
				})
				if !reached {
					t.Fatalf("could not reach %s; the pages after it depend on it", page.name)
				}
			}
		})
	}
}
