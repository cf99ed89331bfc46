package cas_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

func TestDefaultConfig(t *testing.T) {
	c := cas.DefaultConfig()
	require.Empty(t, c.Validate())
	require.Equal(t, 10*time.Second, c.ServiceTicketTTL)
	require.Equal(t, 10*time.Second, c.ProxyTicketTTL)
	require.Equal(t, 8*time.Hour, c.TGTMaxLifetime)
	require.Equal(t, 2*time.Hour, c.TGTIdleTimeout)
	require.Equal(t, "TGC", c.CookieName)
	c.Services = testServices("http://127.0.0.1:1", "https://127.0.0.1:2")
	require.Empty(t, c.Validate())
}

func TestConfigValidate(t *testing.T) {
	ok := cas.Service{ID: "a", Match: "exact", URL: "https://a.example.edu/"}
	for _, tc := range []struct {
		name   string
		mutate func(c *cas.Config)
		want   []string
	}{
		{"ticket ttl", func(c *cas.Config) { c.ServiceTicketTTL = 0; c.ProxyTicketTTL = time.Hour },
			[]string{"cas.service_ticket_ttl: 0s must be between 1s and 5m (the protocol recommends at most 5 minutes)", "cas.proxy_ticket_ttl: 1h0m0s must be between 1s and 5m"}},
		{"tgt", func(c *cas.Config) { c.TGTMaxLifetime = time.Hour; c.TGTIdleTimeout = 2 * time.Hour },
			[]string{"cas.tgt_idle_timeout: 2h0m0s exceeds cas.tgt_max_lifetime 1h0m0s"}},
		{"tgt zero", func(c *cas.Config) { c.TGTMaxLifetime = 0; c.TGTIdleTimeout = 0 },
			[]string{"cas.tgt_max_lifetime: must be positive", "cas.tgt_idle_timeout: must be positive"}},
		{"cookie", func(c *cas.Config) { c.CookieName = "T G C" }, []string{`cas.cookie_name: "T G C" must be 1-64 characters of A-Z a-z 0-9 _ -`}},
		{"slo", func(c *cas.Config) { c.SLOTimeout = 0; c.SLOConcurrency = 0 },
			[]string{"cas.slo_timeout: 0s must be between 0 and 1m", "cas.slo_concurrency: 0 must be between 1 and 256"}},
		{"misc", func(c *cas.Config) { c.ProxyCallbackTimeout = 0; c.CleanupInterval = 0 },
			[]string{"cas.proxy_callback_timeout: 0s must be between 0 and 1m", "cas.cleanup_interval: must be positive"}},
		{"service ids", func(c *cas.Config) {
			c.Services = []cas.Service{ok, ok, {ID: "", Match: "exact", URL: "https://b/"}, {ID: "a b", Match: "exact", URL: "https://c/"}}
		}, []string{
			`cas.services[1].id: "a" duplicates cas.services[0].id`,
			"cas.services[2].id: required",
			`cas.services[3].id: "a b" must be 1-64 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)`,
		}},
		{"service urls", func(c *cas.Config) {
			c.Services = []cas.Service{
				{ID: "m", URL: "https://a/"},
				{ID: "k", Match: "glob", URL: "https://a/"},
				{ID: "r", Match: "regex", URL: "https://(a"},
				{ID: "e", Match: "exact", URL: "/relative"},
				{ID: "p", Match: "prefix", URL: "https://a.example.edu"},
				{ID: "u", Match: "prefix", URL: "https://user@a.example.edu/"},
				{ID: "f", Match: "exact", URL: "https://a.example.edu/#x"},
				{ID: "n", Match: "exact"},
			}
		}, []string{
			"cas.services[0].match: required (exact, prefix or regex)",
			`cas.services[1].match: "glob" must be exact, prefix or regex`,
			"cas.services[2].url: invalid regex: error parsing regexp: missing closing ): `(?i)^(?:https://(a)$`",
			`cas.services[3].url: "/relative" must be an absolute http(s) URL`,
			`cas.services[4].url: prefix "https://a.example.edu" must include the path (at least the "/" after the host), or it also matches other hosts`,
			`cas.services[5].url: "https://user@a.example.edu/" must not contain user information`,
			`cas.services[6].url: "https://a.example.edu/#x" must not have a fragment`,
			"cas.services[7].url: required",
		}},
		{"attributes", func(c *cas.Config) {
			s := ok
			s.Attributes = []string{"mail", "1x", "isFromNewLogin", "mail", "a b"}
			c.Services = []cas.Service{s}
		}, []string{
			`cas.services[0].attributes[1]: "1x" is not a valid attribute name (letters, digits, _ . -, starting with a letter or _)`,
			`cas.services[0].attributes[2]: "isFromNewLogin" is a protocol attribute, always sent on /p3/*`,
			`cas.services[0].attributes[3]: "mail" is listed twice`,
			`cas.services[0].attributes[4]: "a b" is not a valid attribute name (letters, digits, _ . -, starting with a letter or _)`,
		}},
		{"logout", func(c *cas.Config) {
			a, b, d := ok, ok, ok
			a.ID, a.LogoutType = "a", "front_channel"
			b.ID, b.LogoutType, b.LogoutURL = "b", "none", "https://b/slo"
			d.ID, d.LogoutURL = "d", "mailto:x"
			c.Services = []cas.Service{a, b, d}
		}, []string{
			`cas.services[0].logout_type: "front_channel" must be back_channel or none (front-channel logout is not supported)`,
			"cas.services[1].logout_url: set, but logout_type is none",
			`cas.services[2].logout_url: "mailto:x" must be an absolute http(s) URL`,
		}},
		{"proxy", func(c *cas.Config) {
			a, b := ok, ok
			a.ID, a.ProxyCallbackPattern = "a", "https://p/.*"
			b.ID, b.AllowProxy, b.ProxyCallbackPattern = "b", true, "("
			c.Services = []cas.Service{a, b}
		}, []string{
			"cas.services[0].proxy_callback_pattern: set, but allow_proxy is false",
			"cas.services[1].proxy_callback_pattern: invalid regex: error parsing regexp: missing closing ): `(?i)^(?:()$`",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cas.DefaultConfig()
			tc.mutate(&c)
			require.Equal(t, tc.want, c.Validate())
		})
	}
}

