package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/emulator"
)

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type page struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (f *fixture) browse(method, rawURL string, form url.Values) page {
	f.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = noRedirect.PostForm(rawURL, form)
	} else {
		resp, err = noRedirect.Get(rawURL)
	}
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

const cb = "https://cas.example.org/login/wechat/callback"

func qrURL(base string, extra url.Values) string {
	q := url.Values{"appid": {web}, "redirect_uri": {cb + "?service=s1"}, "response_type": {"code"},
		"scope": {"snsapi_login"}, "state": {"ST8"}}
	for k, v := range extra {
		q[k] = v
	}
	return base + emulator.PathQRConnect + "?" + q.Encode() + "#wechat_redirect"
}

func oaURL(base, scope string, extra url.Values) string {
	q := url.Values{"appid": {oa}, "redirect_uri": {"https://m.example.org/cb"}, "response_type": {"code"},
		"scope": {scope}, "state": {"ST8"}}
	for k, v := range extra {
		q[k] = v
	}
	return base + emulator.PathOAuth2Authorize + "?" + q.Encode() + "#wechat_redirect"
}

var ticketRE = regexp.MustCompile(`name="ticket" value="([^"]+)"`)

func TestPhonePageApprove(t *testing.T) {
	f := newFixture(t)
	p := f.browse(http.MethodGet, qrURL(f.srv.URL, nil), nil)
	require.Equal(t, http.StatusOK, p.status)
	require.Equal(t, "text/html; charset=utf-8", p.header.Get("Content-Type"))
	require.Contains(t, p.body, emulator.Banner)
	require.Contains(t, p.body, `class="banner"`)
	require.Contains(t, p.body, "模拟微信扫码 / Simulated WeChat scan")
	require.Contains(t, p.body, `value="alice"`)
	require.Contains(t, p.body, `name="new_user"`)
	require.Contains(t, p.body, `value="approve"`)
	require.Contains(t, p.body, `value="refuse"`)
	require.Contains(t, p.body, `method="post"`)
	require.NotContains(t, p.body, `target="_top"`)
	require.NotContains(t, p.body, webSecret)
	m := ticketRE.FindStringSubmatch(p.body)
	require.Len(t, m, 2)
	ticket := m[1]

	// Choosing nobody re-renders the page with a message.
	again := f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"approve"}})
	require.Equal(t, http.StatusBadRequest, again.status)
	require.Contains(t, again.body, "请选择或新建一个测试用户")

	// Approve as a new user: 302 to redirect_uri with code and state, existing query kept.
	ok := f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"approve"}, "new_user": {"carol"}})
	require.Equal(t, http.StatusFound, ok.status)
	loc, err := url.Parse(ok.location)
	require.NoError(t, err)
	require.Equal(t, "cas.example.org", loc.Host)
	require.Equal(t, "/login/wechat/callback", loc.Path)
	require.True(t, strings.HasPrefix(loc.RawQuery, "service=s1&code="), loc.RawQuery)
	require.Equal(t, "ST8", loc.Query().Get("state"))
	code := loc.Query().Get("code")
	require.Len(t, code, 32)
	_, created := f.em.Person("carol")
	require.True(t, created)

	a := f.get(emulator.PathAccessToken, exchangeQuery(web, webSecret, code))
	require.Equal(t, f.em.OpenID(web, "carol"), a.fields["openid"])

	// The ticket is single use.
	reuse := f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"approve"}, "user": {"alice"}})
	require.Equal(t, http.StatusBadRequest, reuse.status)
	require.Empty(t, reuse.location)
	require.Contains(t, reuse.body, "授权请求已失效")
}

func TestPhonePageRefuse(t *testing.T) {
	f := newFixture(t)
	p := f.browse(http.MethodGet, oaURL(f.srv.URL, "snsapi_userinfo", nil), nil)
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "模拟微信网页授权")
	require.Contains(t, p.body, `name="snapshot"`, "OA userinfo offers snapshot mode")
	ticket := ticketRE.FindStringSubmatch(p.body)[1]
	r := f.browse(http.MethodPost, oaURL(f.srv.URL, "snsapi_userinfo", nil), url.Values{"ticket": {ticket}, "action": {"refuse"}})
	require.Equal(t, http.StatusFound, r.status)
	require.Equal(t, "https://m.example.org/cb?state=ST8", r.location)
}

func TestPhonePageRefuseWithoutRedirect(t *testing.T) {
	f := newFixture(t, func(o *emulator.Options) { o.RefuseWithoutRedirect = true })
	p := f.browse(http.MethodGet, qrURL(f.srv.URL, nil), nil)
	ticket := ticketRE.FindStringSubmatch(p.body)[1]
	r := f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"refuse"}})
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.location)
	require.Contains(t, r.body, emulator.Banner)
	require.Contains(t, r.body, "你已拒绝授权")
}

