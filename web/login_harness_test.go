package web

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"wxcas/binding"
	"wxcas/cas"
	"wxcas/finish"
	"wxcas/i18n"
	"wxcas/journey"
	"wxcas/login"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/templates"
	"wxcas/wechat"
)

// The apps the tests' WeChat knows.
const (
	appWeb = "wxweb0000000000001"
	appOA  = "wxoa00000000000001"
	// appOA2 is an entry Official Account that reveals no unionid; appOA3
	// is served through a third-party platform.
	appOA2 = "wxoa00000000000002"
	appOA3 = "wxoa00000000000003"
	// service is the site every test logs in to.
	service = "https://app.example/home?x=1"
)

// fakeWeChat answers code exchanges as WeChat does: only for its own apps,
// each code once, and only the codes it issued.
type fakeWeChat struct {
	mu    sync.Mutex
	codes map[string]fakeCode // appid + "/" + code
	used  map[string]bool
	calls int
}

type fakeCode struct {
	acct binding.Account
	err  error
}

func newFakeWeChat() *fakeWeChat {
	return &fakeWeChat{codes: map[string]fakeCode{}, used: map[string]bool{}}
}

// issue makes code of appID name acct (or fail with err).
func (f *fakeWeChat) issue(appID, code string, acct binding.Account, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acct.AppID = appID
	f.codes[appID+"/"+code] = fakeCode{acct: acct, err: err}
}

func (f *fakeWeChat) Identify(_ context.Context, appID, code string) (binding.Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if appID != appWeb && appID != appOA && appID != appOA2 && appID != appOA3 {
		return binding.Account{}, wechat.ErrUnknownApp
	}
	key := appID + "/" + code
	c, ok := f.codes[key]
	switch {
	case !ok:
		return binding.Account{}, wechat.ErrCodeInvalid
	case f.used[key]:
		return binding.Account{}, wechat.ErrCodeUsed
	}
	f.used[key] = true
	if c.err != nil {
		return binding.Account{}, c.err
	}
	return c.acct, nil
}

func (f *fakeWeChat) PhoneNumber(context.Context, string, string) (otp.Phone, error) {
	return "", wechat.ErrWrongAppKind // no mini program here
}

// slowReads widens the window between a read of a journey and its update,
// as a database does, so that requests racing on one journey do race.
type slowReads struct{ *journey.MemStore }

func (s slowReads) Get(ctx context.Context, id string) (*journey.Journey, error) {
	j, err := s.MemStore.Get(ctx, id)
	time.Sleep(2 * time.Millisecond)
	return j, err
}

// finished is one call of the recording finisher.
type finished struct {
	JourneyID string
	Person    journey.Person
}

// env is a browser login over the in-memory journey store, a real login
// service on SQLite, a fake WeChat and a finisher that records.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	clock  *storetest.Clock
	codes  *otptest.Env
	db     *store.DB
	wx     *fakeWeChat
	store  *journey.MemStore
	dir    *binding.SQLStore
	login  *Login
	logs   *logx.Buffer
	mu     sync.Mutex
	done   []finished
	ttl    time.Duration
	public string
}

type envOption func(*LoginOptions)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	db := storetest.SQLite(t)
	clock := storetest.NewClock()
	e := &env{t: t, clock: clock, wx: newFakeWeChat(), store: journey.NewMemStore(), ttl: 10 * time.Minute, logs: &logx.Buffer{}}
	e.codes = otptest.NewEnvWithClock(t, otp.NewSQLStore(db), clock, nil)
	e.db = db
	e.dir = binding.NewSQLStore(db)
	e.dir.UseAsDirectory()
	log, err := logx.New(e.logs, "json", "debug")
	require.NoError(t, err)
	svc := login.New(login.DefaultConfig(), e.dir, e.dir, e.codes.Svc, db, clock.Now, log)
	engine, err := journey.New(journey.Config{TTL: e.ttl, PhoneRegion: "CN", UnionIDApp: appOA},
		journey.Deps{Store: slowReads{e.store}, Login: svc, WeChat: e.wx, Now: clock.Now, Log: log})
	require.NoError(t, err)

	var handler http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	e.public = e.srv.URL
	public, _ := url.Parse(e.srv.URL)
	client, err := wechat.New(wechat.Config{
		OpenBaseURL: "https://open.weixin.example", APIBaseURL: "https://api.weixin.example",
		Apps: []wechat.App{
			{AppID: appWeb, Secret: "websecret", Kind: wechat.KindWebsite}, {AppID: appOA, Secret: "oasecret", Kind: wechat.KindOfficialAccount},
			{AppID: appOA2, Secret: "oa2secret", Kind: wechat.KindOfficialAccount},
			{AppID: appOA3, Kind: wechat.KindOfficialAccount, ComponentAppID: "wxcomponent0000001"},
		},
		Platforms: []wechat.Platform{{ComponentAppID: "wxcomponent0000001", Secret: "componentsecret"}},
	})
	require.NoError(t, err)
	pages, err := NewPages(templates.FS, false)
	require.NoError(t, err)
	o := LoginOptions{
		Logger: log, Pages: pages, Engine: engine, Now: clock.Now, PublicURL: public, WeChat: client,
		Finisher:     journey.FinisherFunc(e.finish),
		WebsiteAppID: appWeb, OfficialAccountAppID: appOA, QRMode: "inline", FlowTTL: e.ttl, ResendCooldown: time.Minute,
		SessionAuthKey: []byte("session-auth-key-0123456789abcdef"), SessionCryptKey: []byte("session-crypt-key-0123456789abcd"),
		StateKey: []byte("state-key-0123456789abcdef012345"),
	}
	for _, f := range opts {
		f(&o)
	}
	e.login, err = NewLogin(o)
	require.NoError(t, err)
	s, err := New(Options{Logger: log, DB: db, Pages: pages})
	require.NoError(t, err)
	e.login.Register(s.Echo())
	// /cas/login as the CAS server answers it without an SSO session: it
	// hands the login to the Authenticator.
	s.Echo().GET("/cas/login", func(c echo.Context) error {
		e.login.Authenticate(c.Response(), c.Request(), cas.LoginRequest{
			ServiceURL: c.QueryParam("service"), ServiceID: "app", ServiceName: "The App", Method: http.MethodGet,
		})
		return nil
	})
	handler = s
	return e
}

