package cas_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

func tgc(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "TGC" {
			return c
		}
	}
	return nil
}

func requireNoCache(t *testing.T, r response) {
	t.Helper()
	require.Contains(t, r.Header.Get("Cache-Control"), "no-store")
	require.Equal(t, "no-cache", r.Header.Get("Pragma"))
	require.NotEmpty(t, r.Header.Get("Expires"))
}

func TestLogin(t *testing.T) {
	db := storetest.SQLite(t)

	t.Run("WithoutServiceShowsLoggedInAndSetsCookie", func(t *testing.T) {
		h := newHarness(t, db)
		r := h.get(h.browser(), "/cas/login", nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Contains(t, string(r.Body), "logged in as alice")
		requireNoCache(t, r)
		require.EqualValues(t, 1, h.logins.Load())
		c := tgc(t, r.Response)
		require.NotNil(t, c)
		require.Equal(t, "/cas", c.Path)
		require.True(t, c.HttpOnly)
		require.False(t, c.Secure, "public URL is http")
		require.Equal(t, http.SameSiteLaxMode, c.SameSite)
		require.Zero(t, c.MaxAge, "session cookie")
		require.True(t, c.Expires.IsZero(), "session cookie")
		require.Regexp(t, `^TGT-[A-Z2-7]{52}-[0-9a-f]{64}$`, c.Value, "TGT id + HMAC, charset [A-Za-z0-9-]")
		require.Equal(t, "", h.lastReq.ServiceURL)
	})

	t.Run("ServiceThenSSO", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		r := h.get(b, "/cas/login", url.Values{"service": {"https://app.example.edu/login"}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		requireNoCache(t, r)
		loc := r.Header.Get("Location")
		require.Regexp(t, `^https://app\.example\.edu/login\?ticket=ST-[A-Z2-7]{26}$`, loc)
		require.EqualValues(t, 1, h.logins.Load())
		require.Equal(t, cas.LoginRequest{ServiceURL: "https://app.example.edu/login", ServiceID: "app", ServiceName: "App", Method: "GET"}, h.lastReq)

		// A second service: single sign-on, no login.
		st := h.login(b, "https://portal.example.edu/home")
		require.EqualValues(t, 1, h.logins.Load())
		require.NotEqual(t, strings.TrimPrefix(loc, "https://app.example.edu/login?ticket="), st)
		// Without a service, SSO shows the logged-in page.
		r = h.get(b, "/cas/login", nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Contains(t, string(r.Body), "alice")
		require.EqualValues(t, 1, h.logins.Load())
	})

	t.Run("ServiceURLNormalised", func(t *testing.T) {
		// The ticket goes to the normalised URL (registry.go): query and
		// fragment keep their meaning, scheme and host are lower-cased.
		h := newHarness(t, db)
		b := h.browser()
		for _, tc := range []struct{ service, want string }{
			{"https://portal.example.edu/a?x=%2F&y=a+b", `^https://portal\.example\.edu/a\?x=%2F&y=a\+b&ticket=ST-[A-Z2-7]{26}$`},
			{"https://portal.example.edu/a?", `^https://portal\.example\.edu/a\?ticket=ST-`},
			{"https://portal.example.edu/a#/route?q=1", `^https://portal\.example\.edu/a\?ticket=ST-[A-Z2-7]{26}#/route\?q=1$`},
			{"https://portal.example.edu/a?b=1#frag", `^https://portal\.example\.edu/a\?b=1&ticket=ST-[A-Z2-7]{26}#frag$`},
			{"HTTPS://PORTAL.EXAMPLE.EDU:443/Caps", `^https://portal\.example\.edu/Caps\?ticket=ST-`},
			{"https://portal.example.edu/a/b/%2E%2e/c?x=%7e%2f", `^https://portal\.example\.edu/a/c\?x=~%2F&ticket=ST-`},
		} {
			r := h.get(b, "/cas/login", url.Values{"service": {tc.service}})
			require.Equal(t, http.StatusSeeOther, r.StatusCode, tc.service)
			require.Regexp(t, tc.want, r.Header.Get("Location"))
		}
	})

	t.Run("RefusedServices", func(t *testing.T) {
		h := newHarness(t, db)
		for _, tc := range []struct {
			name, query, reason string
		}{
			{"unknown", "service=" + url.QueryEscape("https://evil.example.com/login"), "service_unknown"},
			{"prefix of another host", "service=" + url.QueryEscape("https://portal.example.edu.evil.com/"), "service_unknown"},
			{"exact with extra path", "service=" + url.QueryEscape("https://app.example.edu/login/x"), "service_unknown"},
			{"empty", "service=", "service_missing"},
			{"relative", "service=%2Flogin", "service_invalid"},
			{"javascript", "service=" + url.QueryEscape("javascript:alert(1)"), "service_invalid"},
			{"user info", "service=" + url.QueryEscape("https://portal.example.edu@evil.com/"), "service_invalid"},
			{"ftp", "service=" + url.QueryEscape("ftp://portal.example.edu/"), "service_invalid"},
			{"newline", "service=" + url.QueryEscape("https://portal.example.edu/\nx"), "service_invalid"},
			{"method", "service=" + url.QueryEscape("https://app.example.edu/login") + "&method=HEADER", "method_unsupported"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, h.browser(), http.MethodGet, h.ts.URL+"/cas/login?"+tc.query, nil)
				require.Equal(t, http.StatusBadRequest, r.StatusCode)
				require.Empty(t, r.Header.Get("Location"), "never a redirect")
				require.Contains(t, string(r.Body), "("+tc.reason+")")
				require.Zero(t, h.logins.Load())
			})
		}
	})

	t.Run("UnknownServiceRefusedEvenWithSSO", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		h.login(b, "https://app.example.edu/login")
		r := h.get(b, "/cas/login", url.Values{"service": {"https://evil.example.com/"}, "gateway": {"true"}})
		require.Equal(t, http.StatusBadRequest, r.StatusCode)
		require.Empty(t, r.Header.Get("Location"))
	})

	t.Run("Renew", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		first := tgc(t, h.get(b, "/cas/login", nil).Response)
		require.EqualValues(t, 1, h.logins.Load())
		st := h.login(b, "https://app.example.edu/login", "renew", "true")
		require.EqualValues(t, 2, h.logins.Load(), "renew demands primary authentication despite SSO")
		require.True(t, h.lastReq.Renew)
		body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {"https://app.example.edu/login"}, "ticket": {st}, "renew": {"true"}})
		require.Contains(t, body, "<cas:isFromNewLogin>true</cas:isFromNewLogin>")
		// Same user: the session is kept, not replaced.
		r := h.get(b, "/cas/login", nil)
		require.Nil(t, tgc(t, r.Response))
		require.EqualValues(t, 2, h.logins.Load())
		require.NotNil(t, first)
		require.Empty(t, h.slo.requests(), "a renew login of the same user logs nobody out")

		// renew=false is not renew.
		h.login(b, "https://app.example.edu/login", "renew", "false")
		require.EqualValues(t, 2, h.logins.Load())
	})

	t.Run("Gateway", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		r := h.get(b, "/cas/login", url.Values{"service": {"https://app.example.edu/login"}, "gateway": {"true"}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		require.Equal(t, "https://app.example.edu/login", r.Header.Get("Location"), "no SSO: back without a ticket")
		require.Zero(t, h.logins.Load())

		// gateway with renew: renew wins, gateway is ignored.
		h.login(b, "https://app.example.edu/login", "gateway", "true", "renew", "true")
		require.EqualValues(t, 1, h.logins.Load())
		require.False(t, h.lastReq.Gateway)

		// With SSO the gateway gets a ticket.
		h.login(b, "https://app.example.edu/login", "gateway", "true")
		require.EqualValues(t, 1, h.logins.Load())

		// gateway without service behaves like a plain login.
		r = h.get(h.browser(), "/cas/login", url.Values{"gateway": {"true"}})
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.EqualValues(t, 2, h.logins.Load())
	})

	t.Run("MethodPOST", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		r := h.get(b, "/cas/login", url.Values{"service": {"https://app.example.edu/login"}, "method": {"POST"}})
		require.Equal(t, http.StatusOK, r.StatusCode)
		body := string(r.Body)
		require.Contains(t, body, `<form method="post" action="https://app.example.edu/login">`)
		require.Regexp(t, `<input type="hidden" name="ticket" value="ST-[A-Z2-7]{26}">`, body)
		require.Equal(t, "POST", h.lastReq.Method)
		// With SSO too, and the method value is case-insensitive.
		r = h.get(b, "/cas/login", url.Values{"service": {"https://app.example.edu/login"}, "method": {"post"}})
		require.Regexp(t, `name="ticket" value="ST-`, string(r.Body))
		require.EqualValues(t, 1, h.logins.Load())
		// POST /cas/login (form) works like GET.
		r = do(t, b, http.MethodPost, h.ts.URL+"/cas/login", url.Values{"service": {"https://app.example.edu/login"}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		require.Contains(t, r.Header.Get("Location"), "ticket=ST-")
	})

	t.Run("BadCookiesMeanNoSSO", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		good := tgc(t, h.get(b, "/cas/login", nil).Response)
		tid, mac, _ := strings.Cut(good.Value[4:], "-")
		for i, value := range []string{
			"TGT-" + tid, // raw TGT id, unsigned
			"TGT-" + tid + "-" + strings.Repeat("0", 64), // wrong signature
			"TGT-" + strings.ToLower(tid) + "-" + mac,    // other id, copied signature
			"garbage",
		} {
			before := h.logins.Load()
			req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/cas/login?service="+url.QueryEscape("https://app.example.edu/login"), nil)
			req.AddCookie(&http.Cookie{Name: "TGC", Value: value})
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, before+1, h.logins.Load(), "cookie %d must not give SSO", i)
		}
		// A genuine cookie whose session has ended (logged out elsewhere).
		b2 := h.browser()
		h.get(b2, "/cas/login", nil)
		u, _ := url.Parse(h.ts.URL + "/cas/")
		ended := b2.Jar.Cookies(u)
		require.Len(t, ended, 1)
		h.get(b2, "/cas/logout", nil)
		req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/cas/login?service="+url.QueryEscape(appURL), nil)
		req.AddCookie(ended[0])
		before := h.logins.Load()
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, before+1, h.logins.Load(), "an ended session gives no SSO")

		// A cookie signed with another key is refused as well.
		other := newHarness(t, db, func(c *cas.Config, d *cas.Deps) { d.CookieKey = []byte("another key, 32 bytes long......") })
		foreign := tgc(t, other.get(other.browser(), "/cas/login", nil).Response)
		req, _ = http.NewRequest(http.MethodGet, h.ts.URL+"/cas/login", nil)
		req.AddCookie(foreign)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		cleared := tgc(t, resp)
		require.NotNil(t, cleared, "a bad cookie is cleared")
		require.Less(t, cleared.MaxAge, 0)
	})

	t.Run("TGTIdleAndHardExpiry", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		h.login(b, "https://app.example.edu/login")
		require.EqualValues(t, 1, h.logins.Load())
		// Use keeps the session alive past the idle timeout...
		for i := 0; i < 4; i++ {
			h.clock.Advance(time.Hour + 50*time.Minute)
			h.login(b, "https://app.example.edu/login")
			require.EqualValues(t, 1, h.logins.Load(), "used within the idle timeout (round %d)", i)
		}
		// ...but not past the hard limit (8 h): 8h20m have passed.
		h.clock.Advance(time.Hour)
		r := h.get(b, "/cas/login", url.Values{"service": {"https://app.example.edu/login"}})
		require.EqualValues(t, 2, h.logins.Load(), "hard expiry")
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		h.srv.WaitIdle()
		require.NotEmpty(t, h.slo.requests(), "the expired session's services are logged out")

		// Idle expiry: 2 h without use.
		h.clock.Advance(2 * time.Hour)
		h.login(b, "https://app.example.edu/login")
		require.EqualValues(t, 3, h.logins.Load(), "idle expiry")
		h.clock.Advance(2*time.Hour - time.Second)
		h.login(b, "https://app.example.edu/login")
		require.EqualValues(t, 3, h.logins.Load(), "one second before idle expiry")
	})

	t.Run("CompleteLoginRechecksService", func(t *testing.T) {
		h := newHarness(t, db)
		r := httptestRecorder()
		req := cas.LoginRequest{ServiceURL: "https://evil.example.com/", ServiceID: "app", Method: "GET"}
		err := h.srv.CompleteLogin(r, httptestRequest(), req, alice())
		require.Error(t, err)
		require.Equal(t, http.StatusBadRequest, r.Code)
		require.Empty(t, r.Header().Get("Location"))
		require.Empty(t, r.Header().Values("Set-Cookie"), "no session for a refused request")

		r = httptestRecorder()
		err = h.srv.CompleteLogin(r, httptestRequest(), cas.LoginRequest{}, cas.Principal{ID: ""})
		require.Error(t, err)
		require.Equal(t, http.StatusInternalServerError, r.Code)
	})

	t.Run("AnotherUserReplacesTheSession", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		h.login(b, "https://app.example.edu/login")
		bob := cas.Principal{ID: "bob"}
		h.setPrincipal(bob)
		st := h.login(b, "https://portal.example.edu/x", "renew", "true")
		h.srv.WaitIdle()
		reqs := h.slo.requests()
		require.Len(t, reqs, 1, "alice's session ended with single logout")
		require.Equal(t, "/slo/app", reqs[0].Path)
		body := h.validateXML("/cas/serviceValidate", url.Values{"service": {"https://portal.example.edu/x"}, "ticket": {st}})
		require.Contains(t, body, "<cas:user>bob</cas:user>")
	})

	t.Run("RenewCompletedElsewhere", func(t *testing.T) {
		for _, sameUser := range []bool{true, false} {
			h := newHarness(t, db)
			h.completeElsewhere.Store(true)
			b := h.browser()
			h.login(b, appURL)
			if !sameUser {
				h.setPrincipal(cas.Principal{ID: "bob"})
			}
			r := h.get(b, "/cas/login", url.Values{"service": {"https://portal.example.edu/"}, "renew": {"true"}})
			require.Equal(t, http.StatusSeeOther, r.StatusCode)
			require.NotEmpty(t, h.lastReq.SessionKey, "the flow is told which session the browser had")
			h.srv.WaitIdle()
			if sameUser {
				require.Nil(t, tgc(t, r.Response), "the browser keeps its cookie")
				require.Empty(t, h.slo.requests(), "same user: the session is kept")
				h.login(b, appURL)
				require.EqualValues(t, 2, h.logins.Load(), "SSO still works")
			} else {
				require.NotNil(t, tgc(t, r.Response), "a new session for bob")
				require.Len(t, h.slo.requests(), 1, "alice's session ended")
			}
		}
	})

	t.Run("NoAuthenticator", func(t *testing.T) {
		h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) { d.Authenticator = nil })
		r := h.get(h.browser(), "/cas/login", url.Values{"service": {"https://app.example.edu/login"}})
		require.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	})

	t.Run("LoginRequestJSON", func(t *testing.T) {
		raw, err := json.Marshal(cas.LoginRequest{ServiceURL: "https://a/", ServiceID: "a", Renew: true, Method: "POST"})
		require.NoError(t, err)
		require.JSONEq(t, `{"service_url":"https://a/","service_id":"a","renew":true,"method":"POST"}`, string(raw))
	})
}