func TestPhonePageSnapshotCheckbox(t *testing.T) {
	f := newFixture(t)
	p := f.browse(http.MethodGet, oaURL(f.srv.URL, "snsapi_userinfo", nil), nil)
	ticket := ticketRE.FindStringSubmatch(p.body)[1]
	r := f.browse(http.MethodPost, oaURL(f.srv.URL, "snsapi_userinfo", nil),
		url.Values{"ticket": {ticket}, "action": {"approve"}, "user": {"alice"}, "snapshot": {"1"}})
	require.Equal(t, http.StatusFound, r.status)
	loc, _ := url.Parse(r.location)
	a := f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, loc.Query().Get("code")))
	require.EqualValues(t, 1, a.fields["is_snapshotuser"])
	require.NotEqual(t, f.em.OpenID(oa, "alice"), a.fields["openid"])
	u := f.get(emulator.PathUserInfo, url.Values{"access_token": {a.fields["access_token"].(string)}, "openid": {a.fields["openid"].(string)}})
	require.Equal(t, "微信用户", u.fields["nickname"])
}

func TestSandboxUserApprovesAtOnce(t *testing.T) {
	f := newFixture(t)
	r := f.browse(http.MethodGet, qrURL(f.srv.URL, url.Values{"sandbox_user": {"dave"}}), nil)
	require.Equal(t, http.StatusFound, r.status)
	loc, err := url.Parse(r.location)
	require.NoError(t, err)
	require.Equal(t, "ST8", loc.Query().Get("state"))
	require.NotEmpty(t, loc.Query().Get("code"))
	_, ok := f.em.Person("dave")
	require.True(t, ok, "created on the fly")

	r = f.browse(http.MethodGet, oaURL(f.srv.URL, "snsapi_base", url.Values{"sandbox_user": {"alice"}}), nil)
	require.Equal(t, http.StatusFound, r.status)
	require.True(t, strings.HasPrefix(r.location, "https://m.example.org/cb?code="), r.location)

	r = f.browse(http.MethodGet, oaURL(f.srv.URL, "snsapi_base", url.Values{"sandbox_refuse": {"1"}}), nil)
	require.Equal(t, http.StatusFound, r.status)
	require.Equal(t, "https://m.example.org/cb?state=ST8", r.location)

	r = f.browse(http.MethodGet, qrURL(f.srv.URL, url.Values{"sandbox_user": {"bad\x01name"}}), nil)
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Empty(t, r.location)
}

func TestAuthorizeErrorPages(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"unknown appid", qrURL(f.srv.URL, url.Values{"appid": {"wxnope"}, "sandbox_user": {"alice"}}), "appid 参数错误"},
		{"missing appid", qrURL(f.srv.URL, url.Values{"appid": {""}}), "appid 参数错误"},
		{"OA appid on qrconnect", qrURL(f.srv.URL, url.Values{"appid": {oa}, "sandbox_user": {"alice"}}), "Scope 参数错误或没有 Scope 权限"},
		{"website with snsapi_base", qrURL(f.srv.URL, url.Values{"scope": {"snsapi_base"}}), "Scope 参数错误或没有 Scope 权限"},
		{"OA with snsapi_login", oaURL(f.srv.URL, "snsapi_login", url.Values{"sandbox_user": {"alice"}}), "Scope 参数错误或没有 Scope 权限"},
		{"website appid on oauth2", oaURL(f.srv.URL, "snsapi_base", url.Values{"appid": {web}}), "Scope 参数错误或没有 Scope 权限"},
		{"mini program on oauth2", oaURL(f.srv.URL, "snsapi_base", url.Values{"appid": {mini}}), "Scope 参数错误或没有 Scope 权限"},
		{"bad response_type", qrURL(f.srv.URL, url.Values{"response_type": {"token"}}), "response_type 参数错误"},
		{"missing redirect_uri", qrURL(f.srv.URL, url.Values{"redirect_uri": {""}, "sandbox_user": {"alice"}}), "redirect_uri 参数错误"},
		{"relative redirect_uri", oaURL(f.srv.URL, "snsapi_base", url.Values{"redirect_uri": {"/cb"}}), "redirect_uri 参数错误"},
		{"javascript redirect_uri", oaURL(f.srv.URL, "snsapi_base", url.Values{"redirect_uri": {"javascript:alert(1)"}}), "redirect_uri 参数错误"},
		{"redirect_uri outside the callback domain", qrURL(f.srv.URL, url.Values{"redirect_uri": {"https://evil.example.com/cb"}, "sandbox_user": {"alice"}}), "该链接无法访问"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.browse(http.MethodGet, tt.url, nil)
			require.Equal(t, http.StatusBadRequest, p.status)
			require.Empty(t, p.location, "never redirects")
			require.Contains(t, p.body, tt.want)
			require.Contains(t, p.body, emulator.Banner)
		})
	}

	// Forms: bad ticket, bad action, wrong method.
	p := f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {"forged"}, "action": {"approve"}, "user": {"alice"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Empty(t, p.location)
	page := f.browse(http.MethodGet, qrURL(f.srv.URL, nil), nil)
	ticket := ticketRE.FindStringSubmatch(page.body)[1]
	p = f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"steal"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	req, _ := http.NewRequest(http.MethodPut, qrURL(f.srv.URL, nil), nil)
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// An expired ticket.
	page = f.browse(http.MethodGet, qrURL(f.srv.URL, nil), nil)
	ticket = ticketRE.FindStringSubmatch(page.body)[1]
	f.advance(emulator.TicketTTL)
	p = f.browse(http.MethodPost, qrURL(f.srv.URL, nil), url.Values{"ticket": {ticket}, "action": {"approve"}, "user": {"alice"}})
	require.Equal(t, http.StatusBadRequest, p.status)
	require.Contains(t, p.body, "授权请求已失效")
}

