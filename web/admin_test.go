package web

import (
	"context"
	"html"
	"io"
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
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"wxcas/account"
	"wxcas/audit"
	"wxcas/binding"
	"wxcas/cas"
	"wxcas/i18n"
	"wxcas/logx"
	"wxcas/otp"
	"wxcas/otp/otptest"
	"wxcas/ratelimit"
	"wxcas/store"
	"wxcas/store/storetest"
	"wxcas/templates"
)

// adminEnv is the console on an Echo server with a real SQLite store, the
// real account service and audit log, and a stand-in CAS server that
// knows the tickets and sessions the test hands out.
type adminEnv struct {
	t        *testing.T
	base     string
	db       *store.DB
	bindings *binding.SQLStore
	events   *audit.SQL
	sessions *gateSessions
	ended    *endedSessions
	clock    *storetest.Clock
}

// gateSessions stands in for the CAS server: a ticket names a session
// once; a session lives until ended.
type gateSessions struct {
	mu      sync.Mutex
	tickets map[string]cas.Session
	alive   map[string]cas.Session
}

func (g *gateSessions) RedeemTicket(_ context.Context, _, ticket string) (cas.Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.tickets[ticket]
	if !ok {
		return cas.Session{}, cas.ErrNoSession
	}
	delete(g.tickets, ticket)
	return s, nil
}

func (g *gateSessions) SessionByKey(_ context.Context, key string) (cas.Session, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.alive[key]
	if !ok {
		return cas.Session{}, cas.ErrNoSession
	}
	return s, nil
}

// endedSessions records the account service's EndSessionsOf.
type endedSessions struct {
	mu         sync.Mutex
	principals []string
}

func (e *endedSessions) EndSessionsOf(_ context.Context, principal, _ string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.principals = append(e.principals, principal)
	return 1, nil
}

const (
	adminAnn  = "ann" // listed in admin.principals
	notAdmin  = "bob"
	annUserID = "u-ann"
)

func startAdmin(t *testing.T) *adminEnv {
	t.Helper()
	db := storetest.SQLite(t)
	clock := storetest.NewClock()
	e := &adminEnv{t: t, db: db, bindings: binding.NewSQLStore(db), events: audit.NewSQL(db), clock: clock,
		sessions: &gateSessions{tickets: map[string]cas.Session{}, alive: map[string]cas.Session{}}, ended: &endedSessions{}}
	e.bindings.UseAsDirectory()
	accounts, err := account.New(account.Deps{
		Bindings: e.bindings, Directory: e.bindings, Phones: e.bindings, Sessions: e.ended,
		Codes: otptest.NewEnvWithClock(t, otp.NewSQLStore(db), clock, nil).Svc, Tx: db,
		Replacements: account.SQLReplacements{DB: db}, Probes: ratelimit.Limiter{DB: db, Table: "login_rate_counters"}, Audit: e.events, Now: clock.Now, Log: logx.Discard(),
	})
	require.NoError(t, err)
	pages, err := NewPages(templates.FS, false)
	require.NoError(t, err)
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	e.base = srv.URL
	public, _ := url.Parse(srv.URL)
	gate := &CASGate{Path: "/admin", Cookie: "wxcas_admin", Sessions: e.sessions, Pages: pages, PublicURL: public,
		HashKey: []byte("admin-hash-key-0123456789abcdef01"), BlockKey: []byte("admin-block-key-0123456789abcdef")}
	require.NoError(t, gate.Init())
	console, err := NewAdmin(AdminOptions{Gate: gate, ServiceID: "wxcas.admin", Refusals: ratelimit.Limiter{DB: db, Table: "login_rate_counters"}, Now: clock.Now, Principals: []string{"carol", adminAnn}, Bindings: e.bindings, Users: e.bindings,
		Accounts: accounts, Events: e.events, Audit: e.events, Pages: pages, PhoneRegion: "CN", Zone: time.UTC, Log: logx.Discard()})
	require.NoError(t, err)
	s, err := New(Options{Logger: logx.Discard(), DB: db, Pages: pages})
	require.NoError(t, err)
	console.Register(s.Echo())
	handler = s
	return e
}

// adminBrowser is a cookie jar that does not follow redirects.
type adminBrowser struct {
	e    *adminEnv
	c    *http.Client
	lang string
}

