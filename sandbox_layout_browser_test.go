package main

// The sandbox's own pages at a desktop's and a phone's size, in real
// headless Chromium: the WeChat emulator's page that the "phone" sees after
// scanning (its Approve button must be on screen without scrolling) and the
// built-in demo site's attribute table (long values must not widen the
// page). Screenshots: sandbox-consent-{1280,390}, sandbox-demo-{1280,390}.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"wxcas/store"
)

// layoutHomepage is a directory attribute as long and unbreakable as real
// ones get: a URL with a query string.
const layoutHomepage = "https://intranet.example.edu.cn/people/profile/0001234567?tab=contact&lang=zh-CN&ref=wxcas-sandbox-demo-attribute-table"

// layoutUser is a test person whose name (and so nickname) is 32 characters
// without a place to break the line.
const layoutUser = "zhang_wei_sandbox_demo_long_name"

// startSandboxLayoutE2E runs the sandbox as shipped (SQLite, the emulator,
// the demo site under /sandbox/app/) with an organisation directory that
// gives every person a long homepage URL, and releases that and the unionid
// to the demo site.
func startSandboxLayoutE2E(t *testing.T) *e2e {
	t.Helper()
	requireChromium(t)
	orgPath := filepath.Join(t.TempDir(), "org.db")
	org, err := store.Open(context.Background(), store.Options{Driver: "sqlite", SQLitePath: orgPath}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	_, err = org.Exec(`CREATE TABLE people (uid INTEGER PRIMARY KEY, mobile TEXT UNIQUE, homepage TEXT NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, org.Close())

	ln, base := listen(t)
	const cols = `SELECT CAST(uid AS TEXT) AS id, mobile AS phone, homepage FROM people `
	body := fmt.Sprintf(`server: {listen: %s, public_url: '%s'}
database: {sqlite_path: %s}
sandbox: {enabled: true}
wechat:
  apps:
    - {appid: wxa1b2c3d4e5f60001, kind: website, secret: web-secret}
login: {website_appid: wxa1b2c3d4e5f60001}
directory:
  type: sql
  sql:
    driver: sqlite
    dsn: %s
    find_by_phone: "%sWHERE mobile = ?"
    find_by_id: "%sWHERE uid = ?"
    create: "INSERT INTO people (mobile, homepage) VALUES (?, '%s')"
cas:
  services:
    - id: sandbox-app
      name: 沙箱示例网站 / Sandbox demo site
      match: prefix
      url: /sandbox/app/
      attributes: [userId, phone, nickname, loginChannel, wechatUnionId, homepage]
`, ln.Addr(), base, filepath.Join(t.TempDir(), "wxcas.db"), orgPath, cols, cols, layoutHomepage)
	a := runApp(t, ln, body, nil)
	browser, shots := startChromium(t)
	return &e2e{t: t, app: a, base: base, appURL: base + "/sandbox/app/", browser: browser, shots: shots}
}

// layoutA11yJS lists what keeps a page from being readable: no lang, form
// fields without a label, text below WCAG AA contrast (4.5:1, 3:1 for large
// text) against the background it is painted on.
const layoutA11yJS = `(() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html has no lang");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby")) problems.push("no label: " + el.outerHTML);
  }
  const rgba = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 0]; const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat(1); };
  const background = el => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    if (!own || r.width === 0 || r.height === 0) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden") continue;
    const bg = background(el), fg = over(rgba(st.color), bg);
    const l1 = lum(fg), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push("contrast " + ratio.toFixed(2) + ": " + el.tagName.toLowerCase() + "." + el.className + " " + JSON.stringify(el.textContent.trim().slice(0, 40)));
  }
  return problems;
})()`

type layoutRect struct {
	Top     float64 `json:"top"`
	Bottom  float64 `json:"bottom"`
	Left    float64 `json:"left"`
	Right   float64 `json:"right"`
	Width   float64 `json:"vw"`
	Height  float64 `json:"vh"`
	ScrollY float64 `json:"scrollY"`
	OnTop   bool    `json:"onTop"` // the button, not something over it, is at its centre
}

type layoutOverflow struct {
	PageScroll  float64 `json:"pageScroll"`
	Inner       float64 `json:"inner"`
	TableScroll float64 `json:"tableScroll"`
	TableClient float64 `json:"tableClient"`
	Named       bool    `json:"named"`      // a caption, or a label naming the table
	Scoped      bool    `json:"scoped"`     // every th has a scope
	Cells       string  `json:"cells"`      // the table's text
	CellsFit    bool    `json:"cellsFit"`   // no cell's content is wider than the cell
	RightEdge   float64 `json:"rightEdge"`  // the table's right edge in the viewport
	ParentRight float64 `json:"parentEdge"` // its container's content right edge
}

func TestBrowserSandboxLayout(t *testing.T) {
	e := startSandboxLayoutE2E(t)
	// A sandbox in use has a few test persons already: they are listed on
	// the phone page, above its buttons.
	for _, name := range []string{"carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"} {
		resp, err := noRedirect.Get(e.base + "/sandbox/wechat/_sandbox/signin?user=" + url.QueryEscape(name))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}

	for _, size := range []struct {
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{{1280, 800, nil}, {390, 844, phone}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			e := e.sub(t)
			ctx := e.person("")
			e.do(ctx, chromedp.EmulateViewport(size.w, size.h, size.opts...))
			e.do(ctx, chromedp.Navigate(e.appURL), chromedp.WaitVisible(chromedp.CSS("#wx-qr iframe")))
			src, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#wx-qr iframe"), "src"))
			require.NoError(t, err)
			require.True(t, src.Exists)

			// The phone's page, in its own tab of this browser (the
			// approval's callback needs this browser's login cookies).
			tab, cancel := chromedp.NewContext(ctx)
			t.Cleanup(cancel)
			tab = e.timeout(tab)
			_, err = chromedp.Call(tab, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: desktopUA, AcceptLanguage: "zh-CN,zh;q=0.9"})
			require.NoError(t, err)
			e.do(tab, chromedp.EmulateViewport(size.w, size.h, size.opts...),
				chromedp.Navigate(src.Value), chromedp.WaitVisible(chromedp.CSS(".approve")))

			rect, err := chromedp.Run(tab, chromedp.Evaluate[layoutRect](`(() => {
  const b = document.querySelector(".approve"), r = b.getBoundingClientRect();
  const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, vw: innerWidth, vh: innerHeight, scrollY: scrollY, onTop: !!at && b.contains(at)};
})()`))
			require.NoError(t, err)
			require.Zero(t, rect.ScrollY, "the page opens at its top")
			require.True(t, rect.Top >= 0 && rect.Left >= 0 && rect.Bottom <= rect.Height && rect.Right <= rect.Width,
				"the Approve button is on screen without scrolling: %+v", rect)
			require.True(t, rect.OnTop, "nothing covers the Approve button")
			tag, err := chromedp.Run(tab, chromedp.Evaluate[string](`(() => { const b = document.querySelector(".approve"); return b.tagName + "/" + b.type; })()`))
			require.NoError(t, err)
			require.Equal(t, "BUTTON/submit", tag, "Approve is a real button")
			problems, err := chromedp.Run(tab, chromedp.Evaluate[[]string](layoutA11yJS))
			require.NoError(t, err)
			require.Empty(t, problems, "the consent page is readable")
			e.screenshot(tab, fmt.Sprintf("sandbox-consent-%d", size.w))

			// Approve as the phone, which takes this tab through the
			// callback (and, the first time, the phone binding) to the
			// demo site.
			e.pickUser(tab, layoutUser)
			_, err = chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(".approve")))
			require.NoError(t, err)
			if !strings.HasPrefix(e.location(tab), e.appURL) {
				e.bindPhone(tab, "137 0013 7007", "+8613700137007", "sandbox-layout")
			}
			e.do(tab, chromedp.WaitVisible(chromedp.CSS("#cas-attributes")))
			require.True(t, strings.HasPrefix(e.location(tab), e.appURL), e.location(tab))

			fit, err := chromedp.Run(tab, chromedp.Evaluate[layoutOverflow](`(() => {
  const t = document.querySelector("#cas-attributes"), r = t.getBoundingClientRect();
  const p = t.parentElement, ps = getComputedStyle(p), pr = p.getBoundingClientRect();
  const cells = [...t.querySelectorAll("th, td")];
  return {
    pageScroll: document.documentElement.scrollWidth, inner: innerWidth,
    tableScroll: t.scrollWidth, tableClient: t.clientWidth,
    named: !!(t.caption && t.caption.textContent.trim()) || !!t.getAttribute("aria-labelledby") || !!t.getAttribute("aria-label"),
    scoped: [...t.querySelectorAll("th")].every(th => th.getAttribute("scope")),
    cells: t.textContent,
    cellsFit: cells.every(c => c.scrollWidth <= c.clientWidth),
    rightEdge: r.right, parentEdge: pr.right - parseFloat(ps.paddingRight),
  };
})()`))
			require.NoError(t, err)
			e.screenshot(tab, fmt.Sprintf("sandbox-demo-%d", size.w))
			require.Contains(t, fit.Cells, layoutHomepage, "the long URL is in the table")
			require.Contains(t, fit.Cells, "wechatUnionId")
			require.Contains(t, fit.Cells, layoutUser)
			// A phone zooms out to show a page wider than itself: innerWidth
			// then grows with the page, so it must still be the window's.
			require.Equal(t, float64(size.w), fit.Inner, "the page is not zoomed out to fit")
			require.LessOrEqual(t, fit.PageScroll, fit.Inner, "the page is no wider than the window")
			require.LessOrEqual(t, fit.TableScroll, fit.TableClient, "the table's content fits the table")
			require.True(t, fit.CellsFit, "no cell's content spills out of its cell")
			require.LessOrEqual(t, fit.RightEdge, fit.ParentRight+0.5, "the table fits its card")
			require.True(t, fit.Named, "the table has a caption")
			require.True(t, fit.Scoped, "every header cell has a scope")
			problems, err = chromedp.Run(tab, chromedp.Evaluate[[]string](layoutA11yJS))
			require.NoError(t, err)
			require.Empty(t, problems, "the demo page is readable")
		})
	}
}
