package cas_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"
)

// callbackFailureXML is the one answer to every failed proxy callback.
const callbackFailureXML = `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
    <cas:authenticationFailure code="INVALID_PROXY_CALLBACK">The proxy callback was not accepted: pgtUrl must be an https URL this service may use, reachable, and answering 200</cas:authenticationFailure>
</cas:serviceResponse>
`

// lockedBuffer collects a server's log for assertions.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logInto sends the server's log to buf (and to the test log).
func logInto(t *testing.T, buf *lockedBuffer) harnessOpt {
	return func(_ *cas.Config, d *cas.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&teeWriter{buf, t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

type teeWriter struct {
	buf *lockedBuffer
	t   *testing.T
}

func (w *teeWriter) Write(p []byte) (int, error) {
	_, _ = w.t.Output().Write(p)
	return w.buf.Write(p)
}

// TestProxyCallbackAddressPolicy is issue 11 item 4: without a
// proxy_callback_pattern, a pgtUrl on a loopback address is refused with the
// very answer a host that does not exist gets; with a pattern that allows
// it, the same callback is made and the PGT granted.
func TestProxyCallbackAddressPolicy(t *testing.T) {
	db := storetest.SQLite(t)
	portal := "https://portal.example.edu/app"
	var logs lockedBuffer
	// open: portal without a pattern; its client trusts its own callback
	// server, so only the address policy stands between the two.
	open := newHarness(t, db, logInto(t, &logs), func(c *cas.Config, _ *cas.Deps) { c.Services[1].ProxyCallbackPattern = "" })
	validate := func(h *harness, pgtURL string) string {
		st := h.login(h.browser(), portal)
		return h.validateXML("/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {pgtURL}})
	}

	loopback := validate(open, open.callback.URL+"/cb?client=1")
	require.Empty(t, open.callback.requests(), "no connection to a loopback address without a pattern")
	require.Equal(t, callbackFailureXML, loopback)
	require.Equal(t, loopback, validate(open, "https://no-such-host.invalid/cb"), "the same answer as for a host that does not exist")
	localhost := strings.Replace(open.callback.URL, "127.0.0.1", "localhost", 1)
	require.Equal(t, loopback, validate(open, localhost+"/cb"), "a name resolving to loopback is checked on the address dialled")
	require.Contains(t, logs.String(), `level=WARN msg="cas: proxy callback failed" service=portal`)
	require.Contains(t, logs.String(), "is loopback, not public")

	// With the harness's pattern (the callback server's URL), the same kind
	// of callback is made.
	allowed := newHarness(t, db)
	body := validate(allowed, allowed.callback.URL+"/cb?client=1")
	require.Contains(t, body, "<cas:proxyGrantingTicket>PGTIOU-")
	require.Len(t, allowed.callback.requests(), 1)
}

// TestProxyCallbackAnswersAlike: refused address, TLS failure, refused
// connection, timeout, unknown host and a non-200 answer are one answer to
// the client (XML and JSON), and distinct reasons in the log at WARN,
// which never shows the pgtId, the pgtIou or the callback's query.
func TestProxyCallbackAnswersAlike(t *testing.T) {
	db := storetest.SQLite(t)
	portal := "https://portal.example.edu/app"
	var logs lockedBuffer
	untrusted := newRecorder(t, true)
	// hang accepts connections and never answers: the TLS handshake times out.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { hang.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	// loopbackOK: portal's pattern allows any https URL on 127.0.0.1, so
	// the failures past the address check can happen; its client trusts
	// only the system roots, not the test servers' certificate. Its
	// timeout is generous so that a slow machine's TLS handshake fails on
	// the certificate, not the clock; short is the same with a 300 ms
	// timeout, for the server that never answers.
	loopback := func(timeout time.Duration) *harness {
		return newHarness(t, db, logInto(t, &logs), func(c *cas.Config, d *cas.Deps) {
			c.Services[1].ProxyCallbackPattern = `https://127\.0\.0\.1:\d+/.*`
			c.ProxyCallbackTimeout = timeout
			d.HTTPClient = &http.Client{}
		})
	}
	loopbackOK, short := loopback(10*time.Second), loopback(300*time.Millisecond)
	// open: portal without a pattern. std: the harness's pattern and trust,
	// with a callback server answering 500.
	open := newHarness(t, db, logInto(t, &logs), func(c *cas.Config, _ *cas.Deps) { c.Services[1].ProxyCallbackPattern = "" })
	std := newHarness(t, db, logInto(t, &logs))
	std.callback.status.Store(http.StatusInternalServerError)

	for _, format := range []string{"XML", "JSON"} {
		var first string
		for _, tc := range []struct {
			name, pgtURL string
			h            *harness
			logged       string
		}{
			{"refused address", open.callback.URL + "/cb?secret=q1", open, "is loopback, not public"},
			{"unknown host", "https://no-such-host.invalid/cb?secret=q1", open, "no-such-host.invalid"},
			{"untrusted certificate", untrusted.URL + "/cb?secret=q1", loopbackOK, "certificate"},
			{"connection refused", "https://127.0.0.1:1/cb?secret=q1", loopbackOK, "connection refused"},
			{"timeout", "https://" + hang.Addr().String() + "/cb?secret=q1", short, "timed out after 300ms"},
			{"not 200", std.callback.URL + "/cb?secret=q1", std, "answered 500, not 200"},
			{"pattern", "https://elsewhere.example.edu/cb?secret=q1", loopbackOK, "does not match the service's proxy_callback_pattern"},
		} {
			before := len(logs.String())
			st := tc.h.login(tc.h.browser(), portal)
			r := tc.h.get(http.DefaultClient, "/cas/serviceValidate", url.Values{"service": {portal}, "ticket": {st}, "pgtUrl": {tc.pgtURL}, "format": {format}})
			require.NotContains(t, string(r.Body), "proxyGrantingTicket", tc.name)
			require.Contains(t, string(r.Body), "INVALID_PROXY_CALLBACK", tc.name)
			if first == "" {
				first = string(r.Body)
			}
			require.Equal(t, first, string(r.Body), "%s answers like the others", tc.name)
			logged := logs.String()[before:]
			require.Contains(t, logged, `level=WARN msg="cas: proxy callback failed"`, tc.name)
			require.Contains(t, logged, tc.logged, tc.name)
			require.NotContains(t, logged, "secret=q1", "the callback's query is not logged")
		}
	}
	all := logs.String()
	for _, secret := range []string{"pgtId", "pgtIou", "PGT-", "PGTIOU-"} {
		require.NotContains(t, all, secret)
	}
	require.Empty(t, untrusted.requests(), "no request reaches a server that fails PKIX validation")
}
