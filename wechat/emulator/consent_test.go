package emulator_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/wechat/emulator"
)

// phone is one browser standing for a phone's WeChat: it keeps cookies
// and does not follow redirects.
type phone struct {
	f *fixture
	c *http.Client
}

func (f *fixture) phone() *phone {
	jar, err := cookiejar.New(nil)
	require.NoError(f.t, err)
	return &phone{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *phone) do(method, rawURL string, form url.Values) page {
	p.f.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = p.c.PostForm(rawURL, form)
	} else {
		resp, err = p.c.Get(rawURL)
	}
	require.NoError(p.f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.f.t, err)
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(b), header: resp.Header}
}

// person returns the signed-in name the jar holds for the emulator ("" if none).
func (p *phone) person() string {
	u, _ := url.Parse(p.f.srv.URL)
	for _, c := range p.c.Jar.Cookies(u) {
		if c.Name == emulator.PersonCookie {
			name, err := url.PathUnescape(c.Value)
			require.NoError(p.f.t, err)
			return name
		}
	}
	return ""
}

// answerPage posts the page's form with action and extra fields.
func (p *phone) answerPage(pageURL string, pg page, action string, extra url.Values) page {
	p.f.t.Helper()
	m := ticketRE.FindStringSubmatch(pg.body)
	require.Len(p.f.t, m, 2, "a page with a form: %s", pg.body)
	form := url.Values{"ticket": {m[1]}, "action": {action}}
	for k, v := range extra {
		form[k] = v
	}
	return p.do(http.MethodPost, pageURL, form)
}

// codeFrom checks a 302 back to the callback and returns its code.
func codeFrom(t *testing.T, pg page) string {
	t.Helper()
	require.Equal(t, http.StatusFound, pg.status, pg.body)
	loc, err := url.Parse(pg.location)
	require.NoError(t, err)
	require.Equal(t, "ST8", loc.Query().Get("state"))
	require.NotEmpty(t, loc.Query().Get("code"))
	return loc.Query().Get("code")
}

func isPicker(body string) bool {
	return strings.Contains(body, `name="new_user"`) && strings.Contains(body, `class="approve"`)
}

func isConsent(body, person string) bool {
	return !strings.Contains(body, `name="new_user"`) && !strings.Contains(body, `name="user"`) &&
		strings.Contains(body, `data-user="`+person+`"`) && strings.Contains(body, `class="approve"`) &&
		strings.Contains(body, `class="refuse"`) && strings.Contains(body, `name="snapshot"`)
}

func TestSignedInPhoneBaseSilentUserinfoOnce(t *testing.T) {
	f := newFixture(t)
	ph := f.phone()
	base, info := oaURL(f.srv.URL, "snsapi_base", nil), oaURL(f.srv.URL, "snsapi_userinfo", nil)

	// Not signed in: the picker. Approving signs the phone in; a base
	// approval is no userinfo consent.
	pg := ph.do(http.MethodGet, base, nil)
	require.True(t, isPicker(pg.body))
	r := ph.answerPage(base, pg, "approve", url.Values{"user": {"alice"}})
	codeFrom(t, r)
	var set *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == emulator.PersonCookie {
			set = c
		}
	}
	require.NotNil(t, set, "the approval sets the cookie")
	require.Equal(t, "alice", set.Value)
	require.Equal(t, "/", set.Path)
	require.True(t, set.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, set.SameSite)
	require.False(t, f.em.Consented(oa, "alice"))
	require.Equal(t, 1, f.em.ConsentPages(oa))

	// snsapi_base is silent now, as the person's own WeChat.
	code := codeFrom(t, ph.do(http.MethodGet, base, nil))
	a := f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code))
	require.Equal(t, f.em.OpenID(oa, "alice"), a.fields["openid"])
	require.Equal(t, 1, f.em.ConsentPages(oa), "no page for snsapi_base")

	// snsapi_userinfo asks once, on a page for alice without the picker.
	pg = ph.do(http.MethodGet, info, nil)
	require.Equal(t, http.StatusOK, pg.status)
	require.True(t, isConsent(pg.body, "alice"), pg.body)
	require.Contains(t, pg.body, emulator.Banner)
	require.Equal(t, 2, f.em.ConsentPages(oa))
	// The form cannot switch the person.
	code = codeFrom(t, ph.answerPage(info, pg, "approve", url.Values{"user": {"mallory"}, "new_user": {"mallory"}}))
	a = f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code))
	require.Equal(t, f.em.OpenID(oa, "alice"), a.fields["openid"])
	require.Equal(t, f.em.UnionID(oa, "alice"), a.fields["unionid"])
	_, made := f.em.Person("mallory")
	require.False(t, made)
	require.True(t, f.em.Consented(oa, "alice"))

	// Then silent, until forcePopup=true.
	code = codeFrom(t, ph.do(http.MethodGet, info, nil))
	a = f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code))
	require.Equal(t, "snsapi_userinfo", a.fields["scope"])
	require.Equal(t, f.em.UnionID(oa, "alice"), a.fields["unionid"])
	require.Equal(t, 2, f.em.ConsentPages(oa))
	forced := oaURL(f.srv.URL, "snsapi_userinfo", url.Values{"forcePopup": {"true"}})
	pg = ph.do(http.MethodGet, forced, nil)
	require.True(t, isConsent(pg.body, "alice"), pg.body)
	require.Equal(t, 3, f.em.ConsentPages(oa))
	// forcePopup does not make snsapi_base ask.
	codeFrom(t, ph.do(http.MethodGet, oaURL(f.srv.URL, "snsapi_base", url.Values{"forcePopup": {"true"}}), nil))
	require.Equal(t, 3, f.em.ConsentPages(oa))
	require.Equal(t, 6, f.em.Authorizations(oa))
	require.Zero(t, f.em.Authorizations(web))
}