func TestCookieSecureWithHTTPS(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
		d.PublicURL, _ = url.Parse("https://login.example.edu/sso/")
	})
	r := httptestRecorder()
	require.NoError(t, h.srv.CompleteLogin(r, httptestRequest(), cas.LoginRequest{}, alice()))
	cookies := (&http.Response{Header: r.Header()}).Cookies()
	require.Len(t, cookies, 1)
	require.True(t, cookies[0].Secure)
	require.Equal(t, "/sso/cas", cookies[0].Path)
}

func TestLogout(t *testing.T) {
	db := storetest.SQLite(t)

	t.Run("LinksBackOnlyToRegisteredServices", func(t *testing.T) {
		h := newHarness(t, db)
		for _, tc := range []struct {
			query, back string
		}{
			{"service=" + url.QueryEscape("https://app.example.edu/login"), `href="https://app.example.edu/login"`},
			{"service=" + url.QueryEscape("https://evil.example.com/"), ""},
			{"service=" + url.QueryEscape("javascript:alert(1)"), ""},
			{"", ""},
		} {
			b := h.browser()
			h.login(b, "https://app.example.edu/login")
			r := do(t, b, http.MethodGet, h.ts.URL+"/cas/logout?"+tc.query, nil)
			require.Equal(t, http.StatusOK, r.StatusCode, "the logged-out page, not a redirect: %s", tc.query)
			require.Empty(t, r.Header.Get("Location"))
			require.Contains(t, string(r.Body), "logged out")
			if tc.back != "" {
				require.Contains(t, string(r.Body), tc.back, "a link back to the service")
			} else {
				require.NotContains(t, string(r.Body), `id="back"`, tc.query)
			}
			require.Less(t, tgc(t, r.Response).MaxAge, 0, "cookie cleared")
		}
	})

	t.Run("RedirectsOnlyToRegisteredServices", func(t *testing.T) {
		h := newHarness(t, db, func(c *cas.Config, _ *cas.Deps) { c.LogoutRedirect = true })
		for _, tc := range []struct {
			query    string
			location string
		}{
			{"service=" + url.QueryEscape("https://app.example.edu/login"), "https://app.example.edu/login"},
			{"service=" + url.QueryEscape("https://portal.example.edu/bye?x=%2F"), "https://portal.example.edu/bye?x=%2F"},
			{"service=" + url.QueryEscape("https://evil.example.com/"), ""},
			{"service=" + url.QueryEscape("javascript:alert(1)"), ""},
			{"url=" + url.QueryEscape("https://app.example.edu/login"), ""}, // CAS 2.0 url is ignored
			{"", ""},
		} {
			b := h.browser()
			h.login(b, "https://app.example.edu/login")
			r := do(t, b, http.MethodGet, h.ts.URL+"/cas/logout?"+tc.query, nil)
			requireNoCache(t, r)
			if tc.location != "" {
				require.Equal(t, http.StatusSeeOther, r.StatusCode, tc.query)
				require.Equal(t, tc.location, r.Header.Get("Location"))
			} else {
				require.Equal(t, http.StatusOK, r.StatusCode, tc.query)
				require.Empty(t, r.Header.Get("Location"))
				require.Contains(t, string(r.Body), "logged out")
			}
			c := tgc(t, r.Response)
			require.NotNil(t, c, "cookie cleared")
			require.Less(t, c.MaxAge, 0)
			require.Equal(t, "/cas", c.Path)
			// The session is gone: the next login asks for credentials.
			before := h.logins.Load()
			h.login(b, "https://app.example.edu/login")
			require.Equal(t, before+1, h.logins.Load())
		}
	})

	t.Run("SingleLogout", func(t *testing.T) {
		h := newHarness(t, db)
		b := h.browser()
		st1 := h.login(b, "https://app.example.edu/login")
		st2 := h.login(b, "https://portal.example.edu/x")
		h.login(b, "https://www.intranet.example.edu/")   // logout_type none
		st4 := h.login(b, h.slo.URL+"/svc/page?x=1#frag") // no logout_url: the service URL
		// Validated or not, every ST of the session is logged out.
		h.validateXML("/cas/serviceValidate", url.Values{"service": {"https://app.example.edu/login"}, "ticket": {st1}})

		r := h.get(b, "/cas/logout", nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		h.srv.WaitIdle()
		reqs := h.slo.requests()
		require.Len(t, reqs, 3)
		byIndex := map[string]recorded{}
		for _, rq := range reqs {
			require.Equal(t, http.MethodPost, rq.Method)
			require.Equal(t, "application/x-www-form-urlencoded", rq.ContentType, "exactly, without charset")
			require.True(t, strings.HasPrefix(rq.Body, "logoutRequest="))
			require.Len(t, rq.Form, 1)
			xmlText := rq.Form.Get("logoutRequest")
			m := logoutRequestPattern.FindStringSubmatch(xmlText)
			require.NotNil(t, m, "LogoutRequest format: %s", xmlText)
			require.Equal(t, h.clock.Now().UTC().Format("2006-01-02T15:04:05Z"), m[1])
			require.Equal(t, "alice", m[2])
			byIndex[m[3]] = rq
		}
		require.Equal(t, "/slo/app", byIndex[st1].Path)
		require.Equal(t, "/slo/portal", byIndex[st2].Path)
		require.Equal(t, "/svc/page", byIndex[st4].Path)
		require.Equal(t, "x=1", byIndex[st4].RawQuery, "service URL without fragment")

		// Tickets of the ended session are dead.
		body := h.validateXML("/cas/serviceValidate", url.Values{"service": {"https://portal.example.edu/x"}, "ticket": {st2}})
		require.Equal(t, "INVALID_TICKET", failureCode(body))
		// A second logout sends nothing more.
		h.get(b, "/cas/logout", nil)
		h.srv.WaitIdle()
		require.Len(t, h.slo.requests(), 3)
	})

	t.Run("AsynchronousBoundedAndTimeLimited", func(t *testing.T) {
		ct := &countingTransport{}
		h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
			c.SLOConcurrency = 2
			c.SLOTimeout = 500 * time.Millisecond
			ct.base = d.HTTPClient.Transport
			d.HTTPClient = &http.Client{Transport: ct}
		})
		h.slo.delay.Store(int64(time.Hour)) // clients that never answer
		b := h.browser()
		for i := 0; i < 5; i++ {
			h.login(b, "https://portal.example.edu/p"+string(rune('a'+i)))
		}
		start := time.Now()
		r := h.get(b, "/cas/logout", nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Less(t, time.Since(start), time.Second, "logout does not wait for the services (in series they take 1.5 s)")
		h.srv.WaitIdle()
		elapsed := time.Since(start)
		require.Len(t, h.slo.requests(), 5)
		require.EqualValues(t, 2, ct.maxSeen.Load(), "at most slo_concurrency posts in flight")
		require.GreaterOrEqual(t, elapsed, 3*500*time.Millisecond-50*time.Millisecond, "5 posts, 2 at a time, 500ms each")
		require.Less(t, elapsed, 5*time.Second)
	})
}

