package main

// Browser tests of the pages a production configuration serves: sandbox off,
// so no sandbox-only path (iframe stand-in, mounted emulator, banner) is
// involved. The page keeps its real Content-Security-Policy and loads
// WeChat's real script URL; Chromium's request interception answers that URL
// and open.weixin.qq.com with local stand-ins, because neither is reachable
// here. Server-side WeChat is the wire-faithful emulator on its own address.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/config"
	"wxcas/logx"
	"wxcas/wechat/emulator"
)

const (
	prodWebsiteAppID = "wxa1b2c3d4e5f60001"
	prodOAAppID      = "wxa1b2c3d4e5f60002"
	wxLoginScriptURL = "https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"
)

// wxLoginStandIn keeps the contract of WeChat's wxLogin.js (current
// generation, see docs/wechat-api.md §3.3): a global WxLogin whose
// constructor replaces the content of #<id> with an iframe on
// open.weixin.qq.com/connect/qrconnect, redirect_uri concatenated as given.
// It marks the iframe once loaded so the test knows when it can be clicked.
const wxLoginStandIn = `(function () {
  window.WxLogin = function (a) {
    var sr = a.self_redirect === true ? "true" : a.self_redirect === false ? "false" : "default";
    var src = "https://open.weixin.qq.com/connect/qrconnect?appid=" + a.appid + "&scope=" + a.scope +
      "&redirect_uri=" + a.redirect_uri + "&state=" + a.state + "&login_type=jssdk&self_redirect=" + sr +
      "&styletype=" + (a.styletype || "") + "&sizetype=" + (a.sizetype || "") + "&bgcolor=" + (a.bgcolor || "") +
      "&rst=" + (a.rst || "") + (a.style ? "&style=" + a.style : "") + (a.href ? "&href=" + a.href : "") +
      (a.lang === "en" ? "&lang=en" : "") + (a.stylelite === 1 ? "&stylelite=1" : "") + (a.fast_login === 0 ? "&fast_login=0" : "");
    var f = document.createElement("iframe");
    f.src = src; f.frameBorder = "0"; f.scrolling = "no"; f.width = "300px"; f.height = "400px";
    f.onload = function () { f.setAttribute("data-test-loaded", "1"); };
    var el = document.getElementById(a.id);
    el.innerHTML = "";
    el.appendChild(f);
  };
})();`

// prodEnv is wxcas with the sandbox off, its WeChat emulator and Chromium.
type prodEnv struct {
	*e2e
	em    *emulator.Emulator
	emURL string // the emulator: WeChat's open and API base URL
}

// startProd runs wxcas as production would with qrMode, at public_url
// <loopback>+prefix; with a prefix, a proxy in front strips it.
func startProd(t *testing.T, qrMode, prefix string) *prodEnv {
	t.Helper()
	return startProdWith(t, qrMode, prefix, "")
}

// startProdWith is startProd with extra top-level YAML in the config.
func startProdWith(t *testing.T, qrMode, prefix, extra string) *prodEnv {
	t.Helper()
	return startProdLogin(t, qrMode, prefix, "", extra)
}

// startProdLogin is startProdWith with more keys of the login section
// (loginExtra, e.g. ", qr_lifetime: 5s").
func startProdLogin(t *testing.T, qrMode, prefix, loginExtra, extra string) *prodEnv {
	t.Helper()
	requireChromium(t)
	ln, direct := listen(t)
	base := direct
	if prefix != "" {
		target, _ := url.Parse(direct)
		rp := httputil.NewSingleHostReverseProxy(target)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, prefix+"/") {
				http.NotFound(w, r) // only what is under the prefix reaches wxcas
				return
			}
			http.StripPrefix(prefix, rp).ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		base = proxy.URL + prefix
	}

	em, emSrv := prodEmulator(t)
	site := casSite(t, base)

	// Loaded as a sandbox file, then switched to production
	// (serveAsProduction).
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: %s, kind: website, secret: web-secret}
    - {appid: %s, kind: official_account, secret: oa-secret}
login: {website_appid: %s, official_account_appid: %s, official_account_unionid: true, qr_mode: %s%s}
cas:
  services:
    - {id: site, name: Test site, match: prefix, url: '%s/', attributes: [phone, nickname], attributes_on_service_validate: true}
