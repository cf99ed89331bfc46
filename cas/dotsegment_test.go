package cas_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

// sandboxApp registers the README's sandbox demo site as a prefix service.
func sandboxApp(c *cas.Config, _ *cas.Deps) {
	c.Services = append(c.Services, cas.Service{ID: "sandbox-app", Match: cas.MatchPrefix,
		URL: "http://127.0.0.1:8080/sandbox/app/", LogoutType: cas.LogoutNone})
}

// TestDotSegmentsCannotEscapeAPrefix is issue 11 item 3: a service URL that
// matches a prefix only before its dot segments are resolved is refused,
// with an error page, never a redirect.
func TestDotSegmentsCannotEscapeAPrefix(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t), sandboxApp)
	attack := "http://127.0.0.1:8080/sandbox/app/%2e%2e/%2e%2e/attacker/steal"
	for _, tc := range []struct {
		name, service, reason string
	}{
		{"encoded dots", attack, "service_unknown"},
		{"upper-case encoded dots", "http://127.0.0.1:8080/sandbox/app/%2E%2E/%2E%2E/attacker/steal", "service_unknown"},
		{"mixed dots", "http://127.0.0.1:8080/sandbox/app/.%2e/%2e./attacker/steal", "service_unknown"},
		{"plain dots", "http://127.0.0.1:8080/sandbox/app/../../attacker/steal", "service_unknown"},
		{"dots with parameters", "http://127.0.0.1:8080/sandbox/app/..;/..;/attacker/steal", "service_invalid"},
		{"backslashes", `http://127.0.0.1:8080/sandbox/app/..\..\attacker/steal`, "service_invalid"},
		{"encoded backslashes", "http://127.0.0.1:8080/sandbox/app/..%5c..%5cattacker/steal", "service_invalid"},
		{"encoded slashes", "http://127.0.0.1:8080/sandbox/app/..%2f..%2fattacker/steal", "service_invalid"},
		{"double-encoded dots", "http://127.0.0.1:8080/sandbox/app/%252e%252e/%252e%252e/attacker/steal", "service_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, sso := range []bool{false, true} {
				b := h.browser()
				if sso {
					h.login(b, "https://app.example.edu/login")
				}
				r := h.get(b, "/cas/login", url.Values{"service": {tc.service}})
				require.Equal(t, http.StatusBadRequest, r.StatusCode, "sso=%v: %s", sso, r.Header.Get("Location"))
				require.Empty(t, r.Header.Get("Location"))
				require.Contains(t, string(r.Body), tc.reason)
			}
		})
	}

	t.Run("REST", func(t *testing.T) {
		tgt, _, err := h.srv.CreateSession(context.Background(), alice())
		require.NoError(t, err)
		r := h.restST(tgt, attack)
		require.Equal(t, http.StatusBadRequest, r.StatusCode, "%s", r.Body)
	})

	t.Run("Logout", func(t *testing.T) {
		r := h.get(h.browser(), "/cas/logout", url.Values{"service": {attack}})
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Empty(t, r.Header.Get("Location"))
	})

	t.Run("DotsThatStayInsideAreNormalised", func(t *testing.T) {
		r := h.get(h.browser(), "/cas/login", url.Values{"service": {"HTTP://127.0.0.1:8080/sandbox/app/a/%2e%2e/b/./c?x=%7e"}})
		require.Equal(t, http.StatusSeeOther, r.StatusCode)
		require.Regexp(t, `^http://127\.0\.0\.1:8080/sandbox/app/b/c\?x=~&ticket=ST-`, r.Header.Get("Location"))
	})
}

// TestNormalisedServiceEverywhere: the ticket is issued for, validated
// against and logged out at the normalised URL.
func TestNormalisedServiceEverywhere(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t), sandboxApp)
	b := h.browser()
	issued := "http://127.0.0.1:8080/sandbox/app/x/../page"
	for _, tc := range []struct {
		name, presented, want string
	}{
		{"as issued", issued, "authenticationSuccess"},
		{"normalised", "http://127.0.0.1:8080/sandbox/app/page", "authenticationSuccess"},
		{"encoded dots", "HTTP://127.0.0.1:8080/sandbox/app/y/%2E%2E/page", "authenticationSuccess"},
		{"escaping", "http://127.0.0.1:8080/sandbox/app/%2e%2e/%2e%2e/attacker/steal", "UNAUTHORIZED_SERVICE"},
		{"another page under the prefix", "http://127.0.0.1:8080/sandbox/app/x/page", "INVALID_SERVICE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ep := range []string{"/cas/serviceValidate", "/cas/p3/serviceValidate", "/cas/proxyValidate"} {
				st := h.login(b, issued)
				body := h.validateXML(ep, url.Values{"service": {tc.presented}, "ticket": {st}})
				if tc.want == "authenticationSuccess" {
					require.Contains(t, body, tc.want, ep)
				} else {
					require.Equal(t, tc.want, failureCode(body), ep)
				}
			}
			st := h.login(b, issued)
			r := h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {tc.presented}, "ticket": {st}})
			require.Equal(t, tc.want == "authenticationSuccess", strings.HasPrefix(string(r.Body), "yes\n"), string(r.Body))
			st = h.login(b, issued)
			a, raw := h.samlValidate(tc.presented, samlRequest(st))
			if tc.want == "authenticationSuccess" {
				require.Equal(t, "samlp:Success", a.Body.Response.Status.Code.Value, raw)
			} else {
				require.Contains(t, a.Body.Response.Status.Message, tc.want, raw)
			}
			// REST tickets are issued for the normalised URL too.
			tgt, _, err := h.srv.CreateSession(context.Background(), alice())
			require.NoError(t, err)
			r = h.restST(tgt, issued)
			require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
			body := h.validateXML("/cas/serviceValidate", url.Values{"service": {tc.presented}, "ticket": {string(r.Body)}})
			if tc.want == "authenticationSuccess" {
				require.Contains(t, body, tc.want)
			} else {
				require.Equal(t, tc.want, failureCode(body))
			}
		})
	}

	t.Run("SingleLogoutToTheNormalisedURL", func(t *testing.T) {
		b := h.browser()
		h.login(b, h.slo.URL+"/svc/a/%2e%2e/b/./c?x=1#frag")
		h.get(b, "/cas/logout", nil)
		h.srv.WaitIdle()
		reqs := h.slo.requests()
		require.Len(t, reqs, 1)
		require.Equal(t, "/svc/b/c", reqs[0].Path)
		require.Equal(t, "x=1", reqs[0].RawQuery)
	})
}
