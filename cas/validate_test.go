package cas_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store"
	"wxcas/store/storetest"
)

var xmlEndpoints = []string{"/cas/serviceValidate", "/cas/proxyValidate", "/cas/p3/serviceValidate", "/cas/p3/proxyValidate"}

const appURL = "https://app.example.edu/login"

func TestValidationErrors(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	b := h.browser()

	type tc struct {
		name string
		// query builds the request; st is a fresh ST for appURL (renew if
		// the case asks).
		query func(st string) url.Values
		renew bool
		code  string
		// afterwards, the ticket is dead (tested by validating it properly).
		consumed bool
	}
	cases := []tc{
		{"missing service", func(st string) url.Values { return url.Values{"ticket": {st}} }, false, "INVALID_REQUEST", false},
		{"missing ticket", func(st string) url.Values { return url.Values{"service": {appURL}} }, false, "INVALID_REQUEST", false},
		{"empty parameters", func(st string) url.Values { return url.Values{"service": {""}, "ticket": {""}} }, false, "INVALID_REQUEST", false},
		{"unknown ticket", func(st string) url.Values {
			return url.Values{"service": {appURL}, "ticket": {"ST-UNKNOWNUNKNOWNUNKNOWN23456"}}
		}, false, "INVALID_TICKET", false},
		{"not a ticket", func(st string) url.Values { return url.Values{"service": {appURL}, "ticket": {"<x>&\"'"}} }, false, "INVALID_TICKET", false},
		{"wrong service", func(st string) url.Values {
			return url.Values{"service": {"https://portal.example.edu/x"}, "ticket": {st}}
		}, false, "INVALID_SERVICE", true},
		{"unregistered service", func(st string) url.Values {
			return url.Values{"service": {"https://evil.example.com/"}, "ticket": {st}}
		}, false, "UNAUTHORIZED_SERVICE", true},
		{"malformed service", func(st string) url.Values { return url.Values{"service": {"javascript:x"}, "ticket": {st}} }, false, "UNAUTHORIZED_SERVICE", true},
		{"renew on an SSO ticket", func(st string) url.Values { return url.Values{"service": {appURL}, "ticket": {st}, "renew": {"true"}} }, false, "INVALID_TICKET", true},
		{"pgtUrl without proxy permission", func(st string) url.Values {
			return url.Values{"service": {appURL}, "ticket": {st}, "pgtUrl": {h.callback.URL + "/cb"}}
		}, false, "UNAUTHORIZED_SERVICE_PROXY", true},
	}
	for _, endpoint := range xmlEndpoints {
		for _, c := range cases {
			t.Run(strings.TrimPrefix(endpoint, "/cas/")+"/"+c.name, func(t *testing.T) {
				// An SSO ticket: log in first (not counted), then get a second ST from SSO.
				h.login(b, appURL)
				st := h.login(b, appURL)
				body := h.validateXML(endpoint, c.query(st))
				require.Equal(t, c.code, failureCode(body), body)
				require.NotContains(t, body, st, "the ticket is not echoed whole")
				again := h.validateXML(endpoint, url.Values{"service": {appURL}, "ticket": {st}})
				if c.consumed {
					require.Equal(t, "INVALID_TICKET", failureCode(again), "a failed attempt consumes the ticket")
				} else {
					require.Contains(t, again, "<cas:user>alice</cas:user>", "a request without both parameters consumes nothing")
				}
			})
		}
	}

	t.Run("ReusedTicket", func(t *testing.T) {
		for _, endpoint := range xmlEndpoints {
			st := h.login(b, appURL)
			require.Contains(t, h.validateXML(endpoint, url.Values{"service": {appURL}, "ticket": {st}}), "authenticationSuccess")
			for _, e := range xmlEndpoints {
				require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML(e, url.Values{"service": {appURL}, "ticket": {st}})))
			}
		}
	})

	t.Run("ExpiredTicket", func(t *testing.T) {
		st := h.login(b, appURL)
		h.clock.Advance(10 * time.Second)
		require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})))
		st = h.login(b, appURL)
		h.clock.Advance(10*time.Second - time.Microsecond)
		require.Contains(t, h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}}), "authenticationSuccess")
	})

	t.Run("UnsupportedFormat", func(t *testing.T) {
		st := h.login(b, appURL)
		body := h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}, "format": {"YAML"}})
		require.Equal(t, "INVALID_REQUEST", failureCode(body))
		// The format is checked before the ticket is touched.
		require.Contains(t, h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}}), "authenticationSuccess")
	})

	t.Run("TicketOfEndedSession", func(t *testing.T) {
		b2 := h.browser()
		st := h.login(b2, appURL)
		h.get(b2, "/cas/logout", nil)
		require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})))
	})

	t.Run("MethodNotAllowed", func(t *testing.T) {
		r := do(t, http.DefaultClient, http.MethodPut, h.ts.URL+"/cas/serviceValidate", nil)
		require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
		r = do(t, http.DefaultClient, http.MethodGet, h.ts.URL+"/cas/nothing", nil)
		require.Equal(t, http.StatusNotFound, r.StatusCode)
	})
}

