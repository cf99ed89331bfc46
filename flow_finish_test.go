package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFinishedFlowIsDeleted is issue 11 item 6: a login's flow row goes when
// the login completes, and what comes late for it — the WeChat callback
// again, a reload of /login?flow=, a stale form — still lands on the service
// with a ticket from the new SSO session rather than on an error page.
func TestFinishedFlowIsDeleted(t *testing.T) {
	env := startFlowEnv(t, "otp: {resend_cooldown: 0s}\n")
	flows := func(id string) int {
		var n int
		require.NoError(t, env.a.db.Get(&n, env.a.db.Rebind(`SELECT COUNT(*) FROM login_flows WHERE id = ?`), id))
		return n
	}
	flowID := func(p page) string {
		u, err := url.Parse(p.url)
		require.NoError(t, err)
		id := u.Query().Get("flow")
		require.NotEmpty(t, id, "a flow page: %s", p.url)
		return id
	}

	// First login: WeChat, then the phone binding.
	first := env.browser("")
	qr := first.start()
	callback := first.scan(qr, "kate")
	code := first.post(first.get(callback), "/login/phone", url.Values{"phone": {"13100131000"}})
	done := first.post(code, "/login/code", url.Values{"code": {env.smsCode("+8613100131000")}})
	ticketOf(t, done)
	require.Zero(t, flows(flowID(qr)), "the finished binding flow is deleted")
	p := first.post(code, "/login/code", url.Values{"code": {"123456"}})
	require.Equal(t, http.StatusSeeOther, p.status, "a stale form goes on to the service")
	ticketOf(t, p)

	// A returning person in a new browser: WeChat alone completes it.
	b := env.browser("")
	qr = b.start()
	callback = b.scan(qr, "kate")
	ticketOf(t, b.get(callback))
	require.Zero(t, flows(flowID(qr)), "the finished login flow is deleted")

	tests := []struct{ name, target string }{
		{"repeated WeChat callback", callback},
		{"reload of the flow page", qr.url},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get(tc.target)
			require.Equal(t, http.StatusSeeOther, p.status, "body: %s", p.body)
			require.True(t, strings.HasPrefix(p.location, env.service+"?ticket="), "to the service: %s", p.location)
			ticketOf(t, p)
		})
	}

	t.Run("another browser still gets no login", func(t *testing.T) {
		p := env.browser("").get(callback)
		require.Equal(t, http.StatusBadRequest, p.status)
	})
}