func TestInlineQRPageTargetsTopWindow(t *testing.T) {
	f := newFixture(t)
	q := url.Values{"appid": {web}, "scope": {"snsapi_login"}, "redirect_uri": {cb}, "state": {"S"},
		"login_type": {"jssdk"}, "self_redirect": {"false"}, "style": {"white"}}
	p := f.browse(http.MethodGet, f.srv.URL+emulator.PathQRConnect+"?"+q.Encode(), nil)
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, `target="_top"`)
	q.Set("self_redirect", "true")
	p = f.browse(http.MethodGet, f.srv.URL+emulator.PathQRConnect+"?"+q.Encode(), nil)
	require.NotContains(t, p.body, `target="_top"`)
}

func TestPagesHTMLEscape(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.em.SetPerson(emulator.Person{Name: `<script>x</script>`, Nickname: `"><img src=x>`}))
	p := f.browse(http.MethodGet, qrURL(f.srv.URL, nil), nil)
	require.NotContains(t, p.body, "<script>x</script>")
	require.NotContains(t, p.body, `<img src=x>`)
	require.Contains(t, p.body, "&lt;script&gt;")
}

// Mounted under a prefix with http.StripPrefix, as wxcas does in sandbox mode.
func TestMountedUnderPrefix(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/wechat/", http.StripPrefix("/sandbox/wechat", f.em))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := srv.URL + "/sandbox/wechat"

	p := f.browse(http.MethodGet, qrURL(base, nil), nil)
	require.Equal(t, http.StatusOK, p.status)
	ticket := ticketRE.FindStringSubmatch(p.body)[1]
	// The form has no action: it posts back to the page's own URL, prefix included.
	require.NotContains(t, p.body, "action=")
	r := f.browse(http.MethodPost, qrURL(base, nil), url.Values{"ticket": {ticket}, "action": {"approve"}, "user": {"alice"}})
	require.Equal(t, http.StatusFound, r.status)
	loc, _ := url.Parse(r.location)
	a := f.browse(http.MethodGet, base+emulator.PathAccessToken+"?"+exchangeQuery(web, webSecret, loc.Query().Get("code")).Encode(), nil)
	require.Contains(t, a.body, `"openid":"`+f.em.OpenID(web, "alice")+`"`)

	idx := f.browse(http.MethodGet, base+"/", nil)
	require.Equal(t, http.StatusOK, idx.status)
	require.Contains(t, idx.body, emulator.Banner)
	require.Contains(t, idx.body, web)
	require.NotContains(t, idx.body, webSecret)
}

func TestSandboxCodeEndpoint(t *testing.T) {
	f := newFixture(t)
	post := func(form url.Values) (int, map[string]string) {
		resp, err := http.PostForm(f.srv.URL+emulator.PathSandboxCode, form)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	st, out := post(url.Values{"appid": {mini}, "sandbox_user": {"erin"}, "type": {"js"}})
	require.Equal(t, http.StatusOK, st)
	a := f.get(emulator.PathJSCode2Session, url.Values{"appid": {mini}, "secret": {miniSecret}, "js_code": {out["code"]}, "grant_type": {"authorization_code"}})
	require.Equal(t, f.em.OpenID(mini, "erin"), a.fields["openid"])

	st, out = post(url.Values{"appid": {mobile}, "sandbox_user": {"erin"}})
	require.Equal(t, http.StatusOK, st)
	require.NotEmpty(t, out["code"])

	st, out = post(url.Values{"appid": {mini}, "sandbox_user": {"erin"}, "type": {"phone"}})
	require.Equal(t, http.StatusOK, st)
	require.NotEmpty(t, out["code"])

	st, out = post(url.Values{"appid": {"wxnope"}, "sandbox_user": {"erin"}})
	require.Equal(t, http.StatusBadRequest, st)
	require.NotEmpty(t, out["error"])
	st, _ = post(url.Values{"appid": {mini}, "sandbox_user": {"erin"}, "type": {"weird"}})
	require.Equal(t, http.StatusBadRequest, st)

	resp, err := http.Get(f.srv.URL + emulator.PathSandboxCode)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
