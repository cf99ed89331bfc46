package main

// End-to-end tests in real headless Chromium: wxcas in sandbox mode on
// MariaDB/MySQL, the WeChat emulator, the console SMS inbox, and a site
// protected by a real CAS client (gopkg.in/cas.v2). Screenshots of every page
// go to $WXCAS_ARTIFACTS (default .artifacts/) for people to look at.

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	casclient "gopkg.in/cas.v2"

	"wxcas/apereo"
	"wxcas/apereo/apereotest"
	"wxcas/audit"
	"wxcas/otp"
	"wxcas/store/storetest"
)

const chromiumPath = "/usr/bin/chromium"

// offsetClock is real time plus an adjustable offset, so a test can jump
// past an expiry while browser, emulator and wxcas keep running.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type e2e struct {
	t       *testing.T
	app     *app
	base    string // wxcas
	appURL  string // the CAS-protected site
	clock   *offsetClock
	browser context.Context
	shots   string
}

func startE2E(t *testing.T) *e2e { return startE2EWith(t, "", "") }

// startE2EWith adds YAML lines to the cas section (casExtra, indented two
// spaces) and lets the protected site be another server (siteURL, without a
// trailing slash; empty: the gopkg.in/cas.v2 site of wxcas's own tickets).
func startE2EWith(t *testing.T, casExtra, siteURL string) *e2e {
	t.Helper()
	requireChromium(t)
	ln, base := listen(t)
	site := casSite(t, base)
	if siteURL == "" {
		siteURL = site.URL
	}

	t.Setenv("WXCAS_E2E_DSN", storetest.NewMySQLDatabase(t))
	body := fmt.Sprintf(`server:
  listen: %s
  public_url: %s
database:
  driver: mysql
  dsn: ${WXCAS_E2E_DSN}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: web-secret}
    - {appid: wxa1b2c3d4e5f60002, kind: official_account, secret: oa-secret}
login:
  website_appid: wxa1b2c3d4e5f60001
  official_account_appid: wxa1b2c3d4e5f60002
  official_account_unionid: true
cas:
%s  services:
    - {id: site, name: Test site, match: prefix, url: %s/, attributes: [phone, nickname, userId], attributes_on_service_validate: true}
`, ln.Addr().String(), base, casExtra, siteURL)
	clock := &offsetClock{}
	a := runApp(t, ln, body, clock.Now)
	browser, shots := startChromium(t)
	return &e2e{t: t, app: a, base: base, appURL: siteURL + "/", clock: clock, browser: browser, shots: shots}
}

// requireChromium skips the test where Chromium is missing (fails under CI).
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required under CI=true: %v", err)
		}
		t.Skipf("chromium not installed (%v); scripts/test-deps.sh installs it", err)
	}
}

// casSite is a site protected by a real CAS client library, which sends
// people to casBase+"/cas/login" and validates tickets over HTTP at
// casBase+"/cas/serviceValidate".
func casSite(t *testing.T, casBase string) *httptest.Server {
	t.Helper()
	casURL, _ := url.Parse(casBase + "/cas/")
	client := casclient.NewClient(&casclient.Options{URL: casURL})
	site := httptest.NewServer(client.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !casclient.IsAuthenticated(r) {
			casclient.RedirectToLogin(w, r)
			return
		}
		attrs := casclient.Attributes(r)
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"></head><body><h1>Protected site</h1><p>user <span id="user">%s</span></p>`+
			`<p>phone <span id="phone">%s</span></p><p>nickname <span id="nickname">%s</span></p></body></html>`,
			html.EscapeString(casclient.Username(r)), html.EscapeString(attrs.Get("phone")), html.EscapeString(attrs.Get("nickname")))
	})))
	t.Cleanup(site.Close)
	return site
}

// startChromium starts a headless Chromium for t and returns its context
// and the screenshot directory.
func startChromium(t *testing.T) (context.Context, string) {
	t.Helper()
	requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	_, err := chromedp.Run(browser, chromedp.Navigate("about:blank"))
	require.NoError(t, err, "start chromium")

	shots := os.Getenv("WXCAS_ARTIFACTS")
	if shots == "" {
		shots = ".artifacts"
	}
	shots = filepath.Join(shots, "screenshots")
	require.NoError(t, os.MkdirAll(shots, 0o755))
	return browser, shots
}

// sub is e for a subtest: failures and cleanups must go to the subtest's
// own t (FailNow on a parent from a subtest's goroutine breaks the run).
func (e *e2e) sub(t *testing.T) *e2e {
	c := *e
	c.t = t
	return &c
}

