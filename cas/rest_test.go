package cas_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gocas "gopkg.in/cas.v2"

	"wxcas/cas"
	"wxcas/store"
	"wxcas/store/storetest"
)

var tgtPattern = mustRegexp(`^TGT-[A-Z2-7]{52}$`)

// restPost posts a form to the REST endpoint with the given content type.
func (h *harness) restPost(path, contentType, body string) response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ts.URL+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return response{resp, b}
}

func (h *harness) restST(tgt, service string) response {
	h.t.Helper()
	return h.restPost("/cas/v1/tickets/"+tgt, "application/x-www-form-urlencoded", url.Values{"service": {service}}.Encode())
}

func TestRESTServiceTickets(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		p := alice()
		tgt, expires, err := h.srv.CreateSession(ctx, p)
		require.NoError(t, err)
		require.Regexp(t, tgtPattern, tgt)
		require.Equal(t, h.clock.Now().Add(8*time.Hour), expires, "the hard expiry")
		require.Zero(t, h.logins.Load(), "no browser login involved")

		// Status.
		r := h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Equal(t, tgt, string(r.Body))
		require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))
		require.Contains(t, r.Header.Get("Cache-Control"), "no-store")

		// A service ticket for a registered service validates (CAS 3.0).
		r = h.restST(tgt, "https://app.example.edu/login")
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
		st := string(r.Body)
		require.Regexp(t, stPattern, st)
		body := h.validateXML("/cas/p3/serviceValidate", url.Values{"service": {"https://app.example.edu/login"}, "ticket": {st}})
		require.Contains(t, body, "<cas:user>alice</cas:user>")
		require.Contains(t, body, "<cas:isFromNewLogin>false</cas:isFromNewLogin>")
		require.Contains(t, body, "<cas:group>staff</cas:group>")
		require.NotContains(t, body, "<cas:phone>", "attributes are released per service")

		// Refusals.
		r = h.restST(tgt, "https://evil.example.com/")
		require.Equal(t, http.StatusBadRequest, r.StatusCode)
		require.Contains(t, string(r.Body), "not registered")
		r = h.restST(tgt, "not a url")
		require.Equal(t, http.StatusBadRequest, r.StatusCode)
		require.Contains(t, string(r.Body), "not a valid")
		r = h.restPost("/cas/v1/tickets/"+tgt, "application/x-www-form-urlencoded", "")
		require.Equal(t, http.StatusBadRequest, r.StatusCode)
		require.Contains(t, string(r.Body), "service parameter is required")
		r = h.restPost("/cas/v1/tickets/"+tgt, "application/json", `{"service":"https://app.example.edu/login"}`)
		require.Equal(t, http.StatusUnsupportedMediaType, r.StatusCode)
		r = h.restPost("/cas/v1/tickets/"+tgt, "application/x-www-form-urlencoded", "service="+url.QueryEscape("https://app.example.edu/login")+"&renew=true")
		require.Equal(t, http.StatusBadRequest, r.StatusCode)
		require.Contains(t, string(r.Body), "renew")
		r = h.restPost("/cas/v1/tickets/"+tgt, "application/x-www-form-urlencoded", "service="+strings.Repeat("x", 70<<10))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.StatusCode)
		for _, bad := range []string{"TGT-UNKNOWN", "ST-ABC", "TGT-%3Cscript%3E", tgt + "x"} {
			r = h.restST(bad, "https://app.example.edu/login")
			require.Equal(t, http.StatusNotFound, r.StatusCode, bad)
			r = h.get(http.DefaultClient, "/cas/v1/tickets/"+bad, nil)
			require.Equal(t, http.StatusNotFound, r.StatusCode, bad)
		}
		r = do(t, http.DefaultClient, http.MethodPut, h.ts.URL+"/cas/v1/tickets/"+tgt, url.Values{})
		require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
		require.Equal(t, "GET, POST, DELETE", r.Header.Get("Allow"))

		// A second service, then logout: both get single logout. The
		// client adds a trailing slash, which names the same session.
		r = h.restST(tgt, h.slo.URL+"/svc/page?x=1")
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.Body)
		st2 := string(r.Body)
		r = do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/not*a*ticket", nil)
		require.Equal(t, http.StatusNotFound, r.StatusCode, "what cannot be a TGT is not logged out")
		r = do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgt+"/", nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		require.Equal(t, tgt, string(r.Body))
		h.srv.WaitIdle()
		reqs := h.slo.requests()
		require.Len(t, reqs, 2)
		byIndex := map[string]string{}
		for _, rq := range reqs {
			m := logoutRequestPattern.FindStringSubmatch(rq.Form.Get("logoutRequest"))
			require.NotNil(t, m, rq.Body)
			require.Equal(t, "alice", m[2])
			byIndex[m[3]] = rq.Path
		}
		require.Equal(t, map[string]string{st: "/slo/app", st2: "/svc/page"}, byIndex)

		// The session is gone; DELETE stays idempotent.
		r = h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil)
		require.Equal(t, http.StatusNotFound, r.StatusCode)
		r = h.restST(tgt, "https://app.example.edu/login")
		require.Equal(t, http.StatusNotFound, r.StatusCode)
		r = do(t, http.DefaultClient, http.MethodDelete, h.ts.URL+"/cas/v1/tickets/"+tgt, nil)
		require.Equal(t, http.StatusOK, r.StatusCode)
		h.srv.WaitIdle()
		require.Len(t, h.slo.requests(), 2, "no second logout")
	})
}