func TestValidationSuccess(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	b := h.browser()
	authDate := alice().AuthenticatedAt.UTC().Format(time.RFC3339)

	// app: attributes only on /p3; portal: on every endpoint.
	for _, tc := range []struct {
		endpoint, service string
		attributes        bool
	}{
		{"/cas/serviceValidate", appURL, false},
		{"/cas/proxyValidate", appURL, false},
		{"/cas/p3/serviceValidate", appURL, true},
		{"/cas/p3/proxyValidate", appURL, true},
		{"/cas/serviceValidate", "https://portal.example.edu/x", true},
		{"/cas/proxyValidate", "https://portal.example.edu/x", true},
	} {
		t.Run(tc.endpoint+" "+tc.service, func(t *testing.T) {
			st := h.login(b, tc.service, "renew", "true")
			body := h.validateXML(tc.endpoint, url.Values{"service": {tc.service}, "ticket": {st}})
			require.True(t, strings.HasPrefix(body, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">`+"\n    <cas:authenticationSuccess>\n        <cas:user>alice</cas:user>\n"), body)
			if !tc.attributes {
				require.NotContains(t, body, "cas:attributes")
				return
			}
			require.Contains(t, body, "<cas:attributes>\n"+
				"            <cas:authenticationDate>"+authDate+"</cas:authenticationDate>\n"+
				"            <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>\n"+
				"            <cas:isFromNewLogin>true</cas:isFromNewLogin>\n"+
				"            <cas:displayName>Alice &lt;Liddell&gt; &amp; Co</cas:displayName>\n")
			if tc.service == appURL {
				require.Contains(t, body, "<cas:group>staff</cas:group>\n            <cas:group>library</cas:group>\n")
			} else {
				require.NotContains(t, body, "cas:group", "portal is not released group")
			}
			require.NotContains(t, body, "phone", "never released")
		})
	}

	t.Run("ExactXML", func(t *testing.T) {
		st := h.login(b, appURL)
		body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}})
		require.Equal(t, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationSuccess>
        <cas:user>alice</cas:user>
        <cas:attributes>
            <cas:authenticationDate>2026-11-21T07:59:30Z</cas:authenticationDate>
            <cas:longTermAuthenticationRequestTokenUsed>false</cas:longTermAuthenticationRequestTokenUsed>
            <cas:isFromNewLogin>false</cas:isFromNewLogin>
            <cas:displayName>Alice &lt;Liddell&gt; &amp; Co</cas:displayName>
            <cas:group>staff</cas:group>
            <cas:group>library</cas:group>
        </cas:attributes>
    </cas:authenticationSuccess>
</cas:serviceResponse>
`, body)
		body = h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {"ST-AAAAAAAAAAAAAAAAAAAAAAAAAA"}})
		require.Equal(t, `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationFailure code="INVALID_TICKET">Ticket ST-AAAAAAA… not recognized</cas:authenticationFailure>
</cas:serviceResponse>
`, body)
	})

	t.Run("ServiceMatching", func(t *testing.T) {
		// Equivalent URLs (RFC 3986 §6.2.2): scheme and host in any case,
		// default port, unreserved characters encoded or not, fragment
		// removed; and a service encoded once too often (decoded once).
		for _, tc := range []struct{ issued, presented string }{
			{appURL, "HTTPS://APP.EXAMPLE.EDU/login"},
			{appURL, "https://app.example.edu:443/%6Cogin"},
			{appURL, "https%3A%2F%2Fapp.example.edu%2Flogin"},
			{appURL, appURL + "#section"},
			{"https://portal.example.edu/a?x=%2fy", "https://portal.example.edu/a?x=%2Fy"},
			{"https://portal.example.edu/a#f", "https://portal.example.edu/a"},
		} {
			st := h.login(b, tc.issued)
			body := h.validateXML("/cas/serviceValidate", url.Values{"service": {tc.presented}, "ticket": {st}})
			require.Contains(t, body, "authenticationSuccess", "%s vs %s", tc.issued, tc.presented)
		}
		for _, tc := range []struct{ issued, presented string }{
			{"https://portal.example.edu/a", "https://portal.example.edu/a/"},
			{"https://portal.example.edu/a", "https://portal.example.edu/a?x=1"},
			{"https://portal.example.edu/a", "https://portal.example.edu/b"},
			// Not equivalent: the path's case, and a reserved character
			// encoded in one and not in the other.
			{"https://portal.example.edu/a/b", "https://portal.example.edu/a/B"},
			{"https://portal.example.edu/a?next=ABC", "https://portal.example.edu/a?next=abc"},
			{"https://portal.example.edu/a?a=1&b=2", "https://portal.example.edu/a?a=1%26b=2"},
			{"https://portal.example.edu/a?x=%2Fy", "https://portal.example.edu/a?x=/y"},
		} {
			st := h.login(b, tc.issued)
			body := h.validateXML("/cas/serviceValidate", url.Values{"service": {tc.presented}, "ticket": {st}})
			require.Equal(t, "INVALID_SERVICE", failureCode(body), "%s vs %s", tc.issued, tc.presented)
		}
	})

	t.Run("JSON", func(t *testing.T) {
		for _, format := range []string{"JSON", "json", "Json"} {
			st := h.login(b, appURL)
			r := h.get(http.DefaultClient, "/cas/p3/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}, "format": {format}})
			require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
			require.JSONEq(t, `{"serviceResponse":{"authenticationSuccess":{"user":"alice","attributes":{
				"authenticationDate":"`+authDate+`","longTermAuthenticationRequestTokenUsed":false,"isFromNewLogin":false,
				"displayName":"Alice <Liddell> & Co","group":["staff","library"]}}}}`, string(r.Body))
		}
		r := h.get(http.DefaultClient, "/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {"ST-X"}, "format": {"JSON"}})
		require.JSONEq(t, `{"serviceResponse":{"authenticationFailure":{"code":"INVALID_TICKET","description":"Ticket ST-X not recognized"}}}`, string(r.Body))
		r = h.get(http.DefaultClient, "/cas/serviceValidate", url.Values{"format": {"json"}})
		require.Contains(t, string(r.Body), `"code":"INVALID_REQUEST"`)
		// XML explicitly.
		st := h.login(b, appURL)
		h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}, "format": {"xml"}})
	})

	t.Run("CAS1Validate", func(t *testing.T) {
		st := h.login(b, appURL)
		r := h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {appURL}, "ticket": {st}})
		require.Equal(t, "yes\nalice\n", string(r.Body))
		require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))
		for _, q := range []url.Values{
			{"service": {appURL}, "ticket": {st}}, // used
			{"service": {appURL}},
			{"ticket": {h.login(b, appURL)}},
			{"service": {"https://portal.example.edu/"}, "ticket": {h.login(b, appURL)}},
			{"service": {appURL}, "ticket": {h.login(b, appURL)}, "renew": {"true"}},
		} {
			r := h.get(http.DefaultClient, "/cas/validate", q)
			require.Equal(t, "no\n\n", string(r.Body), "%v", q)
		}
		st = h.login(b, appURL, "renew", "true")
		r = h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {appURL}, "ticket": {st}, "renew": {"true"}})
		require.Equal(t, "yes\nalice\n", string(r.Body))
	})
}

func TestProxy(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	b := h.browser()
	portal := "https://portal.example.edu/app"
	backend := "https://backend.example.edu/api"

	// getPGT validates a fresh portal ST with pgtUrl and returns the PGT the
	// callback received.
	getPGT := func(endpoint string) (pgt string, body string) {
		t.Helper()
		st := h.login(b, portal)
		n := len(h.callback.requests())
		body = h.validateXML(endpoint, url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {h.callback.URL + "/cb?client=1"}})
		reqs := h.callback.requests()
		require.Len(t, reqs, n+1)
		cb := reqs[n]
		require.Equal(t, http.MethodGet, cb.Method)
		require.Equal(t, "/cb", cb.Path)
		q, _ := url.ParseQuery(cb.RawQuery)
		require.Equal(t, "1", q.Get("client"), "the callback keeps its own query")
		require.Regexp(t, pgtPattern, q.Get("pgtId"))
		require.Regexp(t, pgtiouPattern, q.Get("pgtIou"))
		require.Contains(t, body, "<cas:proxyGrantingTicket>"+q.Get("pgtIou")+"</cas:proxyGrantingTicket>", "the IOU, never the PGT")
		require.NotContains(t, body, q.Get("pgtId"))
		return q.Get("pgtId"), body
	}

	t.Run("NoProxyTicketForWxcasOwnPages", func(t *testing.T) {
		pgt, _ := getPGT("/cas/p3/serviceValidate")
		r := h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {pgt}, "targetService": {"https://sso.example.edu/account/"}})
		require.Contains(t, string(r.Body), `code="UNAUTHORIZED_SERVICE"`)
		require.NotContains(t, string(r.Body), "PT-")
	})

	t.Run("FullChain", func(t *testing.T) {
		pgt, _ := getPGT("/cas/p3/serviceValidate")
		r := h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {pgt}, "targetService": {backend}})
		requireSchemaValid(t, r.Body)
		m := regexp.MustCompile(`<cas:proxySuccess>\n        <cas:proxyTicket>(PT-[A-Z2-7]{26})</cas:proxyTicket>\n    </cas:proxySuccess>`).FindStringSubmatch(string(r.Body))
		require.NotNil(t, m, string(r.Body))
		pt := m[1]
		require.Regexp(t, ptPattern, pt)

		// A PT is refused where only STs are accepted, and that uses it up.
		for _, e := range []string{"/cas/serviceValidate", "/cas/p3/serviceValidate"} {
			pt := proxyTicket(t, h, pgt, backend)
			require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML(e, url.Values{"service": {backend}, "ticket": {pt}})))
			require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/proxyValidate", url.Values{"service": {backend}, "ticket": {pt}})))
		}
		r = h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {backend}, "ticket": {proxyTicket(t, h, pgt, backend)}})
		require.Equal(t, "no\n\n", string(r.Body))

		body := h.validateXML("/cas/p3/proxyValidate", url.Values{"service": {backend}, "ticket": {pt}})
		require.Contains(t, body, "<cas:user>alice</cas:user>")
		require.Contains(t, body, "<cas:group>staff</cas:group>")
		require.Contains(t, body, "<cas:proxies>\n            <cas:proxy>"+h.callback.URL+"/cb?client=1</cas:proxy>\n        </cas:proxies>")
		require.Contains(t, body, "<cas:isFromNewLogin>false</cas:isFromNewLogin>")
		// PGTs are multi-use; PTs single use.
		pt2 := proxyTicket(t, h, pgt, backend)
		require.Contains(t, h.validateXML("/cas/proxyValidate", url.Values{"service": {backend}, "ticket": {pt2}}), "<cas:proxy>")
		require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/proxyValidate", url.Values{"service": {backend}, "ticket": {pt2}})))
		// A PT is bound to its target service.
		pt3 := proxyTicket(t, h, pgt, backend)
		require.Equal(t, "INVALID_SERVICE", failureCode(h.validateXML("/cas/proxyValidate", url.Values{"service": {portal}, "ticket": {pt3}})))
		// PT expiry.
		pt4 := proxyTicket(t, h, pgt, backend)
		h.clock.Advance(10 * time.Second)
		require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/proxyValidate", url.Values{"service": {backend}, "ticket": {pt4}})))

		// JSON /proxy.
		r = h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {pgt}, "targetService": {backend}, "format": {"JSON"}})
		var doc struct {
			ServiceResponse struct {
				ProxySuccess struct{ ProxyTicket string } `json:"proxySuccess"`
			} `json:"serviceResponse"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &doc), string(r.Body))
		require.Regexp(t, ptPattern, doc.ServiceResponse.ProxySuccess.ProxyTicket)
	})

	t.Run("ProxyChain", func(t *testing.T) {
		// backend (allowed to proxy) validates its PT with a pgtUrl of its own.
		pgt, _ := getPGT("/cas/serviceValidate")
		pt := proxyTicket(t, h, pgt, backend)
		body := h.validateXML("/cas/proxyValidate", url.Values{"service": {backend}, "ticket": {pt}, "pgtUrl": {h.callback.URL + "/cb2"}})
		require.Contains(t, body, "<cas:proxyGrantingTicket>PGTIOU-")
		reqs := h.callback.requests()
		q, _ := url.ParseQuery(reqs[len(reqs)-1].RawQuery)
		pt2 := proxyTicket(t, h, q.Get("pgtId"), portal)
		body = h.validateXML("/cas/proxyValidate", url.Values{"service": {portal}, "ticket": {pt2}})
		require.Contains(t, body, "<cas:proxy>"+h.callback.URL+"/cb2</cas:proxy>\n            <cas:proxy>"+h.callback.URL+"/cb?client=1</cas:proxy>", "most recent proxy first")
	})

	t.Run("CallbackFailures", func(t *testing.T) {
		// Every failure answers the same text (TestProxyCallbackAnswersAlike
		// covers the address policy, TLS, timeouts and refused connections).
		for _, tc := range []struct {
			name, pgtURL string
			status       int
		}{
			{"http", strings.Replace(h.callback.URL, "https:", "http:", 1) + "/cb", 200},
			{"not 200", h.callback.URL + "/cb", http.StatusNotFound},
			{"204", h.callback.URL + "/cb", http.StatusNoContent},
			{"redirect", h.callback.URL + "/cb", http.StatusFound},
			{"not matching the pattern", "https://other.example.edu/cb", 200},
			{"garbage", "::", 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h.callback.status.Store(int32(tc.status))
				defer h.callback.status.Store(http.StatusOK)
				st := h.login(h.browser(), portal)
				body := h.validateXML("/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {tc.pgtURL}})
				require.Equal(t, callbackFailureXML, body)
				require.Equal(t, "INVALID_TICKET", failureCode(h.validateXML("/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}})), "the ticket is consumed")
			})
		}
	})

	t.Run("ProxyErrors", func(t *testing.T) {
		pgt, _ := getPGT("/cas/serviceValidate")
		for _, tc := range []struct {
			name string
			q    url.Values
			code string
		}{
			{"missing pgt", url.Values{"targetService": {backend}}, "INVALID_REQUEST"},
			{"missing targetService", url.Values{"pgt": {pgt}}, "INVALID_REQUEST"},
			{"unknown pgt", url.Values{"pgt": {"PGT-NOPE"}, "targetService": {backend}}, "INVALID_TICKET"},
			{"unregistered target", url.Values{"pgt": {pgt}, "targetService": {"https://evil.example.com/"}}, "UNAUTHORIZED_SERVICE"},
			{"format", url.Values{"pgt": {pgt}, "targetService": {backend}, "format": {"CSV"}}, "INVALID_REQUEST"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := h.get(http.DefaultClient, "/cas/proxy", tc.q)
				requireSchemaValid(t, r.Body)
				require.Contains(t, string(r.Body), `<cas:proxyFailure code="`+tc.code+`">`)
			})
		}
		r := h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {"PGT-NOPE"}, "targetService": {backend}, "format": {"JSON"}})
		require.JSONEq(t, `{"serviceResponse":{"proxyFailure":{"code":"INVALID_TICKET","description":"Proxy-granting ticket PGT-NOPE not recognized"}}}`, string(r.Body))
	})

	t.Run("PGTDiesWithTheSession", func(t *testing.T) {
		b2 := h.browser()
		st := h.login(b2, portal)
		h.validateXML("/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {h.callback.URL + "/cb"}})
		reqs := h.callback.requests()
		q, _ := url.ParseQuery(reqs[len(reqs)-1].RawQuery)
		pgt := q.Get("pgtId")
		proxyTicket(t, h, pgt, backend)
		h.get(b2, "/cas/logout", nil)
		r := h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {pgt}, "targetService": {backend}})
		require.Contains(t, string(r.Body), `code="INVALID_TICKET"`)
	})
}