func (e *adminEnv) browser() *adminBrowser {
	jar, _ := cookiejar.New(nil)
	return &adminBrowser{e: e, lang: "zh-CN", c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn signs the browser in to the console as principal (user id
// "u-"+principal), the way CAS sends it back with a ticket.
func (b *adminBrowser) signIn(principal string) *adminBrowser {
	b.e.t.Helper()
	return b.signInSession(principal, "key-"+principal)
}

// signInSession signs the browser in as principal with the SSO session
// key.
func (b *adminBrowser) signInSession(principal, key string) *adminBrowser {
	b.e.t.Helper()
	s := cas.Session{Key: key, Principal: cas.Principal{ID: principal, Attributes: map[string][]string{"userId": {"u-" + principal}}}}
	b.e.sessions.mu.Lock()
	b.e.sessions.tickets["ST-"+principal] = s
	b.e.sessions.alive[s.Key] = s
	b.e.sessions.mu.Unlock()
	// The browser asks to sign in first, as it does when it comes to the
	// console without a session: CAS's ticket is taken only then.
	p := b.get("/admin/")
	require.Equal(b.e.t, http.StatusFound, p.status, p.body)
	login, err := url.Parse(p.location)
	require.NoError(b.e.t, err)
	service, err := url.Parse(login.Query().Get("service"))
	require.NoError(b.e.t, err)
	nonce := service.Query().Get("n")
	require.NotEmpty(b.e.t, nonce, "the sign-in's service URL carries its nonce")
	p = b.get("/admin/?n=" + nonce + "&ticket=ST-" + principal)
	require.Equal(b.e.t, http.StatusSeeOther, p.status, p.body)
	require.Equal(b.e.t, "/admin/", p.location, "the ticket leaves the address bar")
	return b
}

type adminResp struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *adminBrowser) do(method, path string, form url.Values, header map[string]string) adminResp {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.base+path, body)
	require.NoError(b.e.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", b.lang)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	require.NoError(b.e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return adminResp{status: resp.StatusCode, location: resp.Header.Get("Location"), body: html.UnescapeString(string(raw)), header: resp.Header}
}

func (b *adminBrowser) get(path string) adminResp { return b.do(http.MethodGet, path, nil, nil) }

var adminCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// post sends a form of the console with the session's CSRF token (read
// from the console's first page).
func (b *adminBrowser) post(path string, form url.Values) adminResp {
	b.e.t.Helper()
	home := b.get("/admin/")
	m := adminCSRF.FindStringSubmatch(home.body)
	require.NotNil(b.e.t, m, "the console's page carries a CSRF token: %s", home.body)
	form.Set("_csrf", m[1])
	return b.do(http.MethodPost, path, form, map[string]string{"Sec-Fetch-Site": "same-origin"})
}

// bound makes a user with phone, bound to a WeChat person seen in two apps.
func (e *adminEnv) bound(userID, phone, name string) {
	e.t.Helper()
	ctx := context.Background()
	db := e.bindings
	_, err := e.db.ExecContext(ctx, `INSERT INTO users (id, phone, created_at) VALUES (?, ?, ?)`, userID, phone, store.Time(e.clock.Now()))
	require.NoError(e.t, err)
	for _, app := range []string{"wxweb", "wxoa"} {
		_, err := db.Seen(ctx, binding.Account{AppID: app, OpenID: "o-" + app + "-" + name, UnionID: "un-" + name, Nickname: name}, e.clock.Now())
		if err != nil {
			require.ErrorIs(e.t, err, binding.ErrNotFound)
		}
	}
	require.NoError(e.t, db.Bind(ctx, binding.Account{AppID: "wxweb", OpenID: "o-wxweb-" + name, UnionID: "un-" + name}, userID, false, e.clock.Now()))
}

// adminEvents lists the audit log's events of kind.
func (e *adminEnv) eventsOf(kind string) []audit.Event {
	e.t.Helper()
	events, err := e.events.List(context.Background(), audit.Filter{Kind: kind})
	require.NoError(e.t, err)
	return events
}

func TestAdminWithoutSessionGoesThroughCASLogin(t *testing.T) {
	e := startAdmin(t)
	b := e.browser()
	p := b.get("/admin")
	require.Equal(t, http.StatusMovedPermanently, p.status)
	require.Equal(t, "/admin/", p.location)

	for _, path := range []string{"/admin/", "/admin/audit"} {
		p = b.get(path)
		require.Equal(t, http.StatusFound, p.status, path)
		require.True(t, strings.HasPrefix(p.location, "/cas/login?service="+url.QueryEscape(e.base+"/admin/?n=")), "%s: %s", path, p.location)
	}
	p = b.do(http.MethodPost, "/admin/search", url.Values{"by": {"user"}, "q": {"u1"}}, nil)
	require.Equal(t, http.StatusForbidden, p.status, "a post without a session does nothing")
	require.Empty(t, e.eventsOf(audit.KindAdmin))
}

func TestAdminRefusesOtherPrincipals(t *testing.T) {
	e := startAdmin(t)
	e.bound(annUserID, "+8613800138000", "ann")
	for i, tc := range []struct{ lang, title string }{{"zh-CN", "无权访问"}, {"en", "Not allowed"}} {
		b := e.browser()
		b.lang = tc.lang
		b.signInSession(notAdmin, "key-"+tc.lang) // another SSO session each
		require.Len(t, e.eventsOf(audit.KindRefusal), i+1, "the sign-in is refused, and audited")
		// CAS gives the same SSO session a new ticket at every visit,
		// without a login: refused, once.
		for range 5 {
			b.c.Jar, _ = cookiejar.New(nil)
			b.signInSession(notAdmin, "key-"+tc.lang)
		}
		require.Len(t, e.eventsOf(audit.KindRefusal), i+1, "once per SSO session")
		// Every page is refused; none is audited again: one signed in
		// must not be able to flood the audit log.
		for range 30 {
			p := b.get("/admin/")
			require.Equal(t, http.StatusForbidden, p.status)
			require.Contains(t, p.body, "<h1>"+tc.title+"</h1>")
			require.Contains(t, p.body, notAdmin, "the page names the account signed in")
			require.NotContains(t, p.body, `name="q"`, "no search form")
			require.Contains(t, p.body, `<a href="/cas/logout" class="button secondary" id="logout">`, "a way out, to sign in as someone else")
		}

		// Even with the session's own token, a post does nothing.
		p := b.do(http.MethodPost, "/admin/search", url.Values{"by": {"phone"}, "q": {"13800138000"}}, nil)
		require.Equal(t, http.StatusForbidden, p.status)
		require.NotContains(t, p.body, "13800138000")
		require.Len(t, e.eventsOf(audit.KindRefusal), i+1, "once per sign-in")
	}
	refusals := e.eventsOf(audit.KindRefusal)
	require.Len(t, refusals, 2)
	for _, ev := range refusals {
		require.Equal(t, "not_admin", ev.Outcome)
		require.Equal(t, "u-"+notAdmin, ev.UserID)
		require.Contains(t, ev.Detail, "principal "+notAdmin)
		require.Equal(t, "wxcas.admin", ev.Service)
	}
	require.Empty(t, e.eventsOf(audit.KindAdmin), "nothing was searched")
}

func TestAdminPostsNeedTheSessionsToken(t *testing.T) {
	e := startAdmin(t)
	e.bound(annUserID, "+8613800138000", "ann")
	b := e.browser().signIn(adminAnn)
	token := adminCSRF.FindStringSubmatch(b.get("/admin/").body)[1]
	reason := url.Values{"user": {annUserID}, "reason": {"ticket 42"}}
	for _, tc := range []struct {
		name, token string
		header      map[string]string
	}{
		{"no token", "", nil},
		{"another token", "not-" + token, nil},
		{"the token from another site", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"the token from another origin (older browser)", token, map[string]string{"Origin": "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"_csrf": {tc.token}}
			for k, v := range reason {
				form[k] = v
			}
			p := b.do(http.MethodPost, "/admin/unbind", form, tc.header)
			require.Equal(t, http.StatusForbidden, p.status)
			_, err := e.bindings.BindingOf(context.Background(), annUserID)
			require.NoError(t, err, "still bound")
		})
	}
	require.Empty(t, e.eventsOf(audit.KindUnbind))
	require.Empty(t, e.ended.principals)
}

func TestAdminSearch(t *testing.T) {
	e := startAdmin(t)
	e.bound(annUserID, "+8613800138000", "ann")
	b := e.browser().signIn(adminAnn)
	for _, tc := range []struct {
		name, by, q string
		status      int
		shows       []string // in the page
		hides       []string
		outcome     string // of the audit event; "" none
		detail      string
	}{
		{"by phone shows the number searched", "phone", "138 0013 8000", http.StatusOK,
			[]string{annUserID, "+8613800138000", "o-wxweb-ann", "o-wxoa-ann", "un-ann", "u:un-ann", "2026-11-21 08:00:00 UTC"}, nil,
			audit.OK, "search: 1 found by phone +86138****8000"},
		{"by user id masks the phone", "user", annUserID, http.StatusOK,
			[]string{annUserID, "+86138****8000", "o-wxoa-ann"}, []string{"+8613800138000"}, audit.OK, "search: 1 found by user u-ann"},
		{"by openid", "openid", "o-wxoa-ann", http.StatusOK, []string{annUserID, "+86138****8000", "o-wxweb-ann"}, []string{"+8613800138000"},
			audit.OK, "search: 1 found by openid o-wxoa-ann"},
		{"by unionid", "unionid", "un-ann", http.StatusOK, []string{annUserID, "o-wxweb-ann"}, nil, audit.OK, "search: 1 found by unionid un-ann"},
		{"nothing found", "phone", "13900139000", http.StatusOK, []string{`id="nothing-found"`}, nil,
			"not_found", "search: 0 found by phone +86139****9000"},
		{"a phone that is not one", "phone", "12", http.StatusBadRequest, []string{"手机号格式不正确"}, []string{`id="results"`}, "", ""},
		{"an empty query", "openid", " ", http.StatusBadRequest, []string{"请输入要查找的内容"}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.eventsOf(audit.KindAdmin))
			p := b.post("/admin/search", url.Values{"by": {tc.by}, "q": {tc.q}})
			require.Equal(t, tc.status, p.status, p.body)
			for _, s := range tc.shows {
				require.Contains(t, p.body, s)
			}
			for _, s := range tc.hides {
				require.NotContains(t, p.body, s)
			}
			events := e.eventsOf(audit.KindAdmin)
			if tc.outcome == "" {
				require.Len(t, events, before, "a search not run is not audited")
				return
			}
			require.Len(t, events, before+1)
			ev := events[0]
			require.Equal(t, tc.outcome, ev.Outcome)
			require.Equal(t, "admin:"+adminAnn, ev.Actor)
			require.Equal(t, tc.detail, ev.Detail)
			require.NotContains(t, ev.Phone+ev.Detail, "13800138000", "the audit log keeps masked phones")
			if tc.outcome == audit.OK {
				require.Equal(t, annUserID, ev.UserID, "the person looked at")
			}
		})
	}

	t.Run("a long search keeps its count in the audit log", func(t *testing.T) {
		p := b.post("/admin/search", url.Values{"by": {"openid"}, "q": {strings.Repeat("o", 400)}})
		require.Equal(t, http.StatusOK, p.status)
		ev := e.eventsOf(audit.KindAdmin)[0]
		require.True(t, strings.HasPrefix(ev.Detail, "search: 0 found by openid ooo"), ev.Detail)
		require.Equal(t, 256, utf8.RuneCountInString(ev.Detail), "the detail is cut, after the count")
	})

	t.Run("a WeChat person bound to nobody", func(t *testing.T) {
		_, err := e.bindings.Seen(context.Background(), binding.Account{AppID: "wxweb", OpenID: "o-loner"}, e.clock.Now())
		require.ErrorIs(t, err, binding.ErrNotFound)
		p := b.post("/admin/search", url.Values{"by": {"openid"}, "q": {"o-loner"}})
		require.Equal(t, http.StatusOK, p.status)
		require.Contains(t, p.body, "未绑定任何用户")
		require.NotContains(t, p.body, "/admin/unbind/confirm", "nothing to unbind")
	})
}