`+extra, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), prodWebsiteAppID, prodOAAppID, prodWebsiteAppID, prodOAAppID, qrMode, loginExtra, site.URL)
	a := serveAsProduction(t, ln, body, emSrv.URL)

	browser, shots := startChromium(t)
	return &prodEnv{e2e: &e2e{t: t, app: a, base: base, appURL: site.URL + "/", browser: browser, shots: shots}, em: em, emURL: emSrv.URL}
}

// prodEmulator runs the WeChat emulator with the production tests' website
// app and Official Account, in one open-platform account.
func prodEmulator(t *testing.T) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	em, err := emulator.New(emulator.Options{Apps: []emulator.App{
		{AppID: prodWebsiteAppID, Secret: "web-secret", Kind: emulator.KindWebsite, OpenPlatformID: "campus", CallbackDomain: "127.0.0.1"},
		{AppID: prodOAAppID, Secret: "oa-secret", Kind: emulator.KindOfficialAccount, OpenPlatformID: "campus", CallbackDomain: "127.0.0.1"},
	}})
	require.NoError(t, err)
	emSrv := httptest.NewServer(em)
	t.Cleanup(emSrv.Close)
	return em, emSrv
}

// serveAsProduction loads body as a sandbox file (secrets in it, http
// WeChat URLs and the console SMS sender are refused otherwise), switches it
// to production with WeChat at weChatURL, and serves it on ln until the test
// ends: what the pages do depends on sandbox.enabled and
// wechat.open_base_url, not on those. The console sender stands in for
// Tencent Cloud so the test can read the code.
func serveAsProduction(t *testing.T, ln net.Listener, body, weChatURL string) *app {
	t.Helper()
	cfg, err := config.Load(writeConfig(t, body))
	require.NoError(t, err)
	cfg.Sandbox.Enabled = false
	cfg.Secrets.Key = strings.Repeat("production-test-key-", 3)
	cfg.WeChat.OpenBaseURL, cfg.WeChat.APIBaseURL = weChatURL, weChatURL
	a, err := newAppWithClock(context.Background(), cfg, logx.Discard(), time.Now)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.web.Run(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() { cancel(); <-done; a.db.Close() })
	return a
}

func (p *prodEnv) sub(t *testing.T) *prodEnv {
	c := *p
	c.e2e = p.e2e.sub(t)
	return &c
}

// weChat answers the browser's requests to WeChat's hosts in ctx: wxLogin.js
// with the stand-in, and the QR iframe with a page whose whole area is a
// button standing for the person scanning and approving as person: it moves
// the top window to redirect_uri?code&state, the code issued by the
// emulator. It returns the QR iframe URLs requested so far.
func (p *prodEnv) weChat(ctx context.Context, person string) func() []string {
	t := p.t
	var mu sync.Mutex
	var seen []string
	fulfill := func(id fetch.RequestID, status int64, ctype, body string) {
		_, err := chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID: id, ResponseCode: status, Body: []byte(body),
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: ctype}},
		})
		if err != nil && ctx.Err() == nil {
			t.Errorf("fulfil a WeChat request: %v", err)
		}
	}
	handle := func(ev *fetch.EventRequestPaused) {
		u, err := url.Parse(ev.Request.URL)
		switch {
		case err == nil && ev.Request.URL == wxLoginScriptURL:
			fulfill(ev.RequestID, 200, "application/javascript", wxLoginStandIn)
		case err == nil && u.Host == "open.weixin.qq.com" && u.Path == "/connect/qrconnect":
			mu.Lock()
			seen = append(seen, ev.Request.URL)
			mu.Unlock()
			q := u.Query()
			code, err := p.em.IssueCode(q.Get("appid"), person, q.Get("scope"))
			if err != nil {
				fulfill(ev.RequestID, 200, "text/html", "<p>stand-in WeChat: "+err.Error()+"</p>")
				return
			}
			back := q.Get("redirect_uri") + "?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(q.Get("state"))
			js, _ := json.Marshal(back)
			fulfill(ev.RequestID, 200, "text/html; charset=utf-8", `<!doctype html><html><body style="margin:0">`+
				`<button id="approve" style="width:100%;height:100vh">scan and approve</button>`+
				`<script>document.getElementById("approve").onclick = function () { top.location.href = `+string(js)+`; };</script></body></html>`)
		default:
			fulfill(ev.RequestID, 404, "text/plain", "not served by the test")
		}
	}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			go handle(e) // Listen callbacks must not call the browser themselves
		}
	}))
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "https://res.wx.qq.com/*"}, {URLPattern: "https://open.weixin.qq.com/*"},
	}})
	require.NoError(t, err)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// scanWxLogin waits for the QR iframe wxLogin.js put in #wx-qr, checks its
// URL and clicks it (the stand-in's approval).
func (p *prodEnv) scanWxLogin(ctx context.Context, seen func() []string) {
	t := p.t
	t.Helper()
	p.do(ctx, chromedp.WaitVisible(chromedp.CSS(`#wx-qr iframe[data-test-loaded="1"]`)))
	src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#wx-qr iframe"), "src"))
	require.NoError(t, err)
	require.True(t, src.Exists)
	require.Contains(t, seen(), src.Value, "the iframe loaded WeChat's QR page")
	u, err := url.Parse(src.Value)
	require.NoError(t, err)
	require.Equal(t, "https://open.weixin.qq.com/connect/qrconnect", u.Scheme+"://"+u.Host+u.Path)
	q := u.Query()
	require.Equal(t, prodWebsiteAppID, q.Get("appid"))
	require.Equal(t, "snsapi_login", q.Get("scope"))
	require.Equal(t, p.base+"/wechat/callback", q.Get("redirect_uri"))
	require.Regexp(t, `^[A-Za-z0-9]{16,128}$`, q.Get("state"))
	require.Equal(t, "jssdk", q.Get("login_type"))
	require.Equal(t, "false", q.Get("self_redirect"), "the top window goes to the callback")
	require.Equal(t, "1", q.Get("stylelite"))

	center, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.querySelector("#wx-qr iframe").getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`))
	require.NoError(t, err)
	// A real click: WeChat's frame is cross-origin and may move the top
	// window only with a user gesture. The frame runs in its own process,
	// which can take input a little after its load event, so a click that
	// did not move the page is repeated (a second callback would be
	// harmless: the server answers it with where the login stands).
	// The QR page and the next one can have the same URL, so the QR page's
	// window is marked: a new document has no mark.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__qrPage = true`))
	require.NoError(t, err)
	for attempt := 0; ; attempt++ {
		require.Less(t, attempt, 10, "the QR frame never took the click")
		p.do(ctx, chromedp.MouseClickXY(center[0], center[1]))
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if old, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__qrPage === true`)); err == nil && !old {
				return
			}
		}
	}
}

func TestBrowserProductionPages(t *testing.T) {
	env := startProd(t, "inline", "")
	var carolID string

	t.Run("desktop inline QR with the real wxLogin.js contract and CSP", func(t *testing.T) {
		p := env.sub(t)
		ctx := p.person("")
		seen := p.weChat(ctx, "carol")
		resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(p.appURL))
		require.NoError(t, err)
		require.Contains(t, resp.Headers, "Content-Security-Policy", "the page keeps its own CSP")
		p.scanWxLogin(ctx, seen)
		p.bindPhone(ctx, "137 0013 7001", "+8613700137001", "prod-01")
		user, phone := p.onSite(ctx)
		require.Equal(t, "+8613700137001", phone)
		require.NotContains(t, p.text(ctx, "body"), "沙箱", "no sandbox anywhere")
		carolID = user
	})

	t.Run("inside WeChat: Official Account authorization at WeChat's address", func(t *testing.T) {
		p := env.sub(t)
		ctx := p.person(weChatUA)
		p.do(ctx, chromedp.Navigate(p.appURL))
		// snsapi_base first, then snsapi_userinfo for the unionid.
		for i, scope := range []string{"snsapi_base", "snsapi_userinfo"} {
			p.do(ctx, chromedp.WaitVisible(chromedp.CSS(".approve")))
			loc, err := url.Parse(p.location(ctx))
			require.NoError(t, err)
			require.Equal(t, p.emURL+"/connect/oauth2/authorize", loc.Scheme+"://"+loc.Host+loc.Path, "step %d", i)
			require.Equal(t, prodOAAppID, loc.Query().Get("appid"))
			require.Equal(t, scope, loc.Query().Get("scope"))
			require.Equal(t, p.base+"/wechat/callback", loc.Query().Get("redirect_uri"))
			p.pickUser(ctx, "carol")
			_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
			require.NoError(t, err)
		}
		user, _ := p.onSite(ctx)
		require.Equal(t, carolID, user, "the same person by unionid")
	})

	t.Run("other phones: open-in-WeChat guidance, and the QR on request", func(t *testing.T) {
		p := env.sub(t)
		ctx := p.person("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
		seen := p.weChat(ctx, "erin")
		p.do(ctx, chromedp.Navigate(p.appURL), chromedp.WaitVisible(chromedp.CSS("#login-link")))
		link, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#login-link")))
		require.NoError(t, err)
		require.Equal(t, p.base+"/cas/login?service="+url.QueryEscape(p.appURL), link)
		require.NotContains(t, p.text(ctx, "body"), "沙箱")
		// Focusing the link selects it for copying: a static script does
		// it, since the page's CSP refuses inline event handlers.
		p.do(ctx, chromedp.Focus(chromedp.CSS("#login-link")))
		selected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const i = document.getElementById("login-link"); return i.selectionStart === 0 && i.selectionEnd === i.value.length && i.value.length > 0; })()`))
		require.NoError(t, err)
		require.True(t, selected, "the focused link is selected")
		_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("a.button")))
		require.NoError(t, err)
		require.Contains(t, p.location(ctx), "qr=1")
		p.scanWxLogin(ctx, seen)
		p.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	})
}