const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// person is one browser with its own cookies, a User-Agent (desktop when
// empty) and a Chinese-speaking user, like most of wxcas's users.
func (e *e2e) person(userAgent string) context.Context {
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	e.t.Cleanup(cancel)
	if userAgent == "" {
		userAgent = desktopUA
	}
	_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: userAgent, AcceptLanguage: "zh-CN,zh;q=0.9"})
	require.NoError(e.t, err)
	return e.timeout(ctx)
}

func (e *e2e) timeout(ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *e2e) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	require.NoError(e.t, chromedp.Do(ctx, steps...))
}

func (e *e2e) text(ctx context.Context, sel string) string {
	e.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(e.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

// submitCode posts the code form and returns once the page answering the
// post has loaded: the next page has the same #code field, so waiting for
// an element would race with the old document (whose nodes go stale).
func (e *e2e) submitCode(ctx context.Context, code string) {
	e.t.Helper()
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), code))
	_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#code")))
	require.NoError(e.t, err, "the code form leads to a new page")
}

func (e *e2e) location(ctx context.Context) string {
	e.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(e.t, err)
	return s
}

func (e *e2e) screenshot(ctx context.Context, name string) {
	e.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(filepath.Join(e.shots, name+".png"), png, 0o644))
}

// scanInline approves (or refuses) in the emulator's QR box inside our page,
// as the person's phone would.
func (e *e2e) scanInline(ctx context.Context, user string, approve bool) {
	e.t.Helper()
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#wx-qr iframe")))
	require.NoError(e.t, err)
	in := chromedp.FromNode(frames[0])
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve"), in))
	e.pickUser(ctx, user, in)
	button := ".refuse"
	if approve {
		button = ".approve"
	}
	e.do(ctx, chromedp.Click(chromedp.CSS(button), in))
}

// pickUser picks the test user on the emulator's phone page: an existing
// one, or a new name. On a consent page for the person WeChat is already
// signed in as (the emulator's cookie, set by an earlier pick) there is
// nothing to pick; signed in as someone else fails the test.
func (e *e2e) pickUser(ctx context.Context, user string, opts ...chromedp.QueryOption) {
	e.t.Helper()
	signedIn, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const el = document.querySelector("#signed_in_as"); return el ? el.dataset.user : ""; })()`))
	if signedIn != "" {
		require.Equal(e.t, user, signedIn, "WeChat is signed in as another person")
		return
	}
	radio := fmt.Sprintf(`input[name=user][value=%q]`, user)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q) || [...document.querySelectorAll("iframe")].some(f => f.contentDocument && f.contentDocument.querySelector(%q))`, radio, radio))); n {
		e.do(ctx, chromedp.Click(chromedp.CSS(radio), opts...))
		return
	}
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#new_user"), user, opts...))
}

func (e *e2e) smsCode(phone string) string { return sandboxSMSCode(e.t, e.base, phone) }

// bindPhone enters the phone and the code from the inbox.
func (e *e2e) bindPhone(ctx context.Context, phone, e164, shotPrefix string) {
	e.t.Helper()
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	e.screenshot(ctx, shotPrefix+"-bind-phone")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#phone"), phone))
	// Wait for the page answering the post, not for an element: a query
	// racing the navigation can hold a node of the old document.
	_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
	require.NoError(e.t, err)
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
	require.Contains(e.t, e.text(ctx, "main"), otp.Phone(e164).Display(), "the code page names the (masked) phone")
	require.NotContains(e.t, e.text(ctx, "main"), e164, "but never the full number")
	e.screenshot(ctx, shotPrefix+"-code")
	e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode(e164)), chromedp.Submit(chromedp.CSS("#code")))
}

func (e *e2e) onSite(ctx context.Context) (user, phone string) {
	e.t.Helper()
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#user")))
	require.True(e.t, strings.HasPrefix(e.location(ctx), e.appURL), "landed on the protected site")
	return e.text(ctx, "#user"), e.text(ctx, "#phone")
}

const weChatUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/WIFI Language/zh_CN"