func TestAdminUnbind(t *testing.T) {
	e := startAdmin(t)
	e.bound(annUserID, "+8613800138000", "ann")
	e.bound("u-dan", "+8613700137000", "dan")
	b := e.browser().signIn(adminAnn)
	ctx := context.Background()

	p := b.post("/admin/search", url.Values{"by": {"user"}, "q": {"u-dan"}})
	require.Contains(t, p.body, `action="/admin/unbind/confirm"`)
	p = b.post("/admin/unbind/confirm", url.Values{"user": {"u-dan"}})
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "解除微信绑定")
	require.Contains(t, p.body, `name="reason"`)
	require.Contains(t, p.body, "+86137****7000")
	_, err := e.bindings.BindingOf(ctx, "u-dan")
	require.NoError(t, err, "the confirmation unbinds nothing")

	for _, reason := range []string{"", "   ", strings.Repeat("长", maxReason+1)} {
		p = b.post("/admin/unbind", url.Values{"user": {"u-dan"}, "reason": {reason}})
		require.Equal(t, http.StatusBadRequest, p.status)
		require.Contains(t, p.body, `id="reason-error"`)
		_, err = e.bindings.BindingOf(ctx, "u-dan")
		require.NoError(t, err, "no reason, no unbind")
	}
	require.Empty(t, e.eventsOf(audit.KindUnbind))
	confirmations := 0
	for _, ev := range e.eventsOf(audit.KindAdmin) {
		if ev.Detail == "unbind confirmation shown" {
			confirmations++
			require.Equal(t, "u-dan", ev.UserID)
		}
	}
	require.Equal(t, 1, confirmations, "showing it again with the reason's error is the same action")

	p = b.post("/admin/unbind", url.Values{"user": {"u-dan"}, "reason": {"ticket #42: lost phone"}})
	require.Equal(t, http.StatusOK, p.status, p.body)
	require.Contains(t, p.body, "已解除用户 u-dan 的微信绑定，结束了 1 个登录会话。")
	require.Contains(t, p.body, "未绑定微信", "the person as they are now")
	_, err = e.bindings.BindingOf(ctx, "u-dan")
	require.ErrorIs(t, err, binding.ErrNotFound)
	_, err = e.bindings.BindingOf(ctx, annUserID)
	require.NoError(t, err, "only that user")
	require.Equal(t, []string{"u-dan"}, e.ended.principals, "the person's sessions ended")

	unbinds := e.eventsOf(audit.KindUnbind)
	require.Len(t, unbinds, 1)
	require.Equal(t, "admin:"+adminAnn, unbinds[0].Actor)
	require.Equal(t, "ticket #42: lost phone", unbinds[0].Detail)
	require.Equal(t, "u-dan", unbinds[0].UserID)

	p = b.post("/admin/unbind", url.Values{"user": {"u-dan"}, "reason": {"again"}})
	require.Equal(t, http.StatusConflict, p.status, "a second unbind (a reload) finds nothing to do")
	require.Contains(t, p.body, "该用户没有绑定微信")
	require.Len(t, e.eventsOf(audit.KindUnbind), 1)

	p = b.post("/admin/unbind/confirm", url.Values{"user": {"u-dan"}})
	require.Equal(t, http.StatusConflict, p.status, "nothing to confirm")
	require.Contains(t, p.body, "该用户没有绑定微信")
	require.NotContains(t, p.body, `name="reason"`)

	// A user the directory does not have is said to be that, as the
	// unbind itself says it.
	for _, path := range []string{"/admin/unbind/confirm", "/admin/unbind"} {
		p = b.post(path, url.Values{"user": {"u-nobody"}, "reason": {"ticket 7"}})
		require.Equal(t, http.StatusNotFound, p.status, path)
		require.Contains(t, p.body, "用户目录中没有这个用户。", path)
		require.NotContains(t, p.body, "没有绑定微信", path)
		require.NotContains(t, p.body, `name="reason"`, path)
	}
}