// finish is the recording finisher: it sends the browser to the service
// the journey was started for, as the CAS finisher does.
func (e *env) finish(w http.ResponseWriter, r *http.Request, j *journey.Journey, p *journey.Person) error {
	req, err := finish.CASRequest(j)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.done = append(e.done, finished{JourneyID: j.ID, Person: *p})
	n := len(e.done)
	e.mu.Unlock()
	http.Redirect(w, r, req.ServiceURL+"&ticket=ST-"+fmt.Sprint(n), http.StatusFound)
	return nil
}

func (e *env) finishedLogins() []finished {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]finished(nil), e.done...)
}

// escaped is s as html/template writes it in a page's text (which, unlike
// template.HTMLEscapeString, escapes "+" too).
func escaped(s string) string { return strings.ReplaceAll(template.HTMLEscapeString(s), "+", "&#43;") }

// binding0 is name as the Official Account sees them: another openid, and
// the unionid only with the userinfo scope.
func binding0(name string, withUnionID bool) binding.Account {
	a := binding.Account{OpenID: "oa-" + name, Nickname: name}
	if withUnionID {
		a.UnionID = "u-" + name
	}
	return a
}

// noFile hides one file of an FS.
type noFile struct {
	fs.FS
	name string
}

func (n noFile) Open(name string) (fs.File, error) {
	if name == n.name {
		return nil, fs.ErrNotExist
	}
	return n.FS.Open(name)
}

// person is a WeChat person of the website app.
func person(name string) binding.Account {
	return binding.Account{OpenID: "o-" + name, UnionID: "u-" + name, Nickname: name}
}