func TestBrowserLogin(t *testing.T) {
	e := startE2E(t)
	var carolID string

	t.Run("first login: inline QR, bind phone, land on the site", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
		require.Contains(t, e.text(ctx, "body"), "沙箱环境", "the sandbox banner is on every page")
		e.screenshot(ctx, "01-qr")
		e.scanInline(ctx, "carol", true)
		e.bindPhone(ctx, "137 0013 7000", "+8613700137000", "02")
		user, phone := e.onSite(ctx)
		require.NotEmpty(t, user)
		require.Equal(t, "+8613700137000", phone)
		e.screenshot(ctx, "03-site")
		carolID = user

		events, err := audit.NewSQL(e.app.db).List(context.Background(), audit.Filter{UserID: user})
		require.NoError(t, err)
		kinds := []string{}
		for _, ev := range events {
			kinds = append(kinds, ev.Kind+"/"+ev.Outcome+"/"+ev.Channel)
			require.Equal(t, "127.0.0.1", ev.ClientIP)
			require.NotContains(t, ev.Phone, "13700137000", "the audit log keeps masked phones only")
		}
		require.ElementsMatch(t, []string{"bind/ok/qr_inline", "login/ok/qr_inline"}, kinds)
	})

	t.Run("second login needs only the scan", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.scanInline(ctx, "carol", true)
		user, _ := e.onSite(ctx)
		require.Equal(t, carolID, user)
	})

	t.Run("inside WeChat: Official Account login recognises the same person by unionid", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person(weChatUA)
		e.do(ctx, chromedp.Navigate(e.appURL))
		// snsapi_base first, then one step up to snsapi_userinfo for the unionid.
		for i := range 2 {
			e.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
			e.screenshot(ctx, fmt.Sprintf("04-oa-authorize-%d", i+1))
			e.pickUser(ctx, "carol")
			// Wait for the page the approval leads to: waiting for an
			// element could match the old page, which then vanishes mid-
			// screenshot ("Cannot take screenshot with 0 width").
			_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
			require.NoError(t, err, "the approval leads to the next page")
		}
		user, _ := e.onSite(ctx)
		require.Equal(t, carolID, user, "same unionid, another app: no second binding")
	})

	t.Run("mobile browser outside WeChat is told how to continue", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
		e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#login-link")))
		link, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#login-link")))
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(link, e.base+"/cas/login?service="), link)
		e.screenshot(ctx, "05-mobile")
	})

	t.Run("Reload and Back never post again; a double click lands on the site", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.scanInline(ctx, "reloader", true)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")), chromedp.SendKeys(chromedp.CSS("#phone"), "13500135123"))
		_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
		require.NoError(t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
		sent := func() int { return len(sandboxInbox(t, e.base, "+8613500135123")) }
		require.Equal(t, 1, sent())
		require.True(t, strings.Contains(e.location(ctx), "/login?flow="), "the post was answered with a page to GET: %s", e.location(ctx))

		// Reload and Back fetch the page again: no form is posted, no SMS sent.
		_, err = chromedp.RunResponse(ctx, chromedp.Reload())
		require.NoError(t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
		e.do(ctx, chromedp.NavigateBack())
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
		require.Equal(t, 1, sent(), "Reload and Back sent no second code")

		// A double click: the form is submitted twice before the first
		// answer arrives; the browser shows the second answer.
		e.do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), e.smsCode("+8613500135123")))
		_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const f = document.querySelector("#code").form; f.requestSubmit(); f.requestSubmit(); return true; })()`))
		require.NoError(t, err)
		_, phone := e.onSite(ctx)
		require.Equal(t, "+8613500135123", phone)
	})

	t.Run("five wrong codes burn the code", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.scanInline(ctx, "dave", true)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")), chromedp.SendKeys(chromedp.CSS("#phone"), "13600136000"))
		_, err := chromedp.RunResponse(ctx, chromedp.Submit(chromedp.CSS("#phone")))
		require.NoError(t, err)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#code")))
		right := e.smsCode("+8613600136000")
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			e.submitCode(ctx, wrong)
			if i < 4 {
				require.Contains(t, e.text(ctx, "#code-error"), fmt.Sprintf("验证码不正确。还可尝试 %d 次", 4-i))
			}
		}
		require.Contains(t, e.text(ctx, "#code-error"), "错误次数过多")
		require.NotContains(t, e.text(ctx, "#code-error"), "还可尝试", "no \"0 left\" after \"burned\"")
		e.screenshot(ctx, "06-too-many-attempts")
		e.submitCode(ctx, right)
		require.Contains(t, e.text(ctx, "#code-error"), "错误次数过多", "even the right code fails now")
		require.False(t, strings.HasPrefix(e.location(ctx), e.appURL))
	})

	t.Run("refused authorization", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL))
		e.scanInline(ctx, "erin", false)
		e.do(ctx, chromedp.WaitVisible(chromedp.CSS("a.button")))
		require.Contains(t, e.text(ctx, "h1"), "已取消授权")
		e.screenshot(ctx, "07-refused")
		e.do(ctx, chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
	})

	t.Run("unknown service: an error page, no redirect", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.base+"/cas/login?service="+url.QueryEscape("https://evil.example/steal")),
			chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, e.text(ctx, "h1"), "未登记的网站")
		require.True(t, strings.HasPrefix(e.location(ctx), e.base+"/cas/login"))
		e.screenshot(ctx, "08-unknown-service")
	})

	t.Run("English pages by Accept-Language switch", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.base+"/cas/login?lang=en&service="+url.QueryEscape("https://evil.example/")),
			chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, e.text(ctx, "h1"), "Unregistered site")
	})

	t.Run("replayed state is refused in another browser", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
		src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#wx-qr iframe"), "src"))
		require.NoError(t, err)
		// The "phone" approves through the emulator's script shortcut; the
		// browser follows the callback, then an attacker replays it.
		resp, err := noRedirect.Get(src.Value + "&sandbox_user=carol")
		require.NoError(t, err)
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		require.Contains(t, callback, "/wechat/callback?code=")
		e.do(ctx, chromedp.Navigate(callback))
		e.onSite(ctx)

		other := e.person("")
		e.do(other, chromedp.Navigate(callback), chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, e.text(other, "h1"), "登录链接已失效")
		require.False(t, strings.HasPrefix(e.location(other), e.appURL))
		e.screenshot(other, "09-replayed-state")
	})

	t.Run("expired flow", func(t *testing.T) {
		e := e.sub(t)
		ctx := e.person("")
		e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
		flowPage := e.location(ctx)
		e.clock.Advance(11 * time.Minute)
		e.do(ctx, chromedp.Navigate(flowPage), chromedp.WaitVisible(chromedp.CSS("h1")))
		require.Contains(t, e.text(ctx, "h1"), "登录已过期")
		e.screenshot(ctx, "10-expired")
	})
}

// TestBrowserApereoHandoff: with cas.mode apereo-token a real browser goes
// from wxcas's login, through WeChat and the phone binding, to Apereo's
// /login with a token, which the stub validates like pac4j, and on to the
// site with Apereo's own ticket.
func TestBrowserApereoHandoff(t *testing.T) {
	secrets := apereo.ServiceToken{JWTSigningSecret: strings.Repeat("s", 32), JWTEncryptionSecret: strings.Repeat("e", 48)}
	// The site trusts "Apereo": it lives behind the stub, which redirects to
	// it with ST-stub tickets; a tiny handler shows what arrived.
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"></head><body><p id="ticket">%s</p></body></html>`, html.EscapeString(r.URL.Query().Get("ticket")))
	}))
	t.Cleanup(landing.Close)
	stub := apereotest.New(t, map[string]apereo.ServiceToken{landing.URL + "/": secrets})
	t.Setenv("WXCAS_E2E_SIGNING", secrets.JWTSigningSecret)
	t.Setenv("WXCAS_E2E_ENCRYPTION", secrets.JWTEncryptionSecret)
	e := startE2EWith(t, "  mode: apereo-token\n  apereo:\n    login_url: "+stub.LoginURL()+"\n    services:\n"+
		"      site: {jwt_signing_secret: '${WXCAS_E2E_SIGNING}', jwt_encryption_secret: '${WXCAS_E2E_ENCRYPTION}'}\n", landing.URL)

	ctx := e.person("")
	e.do(ctx, chromedp.Navigate(e.base+"/cas/login?service="+url.QueryEscape(e.appURL)))
	e.scanInline(ctx, "olga", true)
	e.bindPhone(ctx, "131 0013 1001", "+8613100131001", "11-apereo")
	e.do(ctx, chromedp.WaitVisible(chromedp.CSS("#ticket")))
	require.True(t, strings.HasPrefix(e.text(ctx, "#ticket"), "ST-stub-"), "Apereo issued the site's ticket")
	require.True(t, strings.HasPrefix(e.location(ctx), e.appURL))
	login, ok := stub.LastLogin()
	require.True(t, ok, "failures: %v", stub.Failures())
	require.Equal(t, []string{"+8613100131001"}, login.Attributes()["phone"])
	require.Equal(t, "dir", login.JWEHeader["alg"])
	e.screenshot(ctx, "11-apereo-landing")
}
