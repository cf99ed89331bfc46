package cas_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

// directoryURL is a service that receives the directory username as the user.
const directoryURL = "https://directory.example.edu/cas/callback"

func withDirectoryService(c *cas.Config, _ *cas.Deps) {
	c.Services = append(c.Services, cas.Service{
		ID: "directory", Match: cas.MatchPrefix, URL: directoryURL,
		Attributes: []string{"username", "group"}, PrincipalAttribute: "username", AllowProxy: true,
		LogoutType: cas.LogoutNone,
	})
}

func aliceWithUsername(names ...string) cas.Principal {
	p := alice()
	p.Attributes["username"] = names
	return p
}

func TestPrincipalAttribute(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db, withDirectoryService)
	h.setPrincipal(aliceWithUsername("a.liddell", "second"))

	t.Run("EveryEndpoint", func(t *testing.T) {
		for _, endpoint := range xmlEndpoints {
			st := h.login(h.browser(), directoryURL)
			body := h.validateXML(endpoint, url.Values{"service": {directoryURL}, "ticket": {st}})
			require.Contains(t, body, "<cas:user>a.liddell</cas:user>", endpoint)
			require.NotContains(t, body, "alice", "the principal id is not released")
		}
		st := h.login(h.browser(), directoryURL)
		r := h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {directoryURL}, "ticket": {st}})
		require.Equal(t, "yes\na.liddell\n", string(r.Body))

		st = h.login(h.browser(), directoryURL)
		r = h.get(http.DefaultClient, "/cas/p3/serviceValidate", url.Values{"service": {directoryURL}, "ticket": {st}, "format": {"JSON"}})
		var doc struct {
			ServiceResponse struct {
				AuthenticationSuccess struct {
					User       string         `json:"user"`
					Attributes map[string]any `json:"attributes"`
				} `json:"authenticationSuccess"`
			} `json:"serviceResponse"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &doc), string(r.Body))
		require.Equal(t, "a.liddell", doc.ServiceResponse.AuthenticationSuccess.User)
		require.Equal(t, []any{"a.liddell", "second"}, doc.ServiceResponse.AuthenticationSuccess.Attributes["username"],
			"the attribute itself is released as listed")
	})

	t.Run("OtherServicesKeepTheID", func(t *testing.T) {
		st := h.login(h.browser(), appURL)
		body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
		require.Contains(t, body, "<cas:user>alice</cas:user>")
	})

	t.Run("ProxyTicketForTheService", func(t *testing.T) {
		// The user of a PT is chosen by the target service.
		b := h.browser()
		portal := "https://portal.example.edu/app"
		st := h.login(b, portal)
		n := len(h.callback.requests())
		h.validateXML("/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {h.callback.URL + "/cb"}})
		q, _ := url.ParseQuery(h.callback.requests()[n].RawQuery)
		pt := proxyTicket(t, h, q.Get("pgtId"), directoryURL)
		body := h.validateXML("/cas/p3/proxyValidate", url.Values{"service": {directoryURL}, "ticket": {pt}})
		require.Contains(t, body, "<cas:user>a.liddell</cas:user>")
	})

	t.Run("MissingAttributeFails", func(t *testing.T) {
		for _, p := range []cas.Principal{alice(), aliceWithUsername(), aliceWithUsername(""), aliceWithUsername("bad\nname"), aliceWithUsername(strings.Repeat("x", 256))} {
			h.setPrincipal(p)
			for _, endpoint := range xmlEndpoints {
				st := h.login(h.browser(), directoryURL)
				body := h.validateXML(endpoint, url.Values{"service": {directoryURL}, "ticket": {st}})
				require.Equal(t, "INVALID_TICKET", failureCode(body), body)
				require.Contains(t, body, "the user has no username attribute, which the service receives as the user name")
				require.NotContains(t, body, "alice", "the id is never sent instead")
				// The ticket is gone: validation consumed it.
				again := h.validateXML(endpoint, url.Values{"service": {directoryURL}, "ticket": {st}})
				require.Contains(t, again, "not recognized")
			}
			st := h.login(h.browser(), directoryURL)
			r := h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {directoryURL}, "ticket": {st}})
			require.Equal(t, "no\n\n", string(r.Body))
			st = h.login(h.browser(), directoryURL)
			r = h.get(http.DefaultClient, "/cas/serviceValidate", url.Values{"service": {directoryURL}, "ticket": {st}, "format": {"json"}})
			require.Contains(t, string(r.Body), `"code":"INVALID_TICKET"`)
			require.NotContains(t, string(r.Body), "alice")
		}
		// The same session still works for a service that takes the id.
		b := h.browser()
		h.login(b, directoryURL)
		st := h.login(b, appURL)
		body := h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
		require.Contains(t, body, "<cas:user>alice</cas:user>")
	})
}

func TestServiceUser(t *testing.T) {
	p := cas.Principal{ID: "u1", Attributes: map[string][]string{"uid": {"jdoe", "x"}, "empty": {}, "blank": {""}}}
	user, err := cas.Service{}.User(p)
	require.NoError(t, err)
	require.Equal(t, "u1", user)
	user, err = cas.Service{PrincipalAttribute: "uid"}.User(p)
	require.NoError(t, err)
	require.Equal(t, "jdoe", user)
	for _, a := range []string{"missing", "empty", "blank"} {
		_, err = cas.Service{PrincipalAttribute: a}.User(p)
		require.True(t, errors.Is(err, cas.ErrPrincipalAttributeMissing), a)
		require.NotContains(t, err.Error(), "u1")
	}
}

func TestPrincipalAttributeConfig(t *testing.T) {
	c := cas.DefaultConfig()
	c.Services = []cas.Service{
		{ID: "a", Match: cas.MatchExact, URL: "https://a.example.edu/", PrincipalAttribute: "username"},
		{ID: "b", Match: cas.MatchExact, URL: "https://b.example.edu/", PrincipalAttribute: "user name"},
		{ID: "c", Match: cas.MatchExact, URL: "https://c.example.edu/", PrincipalAttribute: "isFromNewLogin"},
	}
	require.Equal(t, []string{
		`cas.services[1].principal_attribute: "user name" is not a valid attribute name (letters, digits, _ . -, starting with a letter or _)`,
		`cas.services[2].principal_attribute: "isFromNewLogin" is a protocol attribute, not a principal attribute`,
	}, c.Validate())
}

func TestMatcher(t *testing.T) {
	m, err := cas.NewMatcher(testServices("http://127.0.0.1:1", "https://127.0.0.1:2"))
	require.NoError(t, err)
	for _, tc := range []struct{ url, id string }{
		{"https://app.example.edu/login", "app"},
		{"HTTPS://App.Example.EDU/login#x", "app"},
		{"https://app.example.edu/LOGIN", ""},
		{"https://app.example.edu/login?x=1", ""},
		{"https://portal.example.edu/a?b=c", "portal"},
		{"https://x.intranet.example.edu/y", "intranet"},
		{"https://evil.example.com/", ""},
		{"javascript:alert(1)", ""},
		{"", ""},
	} {
		svc, ok := m.Match(tc.url)
		require.Equal(t, tc.id != "", ok, tc.url)
		require.Equal(t, tc.id, svc.ID, tc.url)
	}
	svc, _ := m.Match("https://x.intranet.example.edu/y")
	require.Equal(t, "intranet", svc.Name, "the name defaults to the id, as on the login page")

	_, err = cas.NewMatcher([]cas.Service{{ID: "r", Match: cas.MatchRegex, URL: "https://(a"}})
	require.Error(t, err)
	require.True(t, regexp.MustCompile(`missing closing \)`).MatchString(err.Error()), err.Error())
}