func TestAdminAuditLog(t *testing.T) {
	e := startAdmin(t)
	b := e.browser().signIn(adminAnn)
	ctx := context.Background()
	start := e.clock.Now()
	// 120 logins of u1 a minute apart, and refusals of u2 in between.
	for i := range 120 {
		require.NoError(t, e.events.Record(ctx, audit.Event{At: start.Add(time.Duration(i) * time.Minute), Kind: audit.KindLogin,
			Outcome: audit.OK, UserID: "u1", Channel: audit.ChannelQRInline, Service: "https://app.example/", Phone: "+8613800138000"}))
		if i%10 == 0 {
			require.NoError(t, e.events.Record(ctx, audit.Event{At: start.Add(time.Duration(i) * time.Minute), Kind: audit.KindRefusal,
				Outcome: audit.WrongCode, UserID: "u2", Channel: audit.ChannelOA, Phone: "+8613900139000"}))
		}
	}

	p := b.get("/admin/audit")
	require.Equal(t, http.StatusOK, p.status)
	require.NotContains(t, p.body, `id="events"`, "the form alone: viewing is an action")
	require.Empty(t, e.eventsOf(audit.KindAdmin))

	row := regexp.MustCompile(`(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC <span class="muted">#(\d+)</span>`)
	older := regexp.MustCompile(`name="before" value="(\d+)"`)
	// pages follows the "older" button to the end and returns the times
	// listed.
	pages := func(filter url.Values) (times []string, n int) {
		t.Helper()
		before := ""
		for {
			f := url.Values{}
			for k, v := range filter {
				f[k] = v
			}
			if before != "" {
				f.Set("before", before)
			}
			p := b.post("/admin/audit", f)
			require.Equal(t, http.StatusOK, p.status, p.body)
			n++
			rows := row.FindAllStringSubmatch(p.body, -1)
			require.LessOrEqual(t, len(rows), auditPage)
			for _, r := range rows {
				times = append(times, r[1])
			}
			m := older.FindStringSubmatch(p.body)
			if m == nil {
				return times, n
			}
			require.Equal(t, rows[len(rows)-1][2], m[1], "the cursor is the last event shown")
			before = m[1]
		}
	}

	for _, tc := range []struct {
		name   string
		filter url.Values
		want   int // events
		pages  int
	}{
		{"kind", url.Values{"kind": {audit.KindLogin}}, 120, 3},
		{"user", url.Values{"user": {"u2"}}, 12, 1},
		{"phone, typed as people do", url.Values{"phone": {"139 0013 9000"}}, 12, 1},
		{"outcome and channel", url.Values{"outcome": {audit.WrongCode}, "channel": {audit.ChannelOA}}, 12, 1},
		{"service", url.Values{"service": {"https://app.example/"}}, 120, 3},
		{"time range, both ends included", url.Values{"kind": {audit.KindLogin}, "since": {"2026-11-21T08:10"}, "until": {"2026-11-21T08:19"}}, 10, 1},
		{"nothing matches", url.Values{"user": {"nobody"}}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			times, n := pages(tc.filter)
			require.Len(t, times, tc.want)
			require.Equal(t, tc.pages, n)
			for i := 1; i < len(times); i++ {
				require.GreaterOrEqual(t, times[i-1], times[i], "newest first")
			}
		})
	}

	t.Run("each view is audited, phones masked", func(t *testing.T) {
		views := e.eventsOf(audit.KindAdmin)
		require.NotEmpty(t, views)
		var details []string
		for _, v := range views {
			require.Equal(t, "admin:"+adminAnn, v.Actor)
			details = append(details, v.Detail)
		}
		all := strings.Join(details, "\n")
		require.Contains(t, all, "audit log: 12 shown, phone=+86139****9000")
		require.Regexp(t, `audit log: \d+ shown, kind=login before=#\d+`, all)
		require.NotContains(t, all, "13900139000")
	})

	// Each mistake names its field, and the field is marked.
	for _, tc := range []struct {
		name  string
		form  url.Values
		says  string
		field string // the id of the input marked invalid; "" none
	}{
		{"a from time that is not one", url.Values{"since": {"yesterday"}}, "开始时间格式不正确。", "since"},
		{"a to time that is not one", url.Values{"until": {"2026-13-01T00:00"}}, "结束时间格式不正确。", "until"},
		{"from after to", url.Values{"since": {"2026-11-21T09:00"}, "until": {"2026-11-21T08:59"}}, "开始时间晚于结束时间，不会有任何记录。", "since"},
		{"a phone that is not one", url.Values{"phone": {"12"}}, "手机号格式不正确", "f-phone"},
		{"an unknown kind", url.Values{"kind": {"nonsense"}}, "没有这种类型", "kind"},
		{"an unknown channel", url.Values{"channel": {"fax"}}, "没有这种渠道", "channel"},
		{"an outcome that is not a code", url.Values{"outcome": {"Wrong Code"}}, "结果应为 ok、wrong_code 这样的代码", "outcome"},
		{"a cursor that is not one", url.Values{"before": {"-1"}}, "“更早的记录”的位置无效", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post("/admin/audit", tc.form)
			require.Equal(t, http.StatusBadRequest, p.status)
			require.Contains(t, p.body, `<p id="audit-error" class="error" role="alert">`+tc.says)
			require.NotContains(t, p.body, "请求无效", "not a generic error")
			require.NotContains(t, p.body, `id="events"`)
			invalid := regexp.MustCompile(`id="([\w-]+)"[^>]* aria-invalid="true"`).FindAllStringSubmatch(p.body, -1)
			if tc.field == "" {
				require.Empty(t, invalid)
				return
			}
			require.Len(t, invalid, 1)
			require.Equal(t, tc.field, invalid[0][1])
		})
	}

	t.Run("from and to the same minute is that minute", func(t *testing.T) {
		times, _ := pages(url.Values{"kind": {audit.KindLogin}, "since": {"2026-11-21T08:10"}, "until": {"2026-11-21T08:10"}})
		require.Equal(t, []string{"2026-11-21 08:10:00"}, times)
	})
}