// browser is one browser: a cookie jar, a user agent, a language; it
// follows no redirect by itself.
type browser struct {
	e      *env
	client *http.Client
	ua     string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &browser{e: e, ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", client: &http.Client{
		Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// browserOnClock is a browser whose cookies lapse on the test's clock, as
// a real browser's do on its own: the other browsers keep a cookie for as
// long as the test runs, whatever its Max-Age and the clock say.
func (e *env) browserOnClock() *browser {
	b := e.browser()
	b.client.Jar = &clockJar{CookieJar: b.client.Jar, clock: e.clock, ends: map[string]time.Time{}}
	return b
}

// clockJar drops a cookie once its Max-Age, or Expires (which Echo's CSRF
// cookie has instead, on the real clock), has passed on clock. Cookies are
// told apart by name: the tests' ones are.
type clockJar struct {
	http.CookieJar
	clock *storetest.Clock
	mu    sync.Mutex
	ends  map[string]time.Time
}

func (j *clockJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	for _, c := range cookies {
		switch {
		case c.MaxAge > 0:
			j.ends[c.Name] = j.clock.Now().Add(time.Duration(c.MaxAge) * time.Second)
		case c.MaxAge == 0 && !c.Expires.IsZero():
			j.ends[c.Name] = j.clock.Now().Add(time.Until(c.Expires))
		default:
			delete(j.ends, c.Name) // a session cookie, or deleted
		}
	}
	j.mu.Unlock()
	j.CookieJar.SetCookies(u, cookies)
}

func (j *clockJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.DeleteFunc(j.CookieJar.Cookies(u), func(c *http.Cookie) bool {
		end, ok := j.ends[c.Name]
		return ok && !j.clock.Now().Before(end)
	})
}

type page struct {
	Status   int
	Location string
	Header   http.Header
	Body     string
}

func (b *browser) do(method, target string, form url.Values, hdr map[string]string) page {
	b.e.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.e.public + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(b.e.t, err)
	req.Header.Set("User-Agent", b.ua)
	req.Header.Set("Accept-Language", "en")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	require.NoError(b.e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.e.t, err)
	return page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Header: resp.Header, Body: string(raw)}
}

func (b *browser) get(target string) page { return b.do(http.MethodGet, target, nil, nil) }

// post submits a form of page p (its journey and CSRF token) with fields.
func (b *browser) post(p page, action string, fields ...string) page {
	b.e.t.Helper()
	form := url.Values{"flow": {field(b.e.t, p, "flow")}, "_csrf": {field(b.e.t, p, "_csrf")}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	return b.do(http.MethodPost, action, form, nil)
}

// field is the value of a hidden input of a page.
func field(t *testing.T, p page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(p.Body)
	require.NotNil(t, m, "no %s field in:\n%s", name, p.Body)
	return m[1]
}

// start opens the service's login link: 303 to the journey's page.
func (b *browser) start() string {
	b.e.t.Helper()
	return b.startAt("/cas/login?service=" + url.QueryEscape(service))
}

// startAt starts a login at target (a /cas/login URL) and returns its id.
func (b *browser) startAt(target string) string {
	b.e.t.Helper()
	p := b.get(target)
	require.Equal(b.e.t, http.StatusSeeOther, p.Status, p.Body)
	u, err := url.Parse(p.Location)
	require.NoError(b.e.t, err)
	require.Equal(b.e.t, "/login", u.Path)
	id := u.Query().Get("flow")
	require.NotEmpty(b.e.t, id)
	return id
}

func flowPath(id string) string { return "/login?flow=" + url.QueryEscape(id) }

var wxState = regexp.MustCompile(`"state":"([A-Za-z0-9]+)"`)

// qr shows the journey's QR page and returns the WeChat state in it.
func (b *browser) qr(id string) (page, string) {
	b.e.t.Helper()
	p := b.get(flowPath(id))
	require.Equal(b.e.t, http.StatusOK, p.Status, p.Body)
	m := wxState.FindStringSubmatch(p.Body)
	require.NotNil(b.e.t, m, "no WeChat state on the QR page:\n%s", p.Body)
	return p, m[1]
}

// scan is WeChat sending the browser back after the person scanned.
func (b *browser) scan(state, code string) page {
	return b.get("/wechat/callback?code=" + url.QueryEscape(code) + "&state=" + url.QueryEscape(state))
}

// toBindPage walks a first login up to the bind page.
func (b *browser) toBindPage(name string) (string, page) {
	b.e.t.Helper()
	id := b.start()
	_, state := b.qr(id)
	b.e.wx.issue(appWeb, "code-"+name+"-"+id, person(name), nil)
	p := b.scan(state, "code-"+name+"-"+id)
	require.Equal(b.e.t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(b.e.t, flowPath(id), p.Location)
	p = b.get(p.Location)
	require.Equal(b.e.t, http.StatusOK, p.Status, p.Body)
	requireText(b.e.t, p, "bind_title")
	return id, p
}

// toCodePage walks a first login up to the code page for phone.
func (b *browser) toCodePage(name string, phone otp.Phone) (string, page) {
	b.e.t.Helper()
	id, p := b.toBindPage(name)
	p = b.post(p, "/login/phone", "phone", string(phone))
	require.Equal(b.e.t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(b.e.t, flowPath(id), p.Location)
	p = b.get(p.Location)
	require.Equal(b.e.t, http.StatusOK, p.Status, p.Body)
	requireText(b.e.t, p, "code_title")
	return id, p
}

// bindPerson logs name in for the first time with phone.
func (e *env) bindPerson(name string, phone otp.Phone) {
	e.t.Helper()
	b := e.browser()
	_, p := b.toCodePage(name, phone)
	p = b.post(p, "/login/code", "code", e.codes.Outbox.Last(phone))
	require.Equal(e.t, http.StatusFound, p.Status, p.Body)
}

// text is the catalogue's English text as a page shows it.
func text(key string) string { return escaped(i18n.T(i18n.EN, key)) }

func requireText(t *testing.T, p page, key string) {
	t.Helper()
	require.Contains(t, p.Body, text(key), "the page lacks %q:\n%s", key, p.Body)
}

// requireExpiryPage: the one expiry page, with its restart for restart.
func requireExpiryPage(t *testing.T, p page, status int, messageKey, restart string) {
	t.Helper()
	require.Equal(t, status, p.Status, p.Body)
	requireText(t, p, "journey_expired_title")
	requireText(t, p, messageKey)
	requireText(t, p, "restart_login")
	require.Contains(t, p.Body, `id="restart" href="`+escaped(restart)+`"`)
}

func restartFor(s string) string { return "/cas/login?service=" + url.QueryEscape(s) }

// landedOnService: the finisher sent the browser to the service.
func landedOnService(t *testing.T, p page) {
	t.Helper()
	require.Equal(t, http.StatusFound, p.Status, p.Body)
	require.True(t, strings.HasPrefix(p.Location, service+"&ticket=ST-"), p.Location)
}
