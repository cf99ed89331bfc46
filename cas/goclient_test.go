package cas_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gocas "gopkg.in/cas.v2"

	"wxcas/cas"
	"wxcas/store"
	"wxcas/store/storetest"
)

// TestGoClient protects an application with gopkg.in/cas.v2 (v2.2.3) pointed
// at wxcas: login, ticket, validation with attributes, SSO, then single
// logout ends the application's session.
func TestGoClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		apps := []*httptest.Server{httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)}
		appURLs := make([]string, len(apps))
		for i, a := range apps {
			t.Cleanup(a.Close)
			appURLs[i] = "http://" + a.Listener.Addr().String()
		}
		h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
			for i, u := range appURLs {
				c.Services = append(c.Services, cas.Service{
					ID: fmt.Sprintf("goapp%d", i), Match: cas.MatchPrefix, URL: u + "/",
					Attributes: []string{"displayName", "group"}, AttributesOnServiceValidate: true,
				})
			}
		})
		casURL, _ := url.Parse(h.ts.URL + "/cas/")
		for _, a := range apps {
			a.Config.Handler = goApp(casURL)
			a.Start()
		}
		app, app2 := apps[0], apps[1]

		// A browser that follows every redirect: app → wxcas login → app.
		b := h.browser()
		b.CheckRedirect = nil
		r := do(t, b, http.MethodGet, app.URL+"/protected?page=1", nil)
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
		body := string(r.Body)
		require.Contains(t, body, "user=alice\n")
		require.Contains(t, body, "authenticationDate=2026-11-21T07:59:30Z\n")
		require.Contains(t, body, "isNewLogin=true\n")
		require.Contains(t, body, "displayName=Alice <Liddell> & Co\n")
		require.Contains(t, body, "group=staff|library\n")
		require.NotContains(t, body, "phone")
		require.EqualValues(t, 1, h.logins.Load())

		// The application's own session carries on without wxcas.
		r = do(t, b, http.MethodGet, app.URL+"/protected?page=2", nil)
		require.Contains(t, string(r.Body), "user=alice")

		// A second application: SSO, no new login.
		r = do(t, b, http.MethodGet, app2.URL+"/other", nil)
		require.Contains(t, string(r.Body), "user=alice")
		require.Contains(t, string(r.Body), "isNewLogin=false")
		require.EqualValues(t, 1, h.logins.Load())

		// Logout at wxcas: single logout reaches the application, whose
		// session ends; the next visit goes back to the CAS login.
		do(t, b, http.MethodGet, h.ts.URL+"/cas/logout", nil)
		h.srv.WaitIdle()
		b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r = do(t, b, http.MethodGet, app.URL+"/protected?page=3", nil)
		require.Equal(t, http.StatusFound, r.StatusCode, "%s", r.Body)
		require.True(t, strings.HasPrefix(r.Header.Get("Location"), h.ts.URL+"/cas/login?service="), r.Header.Get("Location"))
		r = do(t, b, http.MethodGet, app2.URL+"/other", nil)
		require.Equal(t, http.StatusFound, r.StatusCode, "the second application's session ended too")

		// Logging in again asks for credentials.
		b.CheckRedirect = nil
		r = do(t, b, http.MethodGet, app.URL+"/protected", nil)
		require.Contains(t, string(r.Body), "user=alice")
		require.EqualValues(t, 2, h.logins.Load())
	})
}

// goApp is an application protected by gopkg.in/cas.v2 that prints what the
// client learnt from the validation.
func goApp(casURL *url.URL) http.Handler {
	client := gocas.NewClient(&gocas.Options{URL: casURL, Client: &http.Client{Timeout: 5 * time.Second}})
	return client.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !gocas.IsAuthenticated(r) {
			gocas.RedirectToLogin(w, r)
			return
		}
		attrs := gocas.Attributes(r)
		var names []string
		for k := range attrs {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "user=%s\n", gocas.Username(r))
		fmt.Fprintf(w, "authenticationDate=%s\n", gocas.AuthenticationDate(r).UTC().Format(time.RFC3339))
		fmt.Fprintf(w, "isNewLogin=%v\n", gocas.IsNewLogin(r))
		for _, k := range names {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(attrs[k], "|"))
		}
	}))
}