// The kind and channel filters offer names, in the page's language, with
// the codes the table and the CLI show.
func TestAdminAuditFilterNames(t *testing.T) {
	e := startAdmin(t)
	b := e.browser().signIn(adminAnn)
	for _, tc := range []struct {
		lang  string
		shows []string
	}{
		{"zh-CN", []string{`<option value="unbind">解除绑定 (unbind)</option>`, `<option value="phone_change">更换手机号 (phone_change)</option>`,
			`<option value="oa">微信内登录 (oa)</option>`, `<option value="account_page">我的账号 (account_page)</option>`}},
		{"en", []string{`<option value="unbind">Unbind (unbind)</option>`, `<option value="oa">Inside WeChat (oa)</option>`}},
	} {
		b.lang = tc.lang
		p := b.get("/admin/audit")
		for _, s := range tc.shows {
			require.Contains(t, p.body, s)
		}
	}
	for _, o := range append(slices.Clone(auditKinds), auditChannels...) {
		require.True(t, i18n.Has(o.LabelKey), "%s is catalogued", o.LabelKey)
	}
	p := b.post("/admin/audit", url.Values{"kind": {audit.KindUnbind}})
	require.Contains(t, p.body, `<option value="unbind" selected>`, "the choice stays")
}

// The language links of a page answering a post lead to a console page
// to GET, never to the post's URL or to the site's root.
func TestAdminLanguageLinksAfterAPost(t *testing.T) {
	e := startAdmin(t)
	b := e.browser().signIn(adminAnn)
	p := b.post("/admin/audit", url.Values{})
	require.Contains(t, p.body, `href="/admin/audit?lang=en"`)
	p = b.post("/admin/search", url.Values{"by": {"user"}, "q": {"x"}})
	require.Contains(t, p.body, `href="/admin/?lang=en"`)
	require.Equal(t, http.StatusOK, b.get("/admin/?lang=en").status)
	// An error a post meets (here a refused token) as well.
	p = b.do(http.MethodPost, "/admin/search", url.Values{"_csrf": {"forged"}, "by": {"user"}, "q": {"x"}}, nil)
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, `href="/admin/?lang=en"`)
	require.NotContains(t, p.body, `href="/?lang=`)
}