func TestNewServerChecks(t *testing.T) {
	db := storetest.SQLite(t)
	pub, _ := url.Parse("https://login.example.edu")
	good := cas.Deps{DB: db, CookieKey: make([]byte, 32), PublicURL: pub}
	_, err := cas.NewServer(cas.DefaultConfig(), good)
	require.NoError(t, err)

	bad := cas.DefaultConfig()
	bad.CookieName = ""
	_, err = cas.NewServer(bad, good)
	require.ErrorContains(t, err, "cas.cookie_name")

	d := good
	d.CookieKey = []byte("short")
	_, err = cas.NewServer(cas.DefaultConfig(), d)
	require.ErrorContains(t, err, "CookieKey")
	d = good
	d.PublicURL = nil
	_, err = cas.NewServer(cas.DefaultConfig(), d)
	require.ErrorContains(t, err, "PublicURL")
	d = good
	d.DB = nil
	_, err = cas.NewServer(cas.DefaultConfig(), d)
	require.ErrorContains(t, err, "DB")
}

func TestRegistryMatching(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	for _, tc := range []struct {
		service string
		ok      bool
	}{
		{"https://app.example.edu/login", true},
		{"HTTPS://App.Example.EDU/login", true},                    // scheme and host are case-insensitive
		{"https://app.example.edu/Login", false},                   // the path is not
		{"https://app.example.edu/login#x", true},                  // fragment ignored
		{"https://app.example.edu/%6Cogin", true},                  // decoded
		{"https://app.example.edu/login?x=1", false},               // exact
		{"https://app.example.edu/login/", false},                  // exact
		{"http://app.example.edu/login", false},                    // scheme
		{"https://portal.example.edu/", true},                      // prefix
		{"https://portal.example.edu/a/b?c=d", true},               // prefix
		{"https://portal.example.edu.evil.com/", false},            // prefix ends with /
		{"https://portal.example.edu", true},                       // an empty path is "/" (RFC 3986 §6.2.3)
		{"https://portal.example.edu:443/x", true},                 // default port
		{"https://portal.example.edu/a/%2e%2e/b", true},            // dot segments stay under the prefix
		{"https://portal.example.edu/%2e%2e/x", true},              // ".." above the root stays at the root
		{"https://portal.example.edu:8443/", false},                // another port
		{"https://intranet.example.edu/x", true},                   // regex
		{"https://www.intranet.example.edu:8443/x", true},          // regex
		{"https://WWW.INTRANET.EXAMPLE.EDU/x", true},               // regex, case-insensitive
		{"https://evil.com/https://intranet.example.edu/x", false}, // regex anchored
		{"https://intranet.example.edu.evil.com/x", false},
		{"https://backend.example.edu/api", true},
	} {
		r := h.get(h.browser(), "/cas/login", url.Values{"service": {tc.service}, "gateway": {"true"}})
		if tc.ok {
			require.Equal(t, http.StatusSeeOther, r.StatusCode, tc.service)
		} else {
			require.Equal(t, http.StatusBadRequest, r.StatusCode, tc.service)
		}
	}
}

func TestJanitor(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	b := h.browser()
	h.login(b, appURL)
	st := h.login(b, "https://portal.example.edu/x")

	require.NoError(t, h.srv.Cleanup(context.Background()))
	h.srv.WaitIdle()
	require.Empty(t, h.slo.requests(), "nothing expired yet")

	// Idle expiry: the janitor ends the session and logs its services out.
	h.clock.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.srv.RunJanitor(ctx, 10*time.Millisecond); close(done) }()
	waitFor(t, func() bool { return len(h.slo.requests()) == 2 }, "single logout of the expired session")
	cancel()
	<-done
	h.srv.WaitIdle()
	require.Len(t, h.slo.requests(), 2)
	require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/serviceValidate", url.Values{"service": {"https://portal.example.edu/x"}, "ticket": {st}})))
	var n int
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM cas_tgt`))
	require.Zero(t, n)
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM cas_tgt_services`))
	require.Zero(t, n)

	// Expired tickets of a live session are deleted too.
	b2 := h.browser()
	h.login(b2, appURL)
	h.clock.Advance(11 * time.Second)
	require.NoError(t, h.srv.Cleanup(context.Background()))
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM cas_tickets`))
	require.Zero(t, n)
	require.NoError(t, db.Get(&n, `SELECT COUNT(*) FROM cas_tgt`))
	require.Equal(t, 1, n)
}