func proxyTicket(t *testing.T, h *harness, pgt, target string) string {
	t.Helper()
	r := h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {pgt}, "targetService": {target}})
	requireSchemaValid(t, r.Body)
	m := regexp.MustCompile(`<cas:proxyTicket>(PT-[A-Z2-7]{26})</cas:proxyTicket>`).FindStringSubmatch(string(r.Body))
	require.NotNil(t, m, string(r.Body))
	return m[1]
}

// TestConcurrentValidation: 20 validations of one ST at once, on both
// backends: exactly one succeeds.
func TestConcurrentValidation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		b := h.browser()
		for round, endpoint := range []string{"/cas/serviceValidate", "/cas/p3/serviceValidate", "/cas/validate"} {
			st := h.login(b, appURL)
			const n = 20
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				successes int
				failures  = map[string]int{}
			)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r := h.get(http.DefaultClient, endpoint, url.Values{"service": {appURL}, "ticket": {st}})
					body := string(r.Body)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case strings.Contains(body, "authenticationSuccess") || body == "yes\nalice\n":
						successes++
					case body == "no\n\n":
						failures["no"]++
					default:
						failures[failureCode(body)]++
					}
				}()
			}
			close(start)
			wg.Wait()
			require.Equal(t, 1, successes, "round %d (%s): exactly one validation wins; failures %v", round, endpoint, failures)
			require.Equal(t, n-1, failures["INVALID_TICKET"]+failures["no"], "others: %v", failures)
		}
	})
}