// bidiControls are the characters that reorder what a reader sees.
var bidiControls = regexp.MustCompile("[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]")

// Stored text reaches the operator printable: a right-to-left override in
// a nickname, a reason or a search cannot reorder what they read.
func TestAdminShowsTextPrintable(t *testing.T) {
	e := startAdmin(t)
	ctx := context.Background()
	e.bound(annUserID, "+8613800138000", "ann")
	_, err := e.bindings.Seen(ctx, binding.Account{AppID: "wxweb", OpenID: "o-wxweb-ann", UnionID: "un-ann", Nickname: "ann\u202Egnp.exe"}, e.clock.Now())
	require.NoError(t, err)
	require.NoError(t, e.events.Record(ctx, audit.Event{Kind: audit.KindUnbind, Outcome: audit.OK, UserID: annUserID, Actor: "admin:\u2067ops\u2069",
		Detail: "ticket \u202E24# tekcit", Service: "wxcas.admin\u200F"}))
	b := e.browser().signIn(adminAnn)

	p := b.post("/admin/search", url.Values{"by": {"user"}, "q": {annUserID}})
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "<bdi>ann\uFFFDgnp.exe</bdi>")
	require.Empty(t, bidiControls.FindAllString(p.body, -1))
	p = b.post("/admin/unbind/confirm", url.Values{"user": {annUserID}})
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "<bdi>ann\uFFFDgnp.exe</bdi>")
	require.Empty(t, bidiControls.FindAllString(p.body, -1))

	p = b.post("/admin/audit", url.Values{"kind": {audit.KindUnbind}})
	require.Equal(t, http.StatusOK, p.status)
	require.Empty(t, bidiControls.FindAllString(p.body, -1))
	require.Contains(t, p.body, "<bdi>ticket \uFFFD24# tekcit</bdi>")
	require.Contains(t, p.body, "admin:\uFFFDops\uFFFD")
}