func TestRESTExpiredSession(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	tgt, _, err := h.srv.CreateSession(context.Background(), alice())
	require.NoError(t, err)
	r := h.restST(tgt, "https://app.example.edu/login")
	require.Equal(t, http.StatusOK, r.StatusCode)

	// An ST keeps the session alive past the idle timeout of its creation.
	h.clock.Advance(time.Hour + 59*time.Minute)
	r = h.restST(tgt, "https://portal.example.edu/x")
	require.Equal(t, http.StatusOK, r.StatusCode)
	h.clock.Advance(time.Hour + 59*time.Minute)
	require.Equal(t, http.StatusOK, h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil).StatusCode)

	// Idle for two hours: the session ends, with single logout.
	h.clock.Advance(2 * time.Hour)
	require.Equal(t, http.StatusNotFound, h.get(http.DefaultClient, "/cas/v1/tickets/"+tgt, nil).StatusCode)
	h.srv.WaitIdle()
	require.Len(t, h.slo.requests(), 2, "the expired session's services are logged out")
	require.Equal(t, http.StatusNotFound, h.restST(tgt, "https://app.example.edu/login").StatusCode)
}

func TestRESTPasswordLoginRefused(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	r := h.restPost("/cas/v1/tickets", "application/x-www-form-urlencoded", "username=alice&password=secret")
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	require.Equal(t, "text/plain; charset=utf-8", r.Header.Get("Content-Type"))
	require.Contains(t, string(r.Body), "username/password login is not supported")
	require.Contains(t, string(r.Body), "log in with WeChat")
	require.Empty(t, r.Header.Get("Location"))
	r = h.restPost("/cas/v1/tickets", "application/json", `{"username":"alice"}`)
	require.Equal(t, http.StatusBadRequest, r.StatusCode, "whatever the body")
	r = h.get(http.DefaultClient, "/cas/v1/tickets", nil)
	require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
	require.Equal(t, "POST", r.Header.Get("Allow"))

	casURL, _ := url.Parse(h.ts.URL + "/cas/")
	client := gocas.NewRestClient(&gocas.RestOptions{CasURL: casURL, Client: http.DefaultClient})
	_, err := client.RequestGrantingTicket("alice", "secret")
	require.Error(t, err)
}

// TestRESTGoClient drives the REST protocol with gopkg.in/cas.v2's REST
// client: service ticket from a TGT, validation, logout.
func TestRESTGoClient(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	tgt, _, err := h.srv.CreateSession(context.Background(), alice())
	require.NoError(t, err)

	casURL, _ := url.Parse(h.ts.URL + "/cas/")
	serviceURL, _ := url.Parse(h.slo.URL + "/svc/mobile")
	client := gocas.NewRestClient(&gocas.RestOptions{CasURL: casURL, ServiceURL: serviceURL, Client: &http.Client{Timeout: 5 * time.Second}})
	st, err := client.RequestServiceTicket(gocas.TicketGrantingTicket(tgt))
	require.NoError(t, err)
	require.Regexp(t, stPattern, string(st))
	resp, err := client.ValidateServiceTicket(st)
	require.NoError(t, err)
	require.Equal(t, "alice", resp.User)
	_, err = client.ValidateServiceTicket(st)
	require.Error(t, err, "single use")

	require.NoError(t, client.Logout(gocas.TicketGrantingTicket(tgt)))
	h.srv.WaitIdle()
	reqs := h.slo.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "/svc/mobile", reqs[0].Path)
	_, err = client.RequestServiceTicket(gocas.TicketGrantingTicket(tgt))
	require.Error(t, err)
}

func TestCreateSessionRejectsBadPrincipal(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	for _, id := range []string{"", strings.Repeat("a", 256), "a\nb", "\xff"} {
		_, _, err := h.srv.CreateSession(context.Background(), cas.Principal{ID: id})
		require.Error(t, err, "%q", id)
	}
}