// brokenStore fails every call after broken is set, as a lost database does.
type brokenStore struct {
	cas.TicketStore
	broken *atomic.Bool
}

var errDatabaseGone = errors.New("database gone")

func (b brokenStore) ConsumeTicket(ctx context.Context, id string) (cas.Ticket, error) {
	if b.broken.Load() {
		return cas.Ticket{}, errDatabaseGone
	}
	return b.TicketStore.ConsumeTicket(ctx, id)
}

func (b brokenStore) GetPGT(ctx context.Context, key string) (cas.PGT, error) {
	if b.broken.Load() {
		return cas.PGT{}, errDatabaseGone
	}
	return b.TicketStore.GetPGT(ctx, key)
}

func (b brokenStore) GetTGT(ctx context.Context, key string) (cas.TGT, error) {
	if b.broken.Load() {
		return cas.TGT{}, errDatabaseGone
	}
	return b.TicketStore.GetTGT(ctx, key)
}

func (b brokenStore) CreateTGT(ctx context.Context, t cas.TGT) error {
	if b.broken.Load() {
		return errDatabaseGone
	}
	return b.TicketStore.CreateTGT(ctx, t)
}

func TestInternalErrors(t *testing.T) {
	db := storetest.SQLite(t)
	var broken atomic.Bool
	h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
		d.Store = brokenStore{TicketStore: cas.NewSQLStore(db), broken: &broken}
	})
	b := h.browser()
	st := h.login(b, appURL)
	broken.Store(true)
	for _, e := range xmlEndpoints {
		require.Equal(t, "INTERNAL_ERROR", failureCode(h.validateXML(e, url.Values{"service": {appURL}, "ticket": {st}})))
	}
	r := h.get(http.DefaultClient, "/cas/validate", url.Values{"service": {appURL}, "ticket": {st}})
	require.Equal(t, "no\n\n", string(r.Body))
	r = h.get(http.DefaultClient, "/cas/proxy", url.Values{"pgt": {"PGT-X"}, "targetService": {appURL}})
	requireSchemaValid(t, r.Body)
	require.Contains(t, string(r.Body), `<cas:proxyFailure code="INTERNAL_ERROR">`)
	// Login: a clean error page, never a redirect.
	r = h.get(h.browser(), "/cas/login", url.Values{"service": {appURL}})
	require.Equal(t, http.StatusInternalServerError, r.StatusCode)
	require.Empty(t, r.Header.Get("Location"))
	require.Contains(t, string(r.Body), "(internal_error)")
	// Database back: the ticket was never consumed.
	broken.Store(false)
	require.Contains(t, h.validateXML("/cas/serviceValidate", url.Values{"service": {appURL}, "ticket": {st}}), "authenticationSuccess")
}