// On a phone the table folds into cards, each cell labelled: a cell with
// two facts labels each (the site is not "Channel", the detail not
// "Actor").
func TestAdminAuditCardLabels(t *testing.T) {
	e := startAdmin(t)
	require.NoError(t, e.events.Record(context.Background(), audit.Event{Kind: audit.KindAdmin, Outcome: audit.OK,
		Service: "wxcas.admin", Detail: "search: 0 found"}))
	b := e.browser().signIn(adminAnn)
	p := b.post("/admin/audit", url.Values{})
	require.Equal(t, http.StatusOK, p.status)
	row := regexp.MustCompile(`(?s)<tbody>(.*)</tbody>`).FindStringSubmatch(p.body)
	require.NotNil(t, row)
	labels := regexp.MustCompile(`data-label="([^"]*)"[^>]*>([^<]*)`).FindAllStringSubmatch(row[1], -1)
	got := map[string]string{}
	for _, l := range labels {
		got[l[1]] = strings.TrimSpace(l[2])
	}
	require.Equal(t, "wxcas.admin", got["网站（服务 ID）"], "the site has its own label")
	require.NotContains(t, got, "渠道", "no channel, no channel label")
	require.NotContains(t, got, "操作者", "no actor, no actor label")
	require.Contains(t, row[1], `data-label="详情"><bdi>search: 0 found</bdi>`)
}