func TestPickerApprovalOfUserinfoRecordsConsent(t *testing.T) {
	f := newFixture(t)
	ph := f.phone()
	info := oaURL(f.srv.URL, "snsapi_userinfo", nil)
	pg := ph.do(http.MethodGet, info, nil)
	require.True(t, isPicker(pg.body))
	codeFrom(t, ph.answerPage(info, pg, "approve", url.Values{"new_user": {"carol"}}))
	require.Equal(t, "carol", ph.person())
	require.True(t, f.em.Consented(oa, "carol"))
	code := codeFrom(t, ph.do(http.MethodGet, info, nil))
	require.Equal(t, f.em.OpenID(oa, "carol"), f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code)).fields["openid"])
	require.Equal(t, 1, f.em.ConsentPages(oa))

	// A snapshot-page approval is no consent.
	ph2 := f.phone()
	pg = ph2.do(http.MethodGet, info, nil)
	codeFrom(t, ph2.answerPage(info, pg, "approve", url.Values{"user": {"alice"}, "snapshot": {"1"}}))
	require.Equal(t, "alice", ph2.person())
	require.False(t, f.em.Consented(oa, "alice"))
	require.True(t, isConsent(ph2.do(http.MethodGet, info, nil).body, "alice"))
}

func TestConsentPageRefuseAndSnapshot(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.em.SetPerson(emulator.Person{Name: "alice"}))
	ph := f.phone()
	info := oaURL(f.srv.URL, "snsapi_userinfo", nil)
	require.Equal(t, http.StatusOK, ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?user=alice", nil).status)

	r := ph.answerPage(info, ph.do(http.MethodGet, info, nil), "refuse", nil)
	require.Equal(t, http.StatusFound, r.status)
	require.Equal(t, "https://m.example.org/cb?state=ST8", r.location)
	require.False(t, f.em.Consented(oa, "alice"))

	code := codeFrom(t, ph.answerPage(info, ph.do(http.MethodGet, info, nil), "approve", url.Values{"snapshot": {"1"}}))
	a := f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code))
	require.EqualValues(t, 1, a.fields["is_snapshotuser"])
	require.False(t, f.em.Consented(oa, "alice"), "a snapshot-page approval is no consent")
}

