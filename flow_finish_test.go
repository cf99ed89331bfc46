package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/journey"
)

// TestFinishedJourneyLandsOnService (issue 11 item 6, issue 12): what comes
// late for a finished login — the WeChat callback again, a reload of
// /login?flow=, a stale or double-submitted form — still lands on the
// service with a ticket rather than on an error page. The finished journey
// is kept only for journey.FinishGrace.
func TestFinishedJourneyLandsOnService(t *testing.T) {
	env := startFlowEnv(t, "otp: {resend_cooldown: 0s}\n")
	finished := func(id string) bool {
		var state string
		var expires time.Time
		require.NoError(t, env.a.db.QueryRowx(env.a.db.Rebind(`SELECT state, expires_at FROM login_journeys WHERE id = ?`), id).Scan(&state, &expires))
		return state == string(journey.Finished) && !expires.After(env.a.now().Add(journey.FinishGrace))
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
	require.True(t, finished(flowID(qr)), "the binding journey is finished and kept only for the grace period")
	p := first.post(code, "/login/code", url.Values{"code": {"123456"}})
	require.Equal(t, http.StatusSeeOther, p.status, "a stale form goes on to the service")
	ticketOf(t, p)

	// A returning person in a new browser: WeChat alone completes it.
	b := env.browser("")
	qr = b.start()
	callback = b.scan(qr, "kate")
	ticketOf(t, b.get(callback))
	require.True(t, finished(flowID(qr)), "the login journey is finished and kept only for the grace period")

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

	t.Run("after logout nothing of the login can be replayed", func(t *testing.T) {
		// A shared computer: the next person must not log in as the last
		// one by repeating the callback or the code form.
		c := env.browser("")
		qr := c.start()
		callback := c.scan(qr, "shared-pc")
		code := c.post(c.get(callback), "/login/phone", url.Values{"phone": {"13100131999"}})
		ticketOf(t, c.post(code, "/login/code", url.Values{"code": {env.smsCode("+8613100131999")}}))
		// A copy of the cookies from before the logout: a browser that kept
		// them (or someone who copied them) must not get back in either.
		u, _ := url.Parse(env.base + "/login")
		kept := c.c.Jar.Cookies(u)
		require.Equal(t, http.StatusOK, c.get(env.base+"/cas/logout").status)
		copied := env.browser("")
		copied.c.Jar.SetCookies(u, kept)
		p := copied.post(code, "/login/code", url.Values{"code": {"000000"}})
		require.Empty(t, p.location, "the journey ended on the server too: %+v", p)
		p = copied.get(callback)
		require.Empty(t, p.location, "the journey ended on the server too: %+v", p)
		p = c.post(code, "/login/code", url.Values{"code": {"000000"}})
		require.Empty(t, p.location, "no way back to the service: %+v", p)
		require.Equal(t, http.StatusBadRequest, p.status)
		p = c.get(callback)
		require.Empty(t, p.location)
		require.Equal(t, http.StatusBadRequest, p.status)
	})

	t.Run("another browser still gets no login", func(t *testing.T) {
		p := env.browser("").get(callback)
		require.Equal(t, http.StatusBadRequest, p.status)
	})
}