// Each console path answers its own methods, HEAD as GET; any other method
// is 405 with the methods it allows, not 404.
func TestAdminMethods(t *testing.T) {
	e := startAdmin(t)
	b := e.browser().signIn(adminAnn)
	const get, post, both = "GET, HEAD, OPTIONS", "POST, OPTIONS", "GET, HEAD, POST, OPTIONS"
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string // "": no Allow header
	}{
		{http.MethodHead, "/admin/", http.StatusOK, ""},
		{http.MethodHead, "/admin/audit", http.StatusOK, ""},
		{http.MethodHead, "/admin", http.StatusMovedPermanently, ""},
		{http.MethodPut, "/admin/", http.StatusMethodNotAllowed, get},
		{http.MethodDelete, "/admin/", http.StatusMethodNotAllowed, get},
		{http.MethodPost, "/admin/", http.StatusMethodNotAllowed, get},
		{http.MethodDelete, "/admin", http.StatusMethodNotAllowed, get},
		{http.MethodPut, "/admin/audit", http.StatusMethodNotAllowed, both},
		{http.MethodPatch, "/admin/unbind", http.StatusMethodNotAllowed, post},
		{http.MethodGet, "/admin/search", http.StatusMethodNotAllowed, post},
		{http.MethodHead, "/admin/unbind/confirm", http.StatusMethodNotAllowed, post},
		{http.MethodOptions, "/admin/audit", http.StatusNoContent, both},
		{http.MethodGet, "/admin/nothing", http.StatusNotFound, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			p := b.do(tc.method, tc.path, nil, nil)
			require.Equal(t, tc.status, p.status, p.body)
			require.Equal(t, tc.allow, p.header.Get("Allow"))
			if tc.method == http.MethodHead {
				require.Empty(t, p.body)
			}
		})
	}
	require.Empty(t, e.eventsOf(audit.KindAdmin), "nothing was done")

	t.Run("HEAD without a session is sent to sign in, as GET is, and spends no ticket", func(t *testing.T) {
		anon := e.browser()
		p := anon.do(http.MethodHead, "/admin/", nil, nil)
		require.Equal(t, http.StatusFound, p.status)
		require.True(t, strings.HasPrefix(p.location, "/cas/login?service="+url.QueryEscape(e.base+"/admin/?n=")), p.location)
		e.sessions.mu.Lock()
		e.sessions.tickets["ST-head"] = cas.Session{Key: "key-head", Principal: cas.Principal{ID: adminAnn}}
		e.sessions.mu.Unlock()
		p = anon.do(http.MethodHead, "/admin/?ticket=ST-head", nil, nil)
		require.Equal(t, http.StatusFound, p.status)
		e.sessions.mu.Lock()
		defer e.sessions.mu.Unlock()
		require.Contains(t, e.sessions.tickets, "ST-head", "the ticket is still there for the browser's GET")
	})
}