func TestSandboxSignInOut(t *testing.T) {
	f := newFixture(t)
	ph := f.phone()
	base := oaURL(f.srv.URL, "snsapi_base", nil)

	pg := ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?user=dave", nil)
	require.Equal(t, http.StatusOK, pg.status)
	require.Contains(t, pg.body, emulator.Banner)
	require.Contains(t, pg.body, `data-user="dave"`)
	require.Equal(t, "dave", ph.person())
	_, made := f.em.Person("dave")
	require.True(t, made)
	code := codeFrom(t, ph.do(http.MethodGet, base, nil))
	require.Equal(t, f.em.OpenID(oa, "dave"), f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code)).fields["openid"])

	// A name that needs escaping in a cookie survives the round trip.
	odd := `Zoë "z"; x,y\`
	next := strings.TrimPrefix(base, f.srv.URL)
	pg = ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?"+url.Values{"user": {odd}, "next": {next}}.Encode(), nil)
	require.Equal(t, http.StatusSeeOther, pg.status)
	require.Equal(t, next, pg.location)
	require.Equal(t, odd, ph.person())
	code = codeFrom(t, ph.do(http.MethodGet, base, nil))
	require.Equal(t, f.em.OpenID(oa, odd), f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code)).fields["openid"])

	// A consent recorded beforehand makes snsapi_userinfo silent.
	f.em.Consent(oa, odd)
	require.True(t, f.em.Consented(oa, odd))
	codeFrom(t, ph.do(http.MethodGet, oaURL(f.srv.URL, "snsapi_userinfo", nil), nil))

	// The consent page's switch link signs out and comes back.
	info := oaURL(f.srv.URL, "snsapi_userinfo", url.Values{"forcePopup": {"true"}})
	pg = ph.do(http.MethodGet, info, nil)
	m := regexp.MustCompile(`id="switch_user" href="([^"]+)"`).FindStringSubmatch(pg.body)
	require.Len(t, m, 2)
	infoURL, _ := url.Parse(info)
	sw, err := infoURL.Parse(html.UnescapeString(m[1]))
	require.NoError(t, err)
	pg = ph.do(http.MethodGet, sw.String(), nil)
	require.Equal(t, http.StatusSeeOther, pg.status)
	require.Empty(t, ph.person())
	back, err := sw.Parse(pg.location)
	require.NoError(t, err)
	require.True(t, isPicker(ph.do(http.MethodGet, back.String(), nil).body), "back on the authorize page, now with the picker")

	ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?user=dave", nil)
	require.Equal(t, "dave", ph.person())
	pg = ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignOut, nil)
	require.Equal(t, http.StatusOK, pg.status)
	require.Empty(t, ph.person())
	require.True(t, isPicker(ph.do(http.MethodGet, base, nil).body))

	// next must stay on the emulator; a bad name is refused.
	for _, bad := range []string{"https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com", "javascript:alert(1)", "connect"} {
		pg = ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?"+url.Values{"user": {"dave"}, "next": {bad}}.Encode(), nil)
		require.Equal(t, http.StatusBadRequest, pg.status, bad)
		require.Empty(t, pg.location)
	}
	require.Empty(t, ph.person(), "a refused sign-in sets nothing")
	for _, bad := range []string{"", "bad\x01name", strings.Repeat("x", 33)} {
		pg = ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?"+url.Values{"user": {bad}}.Encode(), nil)
		require.Equal(t, http.StatusBadRequest, pg.status, bad)
	}
	pg = ph.do(http.MethodPost, f.srv.URL+emulator.PathSandboxSignIn+"?user=dave", url.Values{})
	require.Equal(t, http.StatusMethodNotAllowed, pg.status)

	// A cookie that names no valid person counts as none.
	u, _ := url.Parse(f.srv.URL)
	ph.c.Jar.SetCookies(u, []*http.Cookie{{Name: emulator.PersonCookie, Value: "%zz", Path: "/"}})
	require.True(t, isPicker(ph.do(http.MethodGet, base, nil).body))
}

// Under a mount prefix, next is a path on the emulator: the prefix is added.
func TestSandboxSignInUnderPrefix(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/wechat/", http.StripPrefix("/sandbox/wechat", f.em))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	pg := f.browse(http.MethodGet, srv.URL+"/sandbox/wechat"+emulator.PathSandboxSignIn+"?user=dave&next=%2Fconnect%2Foauth2%2Fauthorize%3Fappid%3Dx", nil)
	require.Equal(t, http.StatusSeeOther, pg.status)
	require.Equal(t, "/sandbox/wechat/connect/oauth2/authorize?appid=x", pg.location)
	pg = f.browse(http.MethodGet, srv.URL+"/sandbox/wechat"+emulator.PathSandboxSignOut+"?next=%2F", nil)
	require.Equal(t, "/sandbox/wechat/", pg.location)
}

// The QR is scanned with another device: qrconnect ignores the cookie.
// sandbox_user still approves at once as the person it names.
func TestSignedInPhoneLeavesQRAndSandboxUserAlone(t *testing.T) {
	f := newFixture(t)
	ph := f.phone()
	ph.do(http.MethodGet, f.srv.URL+emulator.PathSandboxSignIn+"?user=alice", nil)
	require.True(t, isPicker(ph.do(http.MethodGet, qrURL(f.srv.URL, nil), nil).body))
	require.Equal(t, 1, f.em.ConsentPages(web))

	code := codeFrom(t, ph.do(http.MethodGet, oaURL(f.srv.URL, "snsapi_userinfo", url.Values{"sandbox_user": {"bob"}}), nil))
	require.Equal(t, f.em.OpenID(oa, "bob"), f.get(emulator.PathAccessToken, exchangeQuery(oa, oaSecret, code)).fields["openid"])
	require.False(t, f.em.Consented(oa, "bob"))
	require.Equal(t, "alice", ph.person())
	require.Zero(t, f.em.ConsentPages(oa))
	require.Equal(t, 1, f.em.Authorizations(oa))

	// Invalid requests are not counted.
	ph.do(http.MethodGet, oaURL(f.srv.URL, "snsapi_login", nil), nil)
	require.Equal(t, 1, f.em.Authorizations(oa))
}