func TestBrowserProductionRedirectQR(t *testing.T) {
	p := startProd(t, "redirect", "")
	ctx := p.person("")
	p.do(ctx, chromedp.Navigate(p.appURL), chromedp.WaitVisible(chromedp.CSS(".approve")))
	loc, err := url.Parse(p.location(ctx))
	require.NoError(t, err)
	require.Equal(t, p.emURL+"/connect/qrconnect", loc.Scheme+"://"+loc.Host+loc.Path, "WeChat's own QR page")
	require.Equal(t, prodWebsiteAppID, loc.Query().Get("appid"))
	require.Equal(t, "snsapi_login", loc.Query().Get("scope"))
	require.Equal(t, p.base+"/wechat/callback", loc.Query().Get("redirect_uri"))
	p.pickUser(ctx, "dora")
	_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(".approve")))
	require.NoError(t, err)
	p.bindPhone(ctx, "137 0013 7002", "+8613700137002", "prod-redirect")
	_, phone := p.onSite(ctx)
	require.Equal(t, "+8613700137002", phone)
}

var rootRelativeURL = regexp.MustCompile(`(?:href|src|action)="(/[^"]*)"`)

// TestBrowserProductionPathPrefix: public_url https://host/wxcas behind a
// proxy that strips /wxcas. Every URL a page hands the browser carries the
// prefix, and a whole login works through it.
func TestBrowserProductionPathPrefix(t *testing.T) {
	p := startProd(t, "inline", "/wxcas")
	prefix := strings.TrimPrefix(p.base, strings.TrimSuffix(p.base, "/wxcas"))

	// The rendered pages: every root-relative URL starts with the prefix.
	for _, target := range []string{"/cas/login?service=" + url.QueryEscape(p.appURL), "/cas/login?service=https%3A%2F%2Fevil.example%2F"} {
		resp, err := http.Get(p.base + target)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		links := rootRelativeURL.FindAllStringSubmatch(string(raw), -1)
		require.NotEmpty(t, links, target)
		for _, m := range links {
			require.True(t, strings.HasPrefix(m[1], prefix+"/"), "%s in %s", m[1], target)
		}
		require.Contains(t, string(raw), `href="`+prefix+`/static/wxcas.css"`)
	}

	ctx := p.person("")
	seen := p.weChat(ctx, "fay")
	p.do(ctx, chromedp.Navigate(p.appURL))
	require.True(t, strings.HasPrefix(p.location(ctx), p.base+"/login?flow="), p.location(ctx))
	refresh, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(".muted a"), "href"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(refresh.Value, prefix+"/login?flow="), refresh.Value)
	// The iframe appears only if /wxcas/static/login.js loaded and ran.
	p.scanWxLogin(ctx, seen)
	p.do(ctx, chromedp.WaitVisible(chromedp.CSS("#phone")))
	// The page can be visible before its stylesheet has applied: wait for the
	// load to complete before judging.
	styled := false
	for deadline := time.Now().Add(5 * time.Second); !styled && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		styled, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && getComputedStyle(document.querySelector("main")).maxWidth !== "none"`))
	}
	require.True(t, styled, "the stylesheet loaded from under the prefix")
	p.bindPhone(ctx, "137 0013 7003", "+8613700137003", "prod-prefix")
	_, phone := p.onSite(ctx)
	require.Equal(t, "+8613700137003", phone)
}