var logoutRequestPattern = mustRegexp(`^<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2\.0:protocol" ID="LR-[A-Z2-7]{26}" Version="2\.0" IssueInstant="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"><saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2\.0:assertion">([^<]*)</saml:NameID><samlp:SessionIndex>(ST-[A-Z2-7]{26})</samlp:SessionIndex></samlp:LogoutRequest>$`)

// TestFirstServiceRecordedWithSession: the login that starts a session
// records its service for single logout in the session's own row (the
// TGT's INSERT), every later ST of the session in cas_tgt_services; a
// session started without a service to log out (an API client's, a login
// without a service or for one with logout_type none) records its later
// STs alone. Ending the session sends a LogoutRequest for each, the first
// service's included.
func TestFirstServiceRecordedWithSession(t *testing.T) {
	const (
		portalURL   = "https://portal.example.edu/x"
		intranetURL = "https://www.intranet.example.edu/" // logout_type none
	)
	browserLogout := func(t *testing.T, h *harness, b *http.Client) func() {
		return func() { require.Equal(t, http.StatusOK, h.get(b, "/cas/logout", nil).StatusCode) }
	}
	tests := []struct {
		name string
		// run logs in and returns the ST recorded with the session ("" for
		// none), those recorded in cas_tgt_services in order, and how the
		// session is ended.
		run func(t *testing.T, h *harness) (first string, later []string, end func())
	}{
		{"new login", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			return h.login(b, appURL), nil, browserLogout(t, h, b)
		}},
		{"new login, service not logged out", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			h.login(b, intranetURL)
			return "", nil, browserLogout(t, h, b)
		}},
		{"new login, then SSO", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			first := h.login(b, appURL)
			var later []string
			for _, service := range []string{portalURL, intranetURL, h.slo.URL + "/svc/page"} {
				h.clock.Advance(time.Second)
				if st := h.login(b, service); service != intranetURL {
					later = append(later, st)
				}
			}
			return first, later, browserLogout(t, h, b)
		}},
		{"renew login of the same user", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			first := h.login(b, appURL)
			h.clock.Advance(time.Second)
			return first, []string{h.login(b, portalURL, "renew", "true")}, browserLogout(t, h, b)
		}},
		{"another user on the browser", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			h.login(b, appURL)
			h.setPrincipal(cas.Principal{ID: "bob"})
			first := h.login(b, portalURL, "renew", "true") // alice's session ends
			h.srv.WaitIdle()
			require.Len(t, h.slo.requests(), 1, "alice's session logged out")
			return first, nil, browserLogout(t, h, b)
		}},
		{"login without a service, then SSO", func(t *testing.T, h *harness) (string, []string, func()) {
			b := h.browser()
			require.Equal(t, http.StatusOK, h.get(b, "/cas/login", nil).StatusCode)
			return "", []string{h.login(b, appURL)}, browserLogout(t, h, b)
		}},
		{"API client (REST)", func(t *testing.T, h *harness) (string, []string, func()) {
			tgt, _, err := h.srv.CreateSession(context.Background(), alice())
			require.NoError(t, err)
			var later []string
			for _, service := range []string{appURL, portalURL} {
				h.clock.Advance(time.Second)
				r := h.restST(tgt, service)
				require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
				later = append(later, string(r.Body))
			}
			return "", later, func() {
				require.Equal(t, http.StatusOK, do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgt, nil).StatusCode)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.SQLite(t)
			h := newHarness(t, db)
			first, later, end := tc.run(t, h)

			var recorded []sql.NullString
			require.NoError(t, db.Select(&recorded, `SELECT first_st_id FROM cas_tgt`))
			require.Equal(t, []sql.NullString{{String: first, Valid: first != ""}}, recorded, "the session's row")
			var services []string
			require.NoError(t, db.Select(&services, `SELECT st_id FROM cas_tgt_services ORDER BY created_at, st_id`))
			require.Equal(t, later, orNil(services), "cas_tgt_services")

			before := len(h.slo.requests())
			end()
			h.srv.WaitIdle()
			var sent []string
			for _, rq := range h.slo.requests()[before:] {
				m := logoutRequestPattern.FindStringSubmatch(rq.Form.Get("logoutRequest"))
				require.NotNil(t, m, rq.Body)
				sent = append(sent, m[3])
			}
			want := later
			if first != "" {
				want = append([]string{first}, later...)
			}
			// Sent concurrently: their order is not kept.
			require.ElementsMatch(t, want, sent, "single logout")
		})
	}
}

// orNil is s, or nil when it is empty, to compare a result with nil.
func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
